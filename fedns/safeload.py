"""JSON and YAML from untrusted bytes (API request bodies, config and pool files), within limits.

``load_json(raw)``, ``load_yaml(raw)`` and ``load_yaml_documents(raw)`` (a stream of
documents) return plain JSON values (dicts with string
keys, lists, str, int, float, bool, None) or raise :class:`Refused`, one line naming
the problem.  What they refuse, and why it matters:

- more than ``Limits.max_bytes`` (3 MiB, kube-apiserver's request limit);
- bytes that are not UTF-8;
- nesting deeper than ``Limits.max_depth`` (the rest of fedns recurses over objects,
  and Python's recursion limit is a thousand frames);
- YAML aliases that would expand the document past ``Limits.max_nodes``, or make up
  almost all of a large document (go-yaml's rule, which kube-apiserver's YAML decoding
  uses: past 1,000 nodes at most 99% may come from aliases, tapering to 10% from 400,000
  to 4,000,000 nodes), and aliases to a node from inside it — an alias bomb is refused
  in milliseconds instead of expanding to gigabytes;
- values JSON cannot carry (NaN, infinities, ``!!binary`` and other explicit tags,
  mapping keys that are mappings or sequences);
- a duplicate mapping key, when ``Limits.allow_duplicate_keys`` is False (config files).

The YAML is built straight from the parser's events (libyaml's, if PyYAML has it), with
no node graph and no recursion, so every limit is checked before anything expands.
Scalars resolve as PyYAML's safe loader resolves them (YAML 1.1), except timestamps,
which stay strings (as in kube-apiserver), and non-string keys become strings as JSON
would spell them.  A YAML document that starts with ``{`` or ``[`` and is valid JSON is
read as JSON (faster, and ``1e5`` is a number as JSON says).  The only I/O is
:func:`read_file`, for the CLI's files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import Any

import yaml
from yaml import events, nodes

from fedns import errors

MAX_BYTES = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes


@dataclasses.dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_depth: int = 100  # nested mappings and sequences
    max_nodes: int = 1_000_000  # scalars, mappings and sequences, aliases expanded
    allow_duplicate_keys: bool = True  # the last wins (kube-apiserver's default); False: refuse
    # a YAML syntax error worded by PyYAML's own parser, which says what it found as
    # well as what it expected (libyaml's, used to parse, is many times faster)
    python_messages: bool = False


DEFAULT = Limits()
# config and pool files: a repeated key is a mistake, and people read the messages
FILES = Limits(allow_duplicate_keys=False, python_messages=True)


class Refused(errors.UsageError):
    """The document was refused."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason  # size encoding syntax depth nodes aliases value duplicate


# -- bytes and files --------------------------------------------------------------

def read_file(path: str, limits: Limits = FILES) -> bytes:
    """The bytes of the file at ``path`` ('-': standard input), Refused past
    ``max_bytes``; OSError as ``open`` raises it."""
    if path == "-":
        data = sys.stdin.buffer.read(limits.max_bytes + 1)
    else:
        with open(path, "rb") as f:
            data = f.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise _too_large(limits)
    return data


def decode(raw: bytes | str, limits: Limits = DEFAULT) -> str:
    """``raw`` as text: over ``max_bytes`` or not UTF-8 is Refused."""
    if isinstance(raw, str):
        if len(raw) > limits.max_bytes:  # characters: at most as many as bytes
            raise _too_large(limits)
        return raw
    if len(raw) > limits.max_bytes:
        raise _too_large(limits)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise Refused(f"line {line}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset "
                      f"{err.start})", "encoding") from None


def _too_large(limits: Limits) -> Refused:
    return Refused(f"larger than {limits.max_bytes} bytes", "size")


# -- JSON -------------------------------------------------------------------------

def _no_constant(name: str) -> Any:
    raise Refused(f"{name} is not a JSON value", "value")


def _pairs_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Refused(f"duplicate key {key!r}", "duplicate")
        result[key] = value
    return result


def load_json(raw: bytes | str, limits: Limits = DEFAULT) -> Any:
    """The JSON value of ``raw``, or Refused."""
    text = decode(raw, limits)
    try:
        value = json.loads(text, parse_constant=_no_constant,
                           object_pairs_hook=None if limits.allow_duplicate_keys else _pairs_once)
    except RecursionError:
        raise _too_deep(limits) from None
    except json.JSONDecodeError as err:
        raise Refused(f"line {err.lineno} column {err.colno}: not valid JSON: {err.msg}",
                      "syntax") from None
    # nesting deeper than max_depth needs more brackets than that: count them in C
    if text.count("[") + text.count("{") > limits.max_depth:
        _check_depth(value, limits)
    return value


def within_depth(value: Any, limits: Limits = DEFAULT) -> bool:
    """Whether ``value`` nests at most ``max_depth`` levels deep."""
    try:
        _check_depth(value, limits)
    except Refused:
        return False
    return True


def _check_depth(value: Any, limits: Limits) -> None:
    """Refused when ``value`` nests deeper than ``max_depth`` (no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limits.max_depth:
            raise _too_deep(limits)
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))


def _too_deep(limits: Limits) -> Refused:
    return Refused(f"nested deeper than {limits.max_depth} levels", "depth")


# -- YAML -------------------------------------------------------------------------

_LIBYAML = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser, when there
_RESOLVER = yaml.resolver.Resolver()
_SCALARS = yaml.constructor.SafeConstructor()  # only its pure scalar constructors are used
_TAG = "tag:yaml.org,2002:"
_SEQ_TAGS = (None, "!", _TAG + "seq")
_MAP_TAGS = (None, "!", _TAG + "map")
# go-yaml's alias budget (decode.go): see the module docstring
_ALIAS_FLOOR, _NODE_FLOOR = 100, 1000
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(count: int) -> float:
    if count <= _RATIO_LOW:
        return 0.99
    if count >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (count - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


@dataclasses.dataclass
class _Frame:
    """A mapping or sequence being built."""

    value: dict[str, Any] | list[Any]
    anchor: str | None
    line: int
    first_node: int  # the node count before this node: its size is the count after less this
    height: int = 1  # levels of nesting below and including this node
    key: Any = None  # a mapping's key waiting for its value
    has_key: bool = False
    merges: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    explicit: set[str] = dataclasses.field(default_factory=set)


class _Builder:
    """JSON values from a YAML event stream, counting nodes as aliases expand."""

    def __init__(self, limits: Limits, documents: bool = False) -> None:
        self.limits = limits
        self.many = documents  # a stream of documents, not one
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # value, nodes, height
        self.open_anchors: set[str] = set()
        self.nodes = 0  # over the whole stream: the limits are the stream's
        self.aliased = 0
        self.results: list[Any] = []  # the documents done
        self.result: Any = None  # the document being built

    def feed(self, event: events.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, events.ScalarEvent):
            self._count(1, 0, line)
            value = _scalar(event, line)
            if event.anchor:
                self.anchors[event.anchor] = (value, 1, 0)
            self._add(value, 0, line)
        elif isinstance(event, events.AliasEvent):
            self._alias(event.anchor, line)
        elif isinstance(event, (events.SequenceStartEvent, events.MappingStartEvent)):
            sequence = isinstance(event, events.SequenceStartEvent)
            if event.tag not in (_SEQ_TAGS if sequence else _MAP_TAGS):
                raise Refused(f"line {line}: unsupported YAML tag {event.tag}", "value")
            if len(self.stack) + 1 > self.limits.max_depth:
                raise Refused(f"line {line}: nested deeper than {self.limits.max_depth} "
                              f"levels", "depth")
            self._count(1, 0, line)
            if event.anchor:
                self.open_anchors.add(event.anchor)
            self.stack.append(_Frame([] if sequence else {}, event.anchor, line,
                                     self.nodes - 1))
        elif isinstance(event, (events.SequenceEndEvent, events.MappingEndEvent)):
            frame = self.stack.pop()
            if isinstance(frame.value, dict):
                _merge(frame)
            if frame.anchor:
                self.open_anchors.discard(frame.anchor)
                self.anchors[frame.anchor] = (frame.value, self.nodes - frame.first_node,
                                              frame.height)
            self._add(frame.value, frame.height, frame.line)
        elif isinstance(event, events.DocumentStartEvent):
            if self.results and not self.many:
                raise Refused(f"line {line}: expected a single document, found another",
                              "syntax")
        elif isinstance(event, events.DocumentEndEvent):
            self.results.append(self.result)
            self.result = None
            self.anchors.clear()  # an anchor names a node of its own document only

    def _count(self, size: int, aliased: int, line: int) -> None:
        self.nodes += size
        self.aliased += aliased
        if self.nodes > self.limits.max_nodes:
            raise Refused(f"line {line}: more than {self.limits.max_nodes} nodes "
                          f"(aliases expanded)", "aliases" if self.aliased else "nodes")
        if self.aliased > _ALIAS_FLOOR and self.nodes > _NODE_FLOOR and \
                self.aliased / self.nodes > _allowed_alias_ratio(self.nodes):
            raise Refused(f"line {line}: excessive aliasing ({self.aliased} of "
                          f"{self.nodes} nodes come from aliases)", "aliases")

    def _alias(self, anchor: str, line: int) -> None:
        if anchor in self.open_anchors:
            raise Refused(f"line {line}: alias *{anchor} refers to a node that contains it",
                          "aliases")
        if anchor not in self.anchors:
            raise Refused(f"line {line}: found undefined alias *{anchor}", "syntax")
        value, size, height = self.anchors[anchor]
        if len(self.stack) + height > self.limits.max_depth:
            raise Refused(f"line {line}: nested deeper than {self.limits.max_depth} levels",
                          "depth")
        self._count(size, size, line)
        # a copy: callers change what they load, and one change must not show twice
        self._add(_copy(value), height, line)

    def _add(self, value: Any, height: int, line: int) -> None:
        frame = self.stack[-1] if self.stack else None
        if value is _MERGE and (frame is None or not isinstance(frame.value, dict)
                                or frame.has_key):
            value = "<<"  # a merge key only merges as a key
        if frame is None:
            self.result = value
            return
        frame.height = max(frame.height, height + 1)
        if isinstance(frame.value, list):
            frame.value.append(value)
            return
        if not frame.has_key:
            if isinstance(value, (dict, list)):
                raise Refused(f"line {line}: a mapping key must be a scalar", "value")
            frame.key = value if value is _MERGE else _key_text(value)
            frame.has_key = True
            return
        key, frame.key, frame.has_key = frame.key, None, False
        if key is _MERGE:
            frame.merges.extend(_merge_sources(value, line))
            return
        if key in frame.explicit and not self.limits.allow_duplicate_keys:
            raise Refused(f"line {line}: duplicate key {key!r}", "duplicate")
        frame.explicit.add(key)
        assert isinstance(frame.value, dict)
        frame.value[key] = value


class _MergeKey:
    """The ``<<`` key."""


_MERGE: Any = _MergeKey()


def _merge_sources(value: Any, line: int) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return list(value)
    raise Refused(f"line {line}: a merge key (<<) needs a mapping or a list of mappings",
                  "value")


def _merge(frame: _Frame) -> None:
    """Keys of ``<<`` mappings the mapping does not set itself (the first source wins)."""
    if not frame.merges:
        return
    assert isinstance(frame.value, dict)
    merged: dict[str, Any] = {}
    for source in frame.merges:
        for key, value in source.items():
            merged.setdefault(key, value)
    for key, value in merged.items():
        frame.value.setdefault(key, value)


def _scalar(event: events.ScalarEvent, line: int) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = _RESOLVER.resolve(nodes.ScalarNode, event.value, event.implicit)
    if tag in (_TAG + "str", _TAG + "timestamp", _TAG + "value"):
        return event.value
    if tag == _TAG + "merge":
        return _MERGE
    if tag == _TAG + "null":
        return None
    node = nodes.ScalarNode(tag, event.value)
    try:
        if tag == _TAG + "bool":
            return _SCALARS.construct_yaml_bool(node)
        if tag == _TAG + "int":
            return _SCALARS.construct_yaml_int(node)
        if tag == _TAG + "float":
            number = _SCALARS.construct_yaml_float(node)
            if not math.isfinite(number):
                raise Refused(f"line {line}: {event.value} is not a JSON number", "value")
            return number
    except (ValueError, KeyError):
        raise Refused(f"line {line}: {event.value!r} is not a valid {tag[len(_TAG):]}",
                      "value") from None
    raise Refused(f"line {line}: unsupported YAML tag {tag}", "value")


def _key_text(key: Any) -> str:
    """A scalar key as a JSON object key (as sigs.k8s.io/yaml spells them)."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return json.dumps(key)


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value; recursion is bounded by max_depth."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def load_yaml(raw: bytes | str, limits: Limits = DEFAULT) -> Any:
    """The value of the single YAML document in ``raw`` (None when empty), or Refused."""
    documents = _load(raw, limits, False)
    return documents[0] if documents else None


def load_yaml_documents(raw: bytes | str, limits: Limits = DEFAULT) -> list[Any]:
    """The values of every YAML document in ``raw`` (``---`` between them), or Refused;
    the limits hold for the whole stream."""
    return _load(raw, limits, True)


def _load(raw: bytes | str, limits: Limits, many: bool) -> list[Any]:
    text = decode(raw, limits)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return [load_json(text, limits)]
        except Refused as err:
            if err.reason != "syntax":
                raise
            # not JSON: flow-style YAML, read below
    try:
        return _build(text, limits, _LIBYAML, many)
    except _SyntaxError as err:
        if not limits.python_messages or _LIBYAML is yaml.SafeLoader:
            raise err.refused from None
    try:
        return _build(text, limits, yaml.SafeLoader, many)
    except _SyntaxError as err:
        raise err.refused from None


class _SyntaxError(Exception):
    def __init__(self, refused: Refused) -> None:
        super().__init__(str(refused))
        self.refused = refused


def _build(text: str, limits: Limits, loader: Any, many: bool) -> list[Any]:
    """The documents built from ``loader``'s events; a syntax error is _SyntaxError."""
    builder = _Builder(limits, many)
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = err.problem or err.context or "not valid YAML"
        raise _SyntaxError(Refused(f"{where}{problem}", "syntax")) from None
    except yaml.YAMLError as err:
        raise _SyntaxError(Refused(f"not valid YAML: {str(err).splitlines()[0]}",
                                   "syntax")) from None
    return builder.results
