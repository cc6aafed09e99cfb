"""Plan record changes: diff the desired records against the Store, honouring ownership.

:func:`plan` is pure (external-dns ``plan/plan.go``): it never reads or writes the
Store, it only decides.  Rules:

- a desired key that is absent is created (and becomes owned);
- a desired key that exists and is owned is updated when its value differs;
- a desired key that exists but is not owned is a *conflict*: someone else wrote it,
  so it is reported and left alone;
- an owned key that is no longer desired is deleted when it still exists;
- every other key is none of fedns's business and is never touched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from fedns import errors


class RecordConflict(errors.RefusedError):
    """A record fedns wants to write already exists and was not written by fedns."""


@dataclasses.dataclass(frozen=True, slots=True)
class Changes:
    """What to write.  ``owned`` is the ownership index after the changes apply."""

    create: dict[str, str] = dataclasses.field(default_factory=dict)
    update: dict[str, str] = dataclasses.field(default_factory=dict)
    delete: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    owned: tuple[str, ...] = ()

    def empty(self) -> bool:
        """True when nothing in the Store needs writing (the index aside)."""
        return not (self.create or self.update or self.delete)


def plan(current: Mapping[str, str], desired: Mapping[str, str],
         owned: Collection[str]) -> Changes:
    """The changes that turn ``current`` into ``desired`` without touching keys
    outside ``owned``.

    ``current`` holds the present values of (at least) every desired and every owned
    key; a key missing from it is absent from the Store.
    """
    owned_set = set(owned)
    create: dict[str, str] = {}
    update: dict[str, str] = {}
    conflicts: list[str] = []
    for key in sorted(desired):
        value = desired[key]
        if key not in current:
            create[key] = value
        elif key not in owned_set:
            conflicts.append(key)
        elif current[key] != value:
            update[key] = value
    delete = tuple(sorted(k for k in owned_set if k not in desired and k in current))
    clashing = set(conflicts)
    now_owned = tuple(sorted(k for k in desired if k not in clashing))
    return Changes(create=create, update=update, delete=delete,
                   conflicts=tuple(conflicts), owned=now_owned)
