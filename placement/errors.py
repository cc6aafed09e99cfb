"""The errors placement raises on purpose; each docstring is the message a user sees.

A policy or annotation that cannot be parsed raises :class:`PolicyInvalid` carrying
every problem found, as ``(field path, message)`` causes, so an API can answer one 422
listing them all.  Decisions never raise: a placement that cannot be satisfied is a
``Decision`` with a ``reason``.
"""

from __future__ import annotations

from collections.abc import Sequence

from fedns import errors

Cause = tuple[str, str]


class PolicyInvalid(errors.UsageError):
    """The placement policy is invalid."""

    def __init__(self, causes: Sequence[Cause]) -> None:
        self.causes: list[Cause] = list(causes)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.causes))


class Problems:
    """Collects causes while a document is parsed; ``raise_if_any`` raises them all."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def add(self, field: str, message: str) -> None:
        self.causes.append((field, message))

    def raise_if_any(self) -> None:
        if self.causes:
            raise PolicyInvalid(self.causes)
