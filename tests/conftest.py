"""Shared fixtures: real etcd processes started and stopped by the tests themselves."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support import procs

# Property tests judge results, not speed: on a loaded 2-core machine (CI, or several
# suites at once) input generation and single examples can be slow without anything
# being wrong, so neither the too_slow health check nor a per-example deadline applies.
settings.register_profile("fedns", suppress_health_check=[HealthCheck.too_slow],
                          deadline=None)
settings.load_profile("fedns")


def _need_etcd() -> None:
    if not shutil.which("etcd") and not shutil.which(procs.ETCD):
        pytest.fail("etcd is not installed: run the README's test command (apt-get install etcd-server)")


def _cluster(size: int) -> Iterator[procs.EtcdCluster]:
    _need_etcd()
    cluster = procs.EtcdCluster(size).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def etcd() -> Iterator[procs.EtcdCluster]:
    """One real etcd on free loopback ports, shared by a test module."""
    yield from _cluster(1)


@pytest.fixture
def fresh_etcd() -> Iterator[procs.EtcdCluster]:
    """An etcd of the test's own (the module's holds what other tests wrote)."""
    yield from _cluster(1)


@pytest.fixture
def etcd3() -> Iterator[procs.EtcdCluster]:
    """A 3-member etcd cluster, for fault tests (its own, so tests may stop members)."""
    yield from _cluster(3)
