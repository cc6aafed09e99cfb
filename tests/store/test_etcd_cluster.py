"""The etcd backend against a 3-member cluster: one member down is no outage."""

from __future__ import annotations

from fedns import store


async def test_write_succeeds_with_one_member_stopped(etcd3):
    s = await store.open_store(etcd3.url)
    try:
        await s.put(b"/ha/before", b"1")
        etcd3.members[0].stop()  # the first endpoint in the URL
        rev = await s.put(b"/ha/during", b"2")
        assert (await s.get(b"/ha/during")).mod_revision == rev
        assert [kv.key for kv in (await s.range(b"/ha/")).kvs] == [b"/ha/before", b"/ha/during"]
        etcd3.restart(etcd3.members[0])
        await s.put(b"/ha/after", b"3")
    finally:
        await s.close()
    # the restarted member caught up: read through it alone
    only = await store.open_store(f"etcd://{etcd3.members[0].endpoint}")
    try:
        keys = [kv.key for kv in (await only.range(b"/ha/")).kvs]
    finally:
        await only.close()
    assert keys == [b"/ha/after", b"/ha/before", b"/ha/during"]
