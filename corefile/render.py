"""Render Corefiles: the federation zone served by CoreDNS from etcd, and a member's stub.

``render_zone(Zone(...))`` is the Corefile of a CoreDNS that serves the federation
domain from the same etcd fedns writes (the *etcd* plugin reading ``/skydns``), with
the plugins an operator expects around it: errors, health, ready, prometheus, a
cache never longer than the records' TTL, loop, reload and loadbalance.

``render_stub(Stub(...))`` is the server block a member cluster adds to its own
CoreDNS so that its pods resolve the federation domain: the domain forwarded to the
federation's DNS addresses, cached no longer than the TTL.  It replaces kube-dns's
``stubDomains`` and the old *federation* plugin.

Both are pure: settings in, text out.  Where the settings come from (the config
file, command-line options) is :mod:`fedns.corefile_command`'s business.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from corefile import syntax
from fedns import errors

HEALTH = ":8080"
READY = ":8181"
METRICS = ":9153"
LAMEDUCK = "5s"  # keep answering while a rolling update moves clients away
DEFAULT_PATH = "/skydns"


class RenderError(errors.UsageError):
    """The Corefile cannot be rendered from these settings."""


@dataclasses.dataclass(frozen=True)
class Zone:
    """The federation zone as CoreDNS serves it from etcd."""

    domain: str
    endpoints: tuple[str, ...]  # etcd client URLs, as endpoint_url() writes them
    ttl: int = 30  # the records' TTL: the cache never keeps an answer longer
    port: int = 53
    path: str = DEFAULT_PATH
    tls: tuple[str, ...] = ()  # () or (CERT, KEY, CACERT)
    credentials: tuple[str, str] | None = None  # (USER, PASSWORD)
    fallthrough: bool = False
    federation: str = ""  # named in the header comment only


@dataclasses.dataclass(frozen=True)
class Stub:
    """The federation domain as a member's CoreDNS forwards it."""

    domain: str
    addresses: tuple[str, ...]  # the federation's DNS servers: IP or IP:PORT
    ttl: int = 30
    port: int = 53
    member: str = ""  # named in the header comment only


def endpoint_url(host: str, port: int, tls: bool = False) -> str:
    """An etcd client URL for the *etcd* plugin's ``endpoint``: ``http://HOST:PORT``."""
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


def forward_address(text: str) -> str:
    """``IP`` or ``IP:PORT`` as *forward* takes it: IPv4 without port 53, IPv6 ``[V6]:PORT``.

    Raises RenderError for anything but an IP address with an optional port."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise RenderError(f"DNS address {text!r} is not IP or IP:PORT")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise RenderError(f"DNS address {text!r} is not IP or IP:PORT")
        port = int(port_text)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as err:
        raise RenderError(f"DNS address {text!r} is not IP or IP:PORT") from err
    if not 0 < port < 65536:
        raise RenderError(f"DNS address {text!r}: port {port} is out of range")
    if ip.version == 6:
        return f"[{ip}]:{port}"  # as forward's own examples write IPv6: never ambiguous
    return str(ip) if port == 53 else f"{ip}:{port}"


def _domain(domain: str) -> str:
    name = domain.strip().lower().rstrip(".")
    if not name or any(c.isspace() or c in '{}#"' for c in name):
        raise RenderError(f"domain {domain!r} is not a DNS name")
    return name


def _check_common(ttl: int, port: int) -> None:
    if not 1 <= ttl <= 86400:
        raise RenderError(f"TTL {ttl} is not 1..86400 seconds")
    if not 0 < port < 65536:
        raise RenderError(f"port {port} is out of range")


def _tokens(*values: str) -> str:
    try:
        return " ".join(syntax.quote(v) for v in values)
    except ValueError as err:
        raise RenderError(str(err)) from err


def render_zone(zone: Zone) -> str:
    """The Corefile serving ``zone.domain`` from etcd."""
    domain = _domain(zone.domain)
    _check_common(zone.ttl, zone.port)
    if not zone.endpoints:
        raise RenderError("no etcd endpoint: the store must be etcd://HOST:PORT[,HOST:PORT...]")
    if len(zone.tls) not in (0, 3):
        raise RenderError("etcd TLS needs three files: CERT KEY CACERT")
    if not zone.path.startswith("/"):
        raise RenderError(f"etcd path {zone.path!r} must start with '/'")
    about = f"federation {zone.federation}, " if zone.federation else ""
    etcd = [f"        path {_tokens(zone.path)}",
            f"        endpoint {_tokens(*zone.endpoints)}"]
    if zone.tls:
        etcd.append(f"        tls {_tokens(*zone.tls)}")
    if zone.credentials:
        etcd.append(f"        credentials {_tokens(*zone.credentials)}")
    if zone.fallthrough:
        etcd.append("        fallthrough")
    lines = [
        f"# {about}zone {domain}: CoreDNS serves the records fedns writes to etcd.",
        "# Rendered by `fedns corefile render`; change the fedns config, not this file.",
        f"{domain}:{zone.port} {{",
        "    errors",
        f"    health {HEALTH} {{",
        f"        lameduck {LAMEDUCK}",
        "    }",
        f"    ready {READY}",
        f"    prometheus {METRICS}",
        f"    etcd {domain} {{",
        *etcd,
        "    }",
        f"    cache {zone.ttl}",
        "    loop",
        "    reload",
        "    loadbalance",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_stub(stub: Stub) -> str:
    """The member-side server block forwarding ``stub.domain`` to the federation."""
    domain = _domain(stub.domain)
    _check_common(stub.ttl, stub.port)
    if not stub.addresses:
        raise RenderError("no federation DNS address to forward to")
    addresses = [forward_address(a) for a in stub.addresses]
    who = f"member {stub.member}" if stub.member else "a member cluster"
    lines = [
        f"# Federation zone {domain} for {who}: add this server block to the",
        "# member's CoreDNS Corefile (kube-system/coredns); rendered by `fedns corefile render`.",
        f"{domain}:{stub.port} {{",
        "    errors",
        f"    cache {stub.ttl}",
        f"    forward . {' '.join(addresses)}",
        "}",
    ]
    return "\n".join(lines) + "\n"
