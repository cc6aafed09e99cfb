""":func:`fedns.kapi.shapes.check` for every write, compiled once per kind.

Almost every object a server stores is well typed, and the walk of :mod:`shapes`
spends most of its time on what only a refusal needs: the path of every field it
visits, the fields a kind lists that the object does not have, and a chain of type
tests per value.  :func:`check` first runs a checker compiled from the kind's shape
(a closure per listed field, visiting only the keys the object has, building no
path) that changes nothing.  It passes only an object in which every listed field
has its type and no listed field, string map value or object list item is ``null``:
for such an object the walk finds no problem and changes nothing either (it changes
only ``null``s), in whatever order it goes, so the answer is ``[]``.  Anything else,
``null``s included, is :func:`shapes.check`'s to answer, exactly as before.

The checkers test types at least as strictly as the walk (``type(v) is int`` where
the walk takes any int but bool): a value they refuse and the walk takes only costs
the walk.  Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fedns.kapi import shapes

Obj = dict[str, Any]
Checker = Callable[[Any], bool]  # whether a value (never None) has a field's type


def check(group: str, kind: str, obj: Obj) -> list[shapes.Problem]:
    """What :func:`shapes.check` answers, ``obj`` changed as it changes it (only when
    the walk runs)."""
    if isinstance(obj, dict) and _compiled(group, kind)(obj):
        return []
    return shapes.check(group, kind, obj)


@functools.cache
def _compiled(group: str, kind: str) -> Checker:
    return _checker(shapes.shape_of(group, kind))


def _refuse(_: Any) -> bool:
    return False  # a shape this module does not know: the walk answers


def _anything(_: Any) -> bool:
    return True


def _string_map(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for item in value.values():
        if type(item) is not str:
            return False  # null too: the walk makes it ""
    return True


def _strings(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    for item in value:
        if type(item) is not str:
            return False
    return True


def _int_range(low: int, high: int) -> Checker:
    def check_int(value: Any) -> bool:
        return type(value) is int and low <= value <= high
    return check_int


@functools.lru_cache(maxsize=4096)
def _is_time(text: str) -> bool:
    # timestamps repeat (the second an object was created, written again and again)
    return shapes._is_time(text)


_LEAVES: dict[str, Checker] = {
    shapes.STRING: lambda v: isinstance(v, str),
    shapes.BOOLEAN: lambda v: type(v) is bool,
    shapes.INTEGER: _int_range(*shapes.INT64),
    "int32": _int_range(*shapes.INT32),
    shapes.INT_OR_STRING: lambda v: type(v) is int or isinstance(v, str),
    shapes.TIME: lambda v: isinstance(v, str) and _is_time(v),
    shapes.STRING_MAP: _string_map,
    shapes.STRINGS: _strings,
    "": _anything,  # declared only as the parent of fields, not itself typed
}


def _checker(node: Any) -> Checker:
    """The checker of a value of ``node``'s shape (never None: its parent refuses
    that)."""
    if node.kind == shapes.OBJECT:
        if not node.fields:
            return lambda v: isinstance(v, dict)
        return _object(node)
    if node.kind == shapes.ARRAY:
        if node.items is None:
            return lambda v: isinstance(v, list)
        return _array(node.items)
    if node.fields or node.items is not None:
        return _refuse  # the walk does not descend here either, but stay exact
    return _LEAVES.get(node.kind, _refuse)


# fields whose check is one isinstance (null is none of these): tested in the loop of
# their object rather than by a call
_TYPES: dict[str, type] = {shapes.STRING: str, shapes.BOOLEAN: bool}


def _object(node: Any) -> Checker:
    types: dict[str, type] = {}
    fields: dict[str, Checker] = {}
    for name, child in node.fields.items():
        if child.kind in _TYPES and not child.fields and child.items is None:
            types[name] = _TYPES[child.kind]
        elif child.kind == shapes.OBJECT and not child.fields:
            types[name] = dict
        else:
            fields[name] = _checker(child)

    def check_object(value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        # the object's keys, not the shape's: an object has few of the fields listed
        for key, item in value.items():
            expected = types.get(key)
            if expected is not None:
                if not isinstance(item, expected):
                    return False  # null too: the walk removes it
                continue
            check_field = fields.get(key)
            if check_field is not None and (item is None or not check_field(item)):
                return False
        return True
    return check_object


def _array(items: Any) -> Checker:
    if items.kind != shapes.OBJECT:
        return _refuse  # shapes lists arrays of objects; any other is the walk's
    check_item = _checker(items)

    def check_array(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        for item in value:
            if item is None or not check_item(item):
                return False  # null too: the walk makes it {}
        return True
    return check_array
