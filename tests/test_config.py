"""Config file validation: one line per wrong field, all reported at once."""

from __future__ import annotations

import pytest

from fedns import app, config
from fedns.dnsserver import settings as dns_settings
from fedns.sim import tls

GOOD = {
    "federation": "myfed",
    "domain": "example.com",
    "store": "etcd://127.0.0.1:2379,127.0.0.1:22379",
    "dns": {"listen": "127.0.0.1:5353", "ttl": 30, "sites": {"umich": ["192.0.2.0/24"]}},
    "api": {"listen": "127.0.0.1:8443", "token": "s3cret"},
    "members": [{"name": "umich", "kubeconfig": "/k", "context": "umich", "region": "us-east",
                 "zone": "us-east-1", "ipam": "observe"}],
    "pools": [{"name": "umich-v4", "site": "umich", "addresses": ["198.51.100.0/28"]}],
}


def test_good_config_parses_into_settings():
    s = config.parse(GOOD)
    assert (s.federation, s.domain, s.dns.ttl, s.api.token) == ("myfed", "example.com", 30, "s3cret")
    assert s.members[0].ipam == "observe" and s.members[0].site_name == "umich"
    assert s.pools[0].name == "umich-v4"
    assert s.dns.sites == {"umich": ["192.0.2.0/24"]}


def test_defaults():
    s = config.parse({"federation": "f", "domain": "example.org."})
    assert (s.store, s.dns.listen, s.dns.ttl, s.domain) == (
        "memory://", "127.0.0.1:5353", 30, "example.org")
    assert s.dns.workers == 0, "a memory:// store can only be served in its own process"


def test_dns_tcp_limits_and_lease_bounds_reach_the_dns_server():
    defaults = config.parse(GOOD).dns
    for field in ("tcp_connections", "tcp_per_client", "tcp_idle_timeout",
                  "tcp_busy_idle_timeout", "lease_min_ttl", "lease_max_ttl"):
        assert getattr(defaults, field) == getattr(dns_settings.Settings, field), field
    s = config.parse({**GOOD, "dns": {"tcp": {"connections": 64, "perClient": 4,
                                              "idleTimeout": 5, "busyIdleTimeout": 0.5},
                                      "leaseTTL": {"min": 10, "max": 3600}}})
    d = s.dns
    assert (d.tcp_connections, d.tcp_per_client, d.tcp_idle_timeout, d.tcp_busy_idle_timeout,
            d.lease_min_ttl, d.lease_max_ttl) == (64, 4, 5.0, 0.5, 10, 3600)
    served = app.Appliance(s)._dns_settings()
    assert (served.tcp_connections, served.tcp_per_client, served.tcp_idle_timeout,
            served.tcp_busy_idle_timeout, served.lease_min_ttl, served.lease_max_ttl) == \
        (64, 4, 5.0, 0.5, 10, 3600)


def test_dns_workers_default_to_one_process_with_etcd():
    assert config.parse(GOOD).dns.workers == 1
    assert config.parse({**GOOD, "dns": {"workers": 0}}).dns.workers == 0
    assert config.parse({**GOOD, "dns": {"workers": 3}}).dns.workers == 3


@pytest.mark.parametrize("api, ttl", [({}, 3600), ({"eventTTL": 60}, 60), ({"eventTTL": 0}, 0)],
                         ids=["default-hour", "minute", "never"])
def test_event_ttl(api, ttl):
    assert config.parse({**GOOD, "api": api}).api.event_ttl == ttl


@pytest.mark.parametrize(
    "change, line",
    [
        ({"federation": None}, "federation: is required"),
        ({"domain": "Bad Domain"}, "domain: 'Bad Domain' is not a DNS name"),
        ({"store": "redis://x"}, "store: 'redis://x': expected memory:// or etcd://"),
        ({"store": "etcd://nohost"}, "store: store URL 'etcd://nohost': endpoint 'nohost' is not host:port"),
        ({"dns": {"ttl": "30"}}, "dns.ttl: must be an integer number of seconds 1..86400, got '30'"),
        ({"dns": {"listen": "localhost:53"}}, "dns.listen: 'localhost:53' is not ADDR:PORT"),
        ({"dns": {"sites": {"a": ["192.0.2.1/24"]}}}, "dns.sites.a[0]: '192.0.2.1/24' is not a subnet"),
        ({"api": {"port": 1}}, "api.port: unknown field"),
        ({"members": [{"name": "x"}]}, "members[0].kubeconfig: is required"),
        ({"members": [{"name": "x", "kubeconfig": "k", "ipam": "auto"}]},
         "members[0].ipam: must be managed or observe, got 'auto'"),
        ({"members": "x"}, "members: must be a list"),
        ({"pools": [{"name": "p", "site": "s", "addresses": ["10.0.0.9-10.0.0.1"]}]},
         'pools[0]: pool "p": addresses[0]'),
        ({"colour": "blue"}, "colour: unknown field"),
        ({"api": {"certFile": "/c.pem"}}, "api.keyFile: is required with api.certFile"),
        ({"api": {"keyFile": "/k.pem"}}, "api.certFile: is required with api.keyFile"),
        ({"api": {"certFile": "/nonexistent/c.pem", "keyFile": "/nonexistent/k.pem"}},
         "api.certFile: cannot load '/nonexistent/c.pem' with key '/nonexistent/k.pem': "),
        ({"dns": {"workers": -1}}, "dns.workers: must be an integer 0..64, got -1"),
        ({"dns": {"workers": True}}, "dns.workers: must be an integer 0..64, got True"),
        ({"store": "memory://", "dns": {"workers": 1}},
         "dns.workers: must be 0 with a memory:// store"),
        ({"api": {"eventTTL": "1h"}},
         "api.eventTTL: must be an integer number of seconds 0..31536000"),
        ({"dns": {"tcp": {"connections": 0}}}, "dns.tcp.connections: must be an integer "
                                               "1..65536, got 0"),
        ({"dns": {"tcp": {"connections": 8, "perClient": 9}}},
         "dns.tcp.perClient: must be at most dns.tcp.connections (8), got 9"),
        ({"dns": {"tcp": {"idleTimeout": 2, "busyIdleTimeout": 3}}},
         "dns.tcp.busyIdleTimeout: must be at most dns.tcp.idleTimeout (2), got 3"),
        ({"dns": {"tcp": {"idle": 2}}}, "dns.tcp.idle: unknown field"),
        ({"dns": {"leaseTTL": {"min": 600, "max": 60}}},
         "dns.leaseTTL.min: must be at most dns.leaseTTL.max (60), got 600"),
        ({"dns": {"leaseTTL": {"max": "1d"}}}, "dns.leaseTTL.max: must be an integer "),
    ],
    ids=["no-federation", "bad-domain", "bad-store-scheme", "bad-store-endpoint", "ttl-string",
         "listen-hostname", "site-host-bits", "api-unknown", "member-no-kubeconfig",
         "member-bad-ipam", "members-not-list", "pool-reversed", "unknown-top",
         "cert-without-key", "key-without-cert", "cert-missing", "workers-negative",
         "workers-bool", "workers-memory", "event-ttl-string", "tcp-zero",
         "tcp-per-client-above-all", "tcp-busy-above-idle", "tcp-unknown", "lease-min-above-max",
         "lease-max-string"],
)
def test_each_wrong_field_is_one_line(change, line):
    with pytest.raises(config.ConfigError) as err:
        config.parse({**GOOD, **change}, "fedns.yaml")
    assert any(p.startswith(line) for p in err.value.problems), err.value.problems
    assert all("\n" not in p for p in err.value.problems)


def test_every_problem_is_reported_at_once():
    with pytest.raises(config.ConfigError) as err:
        config.parse({"federation": "F_", "domain": "", "dns": {"ttl": -1}}, "c.yaml")
    assert len(err.value.problems) == 3
    assert str(err.value).splitlines()[0].startswith("c.yaml: federation:")


def test_load_reports_yaml_errors_with_a_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("federation: f\ndomain: [unclosed\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(str(path))
    assert "line 3" in str(err.value) or "line 2" in str(err.value)
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(str(tmp_path / "missing.yaml"))


def test_api_certificate_and_key_make_an_https_context(tmp_path):
    cert = tls.self_signed("fedns-api")
    (tmp_path / "c.pem").write_bytes(cert.cert_pem)
    (tmp_path / "k.pem").write_bytes(cert.key_pem)
    s = config.parse({**GOOD, "api": {"certFile": str(tmp_path / "c.pem"),
                                      "keyFile": str(tmp_path / "k.pem")}})
    assert s.api.ssl_context() is not None
    assert config.parse(GOOD).api.ssl_context() is None, "no certificate: plain HTTP"
    # a key that does not belong to the certificate is one line too
    (tmp_path / "other.pem").write_bytes(tls.self_signed("other").key_pem)
    with pytest.raises(config.ConfigError) as err:
        config.parse({**GOOD, "api": {"certFile": str(tmp_path / "c.pem"),
                                      "keyFile": str(tmp_path / "other.pem")}})
    assert err.value.problems[0].startswith("api.certFile: cannot load")
    assert len(err.value.problems) == 1 and "\n" not in err.value.problems[0]
