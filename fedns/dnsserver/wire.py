"""The DNS wire format of the embedded server: read a query, write a response.  Pure.

:func:`parse` reads the common query by hand (one question whose name has no
compression pointer and only ASCII labels, no answer or authority records, at most
one additional record and that an OPT, nothing after it); any other packet is read
by dnslib, whose errors become :class:`BadPacket`.  Both give the same
:class:`Query`.  A question name over 255 octets on the wire (RFC 1035 §2.3.4), or
with a length byte of 64-191 (the reserved label types, which dnslib reads as long
labels), is a :class:`BadPacket` too: no response could echo it.
:func:`encode` writes a :class:`Response` byte for byte as dnslib's
``DNSRecord.pack`` would (names compressed against every earlier name suffix, SRV
targets not compressed, names over 255 octets or labels over 63 refused), so
answers do not depend on which reader took the query.

Records are plain tuples, built once per answer without dnslib objects:
``(owner, type, ttl, rdata)``, class IN, where ``rdata`` is a tuple of parts, each
raw ``bytes`` or a :data:`Name` to compress.

Not for: deciding what to answer (:mod:`fedns.dnsserver.answer`).
"""

from __future__ import annotations

import struct

from dnslib import DNSRecord

Name = tuple[bytes, ...]  # labels as they appear on the wire, leaf first, no root label
Part = bytes | Name
RR = tuple[Name, int, int, tuple[Part, ...]]
Question = tuple[Name, int, int]  # name, type, class
Opt = tuple[int, int, list[tuple[int, bytes]]]  # UDP payload (class), TTL, options

# Resource record types (RFC 1035 and after) the server reads or answers.
T_A, T_NS, T_CNAME, T_SOA, T_PTR, T_HINFO, T_MX, T_TXT = 1, 2, 5, 6, 12, 13, 15, 16
T_AAAA, T_SRV, T_OPT, T_IXFR, T_AXFR, T_ANY = 28, 33, 41, 251, 252, 255
# Octets, length bytes and root label included (RFC 1035 §2.3.4).  dnslib's limit of
# 253 on the labels joined by dots is the same: the dots stand for the length bytes
# but the first label's and the root label.
MAX_WIRE_NAME = 255
MAX_LABEL = 63

_HEADER = struct.Struct("!HHHHHH")
_QUESTION = struct.Struct("!HH")
_RR_HEAD = struct.Struct("!HHIH")  # type, class, TTL, rdata length
_U16 = struct.Struct("!H")


class BadPacket(Exception):
    """The query does not decode."""


class BadName(Exception):
    """A name in the response is too long to encode."""


class Query:
    """A query as the answer needs it: header ID and flags, its questions, its OPTs."""

    __slots__ = ("flags", "ident", "opts", "questions")

    def __init__(self, ident: int, flags: int, questions: list[Question], opts: list[Opt]):
        self.ident = ident
        self.flags = flags
        self.questions = questions
        self.opts = opts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Query) and (
            (self.ident, self.flags, self.questions, self.opts)
            == (other.ident, other.flags, other.questions, other.opts))

    def __repr__(self) -> str:
        return f"Query({self.ident}, {self.flags:#x}, {self.questions!r}, {self.opts!r})"


class Response:
    """A response: header flags (with the low rcode bits), the question echoed (or
    None), the three sections and the OPT record, already encoded (or None)."""

    __slots__ = ("additional", "answer", "authority", "flags", "ident", "opt", "question")

    def __init__(self, ident: int, flags: int, question: Question | None,
                 answer: list[RR] | None = None, authority: list[RR] | None = None,
                 additional: list[RR] | None = None, opt: bytes | None = None) -> None:
        self.ident = ident
        self.flags = flags
        self.question = question
        self.answer = answer if answer is not None else []
        self.authority = authority if authority is not None else []
        self.additional = additional if additional is not None else []
        self.opt = opt


# --- reading -------------------------------------------------------------------------


def parse(data: bytes) -> Query:
    """The query in ``data``; raises :class:`BadPacket` when it does not decode."""
    query = parse_common(data)
    if query is not None:
        return query
    try:
        record = DNSRecord.parse(data)
    except Exception as err:
        raise BadPacket(str(err)) from err
    query = from_dnslib(record)
    for name, _, _ in query.questions:
        if wire_length(name) > MAX_WIRE_NAME:
            raise BadPacket(f"question name of {wire_length(name)} octets")
        for label in name:
            # dnslib reads any length byte below 0xC0 as a label's; 64-191 are the
            # label types 0b01 and 0b10 (RFC 1035 §4.1.4, RFC 6891 §5), not labels
            if len(label) > MAX_LABEL:
                raise BadPacket(f"question label of {len(label)} octets")
    return query


def parse_common(data: bytes) -> Query | None:
    """The common query read by hand, or None when dnslib must read it."""
    end = len(data)
    if end < 17:
        return None
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    labels = []
    i = 12
    while True:
        if i >= end:
            return None
        length = data[i]
        if length == 0:
            break
        if length > MAX_LABEL:  # a pointer, or a length dnslib reads its own way
            return None
        i += 1
        labels.append(data[i:i + length])
        i += length
    if not data[12:i].isascii():  # dnslib refuses labels that are not UTF-8
        return None
    if i - 11 > MAX_WIRE_NAME:  # the name is data[12:i + 1]; parse() refuses it
        return None
    i += 1
    if i + 4 > end:
        return None
    qtype, qclass = _QUESTION.unpack_from(data, i)
    i += 4
    opts: list[Opt] = []
    if arcount:
        if i + 11 > end or data[i] != 0:
            return None
        rtype, payload, ttl, rdlength = _RR_HEAD.unpack_from(data, i + 1)
        i += 11
        if rtype != T_OPT or i + rdlength != end:
            return None
        options = []
        while end - i > 4:  # as dnslib: a last option of four bytes is not read
            code, length = _QUESTION.unpack_from(data, i)
            i += 4
            if i + length > end:
                return None
            options.append((code, data[i:i + length]))
            i += length
        opts.append((payload, ttl, options))
    if i != end:
        return None
    return Query(ident, flags, [(tuple(labels), qtype, qclass)], opts)


def from_dnslib(record: DNSRecord) -> Query:
    """The :class:`Query` of a request dnslib has parsed."""
    header = record.header
    questions = [(q.qname.label, q.qtype, q.qclass) for q in record.questions]
    opts = [(rr.rclass, rr.ttl,
             [(o.code, bytes(o.data)) for o in rr.rdata] if isinstance(rr.rdata, list) else [])
            for rr in record.ar if rr.rtype == T_OPT]
    return Query(header.id, header.bitmap, questions, opts)


# --- writing ---------------------------------------------------------------------------


def opt_record(payload: int, ttl: int, options: list[tuple[int, bytes]]) -> bytes:
    """An OPT record (root owner, never compressed) with ``options``."""
    data = b"".join(_U16.pack(code) + _U16.pack(len(value)) + value for code, value in options)
    return b"\x00" + _RR_HEAD.pack(T_OPT, payload, ttl, len(data)) + data


def wire_length(name: Name) -> int:
    """Octets of ``name`` on the wire, uncompressed: each label and its length
    byte, and the root label."""
    return sum(map(len, name)) + len(name) + 1


def plain_name(name: Name) -> bytes:
    """``name`` uncompressed (SRV targets, as dnslib writes them)."""
    _check(name)
    return b"".join(bytes((len(label),)) + label for label in name) + b"\x00"


def _check(name: Name) -> None:
    _check_length(name)
    for label in name:
        if len(label) > MAX_LABEL:
            raise BadName(f"label too long: {label!r}")


def _check_length(name: Name) -> None:
    if sum(map(len, name)) + len(name) + 1 > MAX_WIRE_NAME:  # wire_length(), inline
        raise BadName(f"name too long: {name!r}")


def _name(out: bytearray, names: dict[Name, int], name: Name) -> None:
    """dnslib's ``encode_name``: a pointer to the longest suffix written before
    (its offset's low 14 bits, as dnslib's set_bits), else the label and on.  Only
    the labels written are checked: a long label in a suffix written before would
    have failed then."""
    pointer = names.get(name)
    if pointer is None:
        _check_length(name)  # a name written before was checked then
        for i, label in enumerate(name):
            if i:
                suffix = name[i:]
                pointer = names.get(suffix)
                if pointer is not None:
                    break
                names[suffix] = len(out)
            else:
                names[name] = len(out)
            if len(label) > MAX_LABEL:
                raise BadName(f"label too long: {label!r}")
            out.append(len(label))
            out += label
        else:
            out.append(0)
            return
    out += _U16.pack(0xC000 | (pointer & 0x3FFF))


def encode(response: Response, truncated: bool = False) -> bytes:
    """The response's bytes; ``truncated``: with TC set and only the question and the
    OPT record (RFC 2181 §9)."""
    flags = response.flags
    question = response.question
    opt = response.opt
    if truncated:
        flags |= 0x0200
        sections: tuple[list[RR], ...] = ([], [], [])
    else:
        sections = (response.answer, response.authority, response.additional)
    out = bytearray(_HEADER.pack(response.ident, flags, 1 if question is not None else 0,
                                 len(sections[0]), len(sections[1]),
                                 len(sections[2]) + (1 if opt is not None else 0)))
    names: dict[Name, int] = {}
    if question is not None:
        _name(out, names, question[0])
        out += _QUESTION.pack(question[1], question[2])
    for section in sections:
        for owner, rtype, ttl, rdata in section:
            _name(out, names, owner)
            out += _RR_HEAD.pack(rtype, 1, ttl, 0)
            start = len(out)
            for part in rdata:
                if part.__class__ is bytes:
                    out += part  # type: ignore[operator]
                else:
                    _name(out, names, part)  # type: ignore[arg-type]
            _U16.pack_into(out, start - 2, len(out) - start)
    if opt is not None:
        out += opt
    return bytes(out)
