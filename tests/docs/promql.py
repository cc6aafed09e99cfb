"""Just enough PromQL reading for the docs tests: which metrics and labels a query names.

Not a parser: it blanks strings, label matchers, ranges and grouping clauses, then
takes every identifier that is not a keyword, an aggregation or a function call as a
metric name. `promtool check rules` (tests/docs/test_alerts.py) is the real parser.
Grafana variables (`$site`, `${datasource}`, `$__rate_interval`) are replaced first.
"""

from __future__ import annotations

import re

# Values that make a Grafana query a valid PromQL expression.
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "atan2", "inf", "nan", "Inf", "NaN"}
GROUPING = ("by", "without", "on", "ignoring", "group_left", "group_right")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUP = re.compile(r"\b(" + "|".join(GROUPING) + r")\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """``expr`` with Grafana variables replaced (``values``, else ``.*`` for selectors)."""
    known = {**GRAFANA_VARIABLES, **(values or {})}
    return _VARIABLE.sub(lambda m: known.get(m[1] or m[2], ".*"), expr)


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    text = _STRING.sub('""', substitute(expr))
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUP.sub(r"\1 ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        if word in KEYWORDS or word in AGGREGATIONS:
            continue
        if text[match.end():].lstrip().startswith("("):
            continue  # a function call
        names.add(word)
    return names


def label_names(expr: str) -> set[str]:
    """The labels ``expr`` matches on or groups by."""
    text = _STRING.sub('""', substitute(expr))
    labels = {m for inner in _MATCHERS.findall(text) for m in _MATCHER_LABEL.findall(inner)}
    for _, inner in _GROUP.findall(text):
        labels.update(part.strip() for part in inner.split(",") if part.strip())
    return labels - {"__name__"}
