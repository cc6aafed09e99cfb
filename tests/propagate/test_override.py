"""propagate.override: Overrides validated, selected per member, applied (pure)."""

from __future__ import annotations

import pytest

from propagate import manifest, override

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "namespace": "shop", "generation": 2},
          "spec": {"replicas": 2, "template": {"spec": {"containers": [
              {"name": "web", "image": "nginx:1.27"}]}}}}
IMAGE = "/spec/template/spec/containers/0/image"


def make(*rules: dict, name: str = "o", target: str = "web", kind: str = "Deployment") -> dict:
    return {"apiVersion": "fedns.io/v1alpha1", "kind": "Override",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"resourceSelector": {"apiVersion": "apps/v1", "kind": kind,
                                          **({"name": target} if target else {})},
                     "rules": list(rules)}}


def rule(*ops: dict, members: tuple[str, ...] = (), labels: dict | None = None) -> dict:
    found: dict = {"patches": list(ops)}
    if members:
        found["members"] = list(members)
    if labels is not None:
        found["memberSelector"] = {"matchLabels": labels}
    return found


@pytest.mark.parametrize("obj, field, words", [
    (make(rule({"op": "replace", "path": "/metadata/name", "value": "x"})),
     "spec.rules[0].patches[0].path", "identity"),
    (make(rule({"op": "replace", "path": "/kind", "value": "Pod"})),
     "spec.rules[0].patches[0].path", "identity"),
    (make(rule({"op": "add", "path": "/metadata/namespace", "value": "x"})),
     "spec.rules[0].patches[0].path", "identity"),
    (make(rule({"op": "remove", "path": "/metadata"})), "spec.rules[0].patches[0].path",
     "identity"),
    (make(rule({"op": "move", "from": "/a", "path": "/b"})), "spec.rules[0].patches[0].op",
     "Unsupported value"),
    (make(rule({"op": "replace", "path": IMAGE})), "spec.rules[0].patches[0].value",
     "Required"),
    (make(rule({"op": "replace", "path": "spec", "value": 1})), "spec.rules[0].patches[0].path",
     "JSON pointer"),
    (make(), "spec.rules", "at least one rule"),
    ({**make(rule({"op": "remove", "path": "/spec/replicas"})), "spec": {"rules": []}},
     "spec.resourceSelector", "Required"),
    (make({"patches": [], "member": ["a"]}), "spec.rules[0].member", "unknown field"),
], ids=["name", "kind", "namespace", "metadata", "move", "no-value", "not-a-pointer",
        "no-rules", "no-selector", "misspelt"])
def test_bad_overrides_are_refused_naming_the_field(obj, field, words):
    with pytest.raises(override.OverrideInvalid) as caught:
        override.parse(obj)
    assert any(f == field and words in m for f, m in caught.value.causes), caught.value.causes


def test_operations_are_chosen_per_member_by_name_or_labels():
    by_name = override.parse(make(rule({"op": "replace", "path": IMAGE, "value": "umich/nginx"},
                                       members=("umich",)), name="a"))
    by_label = override.parse(make(rule({"op": "add", "path": "/metadata/labels",
                                         "value": {"tier": "gold"}}, labels={"tier": "gold"}),
                                   name="b"))
    other = override.parse(make(rule({"op": "remove", "path": "/spec/replicas"}),
                                target="api", name="c"))
    every = [by_name, by_label, other]
    assert [op["path"] for op in override.patches_for(every, DEPLOY, "umich", {})] == [IMAGE]
    assert [op["override"] for op in override.patches_for(every, DEPLOY, "ucsd",
                                                          {"tier": "gold"})] == ["b"]
    assert override.patches_for(every, DEPLOY, "uva", {"tier": "silver"}) == []


def test_the_member_manifest_carries_its_override_and_a_hash_of_it():
    ops = override.patches_for([override.parse(make(rule(
        {"op": "replace", "path": IMAGE, "value": "registry.umich.example/nginx:1.27"},
        {"op": "add", "path": "/spec/template/spec/containers/-",
         "value": {"name": "sidecar", "image": "envoy"}},
        {"op": "remove", "path": "/spec/replicas"})))], DEPLOY, "umich", {})
    plain = manifest.build(DEPLOY, {"replicas": 1})
    changed = manifest.build(DEPLOY, {"replicas": 1}, ops)
    containers = changed["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["registry.umich.example/nginx:1.27", "envoy"]
    assert "replicas" not in changed["spec"]
    assert DEPLOY["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert changed["metadata"]["annotations"][manifest.HASH] != \
        plain["metadata"]["annotations"][manifest.HASH]


@pytest.mark.parametrize("op", [
    {"op": "replace", "path": "/spec/missing/field", "value": 1},
    {"op": "remove", "path": "/spec/template/spec/containers/3"},
    {"op": "replace", "path": "/spec/template/spec/containers/-1/image", "value": "x"},
    {"op": "add", "path": "/spec/replicas/x", "value": 1},
], ids=["missing", "index-past-end", "negative-index", "into-a-number"])
def test_an_operation_that_does_not_fit_fails_naming_it(op):
    with pytest.raises(override.OverrideFailed) as caught:
        manifest.build(DEPLOY, None, [{**op, "override": "o"}])
    assert "override 'o'" in str(caught.value) and op["path"] in str(caught.value)


def test_the_readme_example_is_a_valid_override():
    import pathlib
    import re

    import yaml

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
                  if "kind: Override" in b]
    parsed = override.parse(yaml.safe_load(example))
    assert (parsed.kind, parsed.target, parsed.rules[0].members) == ("Deployment", "web",
                                                                      ("umich",))
