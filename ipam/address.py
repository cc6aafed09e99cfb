"""IP address text and integer intervals: parse CIDRs, ranges and addresses, and back.

An address block is the integer interval ``(family, first, last)``, inclusive, with
family 4 or 6.  This module also knows which IPv4 addresses confuse buggy firmware
(last octet 0 or 255) and counts them arithmetically.  It knows nothing of pools,
sites or allocations.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

from ipam import errors

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Interval = tuple[int, int, int]  # (family, first, last), inclusive

FAMILIES = (4, 6)
FAMILY_NAMES = {4: "IPv4", 6: "IPv6"}
FAMILY_BY_NAME = {name: family for family, name in FAMILY_NAMES.items()}
_BITS = {4: 32, 6: 128}


def parse_address(text: str | Address) -> tuple[int, int]:
    """Return ``(family, value)`` for an address given as text or an ipaddress object."""
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return text.version, int(text)
    address = _strict_address(str(text).strip())
    if address is None:
        raise errors.AddressInvalid(f"{quote(text)} is not a valid IP address")
    return address.version, int(address)


def to_address(family: int, value: int) -> Address:
    """Return the ipaddress object for ``value`` in ``family``."""
    if family == 4:
        return ipaddress.IPv4Address(value)
    return ipaddress.IPv6Address(value)


def parse_block(text: str) -> Interval:
    """Parse a CIDR (``192.0.2.0/24``), a range (``a-b``) or one address.

    Strict about host bits and reversed ranges, but says what was probably meant.
    """
    if not isinstance(text, str):
        raise errors.BlockInvalid(f"expected a string, got {quote(text)}")
    body = text.strip()
    if "/" in body:
        return _parse_cidr(text, body)
    if "-" in body:
        return _parse_range(text, body)
    address = _strict_address(body)
    if address is None:
        raise errors.BlockInvalid(f"{quote(text)} is not a valid CIDR, range or address")
    return address.version, int(address), int(address)


def _parse_cidr(text: str, body: str) -> Interval:
    try:
        network = ipaddress.ip_network(body, strict=True)
    except ValueError as err:
        if "host bits set" in str(err):
            loose = ipaddress.ip_network(body, strict=False)
            raise errors.BlockInvalid(
                f"{quote(text)} has host bits set (did you mean {loose}?)"
            ) from err
        raise errors.BlockInvalid(f"{quote(text)} is not a valid CIDR") from err
    if "%" in body:
        raise errors.BlockInvalid(f"{quote(text)} is not a valid CIDR")
    first = int(network.network_address)
    return network.version, first, first + network.num_addresses - 1


def _parse_range(text: str, body: str) -> Interval:
    parts = [part.strip() for part in body.split("-")]
    ends = [_strict_address(part) for part in parts] if len(parts) == 2 else [None]
    if any(end is None for end in ends):
        raise errors.BlockInvalid(
            f"{quote(text)} is not a valid range (expected FIRST-LAST,"
            " e.g. 192.0.2.10-192.0.2.20)"
        )
    first, last = ends[0], ends[1]
    assert first is not None and last is not None
    if first.version != last.version:
        raise errors.BlockInvalid(f"{quote(text)} mixes IPv4 and IPv6")
    if int(first) > int(last):
        raise errors.BlockInvalid(f"{quote(text)} is a reversed range")
    return first.version, int(first), int(last)


def _strict_address(text: str) -> Address | None:
    # ipaddress accepts IPv6 scope ids ("fe80::1%eth0"); they mean nothing in a pool.
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def render(family: int, first: int, last: int) -> str:
    """Text for an interval: one address, an exact CIDR, or ``first-last``."""
    if first == last:
        return str(to_address(family, first))
    size = last - first + 1
    if size & (size - 1) == 0 and first % size == 0:
        prefix = _BITS[family] - (size.bit_length() - 1)
        return f"{to_address(family, first)}/{prefix}"
    return f"{to_address(family, first)}-{to_address(family, last)}"


def render_interval(interval: Interval) -> str:
    """``render`` for a ``(family, first, last)`` tuple."""
    return render(*interval)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge touching or overlapping intervals of each family."""
    merged: list[Interval] = []
    for family, first, last in sorted(intervals):
        if merged and merged[-1][0] == family and first <= merged[-1][2] + 1:
            if last > merged[-1][2]:
                merged[-1] = (family, merged[-1][1], last)
        else:
            merged.append((family, first, last))
    return merged


def subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """The parts of ``intervals`` not covered by ``holes`` (both merged first)."""
    pending = merge(holes)
    result: list[Interval] = []
    for family, first, last in merge(intervals):
        cursor = first
        for hole_family, hole_first, hole_last in pending:
            if hole_family != family or hole_last < cursor or hole_first > last:
                continue
            if hole_first > cursor:
                result.append((family, cursor, hole_first - 1))
            cursor = max(cursor, hole_last + 1)
        if cursor <= last:
            result.append((family, cursor, last))
    return result


def is_buggy(family: int, value: int) -> bool:
    """True for IPv4 addresses whose last octet is 0 or 255 (MetalLB's avoidBuggyIPs)."""
    return family == 4 and (value & 0xFF) in (0, 0xFF)


def buggy_count(first: int, last: int) -> int:
    """How many IPv4 addresses in ``[first, last]`` end in .0 or .255, without enumerating."""
    return _buggy_upto(last) - _buggy_upto(first - 1)


def _buggy_upto(value: int) -> int:
    # Buggy addresses in [0, value]: two per full /24, the .0 of the current one,
    # and its .255 when value reaches it.
    if value < 0:
        return 0
    return 2 * (value >> 8) + 1 + ((value & 0xFF) == 0xFF)


def quote(value: object) -> str:
    """A value as a user wrote it in YAML or JSON, for error messages."""
    return json.dumps(value, default=str, ensure_ascii=False)


