"""Label selectors match and validate as Kubernetes's do."""

from __future__ import annotations

import pytest

from placement import labels
from placement.errors import Problems

LABELS = {"location": "europe", "environment": "prod", "version": "15", "gpu": ""}


def parse(doc):
    problems = Problems()
    selector = labels.from_label_selector(doc, "sel", problems)
    return selector, problems.causes


MATCH = [
    ("empty matches all", {}, True),
    ("matchLabels", {"matchLabels": {"location": "europe"}}, True),
    ("matchLabels miss", {"matchLabels": {"location": "asia"}}, False),
    ("matchLabels and expressions both hold",
     {"matchLabels": {"environment": "prod"},
      "matchExpressions": [{"key": "location", "operator": "In", "values": ["europe", "us"]}]},
     True),
    ("In miss", {"matchExpressions": [{"key": "location", "operator": "In",
                                       "values": ["us"]}]}, False),
    ("NotIn holds when the label is absent",
     {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, True),
    ("NotIn miss", {"matchExpressions": [{"key": "location", "operator": "NotIn",
                                          "values": ["europe"]}]}, False),
    ("Exists on an empty value", {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
     True),
    ("DoesNotExist", {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, False),
]


@pytest.mark.parametrize("doc,expected", [(d, e) for _, d, e in MATCH],
                         ids=[i for i, _, _ in MATCH])
def test_matching(doc, expected):
    selector, causes = parse(doc)
    assert causes == []
    assert labels.matches(selector, LABELS) is expected


INVALID = [
    ("In without values", {"matchExpressions": [{"key": "a", "operator": "In"}]},
     "sel.matchExpressions[0].values"),
    ("Exists with values", {"matchExpressions": [{"key": "a", "operator": "Exists",
                                                  "values": ["x"]}]},
     "sel.matchExpressions[0].values"),
    ("Gt is not a LabelSelector operator",
     {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
     "sel.matchExpressions[0].operator"),
    ("bad key", {"matchExpressions": [{"key": "-a", "operator": "Exists"}]},
     "sel.matchExpressions[0].key"),
    ("bad prefix", {"matchLabels": {"Foo_/a": "b"}}, "sel.matchLabels"),
    ("bad value", {"matchLabels": {"a": "not ok"}}, "sel.matchLabels.a"),
    ("unknown field", {"matchLabel": {"a": "b"}}, "sel.matchLabel"),
    ("not a mapping", ["a"], "sel"),
]


@pytest.mark.parametrize("doc,field", [(d, f) for _, d, f in INVALID],
                         ids=[i for i, _, _ in INVALID])
def test_invalid_selectors_name_the_field(doc, field):
    _, causes = parse(doc)
    assert [f for f, _ in causes] == [field], causes


@pytest.mark.parametrize("op,values,expected", [
    (">", ["14"], True), ("gt", ["15"], False), ("Lt", ["16"], True), ("<", ["15"], False),
    ("=", ["15"], True), ("==", ["14"], False), ("!=", ["14"], True), ("!", [], False),
    ("exists", [], True), ("notin", ["15"], False),
])
def test_every_v1_operator_spelling(op, values, expected):
    problems = Problems()
    req = labels.requirement("version", op, values, "r", problems)
    assert problems.causes == [] and req is not None
    assert req.matches(LABELS) is expected


def test_gt_needs_one_integer_and_a_numeric_label():
    problems = Problems()
    assert labels.requirement("version", "Gt", ["x"], "r", problems) is None
    assert problems.causes == [("r.values[0]", "must be an integer for operator 'Gt', got 'x'")]
    req = labels.requirement("location", "Gt", ["1"], "r", Problems())
    assert req is not None and not req.matches(LABELS)  # "europe" is not a number
    assert not labels.requirement("absent", "Lt", ["9"], "r", Problems()).matches(LABELS)
