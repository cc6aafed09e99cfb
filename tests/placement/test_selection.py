"""Which policy governs a template: annotations, then priority, then specificity."""

from __future__ import annotations

import pytest

from placement import federation_v1, labels, policy, selection

R = policy.ResourceSelector
WEB = {"apiVersion": "apps/v1", "kind": "Deployment",
       "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}}


def pol(name, *resources, priority=0, namespace=""):
    return policy.Policy(name=name, namespace=namespace, priority=priority,
                         resources=tuple(resources))


ALL = pol("all-deployments", R("apps/v1", "Deployment"))
SHOP = pol("shop", R("apps/v1", "Deployment", namespace="shop"))
LABELLED = pol("labelled", R("apps/v1", "Deployment",
                             selector=(labels.Requirement("app", "In", ("web",)),)))
NAMED = pol("named", R("apps/v1", "Deployment", name="web"))
URGENT = pol("urgent", R("apps/v1", "Deployment"), priority=10)
SERVICES = pol("services", R("v1", "Service"))

CASES = [
    ("none", [SERVICES], None),
    ("kind alone", [SERVICES, ALL], "all-deployments"),
    ("namespace beats kind", [ALL, SHOP], "shop"),
    ("labels beat namespace", [SHOP, LABELLED, ALL], "labelled"),
    ("name beats labels", [LABELLED, NAMED], "named"),
    ("priority beats specificity", [NAMED, URGENT], "urgent"),
    ("namespaced Placement on a tie", [ALL, pol("local", R("apps/v1", "Deployment"),
                                                namespace="shop")], "local"),
    ("other namespace's Placement never", [pol("other", R("apps/v1", "Deployment", name="web"),
                                               namespace="dev"), ALL], "all-deployments"),
    ("lowest name on a full tie", [pol("b", R("apps/v1", "Deployment")),
                                   pol("a", R("apps/v1", "Deployment"))], "a"),
]


@pytest.mark.parametrize("policies,expected", [(p, e) for _, p, e in CASES],
                         ids=[i for i, _, _ in CASES])
def test_select(policies, expected):
    for order in (policies, list(reversed(policies))):
        chosen = selection.select(WEB, order)
        assert (chosen.name if chosen else None) == expected


def test_policy_for_prefers_the_templates_own_annotations():
    annotated = {**WEB, "metadata": {**WEB["metadata"], "annotations": {
        federation_v1.SELECTOR: '[{"key": "location", "operator": "in", "values": ["eu"]}]'}}}
    chosen, source = selection.policy_for(annotated, [NAMED])
    assert source == "federation-v1-annotations"
    assert chosen is not None and chosen.groups[0].name == "cluster-selector"
    assert selection.policy_for(WEB, [NAMED, ALL])[1] == "placement/named"
    local = pol("local", R("apps/v1", "Deployment"), namespace="shop")
    assert selection.policy_for(WEB, [local])[1] == "placement/shop/local"
    assert selection.policy_for(WEB, [SERVICES]) == (None, "")
