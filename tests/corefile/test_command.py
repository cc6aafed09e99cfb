"""``fedns corefile render|check``: output, exit codes (0 ok, 1 problems, 2 bad input)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from corefile import check
from tests.corefile.helpers import fedns

CONFIG = {
    "federation": "myfed",
    "domain": "example.com",
    "store": "etcd://10.0.0.1:2379,etcd-1.etcd:2379,[2001:db8::1]:2379",
    "dns": {"listen": "0.0.0.0:5353", "ttl": 20},
    "members": [{"name": "umich", "kubeconfig": "/k/umich"},
                {"name": "msu", "kubeconfig": "/k/msu"}],
}


def write_config(tmp_path: pathlib.Path, **changes) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **changes}))
    return str(path)


def test_render_zone_from_the_config(tmp_path):
    result = fedns(["corefile", "render", "--config", write_config(tmp_path)])
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == ("# federation myfed, zone example.com: CoreDNS serves the records "
                        "fedns writes to etcd.")
    assert lines[2] == "example.com:53 {"
    assert ("        endpoint http://10.0.0.1:2379 http://etcd-1.etcd:2379 "
            "http://[2001:db8::1]:2379") in lines
    assert "    cache 20" in lines
    assert check.check(result.out, "example.com") == []


def test_render_zone_options(tmp_path):
    result = fedns(["corefile", "render", "--config", write_config(tmp_path), "--port", "1053",
                    "--etcd-tls", "/tls/tls.crt", "/tls/tls.key", "/tls/ca.crt",
                    "--etcd-credentials", "{$ETCD_USER}", "{$ETCD_PASSWORD}", "--fallthrough"])
    assert result.code == 0, result.err
    lines = [line.strip() for line in result.out.splitlines()]
    assert "example.com:1053 {" in lines
    assert ("endpoint https://10.0.0.1:2379 https://etcd-1.etcd:2379 "
            "https://[2001:db8::1]:2379") in lines
    assert "tls /tls/tls.crt /tls/tls.key /tls/ca.crt" in lines
    assert "credentials {$ETCD_USER} {$ETCD_PASSWORD}" in lines
    assert "fallthrough" in lines


@pytest.mark.parametrize("extra, expected", [
    (["--dns-address", "192.0.2.53", "--dns-address", "[2001:db8::53]:53"],
     "    forward . 192.0.2.53 [2001:db8::53]:53"),
    (["--dns-address", "198.51.100.7:5353"], "    forward . 198.51.100.7:5353"),
], ids=["two-addresses", "port"])
def test_render_member_stub(tmp_path, extra, expected):
    result = fedns(["corefile", "render", "--config", write_config(tmp_path),
                    "--member", "umich", *extra])
    assert result.code == 0, result.err
    assert result.out.splitlines()[2:] == ["example.com:53 {", "    errors", "    cache 20",
                                           expected, "}"]
    assert "member umich" in result.out.splitlines()[0]


def test_member_stub_defaults_to_a_reachable_dns_listen(tmp_path):
    config = write_config(tmp_path, dns={"listen": "192.0.2.53:53", "ttl": 30})
    result = fedns(["corefile", "render", "--config", config, "--member", "msu"])
    assert result.code == 0, result.err
    assert "    forward . 192.0.2.53" in result.out.splitlines()


@pytest.mark.parametrize("argv, changes, message", [
    (["--member", "umich"], {}, ("fedns: dns.listen 0.0.0.0:5353 is not an address member "
     "clusters can reach: pass --dns-address with the federation DNS Service's external IP")),
    (["--member", "umich"], {"dns": {"listen": "127.0.0.1:53"}}, ("fedns: dns.listen "
     "127.0.0.1:53 is not an address member clusters can reach: pass --dns-address with the "
     "federation DNS Service's external IP")),
    (["--member", "nobody", "--dns-address", "192.0.2.1"], {},
     "fedns: --member 'nobody' is not a member of the config (members: umich, msu)"),
    (["--member", "umich", "--dns-address", "dns.example.com"], {},
     "fedns: DNS address 'dns.example.com' is not IP or IP:PORT"),
    (["--dns-address", "192.0.2.1"], {}, "fedns: --dns-address goes with --member"),
    (["--member", "umich", "--dns-address", "192.0.2.1", "--fallthrough"], {},
     ("fedns: --etcd-tls, --etcd-credentials and --fallthrough are for the zone's Corefile, "
     "not a member's stub")),
    ([], {"store": "memory://"}, ("fedns: store 'memory://': CoreDNS reads the zone from etcd, "
     "so the config's store must be etcd://HOST:PORT[,HOST:PORT...]")),
], ids=["wildcard-listen", "loopback-listen", "unknown-member", "hostname-address",
        "address-without-member", "zone-option-with-member", "memory-store"])
def test_render_refusals_exit_2_with_one_line(tmp_path, argv, changes, message):
    result = fedns(["corefile", "render", "--config", write_config(tmp_path, **changes), *argv])
    assert (result.code, result.out, result.err) == (2, "", message + "\n")


def test_render_bad_config_exits_2_with_every_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("federation: f\ndomain: Bad Domain\ndns: {ttl: 0}\n")
    result = fedns(["corefile", "render", "--config", str(path)])
    assert result.code == 2
    assert result.err.splitlines() == [
        (f"fedns: {path}: domain: 'Bad Domain' is not a DNS name of lowercase letters, "
        "digits and '-'"),
        f"{path}: dns.ttl: must be an integer number of seconds 1..86400, got 0"]


BROKEN = "example.org {\n  etcd {\n    path /skydns\n  }\n  forwad . 1.1.1.1\n"


@pytest.mark.parametrize("text, argv, code, out", [
    ("example.com {\n  whoami\n}\n", ["--domain", "example.com"], 0, ["ok"]),
    (BROKEN, ["--domain", "example.com."], 1, [
        "{file}:1: '{{' is never closed (a '}}' is missing in this block)",
        "{file}:1: zone 'example.org' is outside the federation domain example.com",
        "{file}:2: etcd: no endpoint (CoreDNS would use http://localhost:2379)",
        "{file}:5: unknown plugin 'forwad'"]),
    (BROKEN, [], 1, [
        "{file}:1: '{{' is never closed (a '}}' is missing in this block)",
        "{file}:2: etcd: no endpoint (CoreDNS would use http://localhost:2379)",
        "{file}:5: unknown plugin 'forwad'"]),
    (BROKEN, ["--config", "{config}"], 1, [
        "{file}:1: '{{' is never closed (a '}}' is missing in this block)",
        "{file}:1: zone 'example.org' is outside the federation domain example.com",
        "{file}:2: etcd: no endpoint (CoreDNS would use http://localhost:2379)",
        "{file}:5: unknown plugin 'forwad'"]),
], ids=["ok", "problems-with-domain", "problems-without-domain", "domain-from-config"])
def test_check_file(tmp_path, text, argv, code, out):
    corefile = tmp_path / "Corefile"
    corefile.write_text(text)
    argv = [a.format(config=write_config(tmp_path)) for a in argv]
    result = fedns(["corefile", "check", str(corefile), *argv])
    assert (result.code, result.err) == (code, "")
    assert result.out.splitlines() == [line.format(file=corefile) for line in out]


def test_check_reads_standard_input(tmp_path):
    rendered = fedns(["corefile", "render", "--config", write_config(tmp_path)]).out
    result = fedns(["corefile", "check", "--domain", "example.com", "-"], stdin=rendered)
    assert (result.code, result.out) == (0, "ok\n")
    result = fedns(["corefile", "check", "-"], stdin="x {\n")
    assert (result.code, result.out) == (1, ("<stdin>:1: '{' is never closed "
                                            "(a '}' is missing in this block)\n"))


@pytest.mark.parametrize("argv, err", [
    (["{missing}"], "fedns: {missing}: cannot read: No such file or directory\n"),
    (["{binary}"], "fedns: {binary}: not UTF-8 text\n"),
    (["{good}", "--domain", "."], "fedns: --domain '.' is not a DNS name\n"),
    (["{good}", "--config", "{missing}"],
     "fedns: {missing}: cannot read: No such file or directory\n"),
], ids=["missing-file", "not-text", "bad-domain", "missing-config"])
def test_check_unreadable_input_exits_2(tmp_path, argv, err):
    paths = {"missing": tmp_path / "nope", "binary": tmp_path / "bin", "good": tmp_path / "ok"}
    paths["binary"].write_bytes(b"\xff\xfe{")
    paths["good"].write_text("x {\n}\n")
    argv = [a.format(**paths) for a in argv]
    result = fedns(["corefile", "check", *argv])
    assert (result.code, result.out, result.err) == (2, "", err.format(**paths))


def test_check_domain_and_config_are_exclusive(tmp_path):
    result = fedns(["corefile", "check", "x", "--domain", "a.org", "--config", "c.yaml"])
    assert result.code == 2
    assert "not allowed with argument" in result.err
