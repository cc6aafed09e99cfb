"""Check a Corefile before CoreDNS loads it: each problem one ``FILE:LINE: message`` line.

``check(text, domain)`` parses the text (:mod:`corefile.syntax`) and reports, in line
order: unbalanced braces and other syntax problems; directives that are not standard
CoreDNS plugins; in an *etcd* block, properties the plugin does not know, a missing
``endpoint`` and properties with the wrong number of arguments; and, when ``domain``
is given, server-block zones and *etcd* zones outside the federation domain.

It knows the plugins compiled into the standard CoreDNS build (``plugin.cfg``), not
every plugin's full syntax: a Corefile that passes can still be refused by CoreDNS
for a bad argument to a plugin other than *etcd*.  It reads only text and never runs
CoreDNS.
"""

from __future__ import annotations

from corefile import syntax

# The directives of the standard CoreDNS build (plugin.cfg), and Caddy's `import`.
PLUGINS = frozenset([
    "acl", "any", "auto", "autopath", "azure", "bind", "bufsize", "cache", "cancel",
    "chaos", "clouddns", "debug", "dns64", "dnssec", "dnstap", "erratic", "errors", "etcd",
    "file", "forward", "geoip", "grpc", "grpc_server", "header", "health", "hosts", "https",
    "https3", "k8s_external", "kubernetes", "loadbalance", "local", "log", "loop",
    "metadata", "minimal", "multisocket", "nomad", "nsid", "on", "pprof", "prometheus",
    "proxyproto", "quic", "ready", "reload", "rewrite", "root", "route53", "secondary",
    "sign", "template", "timeouts", "tls", "trace", "transfer", "tsig", "view", "whoami",
    "import",
])

# What the etcd plugin's setup accepts inside its block, and how many arguments.
ETCD_PROPERTIES: dict[str, tuple[int, int | None]] = {
    "fallthrough": (0, None),
    "path": (1, 1),
    "endpoint": (1, None),
    "credentials": (2, 2),
    "tls": (0, 3),
    "upstream": (0, None),  # deprecated and ignored by CoreDNS, still accepted
}

_SCHEMES = ("dns://", "tls://", "grpc://", "https://", "https3://", "quic://")


def zone_of(key: str) -> str | None:
    """The zone a server-block key names, lowercase without the final dot (``""`` for
    the root); None when it cannot be known before CoreDNS runs (env placeholders)."""
    if "{$" in key or "{%" in key:
        return None
    text = key.rstrip(",").lower()
    for scheme in _SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme):]
            break
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        text = host
    return text.rstrip(".")


def inside(zone: str, domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return zone == domain or zone.endswith("." + domain)


def check(text: str, domain: str | None = None) -> list[syntax.Problem]:
    """Every problem of the Corefile ``text``, in line order."""
    blocks, problems = syntax.parse(text)
    for block in blocks:
        snippet = len(block.keys) == 1 and block.keys[0].text.startswith("(")
        if domain is not None and not snippet:
            for key in block.keys:
                problems += _zone_problems(key, domain)
        for directive in block.directives:
            problems += _directive_problems(directive, domain)
    return sorted(problems, key=lambda p: p.line)


def _zone_problems(token: syntax.Token, domain: str) -> list[syntax.Problem]:
    zone = zone_of(token.text)
    if zone is None or inside(zone, domain):
        return []
    shown = zone or "."
    return [syntax.Problem(token.line, f"zone {shown!r} is outside the federation domain "
                                       f"{domain.lower().rstrip('.')}")]


def _directive_problems(directive: syntax.Directive, domain: str | None) -> list[syntax.Problem]:
    name = directive.name.text
    if name.startswith("{$") or name == "{":
        return []
    if name not in PLUGINS:
        return [syntax.Problem(directive.line, f"unknown plugin {name!r}")]
    if name != "etcd":
        return []
    problems = []
    if domain is not None:
        for arg in directive.args:
            problems += _zone_problems(arg, domain)
    seen = set()
    for prop in directive.block or []:
        key = prop.name.text
        seen.add(key)
        if key not in ETCD_PROPERTIES:
            known = ", ".join(sorted(ETCD_PROPERTIES))
            problems.append(syntax.Problem(
                prop.line, f"etcd: unknown property {key!r} (expected one of {known})"))
            continue
        low, high = ETCD_PROPERTIES[key]
        count = len(prop.args)
        if count < low or (high is not None and count > high):
            want = str(low) if low == high else (f"at least {low}" if high is None
                                                  else f"{low} to {high}")
            noun = "argument" if (high if high is not None else low) == 1 else "arguments"
            problems.append(syntax.Problem(prop.line, f"etcd: {key} takes {want} {noun}, "
                                                      f"got {count}"))
        if prop.block is not None:
            problems.append(syntax.Problem(prop.line, f"etcd: {key} takes no block"))
    if "endpoint" not in seen:
        problems.append(syntax.Problem(
            directive.line, "etcd: no endpoint (CoreDNS would use http://localhost:2379)"))
    return problems
