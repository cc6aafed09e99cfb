"""What every controller reads of the members: their caches, indexed, and their places.

``View`` wraps the members' informer caches with the EndpointSlice index (kept
current by :meth:`View.observe`, a runtime observer that sees every event first), each
member's location (site, region, zone: :class:`placement.topology.Location`, from
the config or its Nodes) and the health of one copy of a Service.  It writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fedns.controller import runtime, state
from fedns.members import member as member_mod
from placement import topology as topology_mod

log = logging.getLogger(__name__)


class View:
    """The members as the controllers see them."""

    def __init__(self, members: Mapping[str, member_mod.Member]) -> None:
        self.members = members
        self.slices = state.SliceIndex()
        self._topology: dict[str, topology_mod.Location] = {}
        self._unplaced: set[str] = set()

    def observe(self, event: runtime.Event) -> None:
        """Keep the EndpointSlice index current (before any controller maps the event)."""
        if isinstance(event, runtime.MemberEvent) and event.kind == "EndpointSlice":
            self.slices.update(event.member, event.key, event.obj, event.old)

    def topology(self, name: str) -> topology_mod.Location | None:
        """Where a member sits; None while its Nodes are not known yet."""
        known = self._topology.get(name)
        if known is not None:
            return known
        m = self.members[name]
        try:
            known = m.topology()
        except topology_mod.TopologyUnknown:
            if m.synced():
                raise
            return None
        self._topology[name] = known
        return known

    def locations(self) -> list[topology_mod.Location]:
        """Where every member is; a member whose topology is unknown is left out (its
        copies are not published) rather than stopping every service's records."""
        found = []
        for name in self.members:
            try:
                topo = self.topology(name)
            except topology_mod.TopologyUnknown as err:
                if name not in self._unplaced:
                    log.error("%s; its services are not published", err)
                    self._unplaced.add(name)
                continue
            if topo is not None:
                found.append(topo)
        return found

    def healthy(self, m: Any, namespace: str, name: str) -> bool:
        """A copy is healthy while its member is Ready and a slice has a ready endpoint."""
        if not m.ready:
            return False
        cache = m.endpointslices
        return any(state.slice_ready(cache[key])
                   for key in self.slices.slices(m.name, namespace, name) if key in cache)

    def eligible_services(self, member: str) -> list[tuple[str, str]]:
        """(namespace, name) of the member's Services fedns serves."""
        m = self.members.get(member)
        found = []
        for key, svc in list(m.services.items()) if m is not None else ():
            if state.eligible(svc):
                namespace, _, name = key.partition("/")
                found.append((namespace, name))
        return found
