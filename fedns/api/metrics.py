"""The appliance's Prometheus metrics: the controller's own, and bridges for components
that keep plain counters (the DNS server's ``metrics()`` dict).

Every Appliance has its own ``CollectorRegistry`` so several replicas can live in one
process (tests) without their metrics colliding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[^}]*)\})?$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class ControllerMetrics:
    """The controller's metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reconciles = Counter(
            "fedns_reconcile", "Reconciles of federated services, by result.",
            ["result"], registry=registry)
        self.reconcile_seconds = Histogram(
            "fedns_reconcile_duration_seconds", "Time one reconcile took.",
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.queue_depth = Gauge(
            "fedns_queue_depth", "Keys waiting in the work queue (due now or delayed).",
            registry=registry)
        self.member_ready = Gauge(
            "fedns_member_ready", "1 when the member's API server is ready (damped probe).",
            ["member"], registry=registry)
        self.leader = Gauge(
            "fedns_leader", "1 while this replica is the leader.", registry=registry)


class DictCollector(Collector):
    """Exposes a ``{"name{label=\\"v\\"}": value}`` dict as metrics; names ending in
    ``_total`` are counters, the rest gauges."""

    def __init__(self, source: Callable[[], Mapping[str, float]], help_text: str) -> None:
        self._source = source
        self._help = help_text

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for sample, value in self._source().items():
            match = _SAMPLE.match(sample)
            if match is None:
                continue
            name = match["name"]
            labels = dict(_LABEL.findall(match["labels"] or ""))
            family = families.get(name)
            if family is None:
                if name.endswith("_total"):
                    family = CounterMetricFamily(name[: -len("_total")], self._help,
                                                 labels=sorted(labels))
                else:
                    family = GaugeMetricFamily(name, self._help, labels=sorted(labels))
                families[name] = family
            family.add_metric([labels[k] for k in sorted(labels)], value)  # type: ignore[attr-defined]
        yield from families.values()
