"""Label and field selectors: parsing and matching, table-driven."""

from __future__ import annotations

import pytest

from fedns.kapi import selectors

LABELS = {"app": "web", "tier": "front", "version": "3"}

LABEL_CASES = [
    pytest.param("", True, id="empty-matches-all"),
    pytest.param("app=web", True, id="equals"),
    pytest.param("app==web", True, id="double-equals"),
    pytest.param("app=db", False, id="equals-other"),
    pytest.param("app!=db", True, id="not-equals"),
    pytest.param("missing!=x", True, id="not-equals-absent-key"),
    pytest.param("app in (web,db)", True, id="in"),
    pytest.param("app in (db, cache)", False, id="in-miss"),
    pytest.param("app notin (db)", True, id="notin"),
    pytest.param("missing notin (db)", True, id="notin-absent-key"),
    pytest.param("tier", True, id="exists"),
    pytest.param("missing", False, id="exists-miss"),
    pytest.param("!missing", True, id="not-exists"),
    pytest.param("!app", False, id="not-exists-miss"),
    pytest.param("app=web,tier=front", True, id="and"),
    pytest.param("app=web,tier=back", False, id="and-miss"),
    pytest.param("app in (web,db),!missing,tier", True, id="mixed-with-parens"),
    pytest.param("version>2", True, id="greater-than"),
    pytest.param("version<2", False, id="less-than"),
    pytest.param(" app = web ", True, id="spaces"),
    pytest.param("app=", False, id="empty-value"),
]


@pytest.mark.parametrize(("text", "matches"), LABEL_CASES)
def test_label_selector(text, matches):
    assert selectors.matches_labels(selectors.parse_labels(text), LABELS) is matches


@pytest.mark.parametrize("text", [
    pytest.param("a b=c", id="space-in-key"),
    pytest.param("app in web", id="in-without-parens"),
    pytest.param("app=web,,x", id="empty-term"),
    pytest.param("app=we$b", id="bad-value"),
    pytest.param("version>x", id="non-integer-comparison"),
])
def test_label_selector_refuses(text):
    with pytest.raises(selectors.BadSelector):
        selectors.parse_labels(text)


OBJ = {"metadata": {"name": "web", "namespace": "default"},
       "involvedObject": {"kind": "Service", "name": "web"}, "spec": {"unschedulable": True}}


@pytest.mark.parametrize(("text", "matches"), [
    pytest.param("metadata.name=web", True, id="name"),
    pytest.param("metadata.name==web", True, id="name-double-equals"),
    pytest.param("metadata.name!=web", False, id="name-not"),
    pytest.param("metadata.namespace=default,metadata.name=web", True, id="two-terms"),
    pytest.param("involvedObject.kind=Service,involvedObject.name=web", True, id="events"),
    pytest.param("spec.unschedulable=true", True, id="bool"),
    pytest.param("metadata.name=db", False, id="miss"),
])
def test_field_selector(text, matches):
    assert selectors.matches_fields(selectors.parse_fields(text), OBJ) is matches


def test_field_selector_refuses_term_without_operator():
    with pytest.raises(selectors.BadSelector):
        selectors.parse_fields("metadata.name")


@pytest.mark.parametrize(("selector", "text"), [
    pytest.param(None, "<none>", id="none"),
    pytest.param({}, "<none>", id="empty"),
    pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="match-labels-sorted"),
    pytest.param({"matchExpressions": [{"key": "x", "operator": "In", "values": ["b", "a"]},
                                       {"key": "y", "operator": "DoesNotExist"}]},
                 "x in (a,b),!y", id="expressions"),
])
def test_format_label_selector(selector, text):
    assert selectors.format_label_selector(selector) == text
