"""Per-member outcomes of one template, as the endpoint reports them.

The template carries them in the annotation ``fedns.io/members`` as compact JSON,
``{"east":{"state":"Applied"},"west":{"state":"Unreachable","message":"..."}}``
(built-in kinds' schemas have no room for them in ``status``); a state that changed
is also an Event, so ``kubectl describe`` shows it.  Not for: deciding them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

APPLIED = "Applied"  # the member holds the template's current manifest
CONFLICT = "Conflict"  # an object of the same name that fedns did not create is there
UNREACHABLE = "Unreachable"  # the member is not Ready: the change waits for it
WAITING = "Waiting"  # something it needs is not there yet (its namespace)
ERROR = "Error"  # the member refused or failed the write (its message)
DELETING = "Deleting"  # the template is being deleted; copies are removed
STATES = (APPLIED, CONFLICT, UNREACHABLE, WAITING, ERROR, DELETING)
WARNING_STATES = frozenset({CONFLICT, ERROR})


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: str
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, **({"message": self.message} if self.message else {})}


def encode(outcomes: Mapping[str, Outcome]) -> str:
    """Compact JSON, members sorted, for the annotation."""
    return json.dumps({m: outcomes[m].to_dict() for m in sorted(outcomes)},
                      separators=(",", ":"))


def decode(text: str | None) -> dict[str, Outcome]:
    """The annotation's outcomes; anything unreadable is no outcome at all."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(m): Outcome(str(v.get("state", "")), str(v.get("message", "")))
            for m, v in data.items() if isinstance(v, dict)}


def changed(before: Mapping[str, Outcome], after: Mapping[str, Outcome]
            ) -> dict[str, Outcome]:
    """The members whose state (not just message) changed: one Event each."""
    return {m: o for m, o in after.items()
            if m not in before or before[m].state != o.state}
