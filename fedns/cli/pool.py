"""``fedns pool apply|list|show|drain|undrain|delete`` and ``fedns ip list``: IPAM from
the shell.

Every command works on the Store named by ``--store`` through ``manager.IPAM``, so
it obeys the same transactions as the controller: a pool change that would strand
live addresses is refused (exit 1) with the holders named; a bad pool file is one
line naming the pool and the field (exit 2) and nothing is written.  Counts are
exact integers (a /64 has 18446744073709551616 addresses).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from fedns.cli import store as store_command
from fedns.ipamstore import errors, manager
from fedns.store import base
from ipam import errors as ipam_errors
from ipam import pool, poolfile


def register(sub: argparse._SubParsersAction) -> None:
    pools = sub.add_parser("pool", help="manage the IP address pools of the sites")
    commands = pools.add_subparsers(title="pool commands", metavar="COMMAND")

    apply = commands.add_parser("apply", help="create or update pools from a YAML file")
    apply.add_argument("-f", "--filename", required=True, metavar="FILE",
                       help="YAML list of pool mappings (or one mapping), fedns.io IPPool "
                            "objects or MetalLB IPAddressPools; '-' reads stdin")
    apply.add_argument("--site", default="", metavar="SITE",
                       help="the site of MetalLB pools that have no fedns.io/site annotation")
    apply.add_argument("--dry-run", action="store_true",
                       help="check the file against the Store and say what would change; "
                            "write nothing")
    apply.set_defaults(func=_apply)

    listing = commands.add_parser("list", help="table of pools: capacity, used, free, state")
    add_output_option(listing)
    listing.set_defaults(func=_list)

    show = commands.add_parser("show", help="print one pool as YAML, with its counts")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(func=_show)

    drain = commands.add_parser(
        "drain", help="stop handing out addresses from a pool (holders keep theirs)")
    drain.add_argument("name", metavar="NAME")
    drain.set_defaults(func=_drain)

    undrain = commands.add_parser("undrain", help="hand out addresses from a drained pool again")
    undrain.add_argument("name", metavar="NAME")
    undrain.set_defaults(func=_undrain)

    delete = commands.add_parser(
        "delete", help="delete a pool (refused while it holds addresses, unless draining)")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=_delete)
    for parser in (apply, listing, show, drain, undrain, delete):
        store_command.add_store_option(parser)
    pools.set_defaults(func=lambda args: pools.print_help() or 2)

    ips = sub.add_parser("ip", help="show the external IPs IPAM has allocated")
    ip_commands = ips.add_subparsers(title="ip commands", metavar="COMMAND")
    ip_list = ip_commands.add_parser("list", help="each allocated address and its owner")
    ip_list.add_argument("--pool", metavar="POOL", help="only this pool")
    add_output_option(ip_list)
    store_command.add_store_option(ip_list)
    ip_list.set_defaults(func=_ip_list)
    ips.set_defaults(func=lambda args: ips.print_help() or 2)


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table",
                        help="print a table (default), or YAML or JSON for scripts")


def emit(output: str, document: Any, headers: Sequence[str],
         rows: Sequence[Sequence[str]]) -> None:
    """``document`` as YAML or JSON, or ``rows`` as a table."""
    if output == "json":
        print(json.dumps(document, indent=2))
    elif output == "yaml":
        print(dump_yaml(document), end="")
    else:
        print_table(headers, rows)


def read_pool_file(path: str, site: str = "") -> list[pool.Pool]:
    """The pools of a pool file (any format of ``ipam.poolfile``), validated: a bad
    file raises a UsageError with one line per problem, pools of one site that overlap
    each other a RefusedError (as in the Store).  Skipped documents are said on
    stderr."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as err:
        raise errors.PoolFileInvalid(f"{path}: {err.strerror or err}") from err
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise errors.PoolFileInvalid(f"{path}: {where}{problem}") from err
    try:
        found = poolfile.read(documents, site)
        pool.validate_set(found.pools)
    except poolfile.PoolFileProblems as err:
        raise errors.PoolFileInvalid("\n".join(f"{path}: {p}" for p in err.problems)) from err
    except ipam_errors.PoolDuplicate as err:  # a mistake in the file, not a refusal
        raise errors.PoolFileInvalid(f"{path}: {err}") from err
    for line in found.skipped:
        print(f"fedns: {path}: skipped {line}", file=sys.stderr)
    return found.pools


async def _open(args: argparse.Namespace) -> tuple[base.Store, manager.IPAM]:
    st = await store_command.open_shared(args.store)
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
    store_command.shared_url(args.store)  # no store to act on: say so before anything
    pools = read_pool_file(args.filename, args.site)  # bad file: no Store touched
    st, ipam = await _open(args)
    try:
        before = {p.name: p for p in ipam.pools()}
        if args.dry_run:
            # the set the Store would hold (overlaps are refused as the write would)
            pool.validate_set({**before, **{p.name: p for p in pools}}.values())
            changed = {p.name for p in pools if before.get(p.name) != p}
        else:
            changed = {p.name for p in await ipam.apply_pools(pools)}
    finally:
        await _close(st, ipam)
    for p in pools:
        verb = ("unchanged" if p.name not in changed
                else "configured" if p.name in before else "created")
        print(f"pool/{p.name} {verb}{' (dry run)' if args.dry_run else ''}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        usage = ipam.usage()
        pools = ipam.pools()
    finally:
        await _close(st, ipam)
    rows = [[u.site, u.pool, u.family_name, str(u.capacity), str(u.used), str(u.free),
             u.state.capitalize()] for u in usage]  # as the API shows it
    # exact counts as strings (an IPv6 /64 does not fit a JSON number safely)
    document = [{**pool.to_dict(p), "status": {
        u.family_name: {"capacity": str(u.capacity), "used": str(u.used), "free": str(u.free)}
        for u in usage if u.pool == p.name}} for p in pools]
    emit(args.output, document,
         ["SITE", "POOL", "FAMILY", "CAPACITY", "USED", "FREE", "STATE"], rows)
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
    print(f"# state: {'Draining' if found.draining else 'Active'}")
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


async def _undrain(args: argparse.Namespace) -> int:
    st, ipam = await _open(args)
    try:
        await ipam.undrain(args.name)
    finally:
        await _close(st, ipam)
    print(f"pool/{args.name} active")
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
    emit(args.output,
         [{"address": str(h.address), "pool": h.pool, "member": h.member,
           "namespace": h.namespace, "service": h.service, "uid": h.uid} for h in held],
         ["ADDRESS", "POOL", "MEMBER", "NAMESPACE/SERVICE", "UID"],
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

