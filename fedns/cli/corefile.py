"""``fedns corefile render|check``: Corefiles for the federation zone, from the config file.

``render`` turns the config (and a few options the config has no field for: etcd TLS
files and credentials, the listening port) into :class:`corefile.render.Zone` or,
with ``--member``, :class:`corefile.render.Stub`, and prints the text.  ``check``
prints one ``FILE:LINE: message`` line per problem and exits 1 when there is any,
else prints ``ok``.  Unreadable input or a bad config exits 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from corefile import check as corefile_check
from corefile import render
from fedns import config, errors
from fedns import store as store_urls

EXIT_OK, EXIT_PROBLEMS = 0, 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("corefile", help="render and check CoreDNS Corefiles for the zone")
    commands = parser.add_subparsers(title="corefile commands", metavar="COMMAND")

    r = commands.add_parser(
        "render", help="print the Corefile serving the zone from etcd, or a member's stub",
        description="Print the Corefile of a CoreDNS serving the federation domain from the "
                    "config's etcd store; with --member, the server block the member's own "
                    "CoreDNS adds to forward the domain to the federation's DNS addresses.")
    r.add_argument("--config", required=True, metavar="FILE", help="the fedns config file")
    r.add_argument("--member", metavar="NAME",
                   help="render the member-side stub for this member of the config")
    r.add_argument("--dns-address", action="append", default=[], metavar="IP[:PORT]",
                   help="with --member: a federation DNS address to forward to, repeatable "
                        "(default: dns.listen, when it is an address a member can reach)")
    r.add_argument("--port", type=int, default=53,
                   help="the port CoreDNS listens on (default %(default)s)")
    r.add_argument("--etcd-tls", nargs=3, metavar=("CERT", "KEY", "CACERT"),
                   help="client certificate, key and CA files for etcd (https:// endpoints)")
    r.add_argument("--etcd-credentials", nargs=2, metavar=("USER", "PASSWORD"),
                   help="etcd user and password (e.g. '{$ETCD_USER}' '{$ETCD_PASSWORD}' "
                        "to read them from CoreDNS's environment)")
    r.add_argument("--fallthrough", action="store_true",
                   help="pass names the etcd plugin has no record for to the next plugin")
    r.set_defaults(func=_render)

    c = commands.add_parser(
        "check", help="report problems of a Corefile, one FILE:LINE: line each",
        description="Check a Corefile: unbalanced braces, unknown plugins, the etcd block's "
                    "properties and endpoint, and (with --domain or --config) zones outside "
                    "the federation domain.  Exit 1 when there are problems.")
    c.add_argument("file", metavar="FILE", help="the Corefile ('-' for standard input)")
    source = c.add_mutually_exclusive_group()
    source.add_argument("--domain", help="the federation domain zones must be in")
    source.add_argument("--config", metavar="FILE", help="take the domain from this config")
    c.set_defaults(func=_check)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def zone_settings(settings: config.Settings, *, port: int = 53,
                  tls: tuple[str, ...] = (), credentials: tuple[str, str] | None = None,
                  fallthrough: bool = False) -> render.Zone:
    """The appliance-side Corefile's settings from the config's domain, store and TTL."""
    if not settings.store.startswith("etcd://"):
        raise render.RenderError(
            f"store {settings.store!r}: CoreDNS reads the zone from etcd, "
            "so the config's store must be etcd://HOST:PORT[,HOST:PORT...]")
    endpoints = tuple(render.endpoint_url(host, port_, tls=bool(tls))
                      for host, port_ in store_urls.parse_endpoints(settings.store))
    return render.Zone(domain=settings.domain, endpoints=endpoints, ttl=settings.dns.ttl,
                       port=port, tls=tls, credentials=credentials, fallthrough=fallthrough,
                       federation=settings.federation)


def stub_settings(settings: config.Settings, member: str, addresses: list[str],
                  port: int = 53) -> render.Stub:
    """The member-side stub's settings; the addresses default to a reachable dns.listen."""
    if member not in {m.name for m in settings.members}:
        names = ", ".join(m.name for m in settings.members) or "none"
        raise errors.UsageError(f"--member {member!r} is not a member of the config "
                                f"(members: {names})")
    if not addresses:
        host, dns_port = config.split_listen(settings.dns.listen)
        ip = ipaddress.ip_address(host)
        if ip.is_unspecified or ip.is_loopback:
            raise errors.UsageError(
                f"dns.listen {settings.dns.listen} is not an address member clusters can "
                "reach: pass --dns-address with the federation DNS Service's external IP")
        addresses = [f"[{ip}]:{dns_port}" if ip.version == 6 else f"{ip}:{dns_port}"]
    return render.Stub(domain=settings.domain, addresses=tuple(addresses),
                       ttl=settings.dns.ttl, port=port, member=member)


def _render(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if args.member is None:
        if args.dns_address:
            raise errors.UsageError("--dns-address goes with --member")
        zone = zone_settings(settings, port=args.port, tls=tuple(args.etcd_tls or ()),
                             credentials=tuple(args.etcd_credentials)  # type: ignore[arg-type]
                             if args.etcd_credentials else None,
                             fallthrough=args.fallthrough)
        sys.stdout.write(render.render_zone(zone))
    else:
        if args.etcd_tls or args.etcd_credentials or args.fallthrough:
            raise errors.UsageError("--etcd-tls, --etcd-credentials and --fallthrough are "
                                    "for the zone's Corefile, not a member's stub")
        stub = stub_settings(settings, args.member, args.dns_address, port=args.port)
        sys.stdout.write(render.render_stub(stub))
    return EXIT_OK


class UnreadableCorefile(errors.UsageError):
    """The Corefile cannot be read."""


def read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise UnreadableCorefile(f"{path}: cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise UnreadableCorefile(f"{path}: not UTF-8 text") from err


def _check(args: argparse.Namespace) -> int:
    domain = args.domain
    if domain is not None and not domain.strip(". "):
        raise errors.UsageError(f"--domain {domain!r} is not a DNS name")
    if args.config:
        domain = config.load(args.config).domain
    text = read_text(args.file)
    name = "<stdin>" if args.file == "-" else args.file
    problems = corefile_check.check(text, domain)
    for problem in problems:
        print(problem.format(name))
    if problems:
        return EXIT_PROBLEMS
    print("ok")
    return EXIT_OK
