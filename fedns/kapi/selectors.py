"""Label and field selectors: parse the query strings kube-apiserver accepts and match objects.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``,
``!k``, ``k>n``, ``k<n``, comma-separated (AND).  Field selectors: ``path=v``,
``path==v``, ``path!=v`` over dotted paths (``metadata.name``,
``involvedObject.kind``, ...).  A ``LabelSelector`` object (matchLabels /
matchExpressions) converts to the same string form.  Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from fedns import errors


class BadSelector(errors.UsageError):
    """The selector cannot be parsed."""


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op in ("gt", "lt"):
            try:
                number = int(value or "")
            except ValueError:
                return False
            limit = int(self.values[0])
            return number > limit if self.op == "gt" else number < limit
        raise BadSelector(f"unknown operator {self.op!r}")


Selector = tuple[Requirement, ...]

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t.strip() for t in terms]


def _check_key(key: str, text: str) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise BadSelector(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    return key


def _check_value(value: str, text: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise BadSelector(f"unable to parse requirement: invalid label value {value!r} "
                          f"in {text!r}")
    return value


_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_CMP = re.compile(r"^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$")


def parse_labels(text: str) -> Selector:
    """Parse a labelSelector query; raises BadSelector."""
    if not text.strip():
        return ()
    requirements = []
    for term in _split_terms(text):
        if not term:
            raise BadSelector(f"unable to parse requirement: empty term in {text!r}")
        found = _SET.match(term)
        if found:
            key, op, inner = found.groups()
            values = tuple(_check_value(v.strip(), text) for v in inner.split(","))
            requirements.append(Requirement(_check_key(key, text), op, values))
            continue
        found = _CMP.match(term)
        if found:
            key, op, value = found.groups()
            value = value.strip()
            if op in (">", "<"):
                if not value.lstrip("-").isdigit():
                    raise BadSelector(f"unable to parse requirement: {value!r} is not an "
                                      f"integer in {text!r}")
                requirements.append(Requirement(_check_key(key, text),
                                                 "gt" if op == ">" else "lt", (value,)))
            else:
                requirements.append(Requirement(_check_key(key, text),
                                                "!=" if op == "!=" else "=",
                                                (_check_value(value, text),)))
            continue
        if term.startswith("!"):
            requirements.append(Requirement(_check_key(term[1:].strip(), text), "!"))
            continue
        requirements.append(Requirement(_check_key(term, text), "exists"))
    return tuple(requirements)


def matches_labels(selector: Selector, labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in selector)


def format_label_selector(selector: dict[str, Any] | None) -> str:
    """A ``LabelSelector`` object as a selector string (``metav1.FormatLabelSelector``)."""
    if selector is None:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        key = expr.get("key", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    text = ",".join(parts)
    return text or "<none>"


def label_selector_to_string(selector: dict[str, Any] | None) -> str:
    """Like :func:`format_label_selector` but empty (not ``<none>``) for no selector."""
    text = format_label_selector(selector)
    return "" if text == "<none>" else text


# -- field selectors ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FieldRequirement:
    path: str
    equal: bool
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        actual = field_value(obj, self.path)
        return (actual == self.value) == self.equal


FieldSelector = tuple[FieldRequirement, ...]


def parse_fields(text: str) -> FieldSelector:
    """Parse a fieldSelector query (``a=b,c!=d``); raises BadSelector."""
    if not text.strip():
        return ()
    requirements = []
    for term in text.split(","):
        term = term.strip()
        for op in ("!=", "==", "="):
            path, sep, value = term.partition(op)
            if sep:
                if not path.strip():
                    raise BadSelector(f"invalid field selector: {text!r}")
                requirements.append(FieldRequirement(path.strip(), op != "!=", value.strip()))
                break
        else:
            raise BadSelector(f"invalid selector: '{text}'; can't understand '{term}'")
    return tuple(requirements)


def field_value(obj: dict[str, Any], path: str) -> str:
    """The value at a dotted path as a field selector compares it ('' when absent)."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches_fields(selector: FieldSelector, obj: dict[str, Any]) -> bool:
    return all(r.matches(obj) for r in selector)


def single_name(selector: FieldSelector) -> str | None:
    """The name when the selector is exactly ``metadata.name=X`` (a fast path)."""
    names = [r.value for r in selector if r.path == "metadata.name" and r.equal]
    return names[0] if len(names) == 1 else None
