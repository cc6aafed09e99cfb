"""The sim's control server and options: trouble on request, one-line errors otherwise."""

from __future__ import annotations

import aiohttp
import pytest

from fedns import cli, errors
from fedns.cli import sim as command
from fedns.sim import cluster, control, fit, meta

TOKEN = "ctl"


@pytest.fixture
async def served():
    members = await cluster.start_members(cluster.parse_members("umich"))
    server = control.ControlServer(members, TOKEN)
    await server.start()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield server, members[0], session
    await server.stop()
    await cluster.stop_members(members)


async def test_node_ready_and_capacity_change_the_node(served):
    server, member, session = served
    async with session.post(server.url + "/members/umich/nodes/umich-worker/ready",
                            json={"ready": False}) as response:
        assert response.status == 200
        node = await response.json()
    assert not fit.node_ready(node)
    assert meta.condition(node, "Ready")["reason"] == "NodeStatusUnknown"
    async with session.post(server.url + "/members/umich/nodes/umich-worker/capacity",
                            json={"cpu": "500m", "pods": 3}) as response:
        node = await response.json()
    assert node["status"]["allocatable"]["cpu"] == "500m"
    assert node["status"]["capacity"]["pods"] == "3"
    assert fit.allocatable(node) == fit.Request(fit.quantity("0.5"), fit.quantity("8Gi"), 3)
    async with session.post(server.url + "/members/umich/stop") as response:
        assert (await response.json())["running"] is False
    assert not member.running
    async with session.post(server.url + "/members/umich/start") as response:
        assert (await response.json())["running"] is True


@pytest.mark.parametrize(("path", "body", "code", "message"), [
    pytest.param("/members/nowhere/stop", None, 404, "no member 'nowhere'", id="member"),
    pytest.param("/members/umich/nodes/umich-gone/ready", {"ready": False}, 404,
                 'nodes "umich-gone" not found', id="node"),
    pytest.param("/members/umich/nodes/umich-worker/ready", {"ready": "no"}, 400,
                 "ready must be true or false, got 'no'", id="ready-type"),
    pytest.param("/members/umich/nodes/umich-worker/capacity", {"gpu": "1"}, 400,
                 "unknown resource 'gpu': expected cpu, memory or pods", id="resource"),
    pytest.param("/members/umich/namespaces/default/pods/none/fail", {}, 404,
                 'pods "none" not found', id="pod"),
    pytest.param("/members/umich/nodes/umich-worker/ready", [1], 400,
                 "the body must be a JSON object", id="not-an-object"),
])
async def test_bad_requests_get_one_line(served, path, body, code, message):
    server, _, session = served
    async with session.post(server.url + path, json=body) as response:
        assert response.status == code
        assert (await response.json()) == {"error": message}


async def test_token_is_required(served):
    server, _, _ = served
    async with aiohttp.ClientSession() as anonymous, \
            anonymous.get(server.url + "/members") as response:
        assert response.status == 401


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--ready-delay", "-1"], "--ready-delay must be 0 or more seconds",
                 id="ready-delay"),
    pytest.param(["--run-seconds", "nan"], "--run-seconds must be 0 or more seconds",
                 id="run-seconds"),
    pytest.param(["--pod-cidr", "10.244/99"], "--pod-cidr '10.244/99' is not a CIDR",
                 id="pod-cidr"),
    pytest.param(["--control-port", "70000"], "--control-port must be 0-65535", id="port"),
])
def test_bad_options_are_one_line(args, message):
    parser = cli._Parser(prog="fedns")
    command.register(parser.add_subparsers())
    parsed = parser.parse_args(["sim", "--members", "a", "--kubeconfig", "/tmp/x", *args])
    with pytest.raises(errors.UsageError) as err:
        command._settings(parsed)
    assert message in str(err.value)


def test_options_reach_every_member():
    parser = cli._Parser(prog="fedns")
    command.register(parser.add_subparsers())
    parsed = parser.parse_args(["sim", "--members", "a,b", "--kubeconfig", "/tmp/x",
                                "--ready-delay", "1.5", "--pod-cidr", "10.8.0.0/16"])
    settings = command._settings(parsed)
    assert {(m.behaviour.ready_delay, m.behaviour.pod_cidr) for m in settings.members} == \
        {(1.5, "10.8.0.0/16")}
    nodes = cluster.node_objects(settings.members[0])
    assert [n["spec"]["podCIDR"] for n in nodes] == ["10.8.0.0/24", "10.8.1.0/24"]
