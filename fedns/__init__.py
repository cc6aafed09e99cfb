"""fedns: federation service discovery and IP management for multi-institution Kubernetes.

This package is the application (all I/O and wiring); the pure cores live in the
sibling packages ``ipam``, ``placement``, ``propagate`` and ``corefile``.
"""

__version__ = "0.1.0"
