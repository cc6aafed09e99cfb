"""Simulated members in process: member specs, seeding, kubeconfig, restart on the same port."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import yaml

from fedns.sim import cluster


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("umich", [("umich", "umich", "umich-a")], id="name-only"),
    pytest.param("umich:us-east", [("umich", "us-east", "us-east-a")], id="name-region"),
    pytest.param("umich:us-east:us-east-1b,msu",
                 [("umich", "us-east", "us-east-1b"), ("msu", "msu", "msu-a")], id="two"),
    pytest.param(" a , b ", [("a", "a", "a-a"), ("b", "b", "b-a")], id="spaces"),
])
def test_parse_members(text, expected):
    specs = cluster.parse_members(text)
    assert [(s.name, s.region, s.zone) for s in specs] == expected


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("", "no members", id="empty"),
    pytest.param("Umich", "lowercase DNS label", id="uppercase"),
    pytest.param("a,a", "given twice", id="duplicate"),
    pytest.param("a:b:c:d", "expected NAME[:REGION[:ZONE]]", id="too-many-parts"),
    pytest.param("a:bad region", "not a valid label value", id="bad-region"),
    pytest.param("a::z", "not a valid label value", id="empty-region"),
])
def test_parse_members_refuses(text, message):
    with pytest.raises(cluster.BadMemberSpec) as err:
        cluster.parse_members(text)
    assert message in str(err.value)


@pytest.fixture
async def members():
    started = await cluster.start_members(cluster.parse_members("umich:us-east:us-east-1a,msu"),
                                          token="tok")
    yield started
    await cluster.stop_members(started)


def _session(members: list[cluster.Member]) -> aiohttp.ClientSession:
    """A client that trusts the members' self-signed certificate (token → HTTPS)."""
    certificate = members[0].certificate
    assert certificate is not None
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=certificate.client_context()))


def _get(session: aiohttp.ClientSession, member: cluster.Member, path: str):
    return session.get(member.url + path, headers={"Authorization": "Bearer tok"})


async def test_members_are_seeded_like_a_new_cluster(members):
    async with _session(members) as session:
        for member in members:
            async with _get(session, member, "/api/v1/nodes") as response:
                nodes = (await response.json())["items"]
            assert len(nodes) == cluster.NODES_PER_MEMBER
            for node in nodes:
                labels = node["metadata"]["labels"]
                assert labels["topology.kubernetes.io/region"] == member.spec.region
                assert labels["topology.kubernetes.io/zone"] == member.spec.zone
                assert labels["failure-domain.beta.kubernetes.io/region"] == member.spec.region
                assert labels["failure-domain.beta.kubernetes.io/zone"] == member.spec.zone
            async with _get(session, member, "/api/v1/namespaces") as response:
                names = {n["metadata"]["name"] for n in (await response.json())["items"]}
            assert {"default", "kube-system"} <= names
            async with session.get(member.url + "/api/v1/nodes") as response:
                assert response.status == 401  # no token


async def test_kubeconfig_has_one_context_per_member(members, tmp_path):
    await cluster.wait_ready(members)
    path = tmp_path / "sub" / "kubeconfig"
    cluster.write_kubeconfig(members, str(path), token="tok")
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "umich"
    assert [c["name"] for c in config["contexts"]] == ["umich", "msu"]
    assert {c["name"]: c["cluster"]["server"] for c in config["clusters"]} == {
        m.name: m.url for m in members}
    assert all(u["user"] == {"token": "tok"} for u in config["users"])
    assert all(c["cluster"]["server"].startswith("https://127.0.0.1:") and
               c["cluster"]["certificate-authority-data"] for c in config["clusters"])
    assert oct(path.stat().st_mode & 0o777) == "0o600"


async def test_without_token_members_serve_plain_http(tmp_path):
    started = await cluster.start_members(cluster.parse_members("solo"))
    try:
        await cluster.wait_ready(started)
        assert started[0].url.startswith("http://") and started[0].certificate is None
        async with aiohttp.ClientSession() as session, \
                session.get(started[0].url + "/api/v1/namespaces/default") as response:
            assert response.status == 200
    finally:
        await cluster.stop_members(started)


async def test_restart_keeps_port_and_state_and_ends_watches(members):
    member = members[0]
    port = member.port
    async with _session(members) as session:
        async with session.post(member.url + "/api/v1/namespaces/default/configmaps",
                                headers={"Authorization": "Bearer tok"},
                                json={"metadata": {"name": "keep"}}) as response:
            assert response.status == 201
        async with _get(session, member, "/api/v1/configmaps?watch=true&resourceVersion=0") \
                as watch:
            await asyncio.wait_for(watch.content.readline(), 5)
            await member.stop()
            assert await asyncio.wait_for(watch.content.read(), 5) == b""
        assert not await member.ready(session)
        await member.start()
        assert member.port == port
        await cluster.wait_ready([member])
        async with _get(session, member, "/api/v1/namespaces/default/configmaps/keep") \
                as response:
            assert response.status == 200
