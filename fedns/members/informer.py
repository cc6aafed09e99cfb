"""An informer: list, then watch from the list's resourceVersion, into a local cache.

One informer follows one kind in one member through the official ``kubernetes``
client (raw JSON, no model objects: the cache holds plain dicts).  The client is
synchronous, so each list runs in a worker thread and each watch stream is read by a
daemon thread that hands lines to the event loop; the cache itself is only touched
on the loop.  Guarantees:

- no event is lost between list and watch (the watch starts at the list's version);
- ``410 Gone`` (or an ERROR event) means relist; the relist diffs the new state
  against the cache, so deletions missed while away are still delivered;
- a dropped connection reconnects with exponential backoff and jitter, so a dead
  member is never spun on.

Each change reaches ``on_change(kind, key, obj, old)``; ``obj`` is None on delete.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch import watch as k8s_watch

log = logging.getLogger(__name__)

OnChange = Callable[[str, str, "dict[str, Any] | None", "dict[str, Any] | None"], None]
_END = object()


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else str(meta["name"])


class Gone(Exception):
    """The watched resourceVersion is too old: relist."""


class Informer:
    """Follows one kind of one member.  ``await run()`` until ``stop()``."""

    def __init__(
        self,
        kind: str,
        list_call: Callable[..., Any],
        on_change: OnChange | None = None,
        *,
        page_size: int = 500,
        watch_timeout: int = 300,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
    ) -> None:
        self.kind = kind
        self._list_call = list_call
        self._on_change = on_change or (lambda *args: None)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.cache: dict[str, dict[str, Any]] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.relists = 0
        self.last_error: str = ""
        self._stopping = False
        self._response: Any = None

    # -- list ----------------------------------------------------------------

    def _list_pages(self) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size, "_preload_content": False,
                                      "_request_timeout": (5, 60)}
            if token:
                kwargs["_continue"] = token
            resp = self._list_call(**kwargs)
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            items.extend(body.get("items") or [])
            meta = body.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def _relist(self) -> None:
        items, rv = await asyncio.to_thread(self._list_pages)
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

    def _stream(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        """Thread body: read one watch stream, hand each event to the loop."""
        put = queue.put_nowait
        try:
            resp = self._list_call(
                watch=True, resource_version=self.resource_version,
                allow_watch_bookmarks=True, timeout_seconds=self.watch_timeout,
                _preload_content=False, _request_timeout=(5, self.watch_timeout + 30),
            )
            self._response = resp
            if self._stopping:
                resp.shutdown()
            for line in k8s_watch.iter_resp_lines(resp):
                if line:
                    loop.call_soon_threadsafe(put, json.loads(line))
            loop.call_soon_threadsafe(put, _END)
        except ApiException as err:
            loop.call_soon_threadsafe(put, Gone() if err.status == 410 else err)
        except Exception as err:  # noqa: BLE001 - delivered to the loop and handled there
            loop.call_soon_threadsafe(put, err)
        finally:
            self._response = None

    async def _watch(self) -> None:
        """Follow one watch stream until it ends; raise Gone or the stream's error."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        threading.Thread(target=self._stream, args=(loop, queue), daemon=True,
                         name=f"watch-{self.kind}").start()
        while True:
            event = await queue.get()
            if event is _END:
                return
            if isinstance(event, BaseException):
                raise event
            self._apply(event)

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
        failures = 0
        need_list = True
        while not self._stopping:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                await self._watch()
                failures = 0  # a clean end (timeoutSeconds): just watch again
            except Gone:
                log.info("%s: resourceVersion %s expired, relisting", self.kind,
                         self.resource_version)
                need_list = True
            except asyncio.CancelledError:
                self.stop()
                raise
            except Exception as err:  # noqa: BLE001 - any failure: back off, retry
                if self._stopping:
                    return
                self.last_error = _describe(err)
                delay = min(self.backoff_cap, self.backoff_base * 2 ** min(failures, 20))
                failures += 1
                log.debug("%s: %s; retrying in %.2fs", self.kind, self.last_error, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                # a watch that failed to (re)connect can resume from where it was;
                # only a failed list must be repeated
                need_list = need_list or not self.synced.is_set()

    def stop(self) -> None:
        self._stopping = True
        resp = self._response
        if resp is not None:
            try:
                resp.shutdown()  # unblocks the reading thread
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _describe(err: BaseException) -> str:
    if isinstance(err, ApiException):
        return f"HTTP {err.status}: {err.reason}"
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]
