"""``fedns pool ...`` and ``fedns ip list`` as a user runs them: real processes, real etcd.

Bad pool files are one line naming the pool and the field, exit 2, and the Store is
left exactly as it was; refused changes exit 1 and name the holders.
"""

from __future__ import annotations

import json

import subprocess
import sys
import textwrap

import pytest
import yaml
from prometheus_client import CollectorRegistry

from fedns import store
from fedns.ipamstore import keys, manager
from ipam import pool, request
from tests.support import procs

pytestmark = pytest.mark.etcd

# Runs the real CLI; registers the ipam commands until fedns/cli.py lists them itself.
_SHIM = textwrap.dedent("""
    import sys
    from fedns import cli
    if "fedns.cli.pool" not in cli.COMMAND_MODULES:
        cli.COMMAND_MODULES.append("fedns.cli.pool")
    sys.exit(cli.main(sys.argv[1:]))
""")

POOLS = """\
- name: umich-v4
  site: umich
  addresses: [192.0.2.0/24, 198.51.100.10-198.51.100.20]
  reserved: [192.0.2.1]
- {name: umich-v6, site: umich, addresses: ["2001:db8::/64"]}
"""


def fedns(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _SHIM, *args], capture_output=True,
                          text=True, timeout=60, input=stdin, check=False)


@pytest.fixture
async def url(etcd):
    st = await store.open_store(etcd.url)
    await st.delete(keys.PREFIX, prefix=True)
    await st.close()
    return etcd.url


async def snapshot(url: str) -> dict[bytes, tuple[bytes, int]]:
    st = await store.open_store(url)
    try:
        return {kv.key: (kv.value, kv.mod_revision)
                for kv in (await st.range(keys.PREFIX)).kvs}
    finally:
        await st.close()


async def allocate(url: str, *services: str) -> None:
    st = await store.open_store(url)
    ipam = manager.IPAM(st, {"m1": "umich"}, registry=CollectorRegistry())
    await ipam.start()
    try:
        for name in services:
            await ipam.ensure(request.Request("m1", "default", name, uid=f"uid-{name}"))
    finally:
        await ipam.stop()
        await st.close()


async def apply(url: str, text: str) -> None:
    st = await store.open_store(url)
    ipam = manager.IPAM(st, {}, registry=CollectorRegistry())
    await ipam.start()
    try:
        await ipam.apply_pools(pool.from_dicts(yaml.safe_load(text)))
    finally:
        await ipam.stop()
        await st.close()


def table(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


async def test_apply_list_show_ip_list_drain_delete(url, tmp_path):
    path = tmp_path / "pools.yaml"
    path.write_text(POOLS)
    applied = fedns("pool", "apply", "-f", str(path), "--store", url)
    assert (applied.returncode, applied.stdout) == (
        0, "pool/umich-v4 created\npool/umich-v6 created\n"), applied.stderr
    again = fedns("pool", "apply", "-f", "-", "--store", url, stdin=POOLS)
    assert again.stdout == "pool/umich-v4 unchanged\npool/umich-v6 unchanged\n"
    await allocate(url, "web", "api")

    listed = fedns("pool", "list", "--store", url)
    assert table(listed.stdout) == [
        ["SITE", "POOL", "FAMILY", "CAPACITY", "USED", "FREE", "STATE"],
        ["umich", "umich-v4", "IPv4", "266", "2", "264", "Active"],
        ["umich", "umich-v6", "IPv6", "18446744073709551616", "0", "18446744073709551616",
         "Active"]]

    shown = fedns("pool", "show", "umich-v4", "--store", url)
    assert shown.returncode == 0
    assert "addresses: [192.0.2.0/24, 198.51.100.10-198.51.100.20]\n" in shown.stdout
    assert shown.stdout.endswith("# state: Active\n# IPv4: capacity 266, used 2, free 264\n"
                                 "# holders: 2\n")
    reapply = fedns("pool", "apply", "-f", "-", "--store", url, stdin=shown.stdout)
    assert reapply.stdout == "pool/umich-v4 unchanged\n", "show prints a pool file"

    ips = fedns("ip", "list", "--store", url)
    assert table(ips.stdout) == [
        ["ADDRESS", "POOL", "MEMBER", "NAMESPACE/SERVICE", "UID"],
        ["192.0.2.0", "umich-v4", "m1", "default/web", "uid-web"],
        ["192.0.2.2", "umich-v4", "m1", "default/api", "uid-api"]]
    assert len(table(fedns("ip", "list", "--pool", "umich-v6", "--store", url).stdout)) == 1

    drained = fedns("pool", "drain", "umich-v4", "--store", url)
    assert drained.stdout == "pool/umich-v4 draining (2 addresses still held)\n"
    assert table(fedns("pool", "list", "--store", url).stdout)[1][-1] == "Draining"
    deleted = fedns("pool", "delete", "umich-v6", "--store", url)
    assert (deleted.returncode, deleted.stdout) == (0, "pool/umich-v6 deleted\n")
    assert [row[1] for row in table(fedns("pool", "list", "--store", url).stdout)[1:]] \
        == ["umich-v4"]


BAD_FILES = [
    ("- {name: a, site: s, addresses: [10.0.0.0/33]}",
     'pool "a": addresses[0]: "10.0.0.0/33" is not a valid CIDR'),
    ("- {name: a, site: s, addresses: [10.0.0.9-10.0.0.1]}", 'pool "a": addresses[0]:'),
    ("- {name: a, addresses: [10.0.0.0/24]}", 'pool "a": site: required field is missing'),
    ("- {name: a, site: s, adresses: [10.0.0.0/24]}",
     'pool "a": adresses: unknown field (did you mean addresses?)'),
    ("- {name: a, site: s, addresses: [10.0.0.0/24], reserved: [10.1.0.1]}",
     'pool "a": reserved[0]: "10.1.0.1" is not inside the pool\'s addresses'),
    ("- {name: a, site: s, addresses: [10.0.0.0/24], priority: high}",
     'pool "a": priority: expected an integer'),
    (("- {name: a, site: s, addresses: [10.0.0.0/24],"
     " serviceSelector: {matchExpressions: []}}"),
     'pool "a": serviceSelector.matchExpressions: not supported (use matchLabels)'),
    (("- {name: good, site: s, addresses: [10.0.0.0/24]}\n"
     "- {name: Bad_Name, site: s, addresses: [10.1.0.0/24]}"),
     'pool "Bad_Name": name: "Bad_Name" is not a valid name'),
    ("- {name: a, site: s, addresses: [10.0.0.0/24]\n", "line 2: expected ',' or '}'"),
    (("- {name: a, site: s, addresses: [10.0.0.0/24]}\n"
     "- {name: a, site: t, addresses: [10.1.0.0/24]}"), 'pool "a": name: defined twice'),
    ("just text", "expected a list of pool mappings, a pool mapping or an IPPool"),
    ("", "no pools in the file"),
]


@pytest.mark.parametrize("text, message", BAD_FILES, ids=[
    "bad-cidr", "reversed-range", "missing-site", "misspelt-field", "reserved-outside",
    "priority-type", "match-expressions", "second-pool-bad", "yaml-syntax", "duplicate",
    "not-a-list", "empty"])
async def test_a_bad_pool_file_is_one_line_exit_2_and_changes_nothing(url, tmp_path,
                                                                      text, message):
    await apply(url, POOLS)
    before = await snapshot(url)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = fedns("pool", "apply", "-f", str(path), "--store", url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert await snapshot(url) == before


async def test_refused_changes_exit_1_naming_pools_and_holders(url, tmp_path):
    path = tmp_path / "pools.yaml"
    path.write_text(POOLS)
    fedns("pool", "apply", "-f", str(path), "--store", url)
    await allocate(url, "web", "api")
    before = await snapshot(url)
    cases = [
        (["pool", "apply", "-f", "-"],
         "- {name: other, site: umich, addresses: [192.0.2.128/25]}",
         'pools "other" and "umich-v4" of site "umich" overlap at 192.0.2.128/25'),
        (["pool", "apply", "-f", "-"],
         "- {name: umich-v4, site: umich, addresses: [198.51.100.10-198.51.100.20]}",
         ('pool "umich-v4": the change would strand 2 addresses in use: 192.0.2.0 held by'
         " m1/default/web, 192.0.2.2 held by m1/default/api; drain the pool first")),
        (["pool", "delete", "umich-v4"], None, "192.0.2.0 held by m1/default/web"),
        (["pool", "show", "nope"], None, 'pool "nope" not found'),
        (["pool", "drain", "nope"], None, 'pool "nope" not found'),
    ]
    for args, stdin, message in cases:
        result = fedns(*args, "--store", url, stdin=stdin)
        assert result.returncode == 1, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr, \
            result.stderr
    assert await snapshot(url) == before


def test_unreachable_store_is_one_line_exit_2(tmp_path):
    port = procs.free_port()
    result = subprocess.run(
        [sys.executable, "-c", _SHIM, "pool", "list", "--store", f"etcd://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "FEDNS_CONNECT_TIMEOUT": "1"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"fedns: etcd at 127.0.0.1:{port} is unreachable (no answer within 1s)"]


async def test_every_problem_of_a_pool_file_is_reported_one_line_each(url, tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text("- {name: a, site: s, addresses: [10.0.0.300/24]}\n"
                    "- {name: b, site: s, adresses: [10.1.0.0/24]}\n"
                    "- {name: c, site: s, addresses: [10.2.0.0/24], priority: high}\n")
    before = await snapshot(url)
    result = fedns("pool", "apply", "-f", str(path), "--store", url)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert 'pool "a": addresses[0]' in lines[0] and 'pool "b": adresses' in lines[1] \
        and 'pool "c": priority' in lines[2]
    assert all(str(path) in line for line in lines)
    assert await snapshot(url) == before


METALLB = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec:
  addresses: [192.0.2.0/28, 192.0.2.100-192.0.2.110]
  avoidBuggyIPs: true
  serviceAllocation:
    priority: 50
    namespaces: [apps]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: second-pool
  namespace: metallb-system
  annotations: {fedns.io/site: uva}
spec:
  addresses: [198.51.100.0/28]
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
"""


async def test_metallb_and_ippool_files_are_pool_files(url, tmp_path):
    path = tmp_path / "metallb.yaml"
    path.write_text(METALLB)
    no_site = fedns("pool", "apply", "-f", str(path), "--store", url)
    assert no_site.returncode == 2 and "first-pool" in no_site.stderr \
        and "--site" in no_site.stderr, no_site.stderr
    applied = fedns("pool", "apply", "-f", str(path), "--site", "umich", "--store", url)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == ["pool/first-pool created", "pool/second-pool created"]
    assert "skipped L2Advertisement/l2" in applied.stderr
    listed = json.loads(fedns("pool", "list", "-o", "json", "--store", url).stdout)
    first = next(p for p in listed if p["name"] == "first-pool")
    assert (first["site"], first["priority"], first["avoidBuggyIPs"]) == ("umich", 50, True)
    assert first["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}
    assert first["status"]["IPv4"]["capacity"] == "26"  # 16 + 11, less 192.0.2.0 (buggy)
    assert next(p for p in listed if p["name"] == "second-pool")["site"] == "uva"
    # what kubectl get ippools -o yaml prints goes back in unchanged
    ippools = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "fedns.io/v1alpha1", "kind": "IPPool",
         "metadata": {"name": p["name"], "uid": "x", "resourceVersion": "7"},
         "spec": {k: v for k, v in p.items() if k not in ("name", "status")},
         "status": {"state": "Active"}} for p in listed]})
    again = fedns("pool", "apply", "-f", "-", "--store", url, stdin=ippools)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["pool/first-pool unchanged",
                                         "pool/second-pool unchanged"]


async def test_dry_run_undrain_and_machine_output(url, tmp_path):
    await apply(url, POOLS)
    before = await snapshot(url)
    dry = fedns("pool", "apply", "-f", "-", "--dry-run", "--store", url,
                stdin="- {name: extra, site: umich, addresses: [203.0.113.0/28]}\n"
                      "- {name: umich-v6, site: umich, addresses: ['2001:db8::/64']}")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == ["pool/extra created (dry run)",
                                       "pool/umich-v6 unchanged (dry run)"]
    overlap = fedns("pool", "apply", "-f", "-", "--dry-run", "--store", url,
                    stdin="- {name: other, site: umich, addresses: [192.0.2.128/25]}")
    assert overlap.returncode == 1 and "overlap" in overlap.stderr
    assert await snapshot(url) == before, "a dry run writes nothing"
    assert fedns("pool", "drain", "umich-v4", "--store", url).returncode == 0
    undrained = fedns("pool", "undrain", "umich-v4", "--store", url)
    assert (undrained.returncode, undrained.stdout) == (0, "pool/umich-v4 active\n")
    assert table(fedns("pool", "list", "--store", url).stdout)[1][-1] == "Active"
    await allocate(url, "web")
    ips = yaml.safe_load(fedns("ip", "list", "-o", "yaml", "--store", url).stdout)
    assert ips == [{"address": "192.0.2.0", "pool": "umich-v4", "member": "m1",
                    "namespace": "default", "service": "web", "uid": "uid-web"}]
