"""corefile.check: every problem as the exact ``FILE:LINE: message`` line."""

from __future__ import annotations

import pytest

from corefile import check

KNOWN = "(expected one of credentials, endpoint, fallthrough, path, tls, upstream)"
ENV_ONLY = """\
{$ZONE} {
  etcd {
    endpoint {$ETCD_ENDPOINTS}
    credentials {$ETCD_USER} {$ETCD_PASSWORD}
  }
}
"""
GOOD = """\
example.com:53 {
    errors
    etcd example.com {
        path /skydns
        endpoint http://etcd:2379
    }
    cache 30
}
"""

CASES = [
    ("good", GOOD, "example.com", []),
    ("good-no-domain", GOOD, None, []),
    ("good-subzone", GOOD.replace("example.com", "fed.example.com"), "example.com", []),
    ("good-trailing-dots", GOOD.replace("example.com", "Example.COM."), "example.com.", []),
    ("good-env-placeholders",
     ENV_ONLY, "example.com", []),
    ("good-scheme-and-port", "dns://example.com:1053 {\n  whoami\n}\n", "example.com", []),
    ("good-snippet-and-import",
     "(common) {\n  errors\n}\nexample.com {\n  import common\n  whoami\n}\n",
     "example.com", []),
    ("unbalanced-open", GOOD.replace("    }\n", "", 1), "example.com",
     ["Corefile:1: '{' is never closed (a '}' is missing in this block)",
      f"Corefile:6: etcd: unknown property 'cache' {KNOWN}"]),
    ("unbalanced-close", GOOD + "}\n", "example.com",
     ["Corefile:9: '}' has no matching '{'"]),
    ("unknown-plugin", GOOD.replace("    errors\n", "    erors\n    proxy . 8.8.8.8\n"),
     "example.com",
     ["Corefile:2: unknown plugin 'erors'", "Corefile:3: unknown plugin 'proxy'"]),
    ("unknown-etcd-property", GOOD.replace("path /skydns", "pth /skydns\n        stubzones"),
     "example.com",
     [f"Corefile:4: etcd: unknown property 'pth' {KNOWN}",
      f"Corefile:5: etcd: unknown property 'stubzones' {KNOWN}"]),
    ("no-endpoint", GOOD.replace("        endpoint http://etcd:2379\n", ""), "example.com",
     ["Corefile:3: etcd: no endpoint (CoreDNS would use http://localhost:2379)"]),
    ("etcd-without-block", "example.com {\n  etcd\n}\n", "example.com",
     ["Corefile:2: etcd: no endpoint (CoreDNS would use http://localhost:2379)"]),
    ("endpoint-without-url", GOOD.replace("endpoint http://etcd:2379", "endpoint"),
     "example.com", ["Corefile:5: etcd: endpoint takes at least 1 argument, got 0"]),
    ("argument-counts",
     GOOD.replace("path /skydns", "path\n        credentials user\n        tls a b c d"),
     "example.com",
     ["Corefile:4: etcd: path takes 1 argument, got 0",
      "Corefile:5: etcd: credentials takes 2 arguments, got 1",
      "Corefile:6: etcd: tls takes 0 to 3 arguments, got 4"]),
    ("zone-outside", GOOD.replace("example.com:53", "example.org:53"), "example.com",
     ["Corefile:1: zone 'example.org' is outside the federation domain example.com"]),
    ("root-zone-outside", GOOD.replace("example.com:53", ".:53"), "example.com",
     ["Corefile:1: zone '.' is outside the federation domain example.com"]),
    ("suffix-is-not-subzone", GOOD.replace("example.com", "badexample.com"), "example.com",
     ["Corefile:1: zone 'badexample.com' is outside the federation domain example.com",
      "Corefile:3: zone 'badexample.com' is outside the federation domain example.com"]),
    ("etcd-zone-outside", GOOD.replace("etcd example.com", "etcd example.com 10.0.0.0/24"),
     "example.com",
     ["Corefile:3: zone '10.0.0.0/24' is outside the federation domain example.com"]),
    ("zone-outside-ignored-without-domain", GOOD.replace("example.com", "example.org"),
     None, []),
    ("comment-hides-brace", GOOD.replace("    errors\n", "    errors # } {\n"),
     "example.com", []),
    ("brace-on-next-line", GOOD.replace("etcd example.com {", "etcd example.com\n    {"),
     "example.com",
     ["Corefile:4: '{' must be on the line of 'etcd', the directive it opens"]),
    ("everything-at-once",
     "example.org {\n  etcd {\n    pth /x\n  }\n  forwardd . 1.2.3.4\n}\n}\n", "example.com",
     ["Corefile:1: zone 'example.org' is outside the federation domain example.com",
      "Corefile:2: etcd: no endpoint (CoreDNS would use http://localhost:2379)",
      f"Corefile:3: etcd: unknown property 'pth' {KNOWN}",
      "Corefile:5: unknown plugin 'forwardd'",
      "Corefile:7: '}' has no matching '{'"]),
]


@pytest.mark.parametrize("text, domain, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_check(text, domain, expected):
    assert [p.format("Corefile") for p in check.check(text, domain)] == expected


@pytest.mark.parametrize("key, zone", [
    ("example.com", "example.com"), ("Example.COM.:53", "example.com"), (".:53", ""),
    (".", ""), ("dns://a.example.com:1053", "a.example.com"), ("tls://example.com", "example.com"),
    ("example.com,", "example.com"), ("{$ZONE}", None), ("10.0.0.0/24", "10.0.0.0/24"),
], ids=["plain", "case-dot-port", "root-port", "root", "scheme-port", "tls-scheme", "comma",
        "env", "cidr"])
def test_zone_of(key, zone):
    assert check.zone_of(key) == zone


def test_plugin_list_has_what_the_renderer_uses():
    assert {"errors", "health", "ready", "prometheus", "etcd", "cache", "loop", "reload",
            "loadbalance", "forward"} <= check.PLUGINS
