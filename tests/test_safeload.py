"""fedns.safeload: JSON and YAML from untrusted bytes, within limits, refused in one line."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fedns import safeload


def alias_bomb(levels: int, fan_out: int = 9) -> bytes:
    """The billion-laughs document: each level a list of ``fan_out`` aliases of the last."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * fan_out) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fan_out) + "]")
    return "\n".join(lines).encode()


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


LOADS = [
    ("a: 1\nb: [x, 2.5, yes, null]", {"a": 1, "b": ["x", 2.5, True, None]}),
    ("when: 2024-01-02T03:04:05Z", {"when": "2024-01-02T03:04:05Z"}),  # timestamps: text
    ("1: one\ntrue: yes\n~: nothing\n1.5: x", {"1": "one", "true": True, "null": "nothing",
                                            "1.5": "x"}),
    ("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}", {"base": {"x": 1, "y": 2},
                                                    "use": {"x": 1, "y": 3}}),
    ("list: &l [1, 2]\ncopy: *l", {"list": [1, 2], "copy": [1, 2]}),
    ("key: <<", {"key": "<<"}),
    ("'123': !!str 123\nhex: 0x1f", {"123": "123", "hex": 31}),
    ('{"n": 1e5, "s": "\\u00e9"}', {"n": 100000.0, "s": "é"}),  # JSON read as JSON
    ("{a: b}", {"a": "b"}),  # flow YAML that is not JSON
    ("", None),
    (nested(100), json.loads(nested(100))),
]


@pytest.mark.parametrize(("text", "value"), LOADS, ids=[
    "scalars", "timestamp-stays-text", "keys-become-strings", "merge-key", "alias-copied",
    "merge-as-value", "explicit-str-and-hex", "json-first", "flow-yaml", "empty",
    "depth-100-is-fine"])
def test_load_yaml_values(text, value):
    assert safeload.load_yaml(text.encode()) == value


def test_an_alias_is_a_copy_not_the_same_object():
    loaded = safeload.load_yaml(b"a: &x {k: v}\nb: *x")
    loaded["a"]["k"] = "changed"
    assert loaded["b"] == {"k": "v"}


REFUSED = [
    (alias_bomb(9), "aliases", "excessive aliasing"),
    (alias_bomb(4, fan_out=40), "aliases", "excessive aliasing"),
    (b"a: &a [1, *a]", "aliases", "alias *a refers to a node that contains it"),
    (b"a: *nowhere", "syntax", "undefined alias *nowhere"),
    (nested(101).encode(), "depth", "nested deeper than 100 levels"),
    (nested(10_000).encode(), "depth", "nested deeper than 100 levels"),
    (("- " * 101 + "x").encode(), "depth", "nested deeper than 100 levels"),
    (b"deep: &d " + nested(60).encode() + b"\nuse: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*d"
     + b"]" * 41, "depth", "nested deeper than 100 levels"),
    (b"a: 1\n\xff: 2", "encoding", "line 2: not valid UTF-8 (byte 0xff at offset 5)"),
    (b"a: .nan", "value", ".nan is not a JSON number"),
    (b"a: !!binary aGk=", "value", "unsupported YAML tag tag:yaml.org,2002:binary"),
    (b"a: !!python/object:os.system x", "value", "unsupported YAML tag"),
    (b"? [1]\n: 2", "value", "a mapping key must be a scalar"),
    (b"a: !!int nope", "value", "'nope' is not a valid int"),
    (b"a: 1\n---\nb: 2", "syntax", "expected a single document"),
    (b"a: [1", "syntax", "did not find expected ',' or ']'"),
    (b"<<: 5", "value", "a merge key (<<) needs a mapping"),
    (b"x" * (safeload.MAX_BYTES + 1), "size", "larger than 3145728 bytes"),
]


@pytest.mark.parametrize(("raw", "reason", "message"), REFUSED, ids=[
    "alias-bomb-9x9", "alias-bomb-wide", "recursive-alias", "undefined-alias",
    "depth-101", "depth-10000", "block-depth-101", "alias-adds-depth", "invalid-utf8", "nan",
    "binary-tag", "python-tag", "collection-key", "bad-explicit-int", "two-documents",
    "syntax", "merge-of-scalar", "too-large"])
def test_load_yaml_refuses(raw, reason, message):
    started = time.monotonic()
    with pytest.raises(safeload.Refused) as err:
        safeload.load_yaml(raw)
    assert err.value.reason == reason
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("raw", "reason", "message"), [
    (('{"a":' * 101 + "1" + "}" * 101).encode(), "depth", "nested deeper than 100 levels"),
    (nested(100_000).encode(), "depth", "nested deeper than 100 levels"),
    (b'{"a": NaN}', "value", "NaN is not a JSON value"),
    (b'{"a": Infinity}', "value", "Infinity is not a JSON value"),
    (b'{"a": 1,}', "syntax", "line 1 column 9: not valid JSON"),
    (b'\xef\xbb\xbf{"a": 1}', "syntax", "not valid JSON"),  # a BOM, as Go refuses it
    (b'{"a": "\xc3"}', "encoding", "not valid UTF-8"),
], ids=["depth-101", "depth-100000", "nan", "infinity", "trailing-comma", "bom",
        "invalid-utf8"])
def test_load_json_refuses(raw, reason, message):
    with pytest.raises(safeload.Refused) as err:
        safeload.load_json(raw)
    assert err.value.reason == reason
    assert message in str(err.value)


def test_duplicate_keys_last_wins_by_default_and_are_refused_for_files():
    assert safeload.load_yaml(b"a: 1\na: 2") == {"a": 2}
    assert safeload.load_json(b'{"a": 1, "a": 2}') == {"a": 2}
    with pytest.raises(safeload.Refused, match="line 3: duplicate key 'name'"):
        safeload.load_yaml(b"pools:\n- name: a\n  name: b\n", safeload.FILES)
    with pytest.raises(safeload.Refused, match="duplicate key 'a'"):
        safeload.load_json(b'{"a": 1, "a": 2}', safeload.FILES)
    # a merged key is no duplicate: the mapping's own value wins
    assert safeload.load_yaml(b"b: &b {a: 1}\nc: {<<: *b, a: 2}", safeload.FILES)["c"] == \
        {"a": 2}


def test_a_stream_of_documents():
    assert safeload.load_yaml_documents(b"") == []
    assert safeload.load_yaml_documents(b"a: &x 1\n---\n- b\n---\n") == [{"a": 1}, ["b"], None]
    assert safeload.load_yaml_documents(b'{"a": 1}') == [{"a": 1}]
    with pytest.raises(safeload.Refused, match="undefined alias"):  # anchors stay home
        safeload.load_yaml_documents(b"a: &x 1\n---\nb: *x\n")
    # 907 nodes, 900 from aliases: under go-yaml's 1,000-node floor alone, over it twice
    document = b"a: &a [1, 2]\nb: [" + b", ".join([b"*a"] * 300) + b"]"
    assert len(safeload.load_yaml_documents(document)[0]["b"]) == 300
    with pytest.raises(safeload.Refused, match="excessive aliasing"):
        safeload.load_yaml_documents(document + b"\n---\n" + document)


def test_node_limit_counts_expanded_aliases():
    limits = safeload.Limits(max_nodes=50)
    assert safeload.load_yaml(b"a: &a [1, 2, 3]\nb: [*a, *a]", limits)
    with pytest.raises(safeload.Refused, match="more than 50 nodes") as err:
        safeload.load_yaml(b"a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a, *a]", limits)
    assert err.value.reason == "aliases"


def test_within_depth():
    assert safeload.within_depth(json.loads(nested(100)))
    assert not safeload.within_depth(json.loads(nested(101)))


def test_read_file_refuses_past_the_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * 11)
    assert safeload.read_file(str(path), safeload.Limits(max_bytes=11)) == b"#" * 11
    with pytest.raises(safeload.Refused, match="larger than 10 bytes"):
        safeload.read_file(str(path), safeload.Limits(max_bytes=10))


# PyYAML's emitter writes some control and line-separator characters unquoted, and
# its own loader misreads them; they are left out of the round trip
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_round_trips_through_both_loaders(value):
    assert safeload.load_json(json.dumps(value).encode()) == value
    block = yaml.safe_dump({"v": value}, default_flow_style=False, allow_unicode=True)
    assert safeload.load_yaml(block.encode()) == {"v": value}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_load_or_are_refused_in_one_line(raw):
    for load in (safeload.load_yaml, safeload.load_json):
        try:
            load(raw)
        except safeload.Refused as err:
            assert str(err) and "\n" not in str(err)
