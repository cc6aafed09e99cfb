"""The address pool model: fields, validation, and the YAML mapping converters.

A pool belongs to one site and lists CIDRs and ``a-b`` ranges of either family.
Validation raises one ``PoolInvalid`` per problem, naming the pool and the field.
``validate_set`` checks a whole set (unique names, no overlap within a site).
This module does not track which addresses are free: see ``ipam.index``.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ipam import address, errors

# YAML field name -> dataclass attribute, in the order to_dict writes them.
FIELDS = {
    "name": "name",
    "site": "site",
    "addresses": "addresses",
    "reserved": "reserved",
    "avoidBuggyIPs": "avoid_buggy_ips",
    "autoAssign": "auto_assign",
    "priority": "priority",
    "namespaceSelector": "namespace_selector",
    "serviceSelector": "service_selector",
    "draining": "draining",
}
YAML_NAME = {attr: key for key, attr in FIELDS.items()}
REQUIRED = ("name", "site", "addresses")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class Pool:
    """One pool.  ``priority``: a LOWER number is tried FIRST (as in MetalLB); ties
    go by name.  Selectors hold matchLabels; empty means "no selector"."""

    name: str
    site: str
    addresses: tuple[str, ...]
    reserved: tuple[str, ...] = ()
    avoid_buggy_ips: bool = False
    auto_assign: bool = True
    priority: int = 0
    namespace_selector: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    service_selector: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)
    draining: bool = False
    # Derived at construction: merged integer intervals, sorted by (family, first).
    ranges: tuple[address.Interval, ...] = dataclasses.field(
        init=False, repr=False, compare=False)
    reserved_ranges: tuple[address.Interval, ...] = dataclasses.field(
        init=False, repr=False, compare=False)
    _starts: tuple[tuple[int, int], ...] = dataclasses.field(
        init=False, repr=False, compare=False)
    _reserved_starts: tuple[tuple[int, int], ...] = dataclasses.field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attr in ("name", "site"):
            value = getattr(self, attr)
            if not isinstance(value, str):
                self._fail(attr, f"expected a string, got {address.quote(value)}")
            if not _NAME.match(value):
                self._fail(attr, f"{address.quote(value)} is not a valid name (lowercase"
                           " letters, digits, '-' and '.', starting and ending with a"
                           " letter or digit)")
        blocks = self._parse_list("addresses")
        if not blocks:
            self._fail("addresses", "must list at least one CIDR or range")
        for index, (text, block) in enumerate(blocks):
            for special, why in _UNREACHABLE:
                if _overlaps(block, special):
                    self._fail(f"addresses[{index}]",
                               f"{address.quote(text)} includes "
                               f"{address.render_interval(special)} ({why}), where no "
                               "Service can be reached")
        _refuse_overlap_within(self, blocks)
        reserved = self._parse_list("reserved")
        ranges = address.merge(block for _, block in blocks)
        for index, (text, block) in enumerate(reserved):
            if address.subtract([block], ranges):
                self._fail(f"reserved[{index}]",
                           f"{address.quote(text)} is not inside the pool's addresses")
        for attr in ("avoid_buggy_ips", "auto_assign", "draining"):
            if not isinstance(getattr(self, attr), bool):
                self._fail(attr, f"expected true or false, got {address.quote(getattr(self, attr))}")
        if not isinstance(self.priority, int) or isinstance(self.priority, bool):
            self._fail("priority", f"expected an integer, got {address.quote(self.priority)}")
        for attr in ("namespace_selector", "service_selector"):
            labels = getattr(self, attr)
            if not isinstance(labels, Mapping):
                self._fail(attr, f"expected a mapping of labels, got {address.quote(labels)}")
            for key, value in labels.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    self._fail(f"{attr}.matchLabels.{key}",
                               f"expected a string, got {address.quote(value)}")
            object.__setattr__(self, attr, dict(labels))
        object.__setattr__(self, "addresses", tuple(self.addresses))
        object.__setattr__(self, "reserved", tuple(self.reserved))
        object.__setattr__(self, "ranges", tuple(ranges))
        object.__setattr__(self, "reserved_ranges",
                           tuple(address.merge(block for _, block in reserved)))
        object.__setattr__(self, "_starts", tuple((f, first) for f, first, _ in ranges))
        object.__setattr__(self, "_reserved_starts",
                           tuple((f, first) for f, first, _ in self.reserved_ranges))

    def _fail(self, attr: str, problem: str) -> None:
        raise errors.PoolInvalid(f"{describe(self.name)}: {_yaml_path(attr)}: {problem}")

    def _parse_list(self, attr: str) -> list[tuple[str, address.Interval]]:
        items = getattr(self, attr)
        if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
            self._fail(attr, f"expected a list of CIDRs or ranges, got {address.quote(items)}")
        parsed = []
        for index, text in enumerate(items):
            try:
                parsed.append((text, address.parse_block(text)))
            except errors.BlockInvalid as err:
                raise errors.PoolInvalid(
                    f"{describe(self.name)}: {_yaml_path(attr)}[{index}]: {err}") from err
        return parsed

    @property
    def families(self) -> tuple[int, ...]:
        """The address families the pool holds, IPv4 first."""
        return tuple(sorted({family for family, _, _ in self.ranges}))

    @property
    def has_selector(self) -> bool:
        return bool(self.namespace_selector or self.service_selector)

    def selects(self, namespace_labels: Mapping[str, str],
                service_labels: Mapping[str, str]) -> bool:
        """True when both selectors match (an empty selector matches everything)."""
        return (_matches(self.namespace_selector, namespace_labels)
                and _matches(self.service_selector, service_labels))

    def covers(self, family: int, value: int) -> bool:
        """True when the address lies in ``addresses`` (reserved or not)."""
        return _within(self.ranges, self._starts, family, value)

    def exclusion(self, family: int, value: int) -> str | None:
        """Why the pool never hands out this address, or None when it may."""
        if not self.covers(family, value):
            return f"is not in pool {address.quote(self.name)}"
        if _within(self.reserved_ranges, self._reserved_starts, family, value):
            return f"is reserved in pool {address.quote(self.name)}"
        if self.avoid_buggy_ips and address.is_buggy(family, value):
            return (f"ends in .0 or .255 and pool {address.quote(self.name)}"
                    " sets avoidBuggyIPs")
        return None

    def contains(self, family: int, value: int) -> bool:
        """True when the pool may hand out this address (in range, not reserved, not buggy)."""
        return self.exclusion(family, value) is None


# Addresses no load balancer can hand out: a pool that covers any is a mistake (e.g.
# 0.0.0.0/0 or ::/0).  RFC 6890's special-purpose blocks that are never unicast
# destinations.
_UNREACHABLE = [(address.parse_block(text), why) for text, why in (
    ("0.0.0.0/8", "'this network'"), ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"), ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and the broadcast address"),
    ("::/128", "the unspecified address"), ("::1/128", "loopback"),
    ("fe80::/10", "link-local"), ("ff00::/8", "multicast"))]


def _overlaps(a: address.Interval, b: address.Interval) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def describe(name: object) -> str:
    """How messages name a pool: ``pool "umich-v4"``."""
    if isinstance(name, str) and name:
        return f"pool {address.quote(name)}"
    return "pool (unnamed)"


def _yaml_path(attr: str) -> str:
    head, _, rest = attr.partition(".")
    return YAML_NAME.get(head, head) + ("." + rest if rest else "")


def _within(ranges: tuple[address.Interval, ...], starts: tuple[tuple[int, int], ...],
            family: int, value: int) -> bool:
    at = bisect.bisect_right(starts, (family, value)) - 1
    return at >= 0 and ranges[at][0] == family and value <= ranges[at][2]


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _refuse_overlap_within(p: Pool, blocks: list[tuple[str, address.Interval]]) -> None:
    ordered = sorted(range(len(blocks)), key=lambda i: blocks[i][1])
    # Sorted by start, any overlap shows up between neighbours.
    for before, after in itertools.pairwise(ordered):
        (fam_a, _, last_a), (fam_b, first_b, _) = blocks[before][1], blocks[after][1]
        if fam_a == fam_b and first_b <= last_a:
            first, second = sorted((before, after))
            p._fail(f"addresses[{second}]",
                    f"{address.quote(blocks[second][0])} overlaps addresses[{first}]"
                    f" {address.quote(blocks[first][0])}")


def from_dict(mapping: Mapping[str, Any]) -> Pool:
    """Build a Pool from its YAML mapping (field names as in the README)."""
    if not isinstance(mapping, Mapping):
        raise errors.PoolInvalid(f"pool: expected a mapping, got {address.quote(mapping)}")
    name = mapping.get("name")
    where = describe(name)
    for key in mapping:
        if key not in FIELDS:
            hint = difflib.get_close_matches(str(key), FIELDS, n=1)
            known = f"did you mean {hint[0]}?" if hint else "known: " + ", ".join(FIELDS)
            raise errors.PoolInvalid(f"{where}: {key}: unknown field ({known})")
    for key in REQUIRED:
        if mapping.get(key) is None:
            raise errors.PoolInvalid(f"{where}: {key}: required field is missing")
    values: dict[str, Any] = {}
    for key, attr in FIELDS.items():
        value = mapping.get(key)
        if value is None:
            continue
        if key in ("namespaceSelector", "serviceSelector"):
            value = _selector_from_dict(where, key, value)
        values[attr] = value
    return Pool(**values)


def _selector_from_dict(where: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise errors.PoolInvalid(
            f"{where}: {key}: expected a mapping with matchLabels, got {address.quote(value)}")
    for inner in value:
        if inner != "matchLabels":
            problem = ("not supported (use matchLabels)" if inner == "matchExpressions"
                       else "unknown field (known: matchLabels)")
            raise errors.PoolInvalid(f"{where}: {key}.{inner}: {problem}")
    labels = value.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise errors.PoolInvalid(
            f"{where}: {key}.matchLabels: expected a mapping, got {address.quote(labels)}")
    return dict(labels)


def to_dict(p: Pool) -> dict[str, Any]:
    """The YAML mapping of a Pool; ``from_dict(to_dict(p)) == p``."""
    result: dict[str, Any] = {}
    for key, attr in FIELDS.items():
        value = getattr(p, attr)
        if key in ("namespaceSelector", "serviceSelector"):
            if value:
                result[key] = {"matchLabels": dict(value)}
        elif isinstance(value, tuple):
            result[key] = list(value)
        else:
            result[key] = value
    return result


def from_dicts(document: Any) -> list[Pool]:
    """Pools from a pool file's content: a list of mappings, or a single mapping.

    The set is validated with ``validate_set``.
    """
    items = [document] if isinstance(document, Mapping) else document
    if not isinstance(items, list):
        raise errors.PoolInvalid(
            f"pools: expected a list of pool mappings, got {address.quote(document)}")
    pools = [from_dict(item) for item in items]
    validate_set(pools)
    return pools


def to_dicts(pools: Iterable[Pool]) -> list[dict[str, Any]]:
    """The YAML list of pools, in the order given."""
    return [to_dict(p) for p in pools]


def validate_set(pools: Iterable[Pool]) -> None:
    """Refuse duplicate names, and pools of the same site that overlap.

    Pools of different sites may overlap: each site routes its own addresses.
    """
    pools = list(pools)
    seen: set[str] = set()
    for p in pools:
        if p.name in seen:
            raise errors.PoolDuplicate(f"{describe(p.name)}: name: defined twice")
        seen.add(p.name)
    blocks = sorted((first, family, last, p.site, p.name)
                    for p in pools for family, first, last in p.ranges)
    reach: dict[tuple[str, int], tuple[int, str]] = {}  # (site, family) -> (last, pool)
    for first, family, last, site, name in blocks:
        held = reach.get((site, family))
        if held is not None and first <= held[0]:
            a, b = sorted((held[1], name))
            where = address.render(family, first, min(last, held[0]))
            raise errors.PoolOverlap(
                f"pools {address.quote(a)} and {address.quote(b)} of site"
                f" {address.quote(site)} overlap at {where}")
        if held is None or last > held[0]:
            reach[(site, family)] = (last, name)
