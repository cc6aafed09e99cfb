"""Events at the federation endpoint: its own, and every member's read-only.

``kubectl get events`` at the endpoint lists the endpoint's own Events (stored in the
appliance Store, written by its controllers: Placed, Propagated, FailedOver, ...)
and the Events the members' informers hold, each member's annotated
``fedns.io/member: <member>``; the Table has a Member column, ``<endpoint>`` for the
endpoint's own.  Selectors (``-n``, ``--field-selector involvedObject.name=web``,
labels) apply to both; ``kubectl describe deploy web`` also selects by the template's
uid, which no member's copy has, so it shows the endpoint's own (uids are never
faked).  A watch streams both: a member's Event carries the endpoint's
resourceVersion of the moment it is sent, so a client that resumes the watch resumes
at the endpoint.

Writes: creating an Event makes an endpoint one; a write or delete naming a member's
Event is refused (405), the endpoint's own stay writable (``kubectl delete events
--all`` deletes those and reports each member's as refused).  The informers keep each
member Event without its ``managedFields`` (:func:`trim`), the one part the endpoint
never serves.  Not for: following the members (:mod:`fedns.app`), the endpoint's own
storage (:mod:`fedns.kapi.storage`, which expires them, ``api.eventTTL``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from fedns.api import pods
from fedns.kapi import printers, registry, selectors, tables
from fedns.kapi import status as kapi_status
from fedns.kapi import storage as kapi_storage

Obj = dict[str, Any]
MEMBER = pods.MEMBER
ENDPOINT = "<endpoint>"  # the Member cell of the endpoint's own Events
# (member, event) pairs, read when a request comes
Source = Callable[[], Iterable[tuple[str, Obj]]]
BACKLOG = 10000  # member changes a watcher may fall behind by before its watch ends


def _row(obj: Obj, now: datetime.datetime) -> tables.Cells:
    cells = printers.EVENT.row(obj, now)
    member = ((obj.get("metadata") or {}).get("annotations") or {}).get(MEMBER) or ENDPOINT
    return [*cells[:4], member, *cells[4:]]


PRINTER = tables.Printer((*printers.EVENT.columns[:4],
                          tables.Column("Member", description="The member cluster the "
                                        "Event happened in; <endpoint> for the endpoint's "
                                        "own."),
                          *printers.EVENT.columns[4:]), _row)


def kind(base: registry.Kind) -> registry.Kind:
    """The endpoint's core/v1 Event kind: ``base`` with the Member column."""
    return dataclasses.replace(base, printer=PRINTER,
                               description="Events of the endpoint and of every member "
                                           "(the members' read-only).")


def is_events(k: registry.Kind) -> bool:
    return k.group == "" and k.plural == "events"


def trim(event: Obj) -> Obj:
    """What the endpoint keeps of a member's Event: all but ``managedFields``."""
    meta = event.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        event = {**event, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return event


def select(source: Source, namespace: str, name: str, labels: str, fields: str) -> list[Obj]:
    """The members' Events in ``namespace`` ("" for all) matching the selectors,
    annotated with their member, ordered by namespace, name and member."""
    return pods.select(source, namespace, name, labels, fields, kind="Event")


def refuse(member: str, namespace: str, name: str) -> kapi_status.ApiError:
    """A write or delete of a member's Event."""
    return kapi_status.ApiError(
        405, "MethodNotAllowed",
        f'events "{name}" in namespace "{namespace}" belongs to member "{member}": member '
        "Events are read-only at the federation endpoint (get, list, watch); use that "
        "member's context to change them", {})


Change = tuple[str, "Obj | None", "Obj | None"]  # member, the Event (None: deleted), before


class Subscription:
    """One watch's member changes, in order; ``overflowed`` once it fell too far behind."""

    def __init__(self) -> None:
        self.items: collections.deque[Change] = collections.deque()
        self.overflowed = False
        self._ready = asyncio.Event()

    def put(self, change: Change) -> None:
        if len(self.items) >= BACKLOG:
            self.overflowed = True  # the watch ends; clients watch again, as after a timeout
            self.items.clear()
        elif not self.overflowed:
            self.items.append(change)
        self._ready.set()

    async def take(self) -> list[Change]:
        """The changes so far (waits for one); [] once overflowed."""
        while not self.items and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        out = list(self.items)
        self.items.clear()
        return [] if self.overflowed else out


class Hub:
    """Hands each change of a member's Event to every watch that is open."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def changed(self, source: str, key: str, obj: Obj | None, old: Obj | None) -> None:
        """An informer's ``on_change`` (``source`` is ``member/Event``)."""
        member = source.rsplit("/", 1)[0]
        for sub in self._subscriptions:
            sub.put((member, obj, old))

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    @property
    def watchers(self) -> int:
        return len(self._subscriptions)


@dataclasses.dataclass(frozen=True)
class Filter:
    """What one request asks for: a namespace ("" for all), a name, selectors."""

    namespace: str = ""
    name: str = ""
    labels: selectors.Selector = ()
    fields: selectors.FieldSelector = ()

    def matches(self, member: str, event: Obj | None) -> Obj | None:
        """The served Event when ``event`` is one the request asks for, else None."""
        if event is None:
            return None
        meta = event.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace or \
                self.name and meta.get("name") != self.name:
            return None
        served = pods.served(member, event, "Event")
        if not selectors.matches_labels(self.labels, meta.get("labels")) or \
                not selectors.matches_fields(self.fields, served):
            return None
        return served


async def merged(own: AsyncIterator[kapi_storage.WatchEvent], hub: Hub, source: Source,
                 wanted: Filter, initial: bool, start: int,
                 current: Callable[[], Awaitable[int]]
                 ) -> AsyncIterator[kapi_storage.WatchEvent]:
    """The endpoint's own watch events (``own``) with the members' changes: with
    ``initial``, the members' current Events are ADDED before INITIAL_END; then each
    member change that the filter matches, as ADDED, MODIFIED or DELETED, at the
    endpoint's latest revision (``start``, else the Store's ``current()``, until
    ``own`` says more)."""
    changes = hub.subscribe()
    mixed: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    revision = start or await current()

    async def pull_own() -> None:
        try:
            async for event in own:
                await mixed.put(("own", event))
        except Exception as err:  # noqa: BLE001 - raised again by the consumer
            await mixed.put(("error", err))
            return
        await mixed.put(("end", None))

    async def pull_members() -> None:
        while True:
            batch = await changes.take()
            if not batch:
                await mixed.put(("end", None))  # fell too far behind: the watch ends
                return
            for change in batch:
                await mixed.put(("member", change))

    tasks = [asyncio.ensure_future(pull_own()), asyncio.ensure_future(pull_members())]
    try:
        initial_sent = not initial
        while True:
            what, item = await mixed.get()
            if what == "error":
                raise item
            if what == "end":
                return
            if what == "own":
                revision = max(revision, item.revision)
                if item.type == "INITIAL_END" and not initial_sent:
                    initial_sent = True
                    for obj in select(source, wanted.namespace, wanted.name, "", ""):
                        served = wanted.matches(obj["metadata"]["annotations"][MEMBER], obj)
                        if served is not None:
                            yield _event("ADDED", served, revision)
                yield item
                continue
            if not initial_sent:
                continue  # the initial list is read when it ends: it has this change
            member, obj, old = item
            new, before = wanted.matches(member, obj), wanted.matches(member, old)
            if new is not None:
                yield _event("MODIFIED" if before is not None else "ADDED", new, revision)
            elif before is not None:
                yield _event("DELETED", before, revision)
    finally:
        hub.unsubscribe(changes)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        close = getattr(own, "aclose", None)
        if close is not None:
            await close()


def _event(type_: str, served: Obj, revision: int) -> kapi_storage.WatchEvent:
    # the endpoint's revision: a client resuming the watch resumes at the endpoint
    meta = dict(served["metadata"])
    meta["resourceVersion"] = str(revision)
    return kapi_storage.WatchEvent(type_, {**served, "metadata": meta}, revision)
