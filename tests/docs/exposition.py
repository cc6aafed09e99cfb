"""What a running fedns exports: the series names a Prometheus query can select, with labels.

``series(text)`` reads a /metrics scrape. prometheus-client declares every family
(``# TYPE``) even before it has a sample, so a family counts as exported once it is
declared; its queryable names follow Prometheus: a counter ``x`` is ``x_total``, a
histogram ``x`` is ``x_bucket``, ``x_sum``, ``x_count``. Labels come
from the samples; for a family with none yet (no IPAM conflict happened), from the
metric objects fedns's code registers.
"""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from fedns.controller import metrics as controller_metrics
from fedns.ipamstore import metrics as ipam_metrics

# Labels Prometheus adds to every series it scrapes.
TARGET_LABELS = frozenset({"instance", "job"})


@dataclasses.dataclass
class Series:
    family: str
    type: str
    labels: set[str] = dataclasses.field(default_factory=set)
    sampled: bool = False


def _names(family: str, kind: str) -> list[str]:
    # ``_created`` series count only where a sample shows them (dict-fed counters have none)
    if kind == "counter":
        return [family + "_total"]
    if kind == "histogram":
        return [family + s for s in ("_bucket", "_sum", "_count")]
    if kind == "summary":
        return [family, family + "_sum", family + "_count"]
    return [family]


def declared_labels() -> dict[str, set[str]]:
    """Family name -> label names, from the metric objects fedns registers."""
    registry = CollectorRegistry()
    objects = [*vars(controller_metrics.ControllerMetrics(registry)).values(),
               *vars(ipam_metrics.Metrics(registry)).values()]
    # prometheus-client keeps the declared label names only in this attribute
    return {obj._name: set(obj._labelnames) for obj in objects
            if isinstance(obj, MetricWrapperBase)}


def series(text: str) -> dict[str, Series]:
    """Queryable series name -> what the scrape says about it."""
    declared = declared_labels()
    out: dict[str, Series] = {}
    for family in text_string_to_metric_families(text):
        for name in _names(family.name, family.type):
            out[name] = Series(family.name, family.type, set(declared.get(family.name, ())))
        for sample in family.samples:
            entry = out.setdefault(sample.name, Series(family.name, family.type))
            entry.sampled = True
            entry.labels.update(sample.labels)
            for sibling in _names(family.name, family.type):
                out[sibling].labels.update(k for k in sample.labels if k != "le")
    for name, entry in out.items():
        if name.endswith("_bucket") and entry.type == "histogram":
            entry.labels.add("le")
    return out
