"""The ``meta.k8s.io/v1 Table`` format that ``kubectl get`` prints.

A :class:`Printer` is the column definitions plus a function from an object to its
cells; kubectl prints the cells verbatim, so ages are rendered here the way
kube-apiserver renders them (``HumanDuration``).  :func:`columns` builds a printer
from JSON paths, like a CRD's ``additionalPrinterColumns``, so a custom kind gets its
columns in one line.  The printers of built-in kinds live in
:mod:`fedns.kapi.printers`.  Pure.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Sequence
from typing import Any

Cells = list[Any]


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0  # 1: shown only with -o wide
    format: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", format="name",
              description="Name must be unique within a namespace.")
AGE = Column("Age", description="CreationTimestamp is a timestamp representing the server "
                                "time when this object was created.")


@dataclasses.dataclass(frozen=True)
class Printer:
    """Columns and the function that turns (object, now) into the cells of one row."""

    columns: tuple[Column, ...]
    row: Callable[[dict[str, Any], datetime.datetime], Cells]


def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration``: "45s", "5m10s", "3h", "2d4h", "3y"."""
    total = int(seconds)
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def age(timestamp: str | None, now: datetime.datetime) -> str:
    """The AGE cell: ``<unknown>`` when the timestamp is missing (translateTimestampSince)."""
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _name_age_row(obj: dict[str, Any], now: datetime.datetime) -> Cells:
    return [meta(obj).get("name", ""), age(meta(obj).get("creationTimestamp"), now)]


DEFAULT = Printer((NAME, AGE), _name_age_row)


def lookup(obj: Any, path: str) -> Any:
    """The value at a simple JSON path such as ``.spec.addresses`` (None when absent)."""
    value = obj
    for part in path.strip(".").split("."):
        if not part:
            continue
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _render(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(_render(v)) for v in value)
    if isinstance(value, dict):
        import json
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return value


def columns(*specs: tuple[str, str] | tuple[str, str, str] | tuple[str, str, str, int],
            with_age: bool = True) -> Printer:
    """A printer from ``(name, json_path[, type[, priority]])`` specs, Name first and Age
    last, e.g. ``columns(("Site", ".spec.site"), ("Addresses", ".spec.addresses"))``.
    A type of ``date`` renders the value as an age."""
    defs: list[Column] = [NAME]
    paths: list[tuple[str, str]] = []
    for spec in specs:
        name, path = spec[0], spec[1]
        kind = spec[2] if len(spec) > 2 else "string"  # type: ignore[misc]
        priority = spec[3] if len(spec) > 3 else 0  # type: ignore[misc]
        defs.append(Column(name, type="string" if kind == "date" else str(kind),
                           priority=int(priority)))
        paths.append((path, str(kind)))
    if with_age:
        defs.append(AGE)

    def row(obj: dict[str, Any], now: datetime.datetime) -> Cells:
        cells: Cells = [meta(obj).get("name", "")]
        for path, kind in paths:
            value = lookup(obj, path)
            cells.append(age(value, now) if kind == "date" and value else _render(value))
        if with_age:
            cells.append(age(meta(obj).get("creationTimestamp"), now))
        return cells

    return Printer(tuple(defs), row)


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": meta(obj)}


def to_table(printer: Printer, objects: Sequence[dict[str, Any]], *,
             now: datetime.datetime, resource_version: str = "", continue_token: str = "",
             include_object: str = "Metadata", headers: bool = True,
             remaining: int | None = None) -> dict[str, Any]:
    """A Table of ``objects``; ``include_object`` is None|Metadata|Object as the query
    parameter ``includeObject``; ``headers=False`` leaves the columns out (watch events
    after the first)."""
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.row(obj, now)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    table: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                             "metadata": metadata}
    if headers:
        table["columnDefinitions"] = [c.to_json() for c in printer.columns]
    table["rows"] = rows
    return table
