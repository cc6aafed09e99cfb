"""Placement objects parse into policies; every problem is named by its field path."""

from __future__ import annotations

import pytest

from placement import labels, members, policy
from placement.errors import PolicyInvalid


def placement(spec, name="web", namespace=None):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": policy.API_VERSION, "kind": "Placement", "metadata": meta,
            "spec": spec}


DEPLOYMENTS = [{"apiVersion": "apps/v1", "kind": "Deployment"}]


def test_minimal_placement_defaults():
    p = policy.from_dict(placement({"resourceSelectors": DEPLOYMENTS}))
    assert p == policy.Policy("web", "", 0,
                              (policy.ResourceSelector("apps/v1", "Deployment"),),
                              policy.EVERY_MEMBER, (), policy.Division(policy.DUPLICATED),
                              policy.Failover(300, False))


def test_full_placement():
    p = policy.from_dict(placement({
        "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                               "namespace": "shop", "labelSelector": {"matchLabels":
                                                                      {"app": "web"}}}],
        "priority": 5,
        "members": [{"name": "primary", "regions": ["us-east"], "exclude": ["osu"],
                     "labelSelector": {"matchExpressions": [{"key": "tier", "operator": "In",
                                                             "values": ["gold"]}]}},
                    {"name": "backup", "names": ["osu"]}],
        "spread": [{"spreadByField": "zone", "minGroups": 2, "maxGroups": 3}],
        "division": {"type": "Divided", "weights": {"umich": 2, "*": 1},
                     "minReplicas": {"umich": 1}, "maxReplicas": {"*": 10}},
        "failover": {"tolerationSeconds": 60, "rebalanceOnRecovery": True},
    }, namespace="shop"))
    assert p.namespace == "shop" and p.priority == 5
    assert p.resources[0].selector == (labels.Requirement("app", "In", ("web",)),)
    assert p.groups == (
        members.MemberGroup("primary", (), (labels.Requirement("tier", "In", ("gold",)),),
                            ("us-east",), (), ("osu",)),
        members.MemberGroup("backup", ("osu",)))
    assert p.spread == (members.Spread("zone", 2, 3),)
    assert p.division.share("umich") == policy.division.Share("umich", 2, 1, 10)
    assert p.division.share("msu") == policy.division.Share("msu", 1, 0, 10)
    assert p.division.share("msu", capacity=4) == policy.division.Share("msu", 1, 0, 4)
    assert p.failover == policy.Failover(60, True)


INVALID = [
    ("negative weight", {"division": {"type": "Divided", "weights": {"umich": -1}}},
     [("spec.division.weights.umich", "must be a non-negative integer, got -1")]),
    ("min over max", {"division": {"type": "Divided", "minReplicas": {"a": 3},
                                   "maxReplicas": {"*": 2}}},
     [("spec.division.minReplicas.a", "must not exceed maxReplicas (2), got 3")]),
    ("weights need Divided", {"division": {"weights": {"a": 1}}},
     [("spec.division.type", ("must be Divided for weights, minReplicas or maxReplicas to "
                             "apply, got Duplicated"))]),
    ("unknown type", {"division": {"type": "Split"}},
     [("spec.division.type", ('Unsupported value: "Split": supported values: "Divided", '
                             '"Duplicated"'))]),
    ("toleration", {"failover": {"tolerationSeconds": "5m"}},
     [("spec.failover.tolerationSeconds", "must be a non-negative integer, got '5m'")]),
    ("recovery flag", {"failover": {"rebalanceOnRecovery": "yes"}},
     [("spec.failover.rebalanceOnRecovery", "must be true or false, got 'yes'")]),
    ("spread field", {"spread": [{"spreadByField": "rack"}]},
     [("spec.spread[0].spreadByField", ('Unsupported value: "rack": supported values: '
                                       '"region", "zone"'))]),
    ("spread bounds", {"spread": [{"spreadByField": "region", "minGroups": 3, "maxGroups": 2}]},
     [("spec.spread[0].maxGroups", "must be >= minGroups (3), got 2")]),
    ("duplicate group", {"members": [{"name": "a"}, {"name": "a"}]},
     [("spec.members[1].name", 'Duplicate value: "a"')]),
    ("group field", {"members": [{"region": ["x"]}]}, [("spec.members[0].region", "unknown field")]),
    ("names not a list", {"members": [{"names": "umich"}]},
     [("spec.members[0].names", "must be a list of non-empty strings, got 'umich'")]),
    ("priority", {"priority": "high"}, [("spec.priority", "must be an integer, got 'high'")]),
    ("unknown spec field", {"replicas": 3}, [("spec.replicas", "unknown field")]),
]


@pytest.mark.parametrize("extra,causes", [(e, c) for _, e, c in INVALID],
                         ids=[i for i, _, _ in INVALID])
def test_invalid_fields(extra, causes):
    with pytest.raises(PolicyInvalid) as err:
        policy.from_dict(placement({"resourceSelectors": DEPLOYMENTS, **extra}))
    assert err.value.causes == causes


def test_all_problems_are_collected_in_one_error():
    doc = {"apiVersion": "v1", "kind": "Placement", "metadata": {},
           "spec": {"resourceSelectors": [{"kind": "Deployment"}],
                    "division": {"type": "Divided", "weights": {"a": -1, "b": 1.5}}}}
    with pytest.raises(PolicyInvalid) as err:
        policy.from_dict(doc)
    assert [f for f, _ in err.value.causes] == [
        "apiVersion", "metadata.name", "spec.resourceSelectors[0].apiVersion",
        "spec.division.weights.a", "spec.division.weights.b"]
    assert "spec.division.weights.a: must be a non-negative integer, got -1" in str(err.value)


@pytest.mark.parametrize("doc,field", [
    (None, ""), ({"apiVersion": policy.API_VERSION, "kind": "Placement",
                  "metadata": {"name": "x"}}, "spec"),
    (placement({}), "spec.resourceSelectors"),
    (placement({"resourceSelectors": []}), "spec.resourceSelectors"),
], ids=["not-a-mapping", "no-spec", "no-selectors", "empty-selectors"])
def test_required_parts(doc, field):
    with pytest.raises(PolicyInvalid) as err:
        policy.from_dict(doc)
    assert [f for f, _ in err.value.causes] == [field]


@pytest.mark.parametrize("selector,template,expected", [
    (policy.ResourceSelector("apps/v1", "Deployment"),
     {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}}, True),
    (policy.ResourceSelector("apps/v1", "Deployment"),
     {"apiVersion": "apps/v1beta1", "kind": "Deployment", "metadata": {"name": "w"}}, False),
    (policy.ResourceSelector("v1", "Service", namespace="shop"),
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "w", "namespace": "dev"}},
     False),
    (policy.ResourceSelector("v1", "Service", name="w"),
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "w"}}, True),
    (policy.ResourceSelector("v1", "Service", selector=(labels.Requirement("app", "In",
                                                                            ("w",)),)),
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "w", "labels": {}}}, False),
], ids=["kind", "other-version", "other-namespace", "name", "labels"])
def test_resource_selector_matching(selector, template, expected):
    assert selector.matches(template) is expected
