"""``fedns store ls|get``: read any Store key space, like etcdctl, for debugging.

Values print readably: UTF-8 text as is (JSON stays one line, as stored), other
bytes as a Python bytes literal.  Nothing here writes.
"""

from __future__ import annotations

import argparse
import os

from fedns import errors, store
from fedns.store import base


class NoSharedStore(errors.UsageError):
    """The command needs a Store that a running appliance uses too."""


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store URL`` as every command that reads or changes a Store takes it."""
    parser.add_argument(
        "--store",
        default=os.environ.get("FEDNS_STORE", ""),
        metavar="URL",
        help="the appliance's store: etcd://host:port[,host:port...] (default: $FEDNS_STORE)",
    )


def shared_url(url: str) -> str:
    """``url``, if it names a Store another process can see: a memory:// store would be
    new, empty and gone when the command exits, so acting on it is refused."""
    if not url:
        raise NoSharedStore(
            "no store named: give the appliance's store with --store etcd://HOST:PORT "
            "(or set $FEDNS_STORE); a demo keeps its state in its own memory, reached "
            "through its API: fedns status --api http://127.0.0.1:8080")
    if url.split("://", 1)[0] == "memory":
        raise NoSharedStore(
            f"--store {url}: a memory:// store belongs to the one process that opens it, so "
            "this command would see an empty store and its changes would be lost; give "
            "the appliance's etcd (--store etcd://HOST:PORT or $FEDNS_STORE), or reach a "
            "demo through its API: fedns status --api http://127.0.0.1:8080")
    return url


async def open_shared(url: str) -> base.Store:
    """Open the Store an appliance shares with this command (see ``shared_url``)."""
    return await store.open_store(shared_url(url))


def readable(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(data)
    return text if text.isprintable() else repr(data)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("store", help="read keys of a Store (debugging)")
    commands = parser.add_subparsers(title="store commands", metavar="COMMAND")

    ls = commands.add_parser("ls", help="list the keys under a prefix")
    ls.add_argument("prefix", metavar="PREFIX", help="key prefix, e.g. /skydns/ ('/' for all)")
    ls.add_argument("-l", "--long", action="store_true",
                    help="also print mod_revision, version, lease and value")
    add_store_option(ls)
    ls.set_defaults(func=_ls)

    get = commands.add_parser("get", help="print the value of one key")
    get.add_argument("key", metavar="KEY")
    get.add_argument("-l", "--long", action="store_true",
                     help="also print create/mod revision, version and lease")
    add_store_option(get)
    get.set_defaults(func=_get)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


async def _open(args: argparse.Namespace) -> base.Store:
    return await open_shared(args.store)


async def _ls(args: argparse.Namespace) -> int:
    async with await _open(args) as st:
        result = await st.range(args.prefix.encode())
    for kv in result.kvs:
        if args.long:
            lease = f"{kv.lease:x}" if kv.lease else "-"
            print(f"{readable(kv.key)}\trev={kv.mod_revision}\tver={kv.version}"
                  f"\tlease={lease}\t{readable(kv.value)}")
        else:
            print(readable(kv.key))
    return 0


async def _get(args: argparse.Namespace) -> int:
    async with await _open(args) as st:
        kv = await st.get(args.key.encode())
    if kv is None:
        raise KeyNotFound(f"key {args.key!r} not found in {args.store}")
    if args.long:
        lease = f"{kv.lease:x}" if kv.lease else "-"
        print(f"key: {readable(kv.key)}\ncreate_revision: {kv.create_revision}\n"
              f"mod_revision: {kv.mod_revision}\nversion: {kv.version}\nlease: {lease}")
    print(readable(kv.value))
    return 0


class KeyNotFound(base.StoreError):
    """The key does not exist."""
