"""Shared by the DNS server tests: a sample federation, a running server, and two
real DNS clients (dnspython and dig) that report answers in one normal form."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import re
import shutil
import struct
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import yaml
from dnslib import DNSRecord

from fedns import store as store_mod
from fedns.dnsserver import answer, daemon, settings
from fedns.records import apply, desired
from placement import topology

DOMAIN = "example.com"
REF = desired.ServiceRef("myfed", "default", "hello")
GLOBAL = "hello.default.myfed.svc.example.com."
TOPOLOGY = [topology.Location("umich", "umich", "mw", "a"),
            topology.Location("msu", "msu", "mw", "b"),
            topology.Location("ucsd", "ucsd", "west", "c")]
HTTP = desired.NamedPort("http", "TCP", 80)
# Three members in two regions; ucsd is unhealthy.
STATES = [
    desired.MemberState("umich", ("192.0.2.10", "2001:db8::10"), True, (HTTP,)),
    desired.MemberState("msu", ("198.51.100.5",), True, (HTTP,)),
    desired.MemberState("ucsd", ("203.0.113.7",), False, (HTTP,)),
]


async def write_federation(store) -> None:
    """The sample federation's records, written by fedns.records."""
    await apply.apply(store, REF, desired.records(REF, DOMAIN, TOPOLOGY, STATES))


@contextlib.asynccontextmanager
async def serving(store, config: settings.Settings) -> AsyncIterator[int]:
    """A running server on a free loopback port; yields the port."""
    async with daemon.running(store, config, "127.0.0.1:0") as handle:
        yield handle.address[1]


@contextlib.asynccontextmanager
async def memory_store() -> AsyncIterator[object]:
    store = await store_mod.open_store("memory://")
    try:
        yield store
    finally:
        await store.close()


def long_query(octets: int, first: bytes = b"a", additional: bytes = b"") -> bytes:
    """An A query whose name is ``octets`` long on the wire: ``first``, then one-byte
    labels (as a dig user writes a name near the limit), then example.com; an
    ``additional`` record appended."""
    tail = b"\x07example\x03com\x00"
    rest = octets - len(tail) - 1 - len(first)
    label = b"\x01b" if rest % 2 == 0 else b"\x02bb"
    name = bytes((len(first),)) + first + label + b"\x01b" * ((rest - len(label)) // 2) + tail
    assert len(name) == octets
    header = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1 if additional else 0)
    return header + name + struct.pack("!HH", 1, 1) + additional


@dataclasses.dataclass(frozen=True)
class Query:
    name: str
    qtype: str = "A"
    tcp: bool = False
    edns: int | None = 1232  # None: no OPT record; else the advertised buffer size
    edns_version: int = 0
    ecs: str | None = None  # "addr/len"
    rd: bool = False
    opcode: str = "QUERY"
    no_question: bool = False


@dataclasses.dataclass
class Reply:
    rcode: str
    flags: set[str]
    answer: set[str]
    authority: set[str]
    additional: set[str]
    ecs: str | None  # "addr/source/scope" as dig prints it
    payload: int | None  # the OPT record's UDP payload size; None: no OPT


_SOA_SERIAL = re.compile(r"( SOA \S+ \S+ )\d+")


def normal(line: str) -> str:
    """One RR as text, SOA serial masked, whitespace collapsed."""
    return _SOA_SERIAL.sub(r"\1*", " ".join(line.split()))


def ask_answer(z, config, message: dns.message.Message, client=None) -> dns.message.Message:
    """``message`` answered by the pure :func:`fedns.dnsserver.answer.answer`, no server."""
    request = DNSRecord.parse(message.to_wire())
    reply = answer.answer(z, request, ipaddress.ip_address(client) if client else None, config)
    return dns.message.from_wire(bytes(reply.pack()))


def sections(response: dns.message.Message) -> tuple[str, set[str], set[str], set[str]]:
    """rcode and the answer, authority and additional sections in normal form."""
    def text(rrsets) -> set[str]:
        return {normal(line) for r in rrsets for line in r.to_text().splitlines()}
    return (dns.rcode.to_text(response.rcode()), text(response.answer), text(response.authority),
            text(response.additional))


async def ask_dnspython(port: int, q: Query) -> Reply:
    if q.no_question:
        message = dns.message.Message()
    else:
        message = dns.message.make_query(q.name, q.qtype, use_edns=False)
    message.flags = dns.flags.RD if q.rd else 0
    message.set_opcode(dns.opcode.from_text(q.opcode))
    if q.edns is not None:
        options = []
        if q.ecs:
            address, length = q.ecs.split("/")
            options.append(dns.edns.ECSOption(address, int(length)))
        message.use_edns(q.edns_version, payload=q.edns, options=options)
    if q.tcp:
        response = await dns.asyncquery.tcp(message, "127.0.0.1", port=port, timeout=5)
    else:
        response = await dns.asyncquery.udp(message, "127.0.0.1", port=port, timeout=5,
                                            ignore_trailing=False)
    ecs = None
    for option in response.options:
        if isinstance(option, dns.edns.ECSOption):
            ecs = f"{option.address}/{option.srclen}/{option.scopelen}"

    def section(rrsets) -> set[str]:
        return {normal(line) for rrset in rrsets for line in rrset.to_text().splitlines()}

    return Reply(
        rcode=dns.rcode.to_text(response.rcode()),
        flags={f.lower() for f in dns.flags.to_text(response.flags).split()},
        answer=section(response.answer), authority=section(response.authority),
        additional=section(response.additional), ecs=ecs,
        payload=response.payload if response.edns >= 0 else None,
    )


async def ask_dig(port: int, q: Query) -> Reply:
    dig = shutil.which("dig")
    assert dig, "dig is not installed (Debian dnsutils)"
    args = [dig, "@127.0.0.1", "-p", str(port), "+yaml", "+ignore", "+tries=1", "+time=5",
            "+rec" if q.rd else "+norec", "+noednsneg"]
    if q.no_question:
        args.append("+header-only")
    else:
        args += [q.name, q.qtype]
    args.append("+tcp" if q.tcp else "+notcp")
    if q.edns is None:
        args.append("+noedns")
    else:
        args += [f"+edns={q.edns_version}", f"+bufsize={q.edns}"]
        if q.ecs:
            args.append(f"+subnet={q.ecs}")
    if q.opcode != "QUERY":
        args.append(f"+opcode={q.opcode.lower()}")
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode() + out.decode()
    doc = yaml.safe_load(out)
    data = doc[0]["message"]["response_message_data"]
    edns = (data.get("OPT_PSEUDOSECTION") or {}).get("EDNS") or {}
    return Reply(
        rcode=data["status"],
        flags=set((data.get("flags") or "").split()),
        answer={normal(x) for x in data.get("ANSWER_SECTION") or []},
        authority={normal(x) for x in data.get("AUTHORITY_SECTION") or []},
        additional={normal(x) for x in data.get("ADDITIONAL_SECTION") or []},
        ecs=edns.get("CLIENT-SUBNET"),
        payload=edns.get("udp"),
    )


CLIENTS = {"dnspython": ask_dnspython, "dig": ask_dig}
