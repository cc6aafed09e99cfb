"""``fedns pool apply|list|show|drain|delete`` and ``fedns ip list``: IPAM from the shell.

Every command works on the Store named by ``--store`` through ``manager.IPAM``, so
it obeys the same transactions as the controller: a pool change that would strand
live addresses is refused (exit 1) with the holders named; a bad pool file is one
line naming the pool and the field (exit 2) and nothing is written.  Counts are
exact integers (a /64 has 18446744073709551616 addresses).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import yaml

from fedns import safeload, store
from fedns.ipamstore import errors, manager
from fedns.store import base
from fedns.store import command as store_command
from ipam import errors as ipam_errors
from ipam import pool


def register(sub: argparse._SubParsersAction) -> None:
    pools = sub.add_parser("pool", help="manage the IP address pools of the sites")
    commands = pools.add_subparsers(title="pool commands", metavar="COMMAND")

    apply = commands.add_parser("apply", help="create or update pools from a YAML file")
    apply.add_argument("-f", "--filename", required=True, metavar="FILE",
                       help="YAML list of pool mappings (or one mapping); '-' reads stdin")
    apply.set_defaults(func=_apply)

    listing = commands.add_parser("list", help="table of pools: capacity, used, free, state")
    listing.set_defaults(func=_list)

    show = commands.add_parser("show", help="print one pool as YAML, with its counts")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(func=_show)

    drain = commands.add_parser(
        "drain", help="stop handing out addresses from a pool (holders keep theirs)")
    drain.add_argument("name", metavar="NAME")
    drain.set_defaults(func=_drain)

    delete = commands.add_parser(
        "delete", help="delete a pool (refused while it holds addresses, unless draining)")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=_delete)
    for parser in (apply, listing, show, drain, delete):
        store_command.add_store_option(parser)
    pools.set_defaults(func=lambda args: pools.print_help() or 2)

    ips = sub.add_parser("ip", help="show the external IPs IPAM has allocated")
    ip_commands = ips.add_subparsers(title="ip commands", metavar="COMMAND")
    ip_list = ip_commands.add_parser("list", help="each allocated address and its owner")
    ip_list.add_argument("--pool", metavar="POOL", help="only this pool")
    store_command.add_store_option(ip_list)
    ip_list.set_defaults(func=_ip_list)
    ips.set_defaults(func=lambda args: ips.print_help() or 2)


def read_pool_file(path: str) -> list[pool.Pool]:
    """The pools of a pool file, validated: a bad file raises a one-line UsageError,
    pools of one site that overlap each other a RefusedError (as in the Store).  The
    file is read within :data:`fedns.safeload.FILES`' limits (3 MiB, UTF-8, nesting,
    aliases, no repeated key)."""
    try:
        document = safeload.load_yaml(safeload.read_file(path), safeload.FILES)
    except OSError as err:
        raise errors.PoolFileInvalid(f"{path}: {err.strerror or err}") from err
    except safeload.Refused as err:
        raise errors.PoolFileInvalid(f"{path}: {err}") from err
    if document is None:
        raise errors.PoolFileInvalid(f"{path}: no pools in the file")
    try:
        return pool.from_dicts(document)
    except ipam_errors.PoolDuplicate as err:  # a mistake in the file, not a refusal
        raise errors.PoolFileInvalid(str(err)) from err


async def _open(args: argparse.Namespace) -> tuple[base.Store, manager.IPAM]:
    st = await store.open_store(args.store)
    ipam = manager.IPAM(st, {})
    try:
        await ipam.start()
    except BaseException:
        await st.close()
        raise
    return st, ipam


async def _close(st: base.Store, ipam: manager.IPAM) -> None:
    await ipam.stop()
    await st.close()


async def _apply(args: argparse.Namespace) -> int:
    pools = read_pool_file(args.filename)  # before touching the Store: bad file, no write
    st, ipam = await _open(args)
    try:
        before = {p.name: p for p in ipam.pools()}
        changed = {p.name for p in await ipam.apply_pools(pools)}
    finally:
        await _close(st, ipam)
    for p in pools:
        verb = ("unchanged" if p.name not in changed
                else "configured" if p.name in before else "created")
        print(f"pool/{p.name} {verb}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        rows = [[u.site, u.pool, u.family_name, str(u.capacity), str(u.used), str(u.free),
                 u.state] for u in ipam.usage()]
    finally:
        await _close(st, ipam)
    print_table(["SITE", "POOL", "FAMILY", "CAPACITY", "USED", "FREE", "STATE"], rows)
    return 0


async def _show(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        found = next((p for p in ipam.pools() if p.name == args.name), None)
        if found is None:
            raise errors.PoolNotFound(f"{pool.describe(args.name)} not found")
        usage = [u for u in ipam.usage() if u.pool == args.name]
        held = ipam.allocations(args.name)
    finally:
        await _close(st, ipam)
    print(dump_yaml(pool.to_dict(found)), end="")
    # Counts as comments: the output stays a pool file that `pool apply -f` takes back.
    print(f"# state: {'draining' if found.draining else 'active'}")
    for u in usage:
        print(f"# {u.family_name}: capacity {u.capacity}, used {u.used}, free {u.free}")
    outside = [h for h in held if not found.contains(h.family, int(h.address))]
    print(f"# holders: {len(held)}"
          + (f" ({len(outside)} outside the pool's addresses)" if outside else ""))
    return 0


async def _drain(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        await ipam.drain(args.name)
        held = len(ipam.allocations(args.name))
    finally:
        await _close(st, ipam)
    print(f"pool/{args.name} draining ({held} address{'es' if held != 1 else ''} still held)")
    return 0


async def _delete(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        await ipam.delete_pool(args.name)
    finally:
        await _close(st, ipam)
    print(f"pool/{args.name} deleted")
    return 0


async def _ip_list(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        if args.pool is not None and args.pool not in {p.name for p in ipam.pools()} \
                and not ipam.allocations(args.pool):
            raise errors.PoolNotFound(f"{pool.describe(args.pool)} not found")
        held = ipam.allocations(args.pool)
    finally:
        await _close(st, ipam)
    print_table(["ADDRESS", "POOL", "MEMBER", "NAMESPACE/SERVICE", "UID"],
                [[str(h.address), h.pool, h.member, f"{h.namespace}/{h.service}", h.uid]
                 for h in held])
    return 0


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns left-aligned, three spaces apart, as kubectl prints them."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("   ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def dump_yaml(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None)

