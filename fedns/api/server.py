"""The appliance's HTTP surface: /healthz, /readyz, /metrics, the fedns.io API and the
federation endpoint's templates (the built-in kinds of :mod:`fedns.templates`).

Built on :mod:`fedns.kapi`, so ``kubectl --server URL get ippools,members`` works
against it; ``pods`` are the members' own, read-only (:mod:`fedns.api.pods`);
``events`` are the endpoint's own and the members', theirs read-only
(:mod:`fedns.api.events`).  Reads are open; writes need the bearer token from the config (401 as
kube-apiserver answers it otherwise).  /readyz is ready once every member's caches
have synced (or its probe found it unreachable) and the DNS zone has been loaded.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from fedns.api import events as events_mod
from fedns.api import pods as pods_mod
from fedns.kapi import objects as kapi_objects
from fedns.kapi import registry as kapi_registry
from fedns.kapi import selectors as kapi_selectors
from fedns.kapi import server as kapi_server
from fedns.kapi import status
from fedns.kapi import storage as kapi_storage
from fedns.store import base

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class APIServer(kapi_server.Server):
    """kapi over the appliance's Store, with the appliance's health and metrics."""

    def __init__(self, store: base.Store, reg: kapi_registry.Registry,
                 metrics: CollectorRegistry, checks: Callable[[], dict[str, str]],
                 token: str = "", pods: pods_mod.Source | None = None,
                 event_ttl: int = 0, events: events_mod.Source | None = None,
                 event_hub: events_mod.Hub | None = None) -> None:
        """``pods``: where the members' Pods come from; given, the registry should hold
        :data:`fedns.api.pods.KIND` and get/list of Pods read them from there.
        ``event_ttl``: seconds an Event lives after its last write (0: for ever).
        ``events``: the members' Events, served beside the endpoint's own, and
        ``event_hub`` their changes, for watches."""
        super().__init__(store, reg, token=None,
                         settings=kapi_storage.Settings(event_ttl=event_ttl))
        self.pods = pods
        self.events = events
        self.event_hub = event_hub or events_mod.Hub()
        self.write_token = token
        self.metrics_registry = metrics
        self._checks = checks  # name -> "" when fine, else what is wrong

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        head = request.path.strip("/").split("/", 1)[0]
        if head == "healthz" or head == "livez":
            return web.Response(text="ok", content_type="text/plain")
        if head == "readyz":
            return self._ready(request)
        if head == "metrics":
            body = generate_latest(self.metrics_registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
        if request.method not in READ_METHODS and not self._authorized(request):
            raise status.unauthorized()
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] == ["api", "v1"] and len(parts) > 2 and \
                (self.pods is not None or self.events is not None):
            target = self._target("", "v1", parts[2:])
            if self.pods is not None and target.kind is pods_mod.KIND:
                return self._member_pods(request, target)
            if self.events is not None and events_mod.is_events(target.kind) and \
                    not target.subresource:
                answer = await self._member_events(request, target)
                if answer is not None:
                    return answer
        return await super()._dispatch(request)

    async def _member_events(self, request: web.Request, target: kapi_server.Target
                             ) -> web.Response | None:
        """A read that includes the members' Events, or the refusal of a write to one;
        None for what the endpoint's own storage answers (its own Events, creates,
        deletecollection, watches: see :meth:`_watch_events`)."""
        assert self.events is not None
        query, kind = request.query, target.kind
        reading = request.method in ("GET", "HEAD")
        if target.watch or query.get("watch") in ("1", "true"):
            return None
        if not target.name:
            if not reading:
                return None
            fields = kapi_selectors.parse_fields(query.get("fieldSelector", ""))
            labels_text = query.get("labelSelector", "")
            own = await self.storage.list(
                kind, target.namespace, labels=kapi_selectors.parse_labels(labels_text),
                fields=fields, limit=kapi_server._int(query.get("limit", "0"), "limit"),
                continue_token=query.get("continue", ""),
                resource_version=query.get("resourceVersion", ""),
                match=query.get("resourceVersionMatch", ""))
            items = list(own.items)
            if not query.get("continue"):  # the members' go with the first page
                items += events_mod.select(self.events, target.namespace, "", labels_text,
                                           query.get("fieldSelector", ""))
                if not own.continue_token:
                    items.sort(key=_event_order)
            return self._objects_response(request, kind, items, single=False,
                                          revision=str(own.revision),
                                          continue_token=own.continue_token,
                                          remaining=own.remaining)
        try:
            await self.storage.get(kind, target.namespace, target.name)
            return None  # the endpoint's own: read and written as stored
        except status.ApiError as err:
            if err.code != 404:
                raise
        found = events_mod.select(self.events, target.namespace, target.name, "", "")
        if not found:
            return None  # 404 (or a create by apply) from the storage
        if not reading:
            meta = found[0]["metadata"]
            raise events_mod.refuse(meta["annotations"][events_mod.MEMBER],
                                    target.namespace, target.name)
        return self._objects_response(
            request, kind, found[:1], single=True,
            revision=str(kapi_objects.meta(found[0]).get("resourceVersion", "")))

    def _watch_events(self, target: kapi_server.Target, revision: int,
                      labels: kapi_selectors.Selector, fields: kapi_selectors.FieldSelector,
                      initial: bool, encoded: bool) -> AsyncIterator[kapi_storage.WatchEvent]:
        own = super()._watch_events(target, revision, labels, fields, initial, encoded)
        if self.events is None or not events_mod.is_events(target.kind):
            return own
        wanted = events_mod.Filter(target.namespace, target.name, labels, fields)
        return events_mod.merged(own, self.event_hub, self.events, wanted, initial,
                                 revision, self.storage.store.revision)

    def _member_pods(self, request: web.Request, target: kapi_server.Target) -> web.Response:
        assert self.pods is not None
        query = request.query
        if request.method not in ("GET", "HEAD") or target.watch or target.subresource or \
                query.get("watch") in ("1", "true"):
            raise pods_mod.refuse()
        found = pods_mod.select(self.pods, target.namespace, target.name,
                                query.get("labelSelector", ""), query.get("fieldSelector", ""))
        if target.name and not found:
            raise status.not_found("pods", "", target.name)
        return self._objects_response(request, pods_mod.KIND, found[:1] if target.name else found,
                                      single=bool(target.name), revision="0")

    def _authorized(self, request: web.Request) -> bool:
        if not self.write_token:
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.write_token.encode())

    def _ready(self, request: web.Request) -> web.Response:
        problems = {name: text for name, text in self._checks().items() if text}
        if "verbose" in request.query or problems:
            lines = [f"[-]{name} failed: {text}" if text else f"[+]{name} ok"
                     for name, text in sorted(self._checks().items())]
            lines.append("readyz check failed" if problems else "readyz check passed")
            return web.Response(text="\n".join(lines) + "\n", status=503 if problems else 200,
                                content_type="text/plain")
        return web.Response(text="ok", content_type="text/plain")



def _event_order(obj: kapi_storage.Obj) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")),
            str((meta.get("annotations") or {}).get(events_mod.MEMBER, "")))
