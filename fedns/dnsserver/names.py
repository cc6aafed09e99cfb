"""DNS names as the lookups handle them: labels, their text, hosts and keys as names.  Pure.

A query name is compared as :data:`Labels` (lowercase, leaf first); records are written
with the :data:`~fedns.dnsserver.wire.Name` as it was asked or stored; names are
compared as dnslib's text of them (:func:`name_text`), so the answers are what they
were when dnslib built them.  A host or a key is a name only when a DNS message can
carry it (:func:`writable`): the lookups leave out a target that is not.  What depends
only on a host, a key or the settings is memoized.

Not for: the ``/skydns/`` key format as fedns writes it (:mod:`fedns.records.skydns`)
or writing names on the wire (:mod:`fedns.dnsserver.wire`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from dnslib import DNSLabel
from dnslib.label import LDH

from fedns.dnsserver import wire

Labels = tuple[bytes, ...]  # lowercase, leaf first, no root label
MEMO = 16_384  # entries per memoized name helper
_PRINTABLE = bytes(sorted(LDH))  # the bytes dnslib writes as they are in a name's text


def text(labels: Labels) -> str:
    # One decode of the joined labels: "." ends any broken UTF-8 sequence, so this is
    # the labels decoded one by one.
    return b".".join(labels).decode("utf-8", "replace") + "." if labels else "."


def writable(name: wire.Name) -> bool:
    """``name`` fits a DNS message: labels of 1 to 63 octets, 255 octets in all on the
    wire (RFC 1035 §2.3.4; a UTF-8 character is as many octets as it has bytes)."""
    return (wire.wire_length(name) <= wire.MAX_WIRE_NAME
            and all(0 < len(label) <= wire.MAX_LABEL for label in name))


class Host(NamedTuple):
    """A host that is a DNS name: lookup labels, the name as written, its fqdn text."""

    labels: Labels
    name: wire.Name
    fqdn: str


@functools.lru_cache(maxsize=MEMO)
def parse_host(host: str) -> Host | None:
    """``host`` as a :class:`Host`; None if not a name a DNS message can carry."""
    fqdn = host if host.endswith(".") else host + "."
    if fqdn == ".":
        return Host((), (), ".")
    try:
        raw = tuple(fqdn[:-1].encode("utf-8", "surrogateescape").split(b"."))
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no octets to write
        return None
    if not writable(raw):
        return None
    return Host(tuple(label.lower() for label in raw), raw, fqdn)


def name_text(name: wire.Name) -> str:
    """dnslib's text of ``name`` (what the answers used to compare): its labels as
    they are when every byte is printable ASCII, else escaped by dnslib."""
    joined = b".".join(name)
    if not joined.translate(None, _PRINTABLE):
        return joined.decode() + "."
    return str(DNSLabel(name))


@functools.lru_cache(maxsize=256)
def text_name(text: str) -> wire.Name:
    """A name given as text (settings), as dnslib reads it."""
    return DNSLabel(text).label


def is_under(name: Labels, parent: Labels) -> bool:
    """``name`` is ``parent`` or below it."""
    return len(name) >= len(parent) and name[len(name) - len(parent):] == parent


def key_labels(root: bytes, key: bytes, strip: int) -> wire.Name:
    """The labels of ``key``'s DNS name (CoreDNS msg.Domain), minus ``strip`` leading
    labels; not checked with :func:`writable`."""
    parts = key[len(root) + 1:].split(b"/")
    if parts and parts[-1] == b"":
        parts.pop()
    parts.reverse()
    if 0 < strip < len(parts):  # CoreDNS keeps the name when the strip overshoots
        parts = parts[strip:]
    return tuple(parts)


@functools.lru_cache(maxsize=MEMO)
def key_name(root: bytes, key: bytes, strip: int) -> tuple[wire.Name, str] | None:
    """The DNS name of ``key`` (:func:`key_labels`) and its text in lowercase; None
    when a DNS message cannot carry it (:func:`writable`)."""
    name = key_labels(root, key, strip)
    if not writable(name):
        return None
    return name, name_text(name).lower()
