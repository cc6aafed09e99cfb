"""corefile.syntax: tokens with lines, server blocks, and brace problems."""

from __future__ import annotations

import pytest

from corefile import syntax


def texts(text: str) -> list[tuple[str, int]]:
    tokens, problems = syntax.tokenize(text)
    assert problems == []
    return [(t.text, t.line) for t in tokens]


@pytest.mark.parametrize("text, expected", [
    ("a b\nc", [("a", 1), ("b", 1), ("c", 2)]),
    ("a # comment { }\nb", [("a", 1), ("b", 2)]),
    ("a#glued comment\nb", [("a", 1), ("b", 2)]),
    ('"two words" x', [("two words", 1), ("x", 1)]),
    ('"say \\"hi\\""', [('say "hi"', 1)]),
    ('"back\\slash"', [("back\\slash", 1)]),
    ('"a # not a comment"', [("a # not a comment", 1)]),
    ('"multi\nline" next', [("multi\nline", 1), ("next", 2)]),
    ("{$ETCD_ENDPOINT} {", [("{$ETCD_ENDPOINT}", 1), ("{", 1)]),
    ("x{ }y", [("x{", 1), ("}y", 1)]),
    ("\r\n\ta\r\n", [("a", 2)]),
    ("", []),
], ids=["spaces-lines", "comment", "comment-glued", "quoted", "escaped-quote",
        "other-backslash-kept", "hash-in-quotes", "quote-spans-lines", "env-placeholder",
        "glued-braces", "crlf-tabs", "empty"])
def test_tokenize(text, expected):
    assert texts(text) == expected


def test_unterminated_quote_is_a_problem_at_its_start():
    tokens, problems = syntax.tokenize('a\n"never\nclosed')
    assert [t.text for t in tokens] == ["a", "never\nclosed"]
    assert problems == [syntax.Problem(2, "quoted string is never closed")]


@pytest.mark.parametrize("value", [
    "plain", "two words", 'a "quoted" word', "#hash", "{", "}", "", "{$VAR}",
    "back\\slash", "tab\there", "p@ss:w0rd/%",
], ids=["plain", "space", "quotes", "hash", "open-brace", "close-brace", "empty", "env",
        "backslash", "tab", "punctuation"])
def test_quote_reads_back_as_one_token(value):
    tokens, problems = syntax.tokenize(f"x {syntax.quote(value)} y")
    assert problems == []
    assert [t.text for t in tokens] == ["x", value, "y"]
    assert tokens[1].is_open is False and tokens[1].is_close is False


@pytest.mark.parametrize("value", ['a b\\', 'a \\"b', "new\nline"],
                         ids=["trailing-backslash", "backslash-quote", "newline"])
def test_quote_refuses_what_cannot_read_back(value):
    with pytest.raises(ValueError):
        syntax.quote(value)


def shape(text: str) -> list:
    """Server blocks as [keys, [(directive, args, block-shape or None), ...]]."""
    def directives(items):
        return [(d.name.text, [a.text for a in d.args],
                 None if d.block is None else directives(d.block)) for d in items]
    blocks, problems = syntax.parse(text)
    assert problems == []
    return [[[k.text for k in b.keys], directives(b.directives)] for b in blocks]


@pytest.mark.parametrize("text, expected", [
    ("example.com {\n    errors\n    cache 30\n}\n",
     [[["example.com"], [("errors", [], None), ("cache", ["30"], None)]]]),
    ("a.org b.org:1053 {\n  whoami\n}\n", [[["a.org", "b.org:1053"], [("whoami", [], None)]]]),
    ("a.org,\nb.org {\n  whoami\n}\n", [[["a.org,", "b.org"], [("whoami", [], None)]]]),
    ("example.com\n{\n  whoami\n}\n", [[["example.com"], [("whoami", [], None)]]]),
    ("x {\n etcd {\n  path /skydns\n  endpoint http://a:2379 http://b:2379\n }\n}\n",
     [[["x"], [("etcd", [], [("path", ["/skydns"], None),
                             ("endpoint", ["http://a:2379", "http://b:2379"], None)])]]]),
    ("x { etcd { path /p } }\n", [[["x"], [("etcd", [], [("path", ["/p"], None)])]]]),
    ("x {\n  loadbalance }\ny {\n}\n", [[["x"], [("loadbalance", [], None)]], [["y"], []]]),
    ("x {\n forward . 1.1.1.1 {\n  except a.org\n  tls {\n  }\n }\n}\n",
     [[["x"], [("forward", [".", "1.1.1.1"],
                [("except", ["a.org"], None), ("tls", [], [])])]]]),
], ids=["one-block", "two-keys", "comma-continues-keys", "brace-next-line",
        "etcd-block", "one-line-blocks", "close-after-directive", "nested-two-levels"])
def test_parse_shapes(text, expected):
    assert shape(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("x {\n  whoami\n", [(1, "'{' is never closed (a '}' is missing in this block)")]),
    ("x {\n  whoami\n}\n}\n", [(4, "'}' has no matching '{'")]),
    ("}\nx {\n}\n", [(1, "'}' has no matching '{'")]),
    ("x\n", [(1, "server block 'x' has no '{' after its keys")]),
    ("x {\n  etcd\n  {\n    path /p\n  }\n}\n",
     [(3, "'{' must be on the line of 'etcd', the directive it opens")]),
    ("{\n  whoami\n}\n", [(1, "'{' without server block keys before it")]),
    ("x{\n}\n", [(1, "brace in 'x{': a brace must be a token of its own"),
                 (2, "'}' has no matching '{'"),
                 (1, "server block 'x{' has no '{' after its keys")]),
], ids=["unclosed", "extra-close", "close-first", "no-brace", "brace-on-next-line",
        "brace-without-keys", "glued-brace"])
def test_parse_problems(text, expected):
    _, problems = syntax.parse(text)
    assert sorted((p.line, p.message) for p in problems) == sorted(expected)


def test_problem_format():
    assert syntax.Problem(7, "boom").format("Corefile") == "Corefile:7: boom"
