"""Status conditions on the objects the controllers write, by Kubernetes' convention,
and their times: RFC 3339 text to wall-clock seconds and to a monotonic clock.

A condition is ``{type, status, reason, message, lastTransitionTime}`` with status
``"True"``, ``"False"`` or ``"Unknown"``; ``lastTransitionTime`` moves only when the
status changes (a new reason or message keeps it), so a stored condition says since
when its status has held, and outlives the process that wrote it.  Times are written
as ``metav1.Time`` is, to the second: ``2026-12-06T06:07:08Z``.

Pure: the current time is an argument.  Not the reading of health (the status
controller) nor what a time means for placement (:mod:`fedns.controller.placing`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"
READY = "Ready"


def to_rfc3339(wall: float) -> str:
    """``wall`` (seconds since the epoch) as ``metav1.Time`` writes it: UTC, seconds."""
    moment = datetime.datetime.fromtimestamp(int(wall), datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def from_rfc3339(text: object) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (``Z`` or an offset, fractions
    allowed); None when ``text`` is not one (a time without a zone is not)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def find(conditions: Iterable[Mapping[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    """The condition of type ``kind`` (a copy), or None."""
    for item in conditions or ():
        if isinstance(item, Mapping) and item.get("type") == kind:
            return dict(item)
    return None


def transition(previous: Mapping[str, Any] | None, kind: str, status: str, reason: str,
               message: str, now: str) -> dict[str, Any]:
    """The condition ``kind`` with ``status``: ``previous``'s ``lastTransitionTime`` when
    its status is the same and it has one, else ``now``."""
    since = previous.get("lastTransitionTime") if previous is not None else None
    if previous is None or previous.get("status") != status or not since:
        since = now
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since}


def false_since(obj: Mapping[str, Any] | None, kind: str = READY) -> float | None:
    """Since when (wall-clock seconds) ``obj``'s condition ``kind`` has been False; None
    when it is True, Unknown, absent or its time unreadable."""
    status = (obj or {}).get("status")
    found = find(status.get("conditions") if isinstance(status, Mapping) else None, kind)
    if found is None or found.get("status") != FALSE:
        return None
    return from_rfc3339(found.get("lastTransitionTime"))


def to_clock(wall_since: float, wall_now: float, clock_now: float) -> float:
    """``wall_since`` on a clock that reads ``clock_now`` when the wall clock reads
    ``wall_now``: the same distance back.  A time in the future (another host's clock
    ahead of this one) counts as now: never later than now."""
    return clock_now - max(0.0, wall_now - wall_since)
