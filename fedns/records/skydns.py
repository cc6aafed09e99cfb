"""The SkyDNS record format that CoreDNS's ``etcd`` plugin reads: keys and JSON values.

This is the only module that knows how a DNS name becomes a ``/skydns/...`` key and
back (CoreDNS ``plugin/etcd/msg/path.go``) and how a :class:`Service` value is written
and read (``msg/service.go``, as Go's ``encoding/json`` marshals and unmarshals it).
It does no I/O and knows nothing about federations; see :mod:`fedns.records.desired`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re

from fedns import errors

DEFAULT_PREFIX = "/skydns"

# A service whose Priority is zero is served with this one (CoreDNS etcd.go).
DEFAULT_PRIORITY = 10
# A service whose TTL is zero is served with this one (CoreDNS etcd.go).
DEFAULT_TTL = 300


class RecordError(errors.FednsError):
    """A SkyDNS record is not valid."""


class BadName(RecordError, errors.UsageError):
    """The DNS name cannot be turned into a SkyDNS key."""


class BadKey(RecordError):
    """The key is not a SkyDNS key under the prefix."""


class BadValue(RecordError):
    """The value is not a SkyDNS service JSON object."""


# --- names and keys -------------------------------------------------------------


def _clean_prefix(prefix: str) -> str:
    """``skydns``, ``/skydns/`` or ``/skydns`` → ``/skydns`` (CoreDNS joins with path.Join)."""
    parts = [p for p in prefix.split("/") if p]
    if not parts:
        raise BadKey(f"key prefix {prefix!r} is empty")
    return "/" + "/".join(parts)


def split_name(name: str) -> list[str]:
    """The labels of ``name`` (trailing dot optional, ``.`` or empty is the root)."""
    text = name.removesuffix(".")
    if not text:
        return []
    labels = text.split(".")
    for label in labels:
        if not label:
            raise BadName(f"DNS name {name!r} has an empty label")
        if "/" in label:
            raise BadName(f"DNS name {name!r}: label {label!r} contains '/'")
        if len(label.encode()) > 63:
            raise BadName(f"DNS name {name!r}: label {label[:20]!r}... is longer than 63 bytes")
    return labels


def name_to_key(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``hello.default.myfed.svc.example.com`` → ``/skydns/com/example/svc/myfed/default/hello``.

    Labels are lowercased (CoreDNS looks names up lowercased) and reversed.  The root
    name gives the prefix itself.
    """
    labels = split_name(name.lower())
    labels.reverse()
    return "/".join([_clean_prefix(prefix), *labels])


def key_to_name(key: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The fully qualified name (trailing dot) of ``key``; a trailing ``/`` is ignored,
    as CoreDNS's ``msg.Domain`` does.  Raises :class:`BadKey` outside ``prefix``."""
    root = _clean_prefix(prefix)
    if key == root or key == root + "/":
        return "."
    if not key.startswith(root + "/"):
        raise BadKey(f"key {key!r} is not under {root}/")
    parts = key[len(root) + 1:].split("/")
    if parts[-1] == "":
        parts.pop()
    if not parts or any(p == "" for p in parts):
        raise BadKey(f"key {key!r} has an empty path component")
    parts.reverse()
    return ".".join(parts) + "."


def leaf_label(address: str) -> str:
    """A key component for one target address: ``192.0.2.10`` → ``192-0-2-10``,
    ``2001:db8::1`` → ``2001-db8--1`` (a valid DNS label, unique per address)."""
    ip = ipaddress.ip_address(address)
    return str(ip).replace(".", "-").replace(":", "-")


# --- values ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Service:
    """CoreDNS's ``msg.Service``: an address (A/AAAA), a name (CNAME, or SRV/MX/NS
    target), optional SRV port/priority/weight, TXT text, and TTL.

    ``host`` holding an IP address makes an address record; any other non-empty host
    is a name.  Field order is the JSON order.
    """

    host: str = ""
    port: int = 0
    priority: int = 0
    weight: int = 0
    text: str = ""
    mail: bool = False
    ttl: int = 0
    targetstrip: int = 0
    group: str = ""

    def to_json(self) -> str:
        """The exact bytes (as text) Go's ``json.Marshal`` writes for this service."""
        parts = []
        for name, kind, _bits in _FIELDS:
            value = getattr(self, name)
            if not value:  # omitempty: "", 0 and false are left out
                continue
            if kind is str:
                parts.append(f'"{name}":{go_string(value)}')
            elif kind is bool:
                parts.append(f'"{name}":true')
            else:
                parts.append(f'"{name}":{int(value)}')
        return "{" + ",".join(parts) + "}"

    @classmethod
    def from_json(cls, data: str | bytes) -> Service:
        """Read a value as Go's ``json.Unmarshal`` into ``msg.Service`` would: unknown
        fields ignored, names matched case-insensitively, ``null`` leaves a field
        zero, a wrong type or an out-of-range number is an error (:class:`BadValue`)."""
        if isinstance(data, bytes):
            # Go replaces invalid UTF-8 inside strings with U+FFFD.
            data = data.decode("utf-8", "replace")
        try:
            obj = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as err:
            raise BadValue(f"value is not JSON: {err}") from err
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise BadValue(f"value is a JSON {type(obj).__name__}, not an object")
        fields: dict[str, object] = {}
        for json_name, raw in obj.items():
            field = _match_field(json_name)
            if field is None or raw is None:
                continue
            name, kind, bits = field
            fields[name] = _convert(name, kind, bits, raw)
        return cls(**fields)  # type: ignore[arg-type]

    def host_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The IP in ``host`` (an IPv4-mapped IPv6 counts as IPv4, as Go's
        ``To4``), or None when ``host`` is a name."""
        return parse_ip(self.host)


# (json name, python type, integer range) in Go struct order
_FIELDS: tuple[tuple[str, type, tuple[int, int] | None], ...] = (
    ("host", str, None),
    ("port", int, (-(2**63), 2**63 - 1)),
    ("priority", int, (-(2**63), 2**63 - 1)),
    ("weight", int, (-(2**63), 2**63 - 1)),
    ("text", str, None),
    ("mail", bool, None),
    ("ttl", int, (0, 2**32 - 1)),
    ("targetstrip", int, (-(2**63), 2**63 - 1)),
    ("group", str, None),
)
_BY_NAME = {f[0]: f for f in _FIELDS}


def _match_field(json_name: str) -> tuple[str, type, tuple[int, int] | None] | None:
    field = _BY_NAME.get(json_name)
    if field is None:
        # Go's decoder falls back to a case-insensitive (Unicode folding) match.
        field = _BY_NAME.get(json_name.casefold())
    return field


def _convert(name: str, kind: type, bits: tuple[int, int] | None, raw: object) -> object:
    if kind is str:
        if not isinstance(raw, str):
            raise BadValue(f"field {name!r}: expected a string, got {raw!r}")
        if not raw.isascii():
            # Go reads a lone surrogate escape ("\ud800") as U+FFFD; Python keeps it,
            # and no UTF-8 writer will take it
            return _LONE_SURROGATE.sub("\ufffd", raw)
        return raw
    if kind is bool:
        if not isinstance(raw, bool):
            raise BadValue(f"field {name!r}: expected true or false, got {raw!r}")
        return raw
    # Go rejects fractions and exponents for integer fields, and strings ("60").
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadValue(f"field {name!r}: expected an integer, got {raw!r}")
    assert bits is not None
    if not bits[0] <= raw <= bits[1]:
        raise BadValue(f"field {name!r}: {raw} is out of range")
    return raw


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins the valid pairs


def _reject_constant(text: str) -> object:
    raise ValueError(f"{text} is not valid JSON")


_GO_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\b": "\\b", "\f": "\\f"}
_GO_ESCAPE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')


def _go_escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _GO_SHORT.get(char)
    if short is not None:
        return short
    if "\ud800" <= char <= "\udfff":  # not valid UTF-8: Go writes U+FFFD
        return "\ufffd"
    return f"\\u{ord(char):04x}"


def go_string(text: str) -> str:
    """``text`` as a JSON string exactly as Go's encoder writes it: HTML-safe
    (``<`` ``>`` ``&`` as ``\\u003c`` ``\\u003e`` ``\\u0026``), U+2028/2029 escaped,
    other non-ASCII left as UTF-8, and ``\\b \\f \\n \\r \\t`` short escapes (Go 1.22+)."""
    return '"' + _GO_ESCAPE.sub(_go_escape, text) + '"'


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ``net.ParseIP`` plus ``To4``: an IPv4-mapped IPv6 address is IPv4; no zones,
    no surrounding spaces."""
    if not text or text.strip() != text or "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
