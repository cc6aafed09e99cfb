"""Corefile syntax: tokens and server blocks, with line numbers, and the problems found.

The grammar is Caddy v1's, as CoreDNS reads it: tokens are separated by white space;
``#`` outside quotes starts a comment to the end of the line; a token that starts with
``"`` runs to the next unescaped ``"`` and may span lines (``\\"`` is a quote; a
backslash before anything else is kept with it); ``{`` and ``}`` are braces only as
tokens of their own, so an env placeholder such as ``{$ETCD_ENDPOINT}`` is an ordinary
token, kept as written (CoreDNS expands it when it loads the file).

A server block is its keys (``zone[:port]`` ...) and ``{``, then directives up to the
matching ``}``; a directive is its name and the tokens after it on the same line, and
a ``{`` at the end of that line opens the directive's own block (its properties).
Parsing never stops at a problem: it records it (``Problem(line, message)``) and
goes on, so one pass reports every unbalanced brace.  Knowing plugins and their
properties is :mod:`corefile.check`'s business, not this module's.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Token:
    text: str
    line: int
    end_line: int  # a quoted token may span lines
    quoted: bool = False

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quoted


@dataclasses.dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def format(self, filename: str) -> str:
        return f"{filename}:{self.line}: {self.message}"


@dataclasses.dataclass
class Directive:
    name: Token
    args: list[Token] = dataclasses.field(default_factory=list)
    block: list[Directive] | None = None  # None: no '{ ... }' after the arguments

    @property
    def line(self) -> int:
        return self.name.line


@dataclasses.dataclass
class ServerBlock:
    keys: list[Token]
    directives: list[Directive] = dataclasses.field(default_factory=list)

    @property
    def line(self) -> int:
        return self.keys[0].line if self.keys else 0


def tokenize(text: str) -> tuple[list[Token], list[Problem]]:
    """The tokens of ``text`` and the problems of lexing (an unterminated quote)."""
    tokens: list[Token] = []
    problems: list[Problem] = []
    line, i, n = 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch == '"':
            start, i, value, escaped, closed = line, i + 1, [], False, False
            while i < n:
                c = text[i]
                i += 1
                if not escaped and c == "\\":
                    escaped = True
                    continue
                if not escaped and c == '"':
                    closed = True
                    break
                if c == "\n":
                    line += 1
                if escaped and c != '"':
                    value.append("\\")  # as Caddy: only a quote is escaped
                value.append(c)
                escaped = False
            if not closed:
                problems.append(Problem(start, "quoted string is never closed"))
            tokens.append(Token("".join(value), start, line, quoted=True))
        else:
            start_i = i
            while i < n and not text[i].isspace() and text[i] != "#":
                i += 1
            tokens.append(Token(text[start_i:i], line, line))
    return tokens, problems


def quote(text: str) -> str:
    """``text`` as one Corefile token: quoted when it would otherwise not read back."""
    plain = text and not any(c.isspace() or c in '"#' for c in text) and text not in "{}"
    if plain:
        return text
    if "\n" in text or '\\"' in text or text.endswith("\\"):
        raise ValueError(f"{text!r} cannot be written as a Corefile token")
    return '"' + text.replace('"', '\\"') + '"'


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.problems: list[Problem] = []

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def same_line(self, token: Token) -> bool:
        return self.i > 0 and token.line <= self.tokens[self.i - 1].end_line

    def fail(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))

    def server_blocks(self) -> list[ServerBlock]:
        blocks = []
        while (token := self.peek()) is not None:
            if token.is_close:
                self.fail(token.line, "'}' has no matching '{'")
                self.i += 1
                continue
            if token.is_open:
                self.fail(token.line, "'{' without server block keys before it")
                self.i += 1
                blocks.append(ServerBlock([], self.body(token)))
                continue
            keys = self.keys()
            opener = self.peek()
            if opener is not None and opener.is_open:
                self.i += 1
                blocks.append(ServerBlock(keys, self.body(opener)))
            else:
                shown = " ".join(k.text for k in keys)
                self.fail(keys[0].line, f"server block {shown!r} has no '{{' after its keys")
                blocks.append(ServerBlock(keys))
        return blocks

    def keys(self) -> list[Token]:
        """Keys up to '{' or the end of the line; a trailing comma continues the list."""
        keys = [self.tokens[self.i]]
        self.i += 1
        while (token := self.peek()) is not None and not token.is_open and not token.is_close:
            if not self.same_line(token) and not keys[-1].text.endswith(","):
                break
            keys.append(token)
            self.i += 1
        return keys

    def body(self, opener: Token) -> list[Directive]:
        """Directives up to the '}' matching ``opener`` (consumed)."""
        directives: list[Directive] = []
        while (token := self.peek()) is not None:
            if token.is_close:
                self.i += 1
                return directives
            if token.is_open:
                self.i += 1
                if directives and directives[-1].block is None:
                    self.fail(token.line, f"'{{' must be on the line of "
                                          f"{directives[-1].name.text!r}, the directive it opens")
                    directives[-1].block = self.body(token)
                else:
                    self.fail(token.line, "'{' without a directive before it")
                    directives.append(Directive(token, block=self.body(token)))
                continue
            directives.append(self.directive())
        self.fail(opener.line, "'{' is never closed (a '}' is missing in this block)")
        return directives

    def directive(self) -> Directive:
        directive = Directive(self.tokens[self.i])
        self.i += 1
        while (token := self.peek()) is not None and self.same_line(token):
            if token.is_close:
                break  # closes the enclosing block: `loadbalance }`
            self.i += 1
            if token.is_open:
                directive.block = self.body(token)
                break
            directive.args.append(token)
        return directive


def parse(text: str) -> tuple[list[ServerBlock], list[Problem]]:
    """The server blocks of a Corefile and every syntax problem, in line order."""
    tokens, problems = tokenize(text)
    parser = _Parser(tokens)
    blocks = parser.server_blocks()
    for token in tokens:
        if token.quoted or token.text in ("{", "}") or token.text.startswith("{$"):
            continue
        if token.text.endswith("{") or token.text.startswith("}"):
            problems.append(Problem(token.line, f"brace in {token.text!r}: "
                                                "a brace must be a token of its own"))
    return blocks, sorted(problems + parser.problems, key=lambda p: p.line)
