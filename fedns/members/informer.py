"""An informer: list, then watch from the list's resourceVersion, into a local cache.

One informer follows one collection of one member (a path such as
``/api/v1/services`` or ``/api/v1/namespaces/web/configmaps``, optionally narrowed
by a label selector) over the member's :mod:`transport`, entirely on the event loop:
pages of the list, then the watch stream split into lines as its chunks arrive (raw
JSON, no model objects: the cache holds plain dicts).  Guarantees:

- no event is lost between list and watch (the watch starts at the list's version);
- ``410 Gone`` (the watch request's status or an ERROR event) means relist; the relist
  diffs the new state against the cache, so deletions missed while away are still
  delivered;
- a failed list or watch (refused, 401, dropped) retries with exponential backoff
  and jitter, so a dead or misconfigured member is never spun on;
- ``stop()`` ends ``run()`` at once, whatever it is waiting for;
- with a label selector, an object whose labels stop matching arrives as a delete
  (the API server sends DELETED for it).

Each change reaches ``on_change(kind, key, obj, old)``; ``obj`` is None on delete.
A ``transform`` (as client-go's ``SetTransform``) is applied to every object as it
arrives, before it is cached or handed on: it keeps only what the caller needs (it
must keep ``metadata``'s name, namespace and resourceVersion).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

from fedns.members import transport as transport_mod

log = logging.getLogger(__name__)

OnChange = Callable[[str, str, "dict[str, Any] | None", "dict[str, Any] | None"], None]
Transform = Callable[[dict[str, Any]], dict[str, Any]]


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


class Gone(Exception):
    """The watched resourceVersion is too old: relist."""


class Lines:
    """Splits a byte stream into its non-empty lines, wherever the chunks break.

    Linear in the stream's size however a long line is cut up (the parts of an
    unfinished line are joined once, when its newline arrives), and no limit on a
    line's length: one watch event carries a whole object."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._parts:
            self._parts.append(lines[0])
            lines[0] = b"".join(self._parts)
            self._parts = []
        tail = lines.pop()
        if tail:
            self._parts.append(tail)
        return [line for line in lines if line.strip()]

    def end(self) -> list[bytes]:
        """The last line when the stream ended without a newline."""
        rest, self._parts = b"".join(self._parts), []
        return [rest] if rest.strip() else []


class Informer:
    """Follows one kind of one member.  ``await run()`` until ``stop()``."""

    def __init__(
        self,
        kind: str,
        path: str,
        transport: transport_mod.Transport,
        on_change: OnChange | None = None,
        *,
        label_selector: str = "",
        page_size: int = 500,
        watch_timeout: int = 300,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
        transform: Transform | None = None,
    ) -> None:
        self.kind = kind
        self.path = path
        self.label_selector = label_selector
        self._transport = transport
        self._on_change = on_change or (lambda *args: None)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.transform = transform
        self.cache: dict[str, dict[str, Any]] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.relists = 0
        self.failures = 0  # in a row; 0 again after a watch that ended cleanly
        self.last_error: str = ""
        self._stopping = False
        self._runner: asyncio.Task[Any] | None = None
        self._cancelled = False  # stop() cancelled the runner

    # -- list ----------------------------------------------------------------

    async def _list_pages(self) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            params = {"limit": str(self.page_size)}
            if token:
                params["continue"] = token
            if self.label_selector:
                params["labelSelector"] = self.label_selector
            body = await self._transport.request_json("GET", self.path, params=params,
                                                      timeout=60.0)
            items.extend(body.get("items") or [])
            meta = body.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def _relist(self) -> None:
        items, rv = await self._list_pages()
        if self.transform is not None:
            items = [self.transform(obj) for obj in items]
        fresh = {object_key(obj): obj for obj in items}
        old = self.cache
        self.cache = fresh
        self.resource_version = rv
        self.relists += 1
        for key, obj in fresh.items():
            before = old.get(key)
            if before is None or _rv(before) != _rv(obj):
                self._on_change(self.kind, key, obj, before)
        for key in old.keys() - fresh.keys():
            self._on_change(self.kind, key, None, old[key])
        self.synced.set()

    # -- watch ---------------------------------------------------------------

    async def _watch(self) -> None:
        """Follow one watch stream until it ends; raise Gone or the stream's error."""
        params = {"watch": "1", "resourceVersion": self.resource_version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": str(self.watch_timeout)}
        if self.label_selector:
            # an object whose labels stop matching arrives as DELETED
            params["labelSelector"] = self.label_selector
        lines = Lines()
        try:
            async with self._transport.stream(self.path, params,
                                              read_timeout=self.watch_timeout + 30) as resp:
                async for chunk in resp.content.iter_any():
                    for line in lines.feed(chunk):
                        self._apply(json.loads(line.decode()))  # API servers send UTF-8
        except transport_mod.StatusError as err:
            if err.status == 410:
                raise Gone() from err
            raise
        for line in lines.end():
            self._apply(json.loads(line.decode()))

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        if self.transform is not None:
            obj = self.transform(obj)
        key = object_key(obj)
        old = self.cache.get(key)
        if kind == "DELETED":
            self.cache.pop(key, None)
            self._on_change(self.kind, key, None, old or obj)
        else:
            self.cache[key] = obj
            self._on_change(self.kind, key, obj, old)
        if rv:
            self.resource_version = rv

    # -- loop ----------------------------------------------------------------

    async def run(self) -> None:
        self._runner = asyncio.current_task()
        try:
            await self._loop()
        except asyncio.CancelledError:
            # our own stop(): a normal end; anyone else's cancel goes on up
            if self._cancelled and self._runner is not None and self._runner.uncancel() == 0:
                return
            self.stop()
            raise
        finally:
            self._runner = None

    async def _loop(self) -> None:
        need_list = True
        while not self._stopping:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
                self.failures = 0  # a clean end (timeoutSeconds): just watch again
            except Gone:
                log.info("%s: resourceVersion %s expired, relisting", self.kind,
                         self.resource_version)
                need_list = True
            except Exception as err:  # noqa: BLE001 - any failure: back off, retry
                self.last_error = _describe(err)
                delay = min(self.backoff_cap, self.backoff_base * 2 ** min(self.failures, 20))
                self.failures += 1
                log.debug("%s: %s; retrying in %.2fs", self.kind, self.last_error, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                # a watch that failed to (re)connect can resume from where it was;
                # only a failed list must be repeated
                need_list = need_list or not self.synced.is_set()

    def stop(self) -> None:
        """End ``run()`` promptly: it is cancelled wherever it waits (a list page, the
        watch stream, a backoff sleep) and returns normally."""
        self._stopping = True
        runner = self._runner
        if runner is None or runner.done() or self._cancelled:
            return
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running loop here
            current = None
        if runner is not current:  # run() stopping itself on a cancel needs no cancel
            self._cancelled = True
            runner.cancel()


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _describe(err: BaseException) -> str:
    if isinstance(err, transport_mod.StatusError):
        return f"HTTP {err.status}: {err.reason}"
    return transport_mod.describe(err)
