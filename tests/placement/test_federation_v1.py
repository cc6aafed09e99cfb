"""Federation v1's cluster-selector and preferences annotations read into policies."""

from __future__ import annotations

import json

import pytest

from placement import decision, federation_v1, members, policy
from placement.errors import PolicyInvalid

SEL = federation_v1.SELECTOR
DEP = federation_v1.PREFERENCES["Deployment"]
RS = federation_v1.PREFERENCES["ReplicaSet"]
EUROPE = members.MemberInfo("eu", {"location": "europe", "environment": "prod",
                                   "version": "15"})
US = members.MemberInfo("us", {"location": "usa", "environment": "test", "version": "9"})

# the cases of v1's own clusterselector test, against the "eu" member's labels
SELECTOR_CASES = [
    ("single in", '[{"key": "location", "operator": "in", "values": ["europe"]}]', True),
    ("in and ==", ('[{"key": "location", "operator": "in", "values": ["europe"]}, '
                  '{"key": "environment", "operator": "==", "values": ["prod"]}]'), True),
    ("one mismatch", ('[{"key": "location", "operator": "in", "values": ["europe"]}, '
                     '{"key": "environment", "operator": "==", "values": ["test"]}]'), False),
    ("not equal", ('[{"key": "location", "operator": "!=", "values": ["usa"]}, '
                  '{"key": "environment", "operator": "in", "values": ["prod"]}]'), True),
    ("greater than", '[{"key": "version", "operator": ">", "values": ["14"]}]', True),
    ("not greater", '[{"key": "version", "operator": ">", "values": ["15"]}]', False),
    ("capitalised", ('[{"key": "location", "operator": "NotIn", "values": ["usa"]}, '
                    '{"key": "gpu", "operator": "DoesNotExist"}]'), True),
    ("Go field names ignore case", ('[{"Key": "location", "Operator": "In", '
                                   '"Values": ["europe"]}]'), True),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in SELECTOR_CASES],
                         ids=[i for i, _, _ in SELECTOR_CASES])
def test_cluster_selector(text, expected):
    pol = federation_v1.from_annotations({SEL: text}, "ConfigMap")
    assert pol.division.mode == policy.DUPLICATED
    d = decision.decide(pol, [EUROPE], "default/cm", None, now=0)
    assert (d.members == ("eu",)) is expected


@pytest.mark.parametrize("text,field", [
    ('[{"not able to parse",}]', f"metadata.annotations[{SEL}]"),
    ('{"key": "a"}', f"metadata.annotations[{SEL}]"),
    ('[{"key": "a", "operator": "~", "values": ["x"]}]', f"metadata.annotations[{SEL}][0].operator"),
    ('[{"key": "a", "operator": "in"}]', f"metadata.annotations[{SEL}][0].values"),
    ('[{"key": "a", "operator": "=", "values": ["x", "y"]}]',
     f"metadata.annotations[{SEL}][0].values"),
    ('[{"key": "a", "operator": "lt", "values": ["x"]}]',
     f"metadata.annotations[{SEL}][0].values[0]"),
], ids=["not-json", "not-a-list", "unknown-operator", "in-without-values",
        "equals-two-values", "lt-not-integer"])
def test_bad_cluster_selector_names_the_annotation(text, field):
    with pytest.raises(PolicyInvalid) as err:
        federation_v1.from_annotations({SEL: text}, "Deployment")
    assert [f for f, _ in err.value.causes] == [field]


def divide(annotations, kind, total, fleet):
    pol = federation_v1.from_annotations(annotations, kind)
    return decision.decide(pol, fleet, "default/web", total, now=0).replicas


FLEET = [members.MemberInfo(n) for n in ("a", "b", "c")]


def test_deployment_without_preferences_is_divided_evenly():
    assert sorted(divide({}, "Deployment", 6, FLEET).values()) == [2, 2, 2]


def test_weights_min_max_and_star():
    prefs = {"rebalance": True, "clusters": {"a": {"minReplicas": 1, "maxReplicas": 2,
                                                   "weight": 1},
                                             "*": {"weight": 2}}}
    got = divide({DEP: json.dumps(prefs)}, "Deployment", 9, FLEET)
    assert got == {"a": 2, "b": 4, "c": 3} or got == {"a": 2, "b": 3, "c": 4}
    pol = federation_v1.from_annotations({DEP: json.dumps(prefs)}, "Deployment")
    assert pol.division.rebalance and pol.failover.rebalance_on_recovery


def test_a_cluster_not_named_gets_nothing_without_star():
    prefs = {"clusters": {"a": {"weight": 1}, "b": {"weight": 3}}}
    assert divide({DEP: json.dumps(prefs)}, "Deployment", 8, FLEET) == {"a": 2, "b": 6}


def test_replicaset_reads_its_own_annotation_only():
    prefs = json.dumps({"clusters": {"a": {"weight": 1}}})
    assert divide({RS: prefs}, "ReplicaSet", 4, FLEET) == {"a": 4}
    # a Deployment's annotation on a ReplicaSet is not v1's: the even default applies
    assert sorted(divide({DEP: prefs}, "ReplicaSet", 3, FLEET).values()) == [1, 1, 1]


def test_v1_example_five_three_two_is_monotone():
    prefs = json.dumps({"clusters": {"a": {"weight": 5}, "b": {"weight": 3},
                                     "c": {"weight": 2}}})
    six = divide({DEP: prefs}, "Deployment", 6, FLEET)
    seven = divide({DEP: prefs}, "Deployment", 7, FLEET)
    assert six == {"a": 3, "b": 2, "c": 1} and seven == {"a": 4, "b": 2, "c": 1}


def test_selector_and_preferences_together():
    annotations = {SEL: '[{"key": "location", "operator": "in", "values": ["europe", "usa"]}]',
                   DEP: json.dumps({"clusters": {"*": {"weight": 1}}})}
    other = members.MemberInfo("asia", {"location": "asia"})
    assert divide(annotations, "Deployment", 4, [EUROPE, US, other]) == {"eu": 2, "us": 2}


def test_bad_preferences_list_every_problem():
    prefs = {"rebalance": "yes", "clusters": {"a": {"weight": -1, "minReplicas": 3,
                                                    "maxReplicas": 2}, "b": 5}}
    with pytest.raises(PolicyInvalid) as err:
        federation_v1.from_annotations({DEP: json.dumps(prefs)}, "Deployment")
    where = f"metadata.annotations[{DEP}]"
    assert err.value.causes == [
        (f"{where}.rebalance", "must be true or false, got 'yes'"),
        (f"{where}.clusters.a.weight", "must be a non-negative integer, got -1"),
        (f"{where}.clusters.a.minReplicas", "must not exceed maxReplicas (2), got 3"),
        (f"{where}.clusters.b", "must be an object, got 5"),
    ]
    assert str(err.value).startswith(f"{where}.rebalance: must be true or false")


def test_has_annotations():
    assert not federation_v1.has_annotations({}, "Deployment")
    assert not federation_v1.has_annotations({DEP: "{}"}, "ConfigMap")
    assert federation_v1.has_annotations({SEL: "[]"}, "ConfigMap")


def test_json_null_reads_as_go_decodes_it():
    every = federation_v1.from_annotations({SEL: "null"}, "ConfigMap")
    assert decision.decide(every, [EUROPE, US], "k", None, now=0).members == ("eu", "us")
    nobody = federation_v1.from_annotations({DEP: "null"}, "Deployment")
    assert divide({DEP: "null"}, "Deployment", 3, FLEET) == {}
    assert nobody.division.share("a").weight == 0
