"""Store-backed IPAM on both backends: ``memory://`` and a real etcd.

``cluster`` gives a ``Cluster``: ``await cluster.replica(...)`` starts one more IPAM
on the same Store (a fresh connection per replica on etcd, the one shared MemoryStore
on memory://), each with its own metrics registry; all are stopped at the end.  On
etcd the ``/fedns/ipam/`` keys are wiped before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest
from prometheus_client import CollectorRegistry

from fedns import store
from fedns.ipamstore import keys, manager
from fedns.store import base


class Cluster:
    def __init__(self, url: str) -> None:
        self.url = url
        self.stores: list[base.Store] = []
        self.replicas: list[manager.IPAM] = []
        self._shared: base.Store | None = None

    async def open(self) -> base.Store:
        if self.url.startswith("memory://"):
            if self._shared is None:
                self._shared = await store.open_store(self.url)
                self.stores.append(self._shared)
            return self._shared
        st = await store.open_store(self.url)
        self.stores.append(st)
        return st

    async def replica(self, member_sites: Mapping[str, str] | None = None,
                      cooldown: float = 0.0,
                      registry: CollectorRegistry | None = None) -> manager.IPAM:
        ipam = manager.IPAM(await self.open(), member_sites or {}, cooldown,
                            registry=registry or CollectorRegistry())
        await ipam.start()
        self.replicas.append(ipam)
        return ipam

    async def close(self) -> None:
        for ipam in self.replicas:
            await ipam.stop()
        for st in self.stores:
            await st.close()


@pytest.fixture(params=["memory", "etcd"])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("etcd").url
    c = Cluster(url)
    st = await c.open()
    await st.delete(keys.PREFIX, prefix=True)
    try:
        yield c
    finally:
        await c.close()

