"""Label selectors as Kubernetes defines them: parse, validate, match.

A selector is a tuple of :class:`Requirement` (all must hold).  ``from_label_selector``
reads a ``metav1.LabelSelector`` mapping (``matchLabels`` and ``matchExpressions`` with
In, NotIn, Exists, DoesNotExist); ``requirement`` builds one requirement from any
operator spelling apimachinery accepts (``=``, ``==``, ``!=``, ``in``, ``notin``,
``exists``, ``!``, ``gt``/``>``, ``lt``/``<`` and the capitalised forms), which is what
Federation v1's cluster-selector annotation uses.  Not a parser of the query-string
form (``a=b,c in (d)``): that is fedns.kapi's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from placement.errors import Problems

IN, NOT_IN, EXISTS, DOES_NOT_EXIST, GT, LT = "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"

# Every spelling apimachinery's selection.Operator (via Federation v1's
# ConvertOperator) accepts, mapped to the canonical one; "=" / "==" are In with one
# value and "!=" is NotIn with one value, exactly as apimachinery matches them.
OPERATORS = {"in": IN, "In": IN, "=": IN, "==": IN, "notin": NOT_IN, "NotIn": NOT_IN,
             "!=": NOT_IN, "exists": EXISTS, "Exists": EXISTS, "!": DOES_NOT_EXIST,
             "DoesNotExist": DOES_NOT_EXIST, "gt": GT, "Gt": GT, ">": GT, "lt": LT, "Lt": LT,
             "<": LT}
SINGLE_VALUE = {"=", "==", "!=", "gt", "Gt", ">", "lt", "Lt", "<"}
# A LabelSelector's matchExpressions take only these (metav1.LabelSelectorOperator).
SELECTOR_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of In, NotIn, Exists, DoesNotExist, Gt, Lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == IN:
            return present and labels[self.key] in self.values
        if self.operator == NOT_IN:
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        # Gt / Lt: the label must be present and parse as an integer, as apimachinery
        if not present:
            return False
        try:
            have = int(labels[self.key])
        except ValueError:
            return False
        limit = int(self.values[0])
        return have > limit if self.operator == GT else have < limit


Selector = tuple[Requirement, ...]


def matches(selector: Selector, labels: Mapping[str, str]) -> bool:
    """All requirements hold (an empty selector matches everything)."""
    return all(r.matches(labels) for r in selector)


def key_problem(key: object) -> str | None:
    """Why ``key`` is not a qualified label key (``[prefix/]name``), or None."""
    if not isinstance(key, str) or not key:
        return f"must be a non-empty string, got {key!r}"
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return f"prefix must be a DNS subdomain, got {key!r}"
    if len(name) > 63 or not _NAME.match(name):
        return ("name part must be 63 characters or less, alphanumerics, '-', '_' or '.', "
                f"starting and ending with an alphanumeric, got {key!r}")
    return None


def value_problem(value: object) -> str | None:
    """Why ``value`` is not a valid label value, or None."""
    if not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if value and (len(value) > 63 or not _NAME.match(value)):
        return ("must be 63 characters or less, alphanumerics, '-', '_' or '.', starting and "
                f"ending with an alphanumeric, got {value!r}")
    return None


def requirement(key: object, operator: object, values: object, where: str,
                problems: Problems) -> Requirement | None:
    """One requirement from any accepted operator spelling; None (and problems) if bad."""
    before = len(problems.causes)
    if (why := key_problem(key)) is not None:
        problems.add(f"{where}.key", why)
    op = OPERATORS.get(operator) if isinstance(operator, str) else None
    if op is None:
        problems.add(f"{where}.operator", f"not a valid selector operator, got {operator!r}")
    if values is None:
        values = []
    if not isinstance(values, list):
        problems.add(f"{where}.values", f"must be a list of strings, got {values!r}")
        return None
    for i, value in enumerate(values):
        if (why := value_problem(value)) is not None:
            problems.add(f"{where}.values[{i}]", why)
    if op in (IN, NOT_IN) and not values:
        problems.add(f"{where}.values", f"Required value: must be specified when operator "
                                         f"is {operator!r}")
    if op in (EXISTS, DOES_NOT_EXIST) and values:
        problems.add(f"{where}.values", f"Forbidden: may not be specified when operator is "
                                         f"{operator!r}")
    if (operator in SINGLE_VALUE) and len(values) != 1:
        problems.add(f"{where}.values", f"must have exactly one value for operator "
                                         f"{operator!r}, got {len(values)}")
    if op in (GT, LT) and len(values) == 1:
        try:
            int(str(values[0]))
        except ValueError:
            problems.add(f"{where}.values[0]", f"must be an integer for operator {operator!r}, "
                                               f"got {values[0]!r}")
    if len(problems.causes) > before or op is None:
        return None
    return Requirement(str(key), op, tuple(str(v) for v in values))


def from_label_selector(doc: Any, where: str, problems: Problems) -> Selector:
    """A ``metav1.LabelSelector`` mapping -> Selector (problems recorded, never raised)."""
    if not isinstance(doc, Mapping):
        problems.add(where, f"must be a mapping with matchLabels and/or matchExpressions, "
                            f"got {doc!r}")
        return ()
    out: list[Requirement] = []
    for field in doc:
        if field not in ("matchLabels", "matchExpressions"):
            problems.add(f"{where}.{field}", "unknown field")
    match_labels = doc.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        problems.add(f"{where}.matchLabels", f"must be a mapping, got {match_labels!r}")
        match_labels = {}
    for key in sorted(match_labels, key=str):
        value = match_labels[key]
        if (why := key_problem(key)) is not None:
            problems.add(f"{where}.matchLabels", why)
        elif (why := value_problem(value)) is not None:
            problems.add(f"{where}.matchLabels.{key}", why)
        else:
            out.append(Requirement(key, IN, (value,)))
    expressions = doc.get("matchExpressions") or []
    if not isinstance(expressions, list):
        problems.add(f"{where}.matchExpressions", f"must be a list, got {expressions!r}")
        expressions = []
    for i, expr in enumerate(expressions):
        here = f"{where}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            problems.add(here, f"must be a mapping with key, operator and values, got {expr!r}")
            continue
        operator = expr.get("operator")
        if operator not in SELECTOR_OPERATORS:
            problems.add(f"{here}.operator",
                         f'Unsupported value: "{operator}": supported values: '
                         + ", ".join(f'"{op}"' for op in SELECTOR_OPERATORS))
            continue
        req = requirement(expr.get("key"), operator, expr.get("values"), here, problems)
        if req is not None:
            out.append(req)
    return tuple(out)

