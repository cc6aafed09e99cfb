"""Store backends chosen by URL: ``memory://`` (embedded) and ``etcd://host:port[,...]``.

``open_store(url)`` parses the URL and returns a connected :class:`base.Store`; the
contract and its types live in :mod:`fedns.store.base`.
"""

from __future__ import annotations

import os
import urllib.parse

from fedns import errors
from fedns.store import base

DEFAULT_URL = "memory://"


def parse_endpoints(url: str) -> list[tuple[str, int]]:
    """``etcd://h1:p1,h2:p2`` → [(h1, p1), (h2, p2)]; raises BadStoreURL."""
    rest = url[len("etcd://"):].rstrip("/")
    if not rest:
        raise base.BadStoreURL(f"store URL {url!r}: no endpoint after etcd://")
    endpoints = []
    for part in rest.split(","):
        host, sep, port_text = part.strip().rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise base.BadStoreURL(
                f"store URL {url!r}: endpoint {part!r} is not host:port"
            )
        endpoints.append((host, int(port_text)))
    return endpoints


def default_connect_timeout() -> float:
    """``$FEDNS_CONNECT_TIMEOUT`` seconds (default 5): how long to wait for etcd."""
    text = os.environ.get("FEDNS_CONNECT_TIMEOUT", "5")
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise errors.UsageError(
            f"FEDNS_CONNECT_TIMEOUT={text!r} is not a positive number of seconds")
    return value


async def open_store(url: str = DEFAULT_URL, *,
                     connect_timeout: float | None = None) -> base.Store:
    """Open the store named by ``url``; raises BadStoreURL or Unavailable.  Without
    ``connect_timeout``, etcd gets :func:`default_connect_timeout` seconds to answer."""
    scheme = urllib.parse.urlsplit(url).scheme if "://" in url else ""
    if scheme == "memory":
        from fedns.store import memory

        return memory.MemoryStore(url)
    if scheme == "etcd":
        from fedns.store import batching, etcd

        store = etcd.EtcdStore(parse_endpoints(url), url=url)
        await store.connect(timeout=connect_timeout or default_connect_timeout())
        return batching.GroupCommit(store)
    raise base.BadStoreURL(
        f"store URL {url!r}: expected memory:// or etcd://host:port[,host:port...]"
    )
