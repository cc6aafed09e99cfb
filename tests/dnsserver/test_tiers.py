"""fedns_dns_nearest_answers_total counts global-name answers by the tier they came from,
cached answers included."""

from __future__ import annotations

import dns.asyncquery
import dns.edns
import dns.message
import pytest

from fedns.dnsserver import daemon, settings
from tests.dnsserver import helpers

SITES = (settings.Site.make("umich", "mw", "a", ["10.1.0.0/16"]),   # zone a has a copy
         settings.Site.make("lost", "mw", "z", ["10.2.0.0/16"]),    # zone z: region mw
         settings.Site.make("far", "east", "e", ["10.3.0.0/16"]))   # nothing near: all


def tiers(running) -> dict[str, float]:
    return {k.split('"')[1]: v for k, v in running.server.metrics().items()
            if k.startswith("fedns_dns_nearest_answers_total")}


@pytest.mark.parametrize("subnet, tier", [("10.1.0.0", "zone"), ("10.2.0.0", "region"),
                                          ("10.3.0.0", "all")], ids=["zone", "region", "all"])
async def test_answers_are_counted_by_tier(subnet, tier):
    config = settings.Settings(zones=(helpers.DOMAIN,), sites=SITES)
    async with helpers.memory_store() as store:
        await helpers.write_federation(store)
        async with daemon.running(store, config, "127.0.0.1:0") as running:
            port = running.address[1]
            ecs = dns.edns.ECSOption(subnet, 16)
            for _ in range(2):  # the second is a cache hit and counts too
                q = dns.message.make_query(helpers.GLOBAL, "A", use_edns=0, options=[ecs])
                reply = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=2)
                assert reply.answer
            counts = tiers(running)
    assert counts[tier] == 2
    assert sum(counts.values()) == 2
