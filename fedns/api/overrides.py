"""Overrides at the API: validated at the write, so a bad one is a 422 naming the field.

The rules are :func:`propagate.override.parse`'s (operations add, remove, replace; no
path that changes an object's identity); the propagation controller applies them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fedns import kinds
from fedns.kapi import registry
from propagate import override


def validate(new: dict[str, Any], old: dict[str, Any] | None) -> list[tuple[str, str]]:
    try:
        override.parse(new)
    except override.OverrideInvalid as err:
        return err.causes
    return []


def kind() -> registry.Kind:
    """The Override kind with its validation."""
    return dataclasses.replace(kinds.OVERRIDES, validate=validate)
