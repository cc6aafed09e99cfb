"""Simulated member clusters on loopback: ``fedns sim`` and the in-process API in
:mod:`fedns.sim.cluster` that the demo and the tests use; each member runs the
controllers of :mod:`fedns.sim.controllers`."""
