"""Generic get / server-side apply / delete on a simulated member, over HTTPS with a token.

Outcomes are read back from the member's own storage: what the member holds after
each call, never what the client says it sent."""

from __future__ import annotations

import pytest

from fedns.kapi import status
from fedns.members import kinds, member, objects
from tests.members.conftest import REG
from tests.members.test_member import running

CONFIGMAPS = REG.lookup("", "v1", "configmaps")
NAMESPACES = REG.lookup("", "v1", "namespaces")
MANAGED = {objects.MANAGED_BY_LABEL: objects.MANAGED_BY}


def configmap(name: str, data: dict[str, str], namespace: str = "default",
              labels: dict[str, str] | None = None) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


async def stored(sim_member, resource_kind, namespace: str, name: str) -> dict | None:
    try:
        return await sim_member.server.storage.get(resource_kind, namespace, name)
    except status.ApiError as err:
        assert err.code == 404
        return None


async def test_apply_creates_updates_and_a_repeat_writes_nothing(sim):
    sims, path = sim
    async with running(path, "umich") as m:
        created = await m.apply(configmap("conf", {"a": "1", "b": "2"}, labels={"team": "x"}))
        held = await stored(sims[0], CONFIGMAPS, "default", "conf")
        assert held is not None
        assert held["data"] == {"a": "1", "b": "2"}
        assert held["metadata"]["labels"] == {"team": "x", **MANAGED}
        assert created["metadata"]["resourceVersion"] == held["metadata"]["resourceVersion"]
        assert [f["manager"] for f in held["metadata"]["managedFields"]] == ["fedns"]

        again = await m.apply(configmap("conf", {"a": "1", "b": "2"}, labels={"team": "x"}))
        assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

        # b is no longer in the intent: server-side apply removes it
        updated = await m.apply(configmap("conf", {"a": "3"}, labels={"team": "x"}))
        held = await stored(sims[0], CONFIGMAPS, "default", "conf")
        assert held["data"] == {"a": "3"}
        assert updated["metadata"]["resourceVersion"] == held["metadata"]["resourceVersion"]
        assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
        assert await m.get(kinds.CONFIG_MAP, "default", "conf") == held
        assert await m.get(kinds.CONFIG_MAP, "default", "nope") is None


async def test_apply_sends_the_intent_not_a_stored_copy(sim):
    """An object read back (resourceVersion, uid, managedFields) applies as its intent;
    a namespaced object without a namespace goes to default, as with kubectl."""
    sims, path = sim
    async with running(path, "umich") as m:
        first = await m.apply({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "plain"}, "data": {"k": "v"}})
        assert first["metadata"]["namespace"] == "default"
        await sims[0].server.storage.patch(CONFIGMAPS, "default", "plain",
                                           "application/merge-patch+json", {"data": {"k": "w"}})
        stale = dict(first, data={"k": "x"})  # its resourceVersion is out of date now
        second = await m.apply(stale)
        assert second["data"] == {"k": "x"}


async def test_a_cluster_scoped_object_and_a_discovered_kind(sim):
    sims, path = sim
    async with running(path, "umich") as m:
        ns = await m.apply({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": "team-a", "namespace": "ignored"}})
        assert ns["metadata"]["labels"][objects.MANAGED_BY_LABEL] == "fedns"
        assert (await stored(sims[0], NAMESPACES, "", "team-a")) is not None
        # Endpoints is not in the well-known table: found in the member's /api/v1
        endpoints = await m.resource_for("v1", "Endpoints")
        assert endpoints == kinds.Resource("", "v1", "endpoints", "Endpoints", namespaced=True)
        await m.apply({"apiVersion": "v1", "kind": "Endpoints",
                       "metadata": {"name": "ext", "namespace": "team-a"},
                       "subsets": [{"addresses": [{"ip": "192.0.2.1"}]}]})
        got = await m.get(endpoints, "team-a", "ext")
        assert got is not None and got["subsets"][0]["addresses"] == [{"ip": "192.0.2.1"}]


async def test_an_unmanaged_object_is_neither_overwritten_nor_deleted(sim):
    sims, path = sim
    storage = sims[0].server.storage
    await storage.create(CONFIGMAPS, "default", configmap("theirs", {"owner": "user"}))
    async with running(path, "umich") as m:
        with pytest.raises(member.NotManaged) as caught:
            await m.apply(configmap("theirs", {"owner": "fedns"}))
        assert str(caught.value) == (
            "member 'umich': ConfigMap default/theirs exists without the label "
            "app.kubernetes.io/managed-by=fedns: fedns will not overwrite it")
        assert isinstance(caught.value, member.MemberWriteError)
        with pytest.raises(member.NotManaged, match="fedns will not delete it$"):
            await m.delete(kinds.CONFIG_MAP, "default", "theirs")
        held = await stored(sims[0], CONFIGMAPS, "default", "theirs")
        assert held is not None and held["data"] == {"owner": "user"}

        adopted = await m.apply(configmap("theirs", {"owner": "fedns"}), adopt=True)
        assert adopted["metadata"]["labels"] == MANAGED
        assert adopted["data"] == {"owner": "fedns"}


@pytest.mark.parametrize("labels,only_if_managed,sent,remains", [
    pytest.param(MANAGED, True, True, False, id="managed"),
    pytest.param(None, False, True, False, id="unmanaged-when-told-to"),
    pytest.param("missing", True, False, False, id="missing-is-done"),
    pytest.param("missing", False, False, False, id="missing-unchecked-is-done"),
])
async def test_delete(sim, labels, only_if_managed, sent, remains):
    sims, path = sim
    if labels != "missing":
        await sims[0].server.storage.create(CONFIGMAPS, "default",
                                            configmap("gone", {"a": "1"}, labels=labels))
    async with running(path, "umich") as m:
        assert await m.delete(kinds.CONFIG_MAP, "default", "gone",
                              only_if_managed=only_if_managed) is sent
        assert (await stored(sims[0], CONFIGMAPS, "default", "gone") is not None) is remains


async def test_a_bad_propagation_policy_is_refused_before_any_request():
    unconnected = objects.Objects("x", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="propagation must be one of Background"):
        await unconnected.delete(kinds.CONFIG_MAP, "default", "a", propagation="Later")


async def _someone_else_owns_data_a(sims) -> None:
    # another field manager applied data.a on an object fedns manages
    await sims[0].server.storage.apply(
        CONFIGMAPS, "default", "shared",
        configmap("shared", {"a": "theirs"}, labels=MANAGED), manager="kubectl")


@pytest.mark.parametrize("prepare,call,error,message", [
    pytest.param(None, lambda m: m.apply(configmap("x", {}, namespace="nope")),
                 member.MemberWriteError,
                 "member 'umich': apply ConfigMap nope/x: HTTP 404 Not Found: "
                 'namespaces "nope" not found', id="missing-namespace"),
    pytest.param(None, lambda m: m.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": "d"}, "spec": {}}),
                 member.Rejected, "member 'umich': apply Deployment default/d: HTTP 422 ",
                 id="invalid-object"),
    pytest.param(_someone_else_owns_data_a,
                 lambda m: m.apply(configmap("shared", {"a": "ours"}), force=False),
                 member.WriteConflict, "member 'umich': apply ConfigMap default/shared: "
                 "HTTP 409 Conflict: ", id="field-owned-by-another-manager"),
    pytest.param(None, lambda m: m.apply({"apiVersion": "example.com/v1", "kind": "Widget",
                                          "metadata": {"name": "w"}}),
                 member.UnknownKind, "member 'umich': no resource for Widget of apiVersion "
                 "example.com/v1: example.com/v1 is not served", id="unknown-kind"),
    pytest.param(None, lambda m: m.apply({"apiVersion": "v1", "kind": "Gadget",
                                          "metadata": {"name": "w"}}),
                 member.UnknownKind, "member 'umich': no resource for Gadget of apiVersion "
                 "v1: v1 has no such kind", id="unknown-kind-in-a-served-version"),
])
async def test_write_errors_are_one_line(sim, prepare, call, error, message):
    sims, path = sim
    if prepare is not None:
        await prepare(sims)
    async with running(path, "umich") as m:
        with pytest.raises(error) as caught:
            await call(m)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert isinstance(caught.value, member.MemberWriteError)


async def test_an_unreachable_member_is_one_line_per_call(sim):
    sims, path = sim
    async with running(path, "umich") as m:
        await sims[0].stop()
        calls = [("apply ConfigMap default/c", member.MemberWriteError,
                  m.apply(configmap("c", {}))),
                 ("delete ConfigMap default/c", member.MemberWriteError,
                  m.delete(kinds.CONFIG_MAP, "default", "c")),
                 ("get ConfigMap default/c", member.MemberReadError,
                  m.get(kinds.CONFIG_MAP, "default", "c"))]
        for action, error, call in calls:
            with pytest.raises(error) as caught:
                await call
            text = str(caught.value)
            assert text.startswith(f"member 'umich': {action}: "), text
            assert "\n" not in text and len(text) < 300
