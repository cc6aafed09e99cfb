"""Object metadata rules shared by every kind: names, timestamps, uid, generation.

``to_json``/``from_json`` are the stored form (compact JSON without
``resourceVersion``, which always comes from the Store's mod_revision).  Pure apart
from the clock and the random uid/name suffix.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
import re
import uuid
from typing import Any

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # as apiserver's names.SimpleNameGenerator

# metadata fields a client cannot change after create
IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(when: datetime.datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    # apiserver trims the prefix so the whole name stays within 63 characters
    prefix = prefix[:58]
    return prefix + "".join(random.choice(_SUFFIX_CHARS) for _ in range(5))


def name_problems(name: str, rule: str = "subdomain") -> list[str]:
    """Why ``name`` is not a valid object name (empty when it is)."""
    if rule == "label":
        if len(name) > 63 or not _LABEL.match(name):
            return [(f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of '
                    "lower case alphanumeric characters or '-', and must start and end with "
                    "an alphanumeric character")]
        return []
    if rule == "dns1035":
        if len(name) > 63 or not _DNS1035.match(name):
            return [(f'Invalid value: "{name}": a DNS-1035 label must consist of lower case '
                    "alphanumeric characters or '-', start with an alphabetic character, and "
                    "end with an alphanumeric character")]
        return []
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return [(f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with "
                "an alphanumeric character")]
    return []


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    if not isinstance(value, dict):
        value = {}
        obj["metadata"] = value
    return value


def content(obj: Obj) -> Obj:
    """Everything but metadata and status: what a generation counts changes of."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def to_json(obj: Obj) -> bytes:
    stored = copy.copy(obj)
    metadata = dict(stored.get("metadata") or {})
    metadata.pop("resourceVersion", None)
    metadata.pop("selfLink", None)
    stored["metadata"] = metadata
    return json.dumps(stored, separators=(",", ":")).encode()


def from_json(data: bytes, revision: int) -> Obj:
    obj: Obj = json.loads(data)
    meta(obj)["resourceVersion"] = str(revision)
    return obj


def without_version(obj: Obj) -> Obj:
    """A copy of ``obj`` as stored (no resourceVersion), for no-op comparisons."""
    result: Obj = json.loads(to_json(obj))
    return result
