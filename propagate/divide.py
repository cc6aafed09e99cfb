"""Replicas divided over the placed members: evenly, the remainder by a stable hash.

``divide(total, members, key)`` gives every member ``total // n`` and one more to the
first ``total % n`` members ranked by a hash of the object's key and the member's
name, so the remainder does not always land on the alphabetically first members and
stays put while the member set is unchanged.  The one function the controller calls;
a placement algorithm with weights can take its place with the same signature.  Not
for: choosing which members (every member given is placed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from fedns import errors


class BadReplicas(errors.UsageError):
    """The replica count is not a non-negative integer."""

    def __init__(self, message: str = "", total: object = None) -> None:
        super().__init__(message)
        self.total = total


def rank(key: str, member: str) -> str:
    """The member's place in the remainder order for ``key`` (lowest first)."""
    return hashlib.sha256(f"{key}\x00{member}".encode()).hexdigest()


def divide(total: int, members: Sequence[str], key: str) -> dict[str, int]:
    """``member -> replicas`` summing to ``total`` (no members: an empty division)."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise BadReplicas(f"replicas: must be a non-negative integer, got {total!r}", total)
    names = sorted(set(members))
    if not names:
        return {}
    base, extra = divmod(total, len(names))
    ordered = sorted(names, key=lambda m: rank(key, m))
    favoured = set(ordered[:extra])
    return {m: base + (1 if m in favoured else 0) for m in names}
