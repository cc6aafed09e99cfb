"""Whether an object has a field its schema does not name, from plans compiled once.

:mod:`fedns.kapi.fieldvalidation` finds unknown fields by walking an object against
its schema, and per node of the object that walk follows ``$ref``s, merges
``allOf`` parts into new dicts and builds two paths, though nearly every object it
walks has no unknown field.  :func:`has_unknown` answers only whether the walk would
find one: it follows the same rules over a :class:`Plan` per schema node that holds
what the walk derives (the ``$ref`` followed, ``allOf`` merged, whether unknown
fields are kept), made the first time a node is reached and kept with its parent, so
a write costs one look-up per key of the object and builds nothing.  When it says
no, the walk would find nothing (and change nothing); when it says yes, or meets a
schema it does not understand, the walk runs and gives the answer as before.

Plans are kept per root schema (kube's definitions, read once per process, or a
custom kind's schema) for as long as that schema is, and a schema is not changed
once it is a kind's.  Pure: no I/O.
"""

from __future__ import annotations

import collections
from typing import Any

from fedns.kapi import schemas

Obj = dict[str, Any]

ROOT = ("apiVersion", "kind", "metadata")  # fieldvalidation's fields of every object
_ROOTS_KEPT = 256  # root plans of custom kinds' schemas (CRD versions come and go)
# keys of the plans of array items and additional properties among a plan's children
# (property names are strings)
_ITEMS, _EXTRA = ("items",), ("additionalProperties",)


class Plan:
    """What the walk of :mod:`fieldvalidation` reads from one schema node."""

    __slots__ = ("children", "embedded", "extra", "extra_allowed", "items", "known",
                 "properties", "skip")

    def __init__(self, schema: Obj, as_mapping: bool = False) -> None:
        if not as_mapping:  # the walk's ``node``: a ``mapping`` starts from the schema
            schema = schemas.merged(schema)
        self.skip = bool(schema.get("x-kubernetes-preserve-unknown-fields") or
                         schema.get("x-kubernetes-int-or-string"))
        properties = schema.get("properties")
        self.properties: Obj | None = properties
        extra = schema.get("additionalProperties")
        self.extra: Obj | None = extra if isinstance(extra, dict) else None
        self.extra_allowed = extra is True
        items = schema.get("items")
        self.items: Obj | None = items if isinstance(items, dict) else None
        self.embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        # a schema this module does not follow (properties that are not schemas): the
        # walk answers for any object that reaches it
        self.known = properties is None or (isinstance(properties, dict) and all(
            isinstance(p, dict) for p in properties.values()))
        self.children: dict[Any, Plan] = {}

    def child(self, key: Any, schema: Obj) -> Plan:
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = Plan(schema)
        return found


_roots: collections.OrderedDict[int, tuple[Obj, Plan]] = collections.OrderedDict()
_object_meta: list[Plan] = []


def root(schema: Obj) -> Plan:
    """The plan of an object whose schema is ``schema`` (walked as a mapping)."""
    found = _roots.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    plan = Plan(schema, as_mapping=True)
    _roots[id(schema)] = (schema, plan)  # the schema is kept: its id stays its own
    if len(_roots) > _ROOTS_KEPT:
        _roots.popitem(last=False)
    return plan


def _meta() -> Plan:
    if not _object_meta:
        _object_meta.append(Plan(schemas.object_meta(), as_mapping=True))
    return _object_meta[0]


def has_unknown(plan: Plan, value: Obj, allowed: tuple[str, ...] = ()) -> bool:
    """Whether the walk would find an unknown field in ``value`` (a mapping of
    ``plan``); True also when the plan cannot tell."""
    return not _mapping_clean(plan, value, allowed)


def _node_clean(plan: Plan, value: Any) -> bool:
    if plan.skip:
        return True
    if isinstance(value, dict):
        return _mapping_clean(plan, value, ())
    if isinstance(value, list) and plan.items is not None:
        items = plan.child(_ITEMS, plan.items)
        for item in value:
            if not _node_clean(items, item):
                return False
    return True


def _mapping_clean(plan: Plan, value: Obj, allowed: tuple[str, ...]) -> bool:
    if not plan.known:
        return False
    properties = plan.properties
    extra = plan.extra
    if properties is None:
        if extra is not None:
            extra_plan = plan.child(_EXTRA, extra)
            for item in value.values():
                if not _node_clean(extra_plan, item):
                    return False
        return True  # a free-form object
    for key, item in value.items():
        schema = properties.get(key)
        if schema is not None:
            if not _node_clean(plan.child(key, schema), item):
                return False
        elif key in allowed or (plan.embedded and key in ROOT):
            if key == "metadata" and isinstance(item, dict) and \
                    not _mapping_clean(_meta(), item, ()):
                return False
        elif extra is not None:
            if not _node_clean(plan.child(_EXTRA, extra), item):
                return False
        elif not plan.extra_allowed:
            return False  # an unknown field
    return True
