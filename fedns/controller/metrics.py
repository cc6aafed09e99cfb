"""The controller runtime's Prometheus metrics, labelled by controller.

Every Appliance has its own ``CollectorRegistry`` so several replicas can live in one
process (tests) without their metrics colliding.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ControllerMetrics:
    """The runtime's metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reconciles = Counter(
            "fedns_controller_reconcile", "Reconciles, by controller and result.",
            ["controller", "result"], registry=registry)
        self.reconcile_seconds = Histogram(
            "fedns_controller_reconcile_duration_seconds", "Time one reconcile took.",
            ["controller"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.queue_depth = Gauge(
            "fedns_controller_queue_depth",
            "Keys waiting in a controller's work queue (due now or delayed).",
            ["controller"], registry=registry)
        self.member_ready = Gauge(
            "fedns_member_ready", "1 when the member's API server is ready (damped probe).",
            ["member"], registry=registry)
        self.placement_decisions = Counter(
            "fedns_placement_decisions", "Changed placement decisions, by result (placed, "
            "failover, constrained).", ["result"], registry=registry)
        self.placement_evictions = Counter(
            "fedns_placement_evictions", "Old copies deleted after their replicas were "
            "placed elsewhere (failover, a changed policy).", registry=registry)
        self.leader = Gauge(
            "fedns_leader", "1 while this replica is the leader.", registry=registry)
