"""Generate :mod:`fedns.kapi.protofields` from upstream ``generated.proto`` files.

The field numbers of Kubernetes' protobuf messages live in the ``generated.proto``
files of the ``kubernetes/api`` and ``kubernetes/apimachinery`` repositories.  This
reads those files (proto2, one level of messages, as go-to-protobuf writes them) and
prints a Python module holding, per message, ``number:jsonName:type`` entries; the
decoder in :mod:`fedns.kapi.protobuf` walks bodies with them.  Only messages reachable
from the object kinds (messages whose field 1 is ObjectMeta) and DeleteOptions are
kept.  Go structs embedded inline (``IngressRule.IngressRuleValue``,
``Volume.VolumeSource``) are fields in protobuf but not in JSON: given the JSON
definitions (kubernetes-validate's ``_definitions.json``) such fields are marked
``^`` so the decoder merges them into their parent.  A development tool: nothing at
run time imports it.

    python -m fedns.kapi.protogen _definitions.json core_v1.proto ... > fedns/kapi/protofields.py
"""

from __future__ import annotations

import json
import re
import sys

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double",
           "float", "sint32", "sint64", "fixed32", "fixed64"}
_PREFIXES = ("k8s.io.api.", "k8s.io.apimachinery.pkg.apis.", "k8s.io.apimachinery.pkg.util.",
             "k8s.io.apimachinery.pkg.api.", "k8s.io.apimachinery.pkg.")
_FIELD = re.compile(r"^\s*(optional|repeated)\s+(\S+)\s+(\w+)\s*=\s*(\d+)\s*;")
_MAP = re.compile(r"^\s*map<\s*string\s*,\s*(\S+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")


def short(name: str) -> str:
    """``k8s.io.api.apps.v1.Deployment`` -> ``apps.v1.Deployment``."""
    name = name.lstrip(".")
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def parse(text: str) -> tuple[dict[str, list[str]], set[str]]:
    """Messages of one file as ``{name: ["num:json:type", ...]}`` and the names of
    messages that stand for a Go slice (``+protobuf.nullable=true``: JSON is a list)."""
    package = ""
    messages: dict[str, list[str]] = {}
    slices: set[str] = set()
    current: str | None = None
    nullable = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("package "):
            package = short(stripped[len("package "):].rstrip(";").strip())
            continue
        if stripped.startswith("//"):
            nullable = nullable or "+protobuf.nullable=true" in stripped
            continue
        if stripped.startswith("message "):
            if current is not None:
                raise ValueError(f"nested message in {current}")
            current = f"{package}.{stripped.split()[1]}"
            messages[current] = []
            if nullable:
                slices.add(current)
            nullable = False
            continue
        if not stripped:
            nullable = False
            continue
        if stripped == "}":
            current = None
            continue
        if current is None:
            continue
        matched = _MAP.match(line)
        if matched:
            value, name, number = matched.groups()
            messages[current].append(f"{number}:{name}:{{{_type(value, package)}}}")
            continue
        matched = _FIELD.match(line)
        if matched:
            label, kind, name, number = matched.groups()
            star = "*" if label == "repeated" else ""
            messages[current].append(f"{number}:{name}:{star}{_type(kind, package)}")
    return messages, slices


def _type(kind: str, package: str) -> str:
    if kind in SCALARS:
        return kind
    if kind.startswith("."):
        return short(kind)
    return f"{package}.{kind}"


def reachable(messages: dict[str, list[str]]) -> list[str]:
    roots = [name for name, fields in messages.items()
             if any(f.startswith("1:metadata:meta.v1.ObjectMeta") for f in fields)
             and not name.endswith("List")]
    roots.append("meta.v1.DeleteOptions")
    seen: dict[str, None] = {}
    stack = list(reversed(roots))
    while stack:
        name = stack.pop()
        if name in seen or name not in messages:
            continue
        seen[name] = None
        for field in messages[name]:
            kind = field.split(":", 2)[2].lstrip("*^").strip("{}")
            if kind not in SCALARS:
                stack.append(kind)
    return sorted(seen)


def definition_name(message: str) -> str:
    """``networking.v1.IngressRule`` -> ``io.k8s.api.networking.v1.IngressRule``."""
    head = message.split(".", 1)[0]
    if head == "meta":
        return "io.k8s.apimachinery.pkg.apis." + message
    if head in ("runtime", "intstr"):
        return "io.k8s.apimachinery.pkg." + ("util." if head == "intstr" else "") + message
    if head == "resource" and message.count(".") == 1:
        return "io.k8s.apimachinery.pkg.api." + message
    return "io.k8s.api." + message


def mark_inline(messages: dict[str, list[str]], definitions: dict[str, dict]) -> None:
    """Prefix with ``^`` the fields that JSON inlines (absent from the definition's
    properties while the fields of their own message are present), and give the
    JSON spelling to names that differ only in case."""
    for name, fields in messages.items():
        properties = (definitions.get(definition_name(name)) or {}).get("properties")
        if not properties:
            continue
        for index, field in enumerate(fields):
            number, json_name, kind = field.split(":", 2)
            if json_name not in properties:
                # a few proto names differ from the JSON tag only in case (uID -> uid)
                same = [p for p in properties if p.lower() == json_name.lower()]
                if len(same) == 1:
                    json_name = same[0]
                    fields[index] = field = f"{number}:{json_name}:{kind}"
            if json_name in properties or kind.startswith(("*", "{")) or kind in SCALARS:
                continue
            inner = [f.split(":", 2)[1] for f in messages.get(kind, [])]
            if inner and all(n in properties for n in inner):
                fields[index] = f"{number}:{json_name}:^{kind}"


def render(paths: list[str]) -> str:
    messages: dict[str, list[str]] = {}
    slices: set[str] = set()
    definitions: dict[str, dict] = {}
    for path in paths:
        if path.endswith(".json"):
            with open(path) as handle:
                definitions = json.load(handle)["$defs"]
            continue
        with open(path) as handle:
            found, lists = parse(handle.read())
        messages.update(found)
        slices |= lists
    mark_inline(messages, definitions)
    keep = reachable(messages)
    out = ['"""Protobuf field tables of Kubernetes messages, generated by',
           "``python -m fedns.kapi.protogen`` from the upstream ``generated.proto`` files",
           "(kubernetes/api and kubernetes/apimachinery).  Do not edit: regenerate.",
           "",
           "Each entry is ``number:jsonName:type``; ``*type`` is repeated, ``{type}`` a",
           "map with string keys, ``^type`` a Go struct JSON inlines into its parent.",
           '"""', "",
           "MESSAGES: dict[str, str] = {"]
    for name in keep:
        out.append(f"    {name!r}: {' '.join(messages[name])!r},")
    out.append("}")
    out.append("")
    out.append(f"SLICES: frozenset[str] = frozenset({sorted(s for s in slices if s in keep)!r})")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    sys.stdout.write(render(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
