"""The HTTP surface of kapi: kube-apiserver's REST paths over :mod:`fedns.kapi.storage`.

``Server(store, registry, token=None)`` serves discovery, OpenAPI v3 and v2, health,
and for every registered kind get/list/watch/create/update/patch/delete(collection),
the status and scale subresources, with Table output, watch-list
(``sendInitialEvents``), bookmarks, server-side apply and ``fieldValidation``
(warnings as ``Warning`` headers).  The kinds of stored CRDs are served from
``start()`` on and follow CRD writes.  It answers JSON only: protobuf in ``Accept``
gets JSON (the clients also list it); protobuf request bodies are decoded
(:mod:`fedns.kapi.protobuf`).  ``start(host, port)`` returns the bound port;
``stop()`` ends open watches and closes the port, so a new Server over the same
Store can take the port again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from fedns import errors
from fedns.kapi import (
    body,
    crds,
    discovery,
    fieldvalidation,
    objects,
    openapi,
    registry,
    selectors,
    status,
    storage,
    subresources,
    tables,
)
from fedns.kapi.registry import Kind
from fedns.store import base

log = logging.getLogger(__name__)

Obj = dict[str, Any]

JSON = "application/json"
WATCH_BACKLOG = 1024  # encoded watch events waiting for a slow client before we stop reading
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclasses.dataclass(frozen=True)
class Target:
    """A resource request: kind, namespace ('' for all or cluster scope), name ('' for
    the collection), subresource, and whether the path said ``/watch/``."""

    kind: Kind
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    watch: bool = False


@dataclasses.dataclass(frozen=True)
class Output:
    """What the client asked for in Accept: plain JSON, a Table or object metadata only."""

    form: str = "json"  # json | table | metadata
    table_version: str = "v1"


def negotiate(accept: str) -> Output:
    """The first media range we can serve, in the client's order."""
    for media in (accept or JSON).split(","):
        parts = [p.strip() for p in media.split(";")]
        mime = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        as_ = params.get("as", "")
        if mime in ("application/json", "application/yaml") and as_ == "Table":
            return Output("table", params.get("v", "v1"))
        if mime == "application/json" and as_.startswith("PartialObjectMetadata"):
            return Output("metadata")
        if mime in ("application/json", "*/*", "application/*") and not as_:
            return Output("json")
    return Output("json")


def _dump(body: Any) -> bytes:
    return objects.dumps(body)


def respond(body: Any, code: int = 200, content_type: str = JSON,
            headers: dict[str, str] | None = None) -> web.Response:
    """``body`` as JSON (bytes are sent as they are: JSON encoded already)."""
    data = body if isinstance(body, bytes) else _dump(body)
    return web.Response(body=data, status=code, headers={
        "Content-Type": content_type, "Cache-Control": "no-cache, private", **(headers or {})})


def error_response(err: status.ApiError) -> web.Response:
    return respond(err.to_json(), err.code)


class Server:
    """A Kubernetes-style API server for ``reg``'s kinds over ``store``."""

    def __init__(self, store: base.Store, reg: registry.Registry | None = None,
                 token: str | None = None, *, settings: storage.Settings | None = None,
                 prefix: str = "/registry", bookmark_interval: float = 60.0) -> None:
        from fedns.kapi import builtin

        self.registry = reg if reg is not None else builtin.registry()
        self.storage = storage.Storage(store, self.registry, prefix=prefix, settings=settings)
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.openapi = openapi.Documents(self.registry)
        self.crds = crds.Sync(self.storage, self.registry)
        self._following: asyncio.Future[None] | None = None
        self.host = ""
        self.port = 0
        self.scheme = "http"
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------

    def app(self) -> web.Application:
        application = web.Application(middlewares=[self._middleware],
                                      client_max_size=body.MAX_BYTES + 1)
        application.router.add_route("*", "/{tail:.*}", self._dispatch)
        return application

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (0: a free port), HTTPS with ``ssl_context``;
        returns the bound port."""
        self._stopping = asyncio.Event()
        await self.crds.resync()  # the custom kinds of stored CRDs, before the first request
        runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise errors.CannotListen.because(f"{host}:{port}", err) from err
        self._runner = runner
        self._following = asyncio.ensure_future(self.crds.run())
        sockets = [s for s in runner.addresses]
        self.host = host
        self.port = int(sockets[0][1]) if sockets else port
        self.scheme = "https" if ssl_context is not None else "http"
        return self.port

    async def stop(self) -> None:
        """End watches, close the port.  The Store stays open (it is the caller's)."""
        self._stopping.set()
        if self._following is not None:
            following, self._following = self._following, None
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- middleware ----------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None and not request.path.startswith(PUBLIC_PATHS):
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                     self.token.encode()):
                return error_response(status.unauthorized())
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except status.ApiError as err:
            return error_response(err)
        except selectors.BadSelector as err:
            return error_response(status.bad_request(str(err)))
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("kapi: %s %s failed", request.method, request.path)
            return error_response(status.internal(str(err)))

    # -- routing -------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if not parts:
            return respond(discovery.root_paths(self.registry))
        head = parts[0]
        if head in ("healthz", "livez", "readyz"):
            return await self._health(request, head)
        if head == "version" and len(parts) == 1:
            return respond(discovery.version())
        if head == "openapi":
            return self._openapi(request, parts[1:])
        if head == "api":
            if len(parts) == 1:
                return self._discovery(request, core=True)
            if parts[1] != "v1":
                raise status.path_not_found()
            if len(parts) == 2:
                return respond(discovery.api_resource_list(self.registry, "", "v1"))
            target = self._target("", "v1", parts[2:])
        elif head == "apis":
            if len(parts) == 1:
                return self._discovery(request, core=False)
            group = parts[1]
            if len(parts) == 2:
                if group not in self.registry.groups() or not group:
                    raise status.path_not_found()
                return respond(discovery.api_group(self.registry, group))
            version = parts[2]
            if (group, version) not in self.registry.group_versions():
                raise status.path_not_found()
            if len(parts) == 3:
                return respond(discovery.api_resource_list(self.registry, group, version))
            target = self._target(group, version, parts[3:])
        else:
            raise status.path_not_found()
        if method not in ("GET", "HEAD") and not request.can_read_body and method != "DELETE" \
                and target.subresource not in subresources.POD_STREAMS:
            raise status.bad_request("the request body is empty")
        if target.kind.group == crds.GROUP and target.kind.plural == crds.PLURAL and \
                method not in ("GET", "HEAD"):
            # a CRD write serves its kinds before it returns, as clients expect
            try:
                return await self._write(request, target)
            finally:
                await self.crds.resync()
        return await self._write(request, target)

    async def _write(self, request: web.Request, target: Target) -> web.StreamResponse:
        """A write under the request's fieldValidation, its warnings as headers."""
        method = request.method
        if method not in ("POST", "PUT", "PATCH"):
            return await self._resource(request, target)
        warnings: list[str] = []
        how = fieldvalidation.directive(request.query.get("fieldValidation", ""))
        directive_token = fieldvalidation.DIRECTIVE.set(how)
        warnings_token = fieldvalidation.WARNINGS.set(warnings)
        try:
            response = await self._resource(request, target)
        finally:
            fieldvalidation.DIRECTIVE.reset(directive_token)
            fieldvalidation.WARNINGS.reset(warnings_token)
        for text in warnings:
            response.headers.add("Warning", fieldvalidation.warning_header(text))
        return response

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        watch = False
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = ""
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2 and \
                rest[2] not in NAMESPACE_SUBRESOURCES:
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise status.path_not_found()
        kind = self.registry.lookup(group, version, rest[0])
        if kind is None or (namespace and not kind.namespaced):
            raise status.path_not_found()
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource and not subresources.serves(kind, subresource):
            raise status.path_not_found()
        return Target(kind, namespace, name, subresource, watch)

    async def _health(self, request: web.Request, which: str) -> web.Response:
        try:
            await self.storage.store.revision()
        except Exception as err:  # noqa: BLE001 - report, not raise
            text = f"[-]etcd failed: {err}\n{which} check failed"
            return web.Response(text=text, status=500, content_type="text/plain")
        if "verbose" in request.query:
            return web.Response(text=f"[+]ping ok\n[+]etcd ok\n{which} check passed\n",
                                content_type="text/plain")
        return web.Response(text="ok", content_type="text/plain")

    def _discovery(self, request: web.Request, core: bool) -> web.Response:
        accept = request.headers.get("Accept", "")
        for media in accept.split(","):
            compact = media.replace(" ", "")
            if "as=APIGroupDiscoveryList" in compact and "g=apidiscovery.k8s.io" in compact:
                api_version = "v2" if "v=v2;" in compact + ";" else \
                    ("v2beta1" if "v=v2beta1" in compact else "")
                if api_version:
                    content_type = discovery.AGGREGATED_V2 if api_version == "v2" else \
                        discovery.AGGREGATED_V2BETA1
                    return respond(discovery.aggregated(self.registry, core, api_version),
                                   content_type=content_type)
            elif compact.split(";")[0] in ("application/json", "*/*", "application/*"):
                break
        if core:
            return respond(discovery.api_versions(request.host))
        return respond(discovery.api_group_list(self.registry))

    def _openapi(self, request: web.Request, rest: list[str]) -> web.Response:
        if rest == ["v2"]:
            accept = request.headers.get("Accept", "")
            if accept and "protobuf" in accept and not any(
                    media.split(";")[0].strip() in (JSON, "*/*", "application/*")
                    for media in accept.split(",")):
                # kube-apiserver also serves only JSON to a client that takes only JSON
                raise status.ApiError(406, "NotAcceptable",
                                      "only the following media types are accepted: "
                                      "application/json")
            return respond(self.openapi.v2())
        if rest[:1] != ["v3"]:
            raise status.path_not_found()
        if len(rest) == 1:
            return respond(self.openapi.root())
        found = self.openapi.v3("/".join(rest[1:]))
        if found is None:
            raise status.path_not_found()
        data, digest = found
        headers = {"Etag": f'"{digest}"'}
        if request.query.get("hash") == digest:
            # the hash names this exact document: clients may keep it for good
            headers["Expires"] = "Thu, 31 Dec 2099 23:59:59 GMT"
        response = respond(data, headers=headers)
        if request.query.get("hash") == digest:
            response.headers["Cache-Control"] = "public, immutable"
        return response

    # -- resources -----------------------------------------------------------

    async def _resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        method, query = request.method, request.query
        kind = target.kind
        dry_run = query.get("dryRun") == "All"
        if subresources.handled_here(kind, target.subresource):
            code, answer = await subresources.handle(
                self.storage, method, kind, target.namespace, target.name, target.subresource,
                lambda: self._body(request, allow_list=method == "PATCH"),
                request.headers.get("Content-Type", "").split(";")[0].strip(), dry_run)
            return respond(answer, code)
        if method in ("GET", "HEAD"):
            if target.name:
                if target.watch:
                    fields: selectors.FieldSelector = (
                        selectors.FieldRequirement("metadata.name", True, target.name),)
                    return await self._watch(request, target, fields)
                obj = await self.storage.get(kind, target.namespace, target.name)
                return self._objects_response(request, kind, [obj], single=True,
                                              revision=objects.meta(obj)["resourceVersion"])
            fields = selectors.parse_fields(query.get("fieldSelector", ""))
            if target.watch or query.get("watch") in ("true", "1"):
                return await self._watch(request, target, fields)
            return await self._list(request, target, fields)
        if method == "POST":
            if target.name or (kind.namespaced and not target.namespace):
                raise status.method_not_allowed("create")
            body = await self._body(request)
            created = await self.storage.create(kind, target.namespace, body, dry_run=dry_run,
                                                owned=True)
            return respond(self.storage.served_json(created, kind), 201)
        if method == "PUT":
            if not target.name:
                raise status.method_not_allowed("update")
            body = await self._body(request)
            updated = await self.storage.update(kind, target.namespace, target.name, body,
                                                subresource=target.subresource, dry_run=dry_run,
                                                owned=True)
            return respond(self.storage.served_json(updated, kind))
        if method == "PATCH":
            if not target.name:
                raise status.method_not_allowed("patch")
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            body = await self._body(request, allow_list=True)
            if content_type == storage.APPLY_PATCH:
                if target.subresource:
                    raise status.method_not_allowed("apply to a subresource")
                applied, is_new = await self.storage.apply(
                    kind, target.namespace, target.name, body,
                    manager=query.get("fieldManager", ""), force=query.get("force") == "true",
                    dry_run=dry_run)
                return respond(self.storage.served_json(applied, kind), 201 if is_new else 200)
            patched = await self.storage.patch(kind, target.namespace, target.name,
                                               content_type, body,
                                               subresource=target.subresource, dry_run=dry_run)
            return respond(self.storage.served_json(patched, kind))
        if method == "DELETE":
            options = await self._delete_options(request)
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            if not target.name:
                fields = selectors.parse_fields(query.get("fieldSelector", ""))
                labels = selectors.parse_labels(query.get("labelSelector", ""))
                result = await self.storage.delete_collection(
                    kind, target.namespace, labels=labels, fields=fields, options=options)
                return respond({"kind": kind.list_kind, "apiVersion": kind.api_version,
                                "metadata": {"resourceVersion": str(result.revision)},
                                "items": result.items})
            if target.subresource:
                raise status.method_not_allowed("delete")
            obj, gone = await self.storage.delete(kind, target.namespace, target.name, options,
                                                  dry_run=dry_run)
            if gone and not kind.return_deleted:
                return respond(status.success(target.name, kind.group, kind.plural,
                                              str(objects.meta(obj).get("uid", ""))))
            return respond(self.storage.served_json(obj, kind))
        raise status.method_not_allowed(method.lower())

    async def _body(self, request: web.Request, allow_list: bool = False) -> Any:
        return await body.read(request, allow_list)  # limits and media types: kapi.body

    async def _delete_options(self, request: web.Request) -> Obj:
        options = await body.read_options(request)
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if key in request.query:
                options.setdefault(key, request.query[key])
        if "dryRun" in request.query:
            options.setdefault("dryRun", request.query.getall("dryRun"))
        return options

    def _objects_response(self, request: web.Request, kind: Kind, items: list[Obj], *,
                          single: bool, revision: str, continue_token: str = "",
                          remaining: int | None = None) -> web.Response:
        output = negotiate(request.headers.get("Accept", ""))
        if output.form == "table":
            table = tables.to_table(kind.printer, items, now=objects.now(),
                                    resource_version=revision, continue_token=continue_token,
                                    include_object=request.query.get("includeObject",
                                                                     "Metadata"),
                                    remaining=remaining)
            if output.table_version == "v1beta1":
                table["apiVersion"] = "meta.k8s.io/v1beta1"
            return respond(table)
        if single:
            if output.form == "metadata":
                return respond(tables.partial_metadata(items[0]))
            return respond(items[0])
        metadata: Obj = {"resourceVersion": revision}
        if continue_token:
            metadata["continue"] = continue_token
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
        if output.form == "metadata":
            return respond({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                            "metadata": metadata,
                            "items": [tables.partial_metadata(o) for o in items]})
        return respond({"kind": kind.list_kind, "apiVersion": kind.api_version,
                        "metadata": metadata, "items": items})

    async def _list(self, request: web.Request, target: Target,
                    fields: selectors.FieldSelector) -> web.Response:
        query = request.query
        labels = selectors.parse_labels(query.get("labelSelector", ""))
        limit = _int(query.get("limit", "0"), "limit")
        result = await self.storage.list(
            target.kind, target.namespace, labels=labels, fields=fields, limit=limit,
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
            match=query.get("resourceVersionMatch", ""))
        return self._objects_response(request, target.kind, result.items, single=False,
                                      revision=str(result.revision),
                                      continue_token=result.continue_token,
                                      remaining=result.remaining)

    # -- watch ---------------------------------------------------------------

    async def _watch(self, request: web.Request, target: Target,
                     fields: selectors.FieldSelector) -> web.StreamResponse:
        query = request.query
        kind = target.kind
        labels = selectors.parse_labels(query.get("labelSelector", ""))
        rv_text = query.get("resourceVersion", "")
        revision = storage.parse_resource_version(rv_text)
        if "sendInitialEvents" in query:
            initial = query["sendInitialEvents"] == "true"
        else:
            initial = rv_text in ("", "0")
        bookmarks = query.get("allowWatchBookmarks") == "true"
        timeout = _int(query.get("timeoutSeconds", "0"), "timeoutSeconds")
        output = negotiate(request.headers.get("Accept", ""))
        response = web.StreamResponse(status=200, headers={
            "Content-Type": JSON, "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout > 0 else None
        next_bookmark = loop.time() + self.bookmark_interval
        last_revision = revision
        headers_sent = False
        # A pump task reads the events and encodes them into ``lines``; this task writes
        # whatever has collected in one chunk, so a burst costs one write, not one each.
        lines: list[bytes] = []
        finished = False  # the events ended; an ERROR line, if any, is in lines
        failure: Exception | None = None
        waiter: asyncio.Future[None] | None = None  # set while this task waits for lines
        room: asyncio.Future[None] | None = None  # set while the pump waits for a write

        def line(event_type: str, obj: Obj) -> bytes:
            nonlocal headers_sent
            if output.form == "table" and event_type in ("ADDED", "MODIFIED", "DELETED"):
                obj = tables.to_table(kind.printer, [obj], now=objects.now(),
                                      resource_version=objects.meta(obj).get(
                                          "resourceVersion", ""),
                                      include_object=query.get("includeObject", "Metadata"),
                                      headers=not headers_sent)
                headers_sent = True
            elif output.form == "metadata" and event_type != "ERROR":
                obj = tables.partial_metadata(obj)
            return _dump({"type": event_type, "object": obj}) + b"\n"

        def bookmark(rev: int, initial_end: bool = False) -> Obj:
            meta: Obj = {"resourceVersion": str(rev)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta}

        def wake() -> None:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        events = self._watch_events(target, revision, labels, fields, initial,
                                    output.form == "json")

        async def pump() -> None:
            nonlocal last_revision, finished, failure, room
            try:
                async for event in events:
                    last_revision = max(last_revision, event.revision)
                    if event.type == "INITIAL_END":
                        if not (bookmarks and query.get("sendInitialEvents") == "true"):
                            continue
                        lines.append(line("BOOKMARK", bookmark(event.revision, initial_end=True)))
                    elif event.type == "PROGRESS":
                        continue
                    elif event.data is not None:
                        lines.append(b"".join((b'{"type":"', event.type.encode(),
                                               b'","object":', event.data, b"}\n")))
                    elif event.object is not None:
                        lines.append(line(event.type, event.object))
                    else:
                        continue
                    wake()
                    if len(lines) >= WATCH_BACKLOG:
                        room = loop.create_future()
                        await room
            except status.ApiError as err:
                lines.append(line("ERROR", err.to_json()))
            except Exception as err:  # noqa: BLE001 - raised again by the writer
                failure = err
            finally:
                finished = True
                wake()

        pumping = asyncio.ensure_future(pump())
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        stopping.add_done_callback(lambda _: wake())
        try:
            while not stopping.done():
                if lines:
                    data = b"".join(lines)
                    lines.clear()
                    if room is not None and not room.done():
                        room.set_result(None)
                    await response.write(data)
                    continue
                if finished:
                    if failure is not None:
                        raise failure
                    break
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                if bookmarks and now >= next_bookmark:
                    await response.write(line("BOOKMARK", bookmark(last_revision)))
                    next_bookmark = now + self.bookmark_interval
                    continue
                wake_at = next_bookmark if bookmarks else None
                if deadline is not None:
                    wake_at = deadline if wake_at is None else min(wake_at, deadline)
                waiter = loop.create_future()
                timer = loop.call_at(wake_at, wake) if wake_at is not None else None
                try:
                    await waiter
                finally:
                    waiter = None
                    if timer is not None:
                        timer.cancel()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            stopping.cancel()
            pumping.cancel()
            await asyncio.wait({pumping, stopping})
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response


    def _watch_events(self, target: Target, revision: int, labels: selectors.Selector,
                      fields: selectors.FieldSelector, initial: bool, encoded: bool
                      ) -> AsyncIterator[storage.WatchEvent]:
        """What a watch streams: the Storage's events (a server serving more than its
        Storage holds adds to them)."""
        return self.storage.watch(target.kind, target.namespace, resource_version=revision,
                                  labels=labels, fields=fields, initial=initial,
                                  encoded=encoded)


def _int(text: str, name: str) -> int:
    try:
        return int(text or "0")
    except ValueError:
        raise status.bad_request(f"invalid {name}: {text!r}") from None
