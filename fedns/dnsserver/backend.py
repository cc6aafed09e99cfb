"""A name's services in the zone, found as CoreDNS's etcd plugin finds them.  Pure.

The etcd backend's half of a lookup in a :class:`~fedns.dnsserver.zone.Zone`
(plugin/etcd/etcd.go ``Records``/``get``/``loopNodes``, msg.Group, checkForApex):
prefix aggregation, ``*``/``any`` wildcards and group filtering.  A missing name
raises :class:`NotFound`, a value that does not decode :class:`Broken`;
:mod:`fedns.dnsserver.answer` turns those into rcodes.  Each :func:`services` call
notes the key path it read in the :class:`Context`, for the response cache.

Not for: building records from the services (:mod:`fedns.dnsserver.lookup`,
:mod:`fedns.dnsserver.apex`).
"""

from __future__ import annotations

import functools

from fedns.dnsserver import names, wire
from fedns.dnsserver import settings as settings_mod
from fedns.dnsserver import zone as zone_mod


class NotFound(Exception):
    """The name has no key (CoreDNS errKeyNotFound)."""


class Broken(Exception):
    """A value under the name does not decode (CoreDNS returns the JSON error)."""


class Context:
    """What one query needs while it is answered, and what it read from the zone:
    ``reads``, the key paths looked up (every :func:`services` call reads the keys at
    and under one path), and ``serial``, whether the answer holds the SOA serial."""

    __slots__ = ("apex", "apex_name", "qtype", "reads", "root", "serial", "settings", "zone")

    def __init__(self, zone: zone_mod.Zone, settings: settings_mod.Settings, apex: names.Labels,
                 qtype: int) -> None:
        self.zone = zone
        self.settings = settings
        self.apex = apex
        self.apex_name = _apex_text(apex)
        self.root = zone.prefix
        self.qtype = qtype
        self.reads: list[bytes] = []
        self.serial = False


@functools.lru_cache(maxsize=64)
def _apex_text(apex: names.Labels) -> str:
    return names.text(apex)


# --- CoreDNS's Records(): prefix aggregation, wildcards, loopNodes, Group -----------


def services(ctx: Context, name: names.Labels, exact: bool, qtype: int) -> list[zone_mod.Record]:
    rev = list(reversed(name))
    star = False
    if b"*" in name or b"any" in name:
        for i, label in enumerate(rev):
            if label in (b"*", b"any"):
                rev, star = rev[:i], True
                break
    rev.insert(0, ctx.root)
    path = b"/".join(rev)
    ctx.reads.append(path)
    zone = ctx.zone
    if exact:
        found = zone.get(path)
        records = [found] if found is not None else []
    else:
        records = zone.under(path + b"/")
        if not records:
            found = zone.get(path)
            records = [found] if found is not None else []
    if not records:
        raise NotFound
    if star:
        segments = b"/".join([ctx.root, *reversed(name)]).split(b"/")
        records = [r for r in records if _star_match(segments, r.key.split(b"/"))]
    out = []
    for record in records:
        if record.kind == 0:
            raise Broken(record.error)
        service = record.service
        if (qtype == wire.T_TXT and service.text) or service.host:
            out.append(record)
    return _group(out)


def _star_match(segments: list[bytes], key_parts: list[bytes]) -> bool:
    for i, segment in enumerate(segments):
        if i > len(key_parts) - 1:
            return False
        if segment in (b"*", b"any"):
            continue
        if key_parts[i] != segment:
            return False
    return True


def _group(records: list[zone_mod.Record]) -> list[zone_mod.Record]:
    """CoreDNS msg.Group: a group set on the shortest keys limits the answer to it."""
    if not records:
        return records
    group = records[0].service.group
    slashes = records[0].depth
    lengths = [0] * len(records)
    for i, record in enumerate(records):
        depth = record.depth
        lengths[i] = depth
        if depth < slashes:
            if not record.service.group:
                break
            slashes = depth
            group = record.service.group
    if not group:
        return records
    out = []
    for i, record in enumerate(records):
        if not record.service.group:
            out.append(record)
            continue
        if lengths[i] == slashes and record.service.group != group:
            return records
        if record.service.group == group:
            out.append(record)
    return out


def apex_or_services(ctx: Context, name: names.Labels, qtype: int) -> list[zone_mod.Record]:
    """CoreDNS checkForApex: the apex's own records live under ``apex.dns``."""
    if name == ctx.apex:
        try:
            return services(ctx, (b"apex", b"dns", *ctx.apex), False, qtype)
        except (NotFound, Broken):
            pass
    return services(ctx, name, False, qtype)


def exact_services(ctx: Context, name: names.Labels, qtype: int) -> list[zone_mod.Record]:
    """The exact key's services.  CoreDNS answers NXDOMAIN when only keys below the
    name exist; fedns answers NODATA then, since NXDOMAIN denies every type of an
    existing name to caches (RFC 2308)."""
    try:
        return services(ctx, name, True, qtype)
    except NotFound:
        apex_or_services(ctx, name, qtype)  # raises NotFound if nothing is there
        return []
