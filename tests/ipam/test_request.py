"""Reading a Service into a Request: annotations, families, ports, bad input."""

from __future__ import annotations

import ipaddress

import pytest

from ipam import errors, request


def service(annotations=None, **spec):
    return {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                         "labels": {"tier": "web"}, "annotations": annotations or {}},
            "spec": {"type": "LoadBalancer", **spec}}


def test_from_service_reads_every_field():
    req = request.from_service("umich", service(
        {"metallb.io/address-pool": "public",
         "metallb.io/loadBalancerIPs": "192.0.2.5, 2001:db8::5",
         "metallb.io/allow-shared-ip": "dns"},
        loadBalancerIP="192.0.2.5", ipFamilyPolicy="PreferDualStack",
        ipFamilies=["IPv4", "IPv6"],
        ports=[{"port": 53, "protocol": "UDP"}, {"port": 53}]), {"team": "a"})
    assert (req.member, req.namespace, req.service, req.uid) == ("umich", "shop", "web", "u-1")
    assert req.owner == ("umich", "shop", "web", "u-1")
    assert (req.pool, req.sharing_key) == ("public", "dns")
    assert req.requested_ips == ("192.0.2.5", "2001:db8::5")
    assert req.ports == (("UDP", 53), ("TCP", 53))
    assert req.namespace_labels == {"team": "a"} and req.service_labels == {"tier": "web"}
    assert req.families == (4, 6)
    assert req.addresses == {4: ipaddress.ip_address("192.0.2.5"),
                             6: ipaddress.ip_address("2001:db8::5")}


def test_from_service_defaults_and_legacy_annotations():
    req = request.from_service("m", service({"metallb.universe.tf/address-pool": "old"}))
    assert (req.pool, req.sharing_key, req.requested_ips, req.ports) == ("old", "", (), ())
    assert (req.families, req.ip_family_policy) == ((4,), "SingleStack")


FAMILIES = [
    ("single-default", {}, (4,)),
    ("single-v6", {"ip_families": ("IPv6",)}, (6,)),
    ("single-ignores-second", {"ip_families": ("IPv6", "IPv4")}, (6,)),
    ("prefer-adds-other", {"ip_family_policy": "PreferDualStack"}, (4, 6)),
    ("require-order", {"ip_family_policy": "RequireDualStack",
                       "ip_families": ("IPv6", "IPv4")}, (6, 4)),
    ("prefer-requested-narrows", {"ip_family_policy": "PreferDualStack",
                                  "requested_ips": ("2001:db8::1",)}, (6,)),
    ("require-requested-keeps-both", {"ip_family_policy": "RequireDualStack",
                                      "requested_ips": ("2001:db8::1",)}, (4, 6)),
]


@pytest.mark.parametrize("fields, families", [c[1:] for c in FAMILIES], ids=[c[0] for c in FAMILIES])
def test_families(fields, families):
    assert request.Request("m", "ns", "web", **fields).families == families


BAD = [
    ("bad-ip", {"requested_ips": ("192.0.2.300",)},
     'service ns/web: requested IP: "192.0.2.300" is not a valid IP address'),
    ("cidr-as-ip", {"requested_ips": ("192.0.2.0/24",)},
     'service ns/web: requested IP: "192.0.2.0/24" is not a valid IP address'),
    ("two-v4", {"requested_ips": ("192.0.2.1", "192.0.2.2")},
     "service ns/web: requests two IPv4 addresses (192.0.2.1, 192.0.2.2); one per family"),
    ("family-mismatch", {"requested_ips": ("2001:db8::1",)},
     "service ns/web: requested IP 2001:db8::1 is IPv6 but the service is SingleStack IPv4"),
    ("bad-policy", {"ip_family_policy": "DualStack"},
     ('service ns/web: ipFamilyPolicy: "DualStack" is not one of SingleStack,'
     " PreferDualStack, RequireDualStack")),
    ("bad-family", {"ip_families": ("IPv5",)},
     'service ns/web: ipFamilies: ["IPv5"] must list IPv4 and/or IPv6 once each'),
    ("repeated-family", {"ip_families": ("IPv4", "IPv4")},
     'service ns/web: ipFamilies: ["IPv4", "IPv4"] must list IPv4 and/or IPv6 once each'),
    ("bad-protocol", {"ports": (("HTTP", 80),)},
     'service ns/web: ports[0]: ["HTTP", 80] is not a port (TCP/UDP/SCTP and 1-65535)'),
    ("bad-port", {"ports": (("TCP", 0),)},
     'service ns/web: ports[0]: ["TCP", 0] is not a port (TCP/UDP/SCTP and 1-65535)'),
]


@pytest.mark.parametrize("fields, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_request(fields, message):
    with pytest.raises(errors.RequestInvalid) as caught:
        request.Request("m", "ns", "web", **fields)
    assert str(caught.value) == message
