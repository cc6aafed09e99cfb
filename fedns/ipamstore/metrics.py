"""The ``fedns_ipam_*`` metrics: one set per prometheus-client registry.

``for_registry(registry)`` returns the metrics of that registry, creating them on
first use, so any number of ``IPAM`` objects (replicas in one test process, or the
CLI and the controller) share counters instead of colliding on names.  Address
counts are read at scrape time from every attached ``IPAM`` (their ``usage()``),
deduplicated by (site, pool, family): replicas mirror the same Store.

| metric | type | labels |
|---|---|---|
| `fedns_ipam_addresses_total` | gauge | site, pool, family |
| `fedns_ipam_addresses_in_use` | gauge | site, pool, family |
| `fedns_ipam_allocations_total` | counter | site, pool, family, result |
| `fedns_ipam_conflicts_total` | counter | site, pool, family, kind |
| `fedns_ipam_allocate_duration_seconds` | histogram | site |

``result`` is ``allocated``, ``kept`` or ``shared`` for an address given, or the
refusal reason (pool and family empty).  ``kind`` is ``txn`` (a transaction lost a
compare to another writer and the decision was made again) or ``status`` (repair
found an address in a Service's status that it could not adopt).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any, Protocol

import prometheus_client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry


class UsageSource(Protocol):
    def usage(self) -> list[Any]: ...


class _UsageCollector(Collector):
    def __init__(self) -> None:
        self.sources: weakref.WeakSet[Any] = weakref.WeakSet()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def _families(self) -> list[GaugeMetricFamily]:
        labels = ["site", "pool", "family"]
        return [GaugeMetricFamily("fedns_ipam_addresses_total",
                                  "Addresses a pool can hand out.", labels=labels),
                GaugeMetricFamily("fedns_ipam_addresses_in_use",
                                  "Addresses of a pool held by Services.", labels=labels)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        total, in_use = self._families()
        seen = set()
        for source in list(self.sources):
            for row in source.usage():
                labels = (row.site, row.pool, row.family_name)
                if labels in seen:
                    continue
                seen.add(labels)
                total.add_metric(labels, float(row.capacity))
                in_use.add_metric(labels, float(row.used))
        yield total
        yield in_use


class Metrics:
    """The counters and histogram of one registry, and its usage collector."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.allocations = prometheus_client.Counter(
            "fedns_ipam_allocations", "Allocation decisions by result.",
            ["site", "pool", "family", "result"], registry=registry)
        self.conflicts = prometheus_client.Counter(
            "fedns_ipam_conflicts", "Lost compares (kind=txn) and unadoptable status"
            " addresses (kind=status).", ["site", "pool", "family", "kind"], registry=registry)
        self.duration = prometheus_client.Histogram(
            "fedns_ipam_allocate_duration_seconds",
            "Time to decide and persist one Service's addresses.", ["site"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.usage = _UsageCollector()
        registry.register(self.usage)

    def attach(self, source: UsageSource) -> None:
        self.usage.sources.add(source)

    def detach(self, source: UsageSource) -> None:
        self.usage.sources.discard(source)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


def for_registry(registry: CollectorRegistry | None = None) -> Metrics:
    """The metrics registered in ``registry`` (default: prometheus-client's global)."""
    registry = registry if registry is not None else prometheus_client.REGISTRY
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = _BY_REGISTRY[registry] = Metrics(registry)
    return found
