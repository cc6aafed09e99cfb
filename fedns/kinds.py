"""The ``fedns.io/v1alpha1`` kinds: their names, scopes and Table columns; no behaviour.

- ``ippools`` (``ipp``): one per IPAM pool, stored as IPAM's pool record itself
  (``/fedns/ipam/pools/<name>``); the API adds validation, the write through IPAM and
  the status computed at read (``fedns.api.pools``).
- ``members`` (``mem``; also ``clusters``, as Federation v1 listed members): one per
  member, written by the status controller; ``status.conditions`` holds its ``Ready``
  condition, whose ``lastTransitionTime`` the placer reads back after a restart.
- ``federatedservices`` (``fsvc``, namespaced): one per published service, written
  by the status controller; its namespace need not exist at the endpoint (the
  Service may live only in members).

The placement kinds (``placements``, ``clusterplacements``) carry validation and live
in :mod:`fedns.placements`.

Shared by the API, which serves them, and the controllers, which write them.
"""

from __future__ import annotations

from fedns.kapi import registry, tables

GROUP, VERSION = "fedns.io", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
MANAGED_BY = {"app.kubernetes.io/managed-by": "fedns"}

IPPOOLS = registry.Kind(
    GROUP, VERSION, "ippools", "IPPool", namespaced=False, short_names=("ipp",),
    categories=("fedns",), status=True, key_prefix="/fedns/ipam/pools/",
    printer=tables.columns(("Site", ".spec.site"), ("Addresses", ".spec.addresses"),
                           ("Capacity", ".status.capacity"), ("Used", ".status.used"),
                           ("Free", ".status.free"), ("State", ".status.state")),
    description="A pool of external addresses of one site.")
MEMBERS = registry.Kind(
    GROUP, VERSION, "members", "Member", namespaced=False,
    short_names=("mem", "cluster", "clusters"),
    categories=("fedns",), status=True,
    printer=tables.columns(("Site", ".spec.site"), ("Region", ".spec.region"),
                           ("Zone", ".spec.zone"), ("Ready", ".status.ready"),
                           ("Services", ".status.services"), ("Error", ".status.lastError")),
    description="A member cluster of the federation.")
FEDERATED_SERVICES = registry.Kind(
    GROUP, VERSION, "federatedservices", "FederatedService", namespaced=True,
    short_names=("fsvc",), categories=("fedns",), status=True, needs_namespace=False,
    printer=tables.columns(("Members", ".status.members"), ("Healthy", ".status.healthy"),
                           ("Addresses", ".status.addresses"), ("DNS-Name", ".status.dnsName")),
    description="A Service published under federation DNS names.")
OVERRIDES = registry.Kind(
    GROUP, VERSION, "overrides", "Override", namespaced=True, short_names=("ovr",),
    categories=("fedns",),
    printer=tables.columns(("Kind", ".spec.resourceSelector.kind"),
                           ("Target", ".spec.resourceSelector.name")),
    description="Changes to a template for some members only (RFC 6902 operations).")
