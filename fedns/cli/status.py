"""``fedns status``: members, pools and published services of a running appliance.

Reads the ``fedns.io/v1alpha1`` objects the leader publishes, through the appliance
API (any replica answers), and prints them as three tables.
"""

from __future__ import annotations

import argparse
import os
import ssl
from typing import Any

import aiohttp

from fedns import errors
from fedns.cli.pool import print_table

DEFAULT_API = "http://127.0.0.1:8080"


class APIUnreachable(errors.UsageError):
    """The appliance API cannot be reached."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="print members, pools and published services")
    parser.add_argument("--api", default=os.environ.get("FEDNS_API", DEFAULT_API), metavar="URL",
                        help="the appliance API (default: $FEDNS_API or %(default)s)")
    parser.add_argument("--ca", metavar="FILE", default="",
                        help="PEM certificate(s) to trust for an https:// API (default: the "
                             "system's)")
    parser.set_defaults(func=_status)


async def _items(session: aiohttp.ClientSession, api: str, plural: str) -> list[dict[str, Any]]:
    url = f"{api.rstrip('/')}/apis/fedns.io/v1alpha1/{plural}"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                raise APIUnreachable(f"{url}: HTTP {resp.status}")
            return list((await resp.json()).get("items") or [])
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        raise APIUnreachable(f"appliance API at {api} is unreachable: {err}") from err


def _tls(ca: str) -> ssl.SSLContext | bool:
    if not ca:
        return True  # aiohttp's default verification against the system's CAs
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as err:
        raise errors.UsageError(f"--ca {ca!r}: {str(err).splitlines()[0]}") from err


async def _status(args: argparse.Namespace) -> int:
    args.api = api_url(args.api)
    connector = aiohttp.TCPConnector(ssl=_tls(args.ca))
    async with aiohttp.ClientSession(connector=connector) as session:
        members = await _items(session, args.api, "members")
        pools = await _items(session, args.api, "ippools")
        services = await _items(session, args.api, "federatedservices")
    print("MEMBERS")
    print_table(["NAME", "SITE", "REGION", "ZONE", "HEALTH", "SERVICES", "LAST ERROR"], [
        [m["metadata"]["name"], m["spec"].get("site", ""), m["spec"].get("region", ""),
         m["spec"].get("zone", ""), "Ready" if m["status"].get("ready") else "NotReady",
         m["status"].get("services", 0), m["status"].get("lastError", "") or "-"]
        for m in members])
    print("\nPOOLS")
    print_table(["SITE", "POOL", "CAPACITY", "USED", "FREE", "STATE"], [
        [p["spec"].get("site", ""), p["metadata"]["name"], p["status"].get("capacity", ""),
         p["status"].get("used", ""), p["status"].get("free", ""), p["status"].get("state", "")]
        for p in pools])
    print("\nSERVICES")
    print_table(["NAMESPACE", "NAME", "MEMBERS", "HEALTHY", "ADDRESSES", "DNS NAME", "REFUSED"], [
        [s["metadata"]["namespace"], s["metadata"]["name"], s["status"].get("members", 0),
         s["status"].get("healthy", 0), s["status"].get("addresses", "") or "-",
         s["status"].get("dnsName", ""), _refusals(s["status"].get("byMember") or {})]
        for s in services])
    return 0


def _refusals(by_member: dict[str, Any]) -> str:
    """``member: why`` for each copy refused an address, or ``-``."""
    found = [f"{member}: {entry['refused']}" for member, entry in sorted(by_member.items())
             if isinstance(entry, dict) and entry.get("refused")]
    return "; ".join(found) or "-"


def api_url(text: str) -> str:
    """``--api`` as given; ``HOST:PORT`` alone means ``http://HOST:PORT``."""
    url = text if "://" in text else f"http://{text}"
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise errors.UsageError(f"--api {text!r}: expected http(s)://HOST:PORT or HOST:PORT")
    return url
