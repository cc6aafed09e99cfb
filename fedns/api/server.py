"""The appliance's HTTP surface: /healthz, /readyz, /metrics, the fedns.io API and the
federation endpoint's templates (the built-in kinds of :mod:`fedns.templates`).

Built on :mod:`fedns.kapi`, so ``kubectl --server URL get ippools,members`` works
against it; ``pods`` are the members' own, read-only (:mod:`fedns.api.pods`).  Reads are open; writes need the bearer token from the config (401 as
kube-apiserver answers it otherwise).  /readyz is ready once every member's caches
have synced and the DNS zone has been loaded.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from fedns.api import pods as pods_mod
from fedns.kapi import registry as kapi_registry
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
                 event_ttl: int = 0) -> None:
        """``pods``: where the members' Pods come from; given, the registry should hold
        :data:`fedns.api.pods.KIND` and get/list of Pods read them from there.
        ``event_ttl``: seconds an Event lives after its last write (0: for ever)."""
        super().__init__(store, reg, token=None,
                         settings=kapi_storage.Settings(event_ttl=event_ttl))
        self.pods = pods
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
        if self.pods is not None and parts[:2] == ["api", "v1"] and len(parts) > 2:
            target = self._target("", "v1", parts[2:])
            if target.kind is pods_mod.KIND:
                return self._member_pods(request, target)
        return await super()._dispatch(request)

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

