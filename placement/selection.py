"""Which placement policy governs a template, when several could.

Order of precedence (the first that applies wins):

1. Federation v1 annotations on the template itself (``cluster-selector`` or the
   kind's ``*-preferences``): they are written on the object, so nothing is more specific.
2. Among the Placements with a resource selector matching the template, the one with
   the highest explicit ``spec.priority``; on equal priority the most specific match
   (by name, over by labels, over by namespace, over by kind alone); then a namespaced
   Placement over a cluster-wide one; then the lowest ``namespace/name``, so the choice
   never depends on the order policies were listed or created.
3. None: no policy governs the template (the caller decides what that means).

Pure: templates are plain mappings; policies come from placement.policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from placement import federation_v1, policy


def rank(p: policy.Policy, template: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """How strongly ``p`` claims ``template`` (larger wins), or None if it does not."""
    meta = template.get("metadata") or {}
    if p.namespace and meta.get("namespace", "") != p.namespace:
        return None
    best = max((r.specificity for r in p.resources if r.matches(template)), default=None)
    if best is None:
        return None
    return (p.priority, best, 1 if p.namespace else 0)


def select(template: Mapping[str, Any],
           policies: Iterable[policy.Policy]) -> policy.Policy | None:
    """The Placement that governs ``template``, or None (annotations are not looked at)."""
    ranked = []
    for p in policies:
        claim = rank(p, template)
        if claim is not None:
            ranked.append((tuple(-x for x in claim), p.namespace, p.name, p))
    if not ranked:
        return None
    ranked.sort(key=lambda entry: entry[:3])
    return ranked[0][3]


def policy_for(template: Mapping[str, Any],
               policies: Iterable[policy.Policy]) -> tuple[policy.Policy | None, str]:
    """The policy for ``template`` and where it came from: ``federation-v1-annotations``,
    ``placement/NAME`` (``placement/NAMESPACE/NAME`` when namespaced), or ``""`` (None).
    Invalid annotations raise PolicyInvalid."""
    meta = template.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    kind = str(template.get("kind", ""))
    if federation_v1.has_annotations(annotations, kind):
        return federation_v1.from_annotations(annotations, kind), federation_v1.SOURCE
    chosen = select(template, policies)
    if chosen is None:
        return None, ""
    where = f"{chosen.namespace}/{chosen.name}" if chosen.namespace else chosen.name
    return chosen, f"placement/{where}"
