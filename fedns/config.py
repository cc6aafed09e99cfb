"""The config file (YAML) as grouped, validated settings dataclasses.

``load(path)`` reads and validates the whole file and raises :class:`ConfigError`
carrying one line per wrong field (``members[1].ipam: must be managed or observe,
got 'auto'``), so a user fixes everything in one pass and nothing starts
half-configured.  Field names follow DESIGN.md's external interface.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import ssl
from collections.abc import Callable
from typing import Any

from fedns import errors, safeload
from fedns import store as store_urls
from fedns.dnsserver import settings as dns_settings
from fedns.members import member
from ipam import pool as ipam_pool

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class ConfigError(errors.UsageError):
    """The config file is not valid."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


@dataclasses.dataclass(frozen=True)
class DNSSettings:
    listen: str = "127.0.0.1:5353"
    ttl: int = 30
    sites: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # site -> subnets
    # processes of their own serving DNS (fedns.dnsserver.workers); 0: in fedns's own
    workers: int = 0
    # TCP connections of a DNS process, in all and per client, and the seconds one may
    # wait for its next query (busy: while half the slots are taken) (dns.tcp); a record
    # on a Store lease answers with the lease's time left, clamped (dns.leaseTTL): the
    # DNS server's own defaults
    tcp_connections: int = dns_settings.Settings.tcp_connections
    tcp_per_client: int = dns_settings.Settings.tcp_per_client
    tcp_idle_timeout: float = dns_settings.Settings.tcp_idle_timeout
    tcp_busy_idle_timeout: float = dns_settings.Settings.tcp_busy_idle_timeout
    lease_min_ttl: int = dns_settings.Settings.lease_min_ttl
    lease_max_ttl: int = dns_settings.Settings.lease_max_ttl


@dataclasses.dataclass(frozen=True)
class APISettings:
    listen: str = "127.0.0.1:8443"
    token: str = ""
    cert_file: str = ""  # PEM certificate (chain) and its key: the API serves HTTPS
    key_file: str = ""
    # seconds the endpoint keeps an Event after its last write (kube-apiserver's
    # --event-ttl, 1 h); 0 keeps them for ever
    event_ttl: int = 3600

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context, None for plain HTTP; OSError or ssl.SSLError when
        the files cannot be loaded."""
        if not self.cert_file:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclasses.dataclass(frozen=True)
class Settings:
    federation: str
    domain: str
    store: str = store_urls.DEFAULT_URL
    dns: DNSSettings = dataclasses.field(default_factory=DNSSettings)
    api: APISettings = dataclasses.field(default_factory=APISettings)
    members: tuple[member.MemberSpec, ...] = ()
    pools: tuple[ipam_pool.Pool, ...] = ()


def split_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` too) → (addr, port); ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{text!r} is not ADDR:PORT")
    ipaddress.ip_address(host)
    return host, int(port)


class _Checker:
    """Collects problems; each getter returns a usable default after a problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, problem: str) -> None:
        self.problems.append(f"{where}: {problem}")

    def mapping(self, where: str, value: Any, known: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in known:
                self.fail(f"{where}.{key}" if where else str(key),
                          "unknown field (expected one of " + ", ".join(sorted(known)) + ")")
        return value

    def number(self, where: str, value: Any, default: float, low: float, high: float,
               integer: bool = True) -> Any:
        """``value`` when it is a number (an integer with ``integer``) in low..high,
        else ``default`` and a problem naming ``where``."""
        if value is None:
            return default
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            what = "an integer" if integer else "a number"
            self.fail(where, f"must be {what} {low:g}..{high:g}, got {value!r}")
            return default
        return value

    def string(self, where: str, value: Any, default: str = "", required: bool = False,
               check: Callable[[str], str | None] | None = None) -> str:
        if value is None:
            if required:
                self.fail(where, "is required")
            return default
        if not isinstance(value, str) or (required and not value):
            self.fail(where, f"must be a non-empty string, got {value!r}")
            return default
        if check is not None and (problem := check(value)):
            self.fail(where, problem)
            return default
        return value


def _dns_name(value: str) -> str | None:
    labels = value.rstrip(".").lower().split(".")
    if not all(_LABEL.match(label) for label in labels):
        return f"{value!r} is not a DNS name of lowercase letters, digits and '-'"
    return None


def _dns_label(value: str) -> str | None:
    return None if _LABEL.match(value) else f"{value!r} is not a DNS label"


def _listen(value: str) -> str | None:
    try:
        split_listen(value)
    except ValueError:
        return f"{value!r} is not ADDR:PORT with an IP address"
    return None


def _store(value: str) -> str | None:
    if value.startswith("memory://"):
        return None
    if value.startswith("etcd://"):
        try:
            store_urls.parse_endpoints(value)
        except errors.FednsError as err:
            return str(err)
        return None
    return f"{value!r}: expected memory:// or etcd://host:port[,host:port...]"


def parse(document: Any, path: str = "config") -> Settings:
    """Validate a loaded YAML document into Settings, or raise ConfigError."""
    c = _Checker()
    top = c.mapping("", document, {"federation", "domain", "store", "dns", "api",
                                   "members", "pools"})
    if document is not None and not isinstance(document, dict):
        raise ConfigError(path, ["the file must hold a YAML mapping"])
    federation = c.string("federation", top.get("federation"), "", True, _dns_label)
    domain = c.string("domain", top.get("domain"), "", True, _dns_name).rstrip(".").lower()
    store_url = c.string("store", top.get("store"), store_urls.DEFAULT_URL, check=_store)

    dns_doc = c.mapping("dns", top.get("dns"), {"listen", "ttl", "sites", "workers", "tcp",
                                                "leaseTTL"})
    ttl = dns_doc.get("ttl", 30)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 86400:
        c.fail("dns.ttl", f"must be an integer number of seconds 1..86400, got {ttl!r}")
        ttl = 30
    sites: dict[str, list[str]] = {}
    raw_sites = dns_doc.get("sites") or {}
    if not isinstance(raw_sites, dict):
        c.fail("dns.sites", "must be a mapping of site to a list of subnets")
        raw_sites = {}
    for site, subnets in raw_sites.items():
        where = f"dns.sites.{site}"
        if not isinstance(subnets, list):
            c.fail(where, "must be a list of subnets (CIDRs)")
            continue
        good = []
        for i, subnet in enumerate(subnets):
            try:
                good.append(str(ipaddress.ip_network(str(subnet), strict=True)))
            except ValueError as err:
                c.fail(f"{where}[{i}]", f"{subnet!r} is not a subnet: {err}")
        sites[str(site)] = good
    # an etcd Store can be watched from other processes: by default one serves DNS
    memory = store_url.startswith("memory://")
    workers = dns_doc.get("workers", 0 if memory else 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 0 <= workers <= 64:
        c.fail("dns.workers", f"must be an integer 0..64, got {workers!r}")
        workers = 0
    elif workers and memory:
        c.fail("dns.workers", f"must be 0 with a memory:// store (it lives in the fedns "
               f"process; other processes cannot watch it), got {workers}")
        workers = 0
    tcp = c.mapping("dns.tcp", dns_doc.get("tcp"), {"connections", "perClient",
                                                    "idleTimeout", "busyIdleTimeout"})
    connections = c.number("dns.tcp.connections", tcp.get("connections"),
                           DNSSettings.tcp_connections, 1, 65536)
    per_client = c.number("dns.tcp.perClient", tcp.get("perClient"),
                          DNSSettings.tcp_per_client, 1, 65536)
    if per_client > connections:
        c.fail("dns.tcp.perClient", f"must be at most dns.tcp.connections ({connections}), "
               f"got {per_client}")
    idle = c.number("dns.tcp.idleTimeout", tcp.get("idleTimeout"),
                    DNSSettings.tcp_idle_timeout, 0.1, 3600, integer=False)
    busy = c.number("dns.tcp.busyIdleTimeout", tcp.get("busyIdleTimeout"),
                    min(idle, DNSSettings.tcp_busy_idle_timeout), 0.1, 3600, integer=False)
    if busy > idle:
        c.fail("dns.tcp.busyIdleTimeout", f"must be at most dns.tcp.idleTimeout ({idle:g}), "
               f"got {busy:g}")
    lease = c.mapping("dns.leaseTTL", dns_doc.get("leaseTTL"), {"min", "max"})
    lease_min = c.number("dns.leaseTTL.min", lease.get("min"), DNSSettings.lease_min_ttl,
                         1, 86_400)
    lease_max = c.number("dns.leaseTTL.max", lease.get("max"), DNSSettings.lease_max_ttl,
                         1, 2_147_483_647)
    if lease_min > lease_max:
        c.fail("dns.leaseTTL.min", f"must be at most dns.leaseTTL.max ({lease_max}), "
               f"got {lease_min}")
    dns = DNSSettings(
        listen=c.string("dns.listen", dns_doc.get("listen"), DNSSettings.listen, check=_listen),
        ttl=ttl, sites=sites, workers=workers, tcp_connections=connections,
        tcp_per_client=per_client, tcp_idle_timeout=float(idle),
        tcp_busy_idle_timeout=float(busy), lease_min_ttl=lease_min, lease_max_ttl=lease_max)

    api_doc = c.mapping("api", top.get("api"), {"listen", "token", "certFile", "keyFile",
                                                "eventTTL"})
    event_ttl = api_doc.get("eventTTL", APISettings.event_ttl)
    if not isinstance(event_ttl, int) or isinstance(event_ttl, bool) or \
            not 0 <= event_ttl <= 31536000:
        c.fail("api.eventTTL", "must be an integer number of seconds 0..31536000 (0: "
               f"Events never expire), got {event_ttl!r}")
        event_ttl = APISettings.event_ttl
    api = APISettings(event_ttl=event_ttl,
        listen=c.string("api.listen", api_doc.get("listen"), APISettings.listen, check=_listen),
        token=c.string("api.token", api_doc.get("token"), ""),
        cert_file=c.string("api.certFile", api_doc.get("certFile"), ""),
        key_file=c.string("api.keyFile", api_doc.get("keyFile"), ""))
    if bool(api.cert_file) != bool(api.key_file):
        missing = "api.keyFile" if api.cert_file else "api.certFile"
        c.fail(missing, "is required with " + ("api.certFile" if api.cert_file
                                               else "api.keyFile"))
    elif api.cert_file:
        try:
            api.ssl_context()
        except (OSError, ssl.SSLError) as err:
            c.fail("api.certFile", f"cannot load {api.cert_file!r} with key {api.key_file!r}:"
                   f" {str(err).splitlines()[0] if str(err) else type(err).__name__}")

    members: list[member.MemberSpec] = []
    raw_members = top.get("members") or []
    if not isinstance(raw_members, list):
        c.fail("members", "must be a list")
        raw_members = []
    names: set[str] = set()
    for i, raw in enumerate(raw_members):
        where = f"members[{i}]"
        m = c.mapping(where, raw, {"name", "kubeconfig", "context", "site", "region", "zone",
                                   "ipam"})
        name = c.string(f"{where}.name", m.get("name"), "", True, _dns_label)
        if name in names:
            c.fail(f"{where}.name", f"{name!r} is used by another member")
        names.add(name)
        mode = m.get("ipam", "managed")
        if mode not in ("managed", "observe"):
            c.fail(f"{where}.ipam", f"must be managed or observe, got {mode!r}")
            mode = "managed"
        members.append(member.MemberSpec(
            name=name,
            kubeconfig=c.string(f"{where}.kubeconfig", m.get("kubeconfig"), "", True),
            context=c.string(f"{where}.context", m.get("context")),
            site=c.string(f"{where}.site", m.get("site"), check=_dns_label),
            region=c.string(f"{where}.region", m.get("region"), check=_dns_label),
            zone=c.string(f"{where}.zone", m.get("zone"), check=_dns_label),
            ipam=mode))

    pools: list[ipam_pool.Pool] = []
    raw_pools = top.get("pools") or []
    if not isinstance(raw_pools, list):
        c.fail("pools", "must be a list")
        raw_pools = []
    for i, raw in enumerate(raw_pools):
        try:
            pools.append(ipam_pool.from_dict(raw))
        except errors.FednsError as err:
            c.fail(f"pools[{i}]", str(err))
    if not c.problems:
        try:
            ipam_pool.validate_set(pools)
        except errors.FednsError as err:
            c.fail("pools", str(err))
    if c.problems:
        raise ConfigError(path, c.problems)
    return Settings(federation=federation, domain=domain, store=store_url, dns=dns, api=api,
                    members=tuple(members), pools=tuple(pools))


def check_api_auth(settings: Settings, path: str = "config") -> None:
    """Raise ConfigError unless writes to the API need credentials wherever it can be
    reached: an ``api.listen`` that is not a loopback address needs ``api.token``
    (the API has no other authentication).  ``fedns run`` checks this before it starts;
    reading a config for anything else (``fedns corefile render``) does not."""
    host, _ = split_listen(settings.api.listen)
    if settings.api.token or ipaddress.ip_address(host).is_loopback:
        return
    problem = (f"api.token: is required when api.listen ({settings.api.listen}) is not a "
               "loopback address: without it anyone who can reach the API can change pools")
    raise ConfigError(path, [problem])


def load(path: str) -> Settings:
    """Read and validate the config file at ``path`` (within :data:`fedns.safeload.FILES`'
    limits: 3 MiB, UTF-8, nesting, aliases, no repeated key)."""
    try:
        document = safeload.load_yaml(safeload.read_file(path), safeload.FILES)
    except OSError as err:
        raise ConfigError(path, [f"cannot read: {err.strerror or err}"]) from err
    except safeload.Refused as err:
        raise ConfigError(path, [str(err)]) from err
    return parse(document, path)
