"""Pods of every member, read-only, at the federation endpoint (``kubectl get pods``).

The seed's Federation v1 answered ``the server doesn't have a resource type "pods"``;
here the endpoint lists the Pods the members' informers hold, each with the annotation
``fedns.io/member`` and a Member column in the Table.  Only get and list: Pods belong
to their member (no watch, no writes: 405).  A name that several members use answers
the first member's, in name order; ``kubectl get pods`` lists every one.  Not for:
following the members (the appliance does, :meth:`fedns.members.member.Member.follow`).
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Iterable
from typing import Any

from fedns.kapi import printers, registry, selectors, tables
from fedns.kapi import status as kapi_status

Obj = dict[str, Any]
MEMBER = "fedns.io/member"
# (member, pod) pairs, read when a request comes
Source = Callable[[], Iterable[tuple[str, Obj]]]


def _row(obj: Obj, now: datetime.datetime) -> tables.Cells:
    cells = printers.POD.row(obj, now)
    member = ((obj.get("metadata") or {}).get("annotations") or {}).get(MEMBER, "")
    return [*cells[:5], member, *cells[5:]]


PRINTER = tables.Printer((*printers.POD.columns[:5],
                          tables.Column("Member", description="The member cluster running it."),
                          *printers.POD.columns[5:]), _row)
KIND = registry.Kind("", "v1", "pods", "Pod", short_names=("po",), printer=PRINTER,
                     verbs=("get", "list"), description="Pods of every member (read-only).")


def served(member: str, pod: Obj, kind: str = "Pod") -> Obj:
    """The member's Pod (or other core/v1 ``kind``) as the endpoint serves it:
    annotated with its member."""
    out = copy.copy(pod)
    meta = dict(out.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), MEMBER: member}
    out["metadata"] = meta
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", kind)
    return out


def select(source: Source, namespace: str, name: str, labels: str, fields: str,
           kind: str = "Pod") -> list[Obj]:
    """The Pods (or other core/v1 ``kind``) of every member in ``namespace`` ("" for
    all) matching the selectors, ordered by namespace, name and member."""
    label_sel = selectors.parse_labels(labels)
    field_sel = selectors.parse_fields(fields)
    found = []
    for member, pod in source():
        meta = pod.get("metadata") or {}
        if namespace and meta.get("namespace") != namespace:
            continue
        if name and meta.get("name") != name:
            continue
        obj = served(member, pod, kind)
        if selectors.matches_labels(label_sel, meta.get("labels")) and \
                selectors.matches_fields(field_sel, obj):
            found.append(obj)
    found.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"].get("name", ""),
                              o["metadata"]["annotations"][MEMBER]))
    return found


def refuse() -> kapi_status.ApiError:
    """A write or watch of the endpoint's Pods."""
    return kapi_status.ApiError(
        405, "MethodNotAllowed", "pods at the federation endpoint are read-only (get and "
        "list): they belong to their member; use that member's context to change them", {})
