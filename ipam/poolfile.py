"""The pool file formats ``fedns pool apply`` reads, turned into pools.

A file holds one or more YAML documents; each is one of:

- fedns's own: a list of pool mappings, or a single mapping (``ipam/README.md``);
- ``fedns.io/v1alpha1`` ``IPPool`` objects, as ``kubectl get ippools -o yaml`` prints
  them: one object, or a ``List`` of them (``status`` and server metadata ignored);
- MetalLB's ``metallb.io`` ``IPAddressPool`` objects (v1beta1 or v1beta2): MetalLB has
  no sites, so each takes ``site`` from its ``fedns.io/site`` annotation, else the
  ``site`` given.  ``serviceAllocation`` maps to ``priority`` and to one selector each
  (fedns supports a single matchLabels selector; a list of namespaces becomes one
  namespace when it has one entry).  Other MetalLB kinds (L2Advertisement, ...) are
  skipped and reported.

Every problem of the file is reported, one line each, with where it is; pure (the
caller reads the file and parses the YAML).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ipam import errors, pool

METALLB_GROUP = "metallb.io"
SITE_ANNOTATION = "fedns.io/site"
NAME_LABEL = "kubernetes.io/metadata.name"


class PoolFileProblems(errors.PoolInvalid):
    """The pool file has problems (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclasses.dataclass
class Read:
    """What a file held: the pools, and what was skipped (one line each)."""

    pools: list[pool.Pool]
    skipped: list[str]


def read(documents: list[Any], site: str = "") -> Read:
    """Pools from the documents of a file; raises PoolFileProblems listing every
    problem (the set's own rules, e.g. overlaps within a site, come after)."""
    mappings: list[tuple[str, Mapping[str, Any]]] = []  # (where, pool mapping)
    problems: list[str] = []
    skipped: list[str] = []
    for number, document in enumerate(documents, 1):
        where = f"document {number}" if len(documents) > 1 else ""
        _collect(document, where, site, mappings, problems, skipped)
    found = []
    for where, mapping in mappings:
        try:
            found.append(pool.from_dict(mapping))
        except errors.PoolInvalid as err:
            problems.append(f"{where + ': ' if where else ''}{err}")
    if problems:
        raise PoolFileProblems(problems)
    if not found:
        raise PoolFileProblems(["no pools in the file"
                                + (f" (skipped: {'; '.join(skipped)})" if skipped else "")])
    return Read(found, skipped)


def _collect(document: Any, where: str, site: str,
             mappings: list[tuple[str, Mapping[str, Any]]], problems: list[str],
             skipped: list[str]) -> None:
    if document is None:
        return
    if isinstance(document, list):
        for item in document:
            mappings.append((where, item))
        return
    if not isinstance(document, Mapping):
        problems.append(f"{where + ': ' if where else ''}expected a list of pool mappings, "
                        f"a pool mapping or an IPPool, got {document!r}"[:200])
        return
    kind, api_version = document.get("kind"), str(document.get("apiVersion") or "")
    if kind is None and api_version == "":
        mappings.append((where, document))  # fedns's own mapping
    elif kind == "List":
        for i, item in enumerate(document.get("items") or []):
            _collect(item, f"{where + ' ' if where else ''}items[{i}]".strip(), site,
                     mappings, problems, skipped)
    elif kind == "IPPool" and api_version.startswith("fedns.io/"):
        _ippool(document, where, mappings, problems)
    elif kind == "IPAddressPool" and api_version.startswith(METALLB_GROUP + "/"):
        _metallb(document, where, site, mappings, problems)
    elif api_version.startswith(METALLB_GROUP + "/"):
        skipped.append(f"{kind}/{_name(document)} (not an address pool)")
    else:
        problems.append(f"{where + ': ' if where else ''}{api_version or '?'} {kind}: not a "
                        "pool (expected a pool mapping, a fedns.io IPPool or a metallb.io "
                        "IPAddressPool)")


def _name(document: Mapping[str, Any]) -> str:
    meta = document.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, Mapping) else ""


def _spec(document: Mapping[str, Any], where: str, problems: list[str]) -> Mapping[str, Any] | None:
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        problems.append(f"{where + ': ' if where else ''}{document.get('kind')} "
                        f"{_name(document)!r}: spec: expected a mapping")
        return None
    return spec


def _ippool(document: Mapping[str, Any], where: str,
            mappings: list[tuple[str, Mapping[str, Any]]], problems: list[str]) -> None:
    spec = _spec(document, where, problems)
    if spec is not None:
        mappings.append((where, {**spec, "name": _name(document)}))


def _metallb(document: Mapping[str, Any], where: str, site: str,
             mappings: list[tuple[str, Mapping[str, Any]]], problems: list[str]) -> None:
    name = _name(document)
    at = f"{where + ': ' if where else ''}IPAddressPool {name!r}"
    spec = _spec(document, where, problems)
    if spec is None:
        return
    meta = document.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    chosen = (annotations or {}).get(SITE_ANNOTATION) or site
    if not chosen:
        problems.append(f"{at}: no site: MetalLB pools have none; annotate it "
                        f"{SITE_ANNOTATION} or give --site SITE")
        return
    mapping: dict[str, Any] = {"name": name, "site": chosen}
    for key in ("addresses", "autoAssign", "avoidBuggyIPs"):
        if key in spec:
            mapping[key] = spec[key]
    allocation = spec.get("serviceAllocation") or {}
    if not isinstance(allocation, Mapping):
        problems.append(f"{at}: spec.serviceAllocation: expected a mapping")
        return
    if "priority" in allocation:
        mapping["priority"] = allocation["priority"]
    namespaces = allocation.get("namespaces") or []
    namespace_selectors = allocation.get("namespaceSelectors") or []
    service_selectors = allocation.get("serviceSelectors") or []
    if namespaces and namespace_selectors or len(namespaces) > 1 or \
            len(namespace_selectors) > 1:
        problems.append(f"{at}: spec.serviceAllocation: fedns takes one namespace or one "
                        "namespace selector per pool")
        return
    if len(service_selectors) > 1:
        problems.append(f"{at}: spec.serviceAllocation.serviceSelectors: fedns takes one "
                        "selector per pool")
        return
    if namespaces:
        mapping["namespaceSelector"] = {"matchLabels": {NAME_LABEL: namespaces[0]}}
    elif namespace_selectors:
        mapping["namespaceSelector"] = namespace_selectors[0]
    if service_selectors:
        mapping["serviceSelector"] = service_selectors[0]
    mappings.append((where, mapping))
