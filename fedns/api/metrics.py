"""Bridges to Prometheus for components that keep plain counters (the DNS server's
``metrics()`` dict); the controller's own metrics are in ``fedns.controller.metrics``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[^}]*)\})?$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


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
