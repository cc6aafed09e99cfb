"""The SkyDNS format: exact JSON as Go writes it, Go's decoding rules, name <-> key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedns.records import skydns

# Values from CoreDNS's plugin/etcd/README.md examples, as json.Marshal re-encodes them
# (field order host, port, priority, weight, text, mail, ttl, targetstrip, group).
README = [
    pytest.param('{"host":"reverse.skydns.local."}',
                 skydns.Service(host="reverse.skydns.local."),
                 '{"host":"reverse.skydns.local."}', id="reverse-ptr"),
    pytest.param('{"host":"1.1.1.1","ttl":60}', skydns.Service(host="1.1.1.1", ttl=60),
                 '{"host":"1.1.1.1","ttl":60}', id="zone-apex-a"),
    pytest.param('{"host":"skydns-local.server","ttl":60,"priority":10,"port":8080}',
                 skydns.Service(host="skydns-local.server", ttl=60, priority=10, port=8080),
                 '{"host":"skydns-local.server","port":8080,"priority":10,"ttl":60}',
                 id="srv"),
    pytest.param('{"ttl":60,"text":"this is a random text message."}',
                 skydns.Service(text="this is a random text message.", ttl=60),
                 '{"text":"this is a random text message.","ttl":60}', id="txt"),
]


@pytest.mark.parametrize(("given_json", "service", "marshalled"), README)
def test_readme_examples_decode_and_marshal_as_go(given_json, service, marshalled):
    assert skydns.Service.from_json(given_json) == service
    assert service.to_json() == marshalled


@pytest.mark.parametrize("value", [
    pytest.param('{"host":"1.1.1.1","ttl":"60"}', id="readme-string-ttl"),
    pytest.param('{"host":"2003::8:1","ttl":"60"}', id="readme-string-ttl-v6"),
])
def test_readme_string_ttl_is_rejected_as_go_rejects_it(value):
    # The README's round-robin examples quote the TTL; Go's Unmarshal fails on them
    # ("cannot unmarshal string into ... uint32") and CoreDNS answers SERVFAIL.
    with pytest.raises(skydns.BadValue):
        skydns.Service.from_json(value)


MARSHAL = [
    pytest.param(skydns.Service(), "{}", id="all-zero"),
    pytest.param(skydns.Service(host="192.0.2.10", ttl=30), '{"host":"192.0.2.10","ttl":30}',
                 id="design-a"),
    pytest.param(skydns.Service(host="hello.default.myfed.svc.example.com.", ttl=30),
                 '{"host":"hello.default.myfed.svc.example.com.","ttl":30}', id="design-cname"),
    pytest.param(skydns.Service("h", 1, 2, 3, "t", True, 4, 5, "g"),
                 '{"host":"h","port":1,"priority":2,"weight":3,"text":"t","mail":true,'
                 '"ttl":4,"targetstrip":5,"group":"g"}', id="every-field-in-order"),
    pytest.param(skydns.Service(port=-1), '{"port":-1}', id="negative-port"),
    pytest.param(skydns.Service(ttl=4294967295), '{"ttl":4294967295}', id="max-ttl"),
    pytest.param(skydns.Service(text="<a href='x'>&</a>"),
                 '{"text":"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e"}', id="html-escape"),
    pytest.param(skydns.Service(text="a\u2028b\u2029c"), '{"text":"a\\u2028b\\u2029c"}',
                 id="line-separators"),
    pytest.param(skydns.Service(text='q"b\\s/'), '{"text":"q\\"b\\\\s/"}', id="quote-backslash"),
    pytest.param(skydns.Service(text="\t\n\r\b\f"), '{"text":"\\t\\n\\r\\b\\f"}',
                 id="short-escapes"),
    pytest.param(skydns.Service(text="\x00\x01\x1f\x7f"), '{"text":"\\u0000\\u0001\\u001f\x7f"}',
                 id="control-chars"),
    pytest.param(skydns.Service(text="café ☃ 😀"), '{"text":"café ☃ 😀"}', id="utf8-raw"),
    pytest.param(skydns.Service(text="bad\udc80"), '{"text":"bad\ufffd"}', id="lone-surrogate"),
]


@pytest.mark.parametrize(("service", "text"), MARSHAL)
def test_to_json_is_go_marshal(service, text):
    assert service.to_json() == text


UNMARSHAL = [
    pytest.param('{"HOST":"x","Ttl":5}', skydns.Service(host="x", ttl=5), id="case-insensitive"),
    pytest.param('{"host":"x","extra":{"a":[1,2]}}', skydns.Service(host="x"), id="unknown-field"),
    pytest.param('{"host":null,"ttl":null}', skydns.Service(), id="nulls"),
    pytest.param("null", skydns.Service(), id="top-level-null"),
    pytest.param('{"host":"a","host":"b"}', skydns.Service(host="b"), id="last-wins"),
    pytest.param(' {"mail":true} ', skydns.Service(mail=True), id="whitespace"),
    pytest.param('{"Key":"/skydns/x"}', skydns.Service(), id="key-is-not-decoded"),
    # Go's decoder: a lone surrogate escape is U+FFFD, a valid pair one character
    pytest.param('{"text":"a\\ud800b","host":"\\udc80"}',
                 skydns.Service(text="a\ufffdb", host="\ufffd"), id="lone-surrogates"),
    pytest.param('{"text":"\\ud83d\\ude00"}', skydns.Service(text="\U0001f600"),
                 id="surrogate-pair"),
]


@pytest.mark.parametrize(("text", "service"), UNMARSHAL)
def test_from_json_follows_go_unmarshal(text, service):
    assert skydns.Service.from_json(text) == service


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"),
    pytest.param("[1]", id="array"),
    pytest.param('"x"', id="string"),
    pytest.param('{"ttl":-1}', id="negative-uint32"),
    pytest.param('{"ttl":4294967296}', id="uint32-overflow"),
    pytest.param('{"port":1.5}', id="fraction"),
    pytest.param('{"port":1e2}', id="exponent"),
    pytest.param('{"port":true}', id="bool-for-int"),
    pytest.param('{"mail":1}', id="int-for-bool"),
    pytest.param('{"host":1}', id="int-for-string"),
    pytest.param('{"ttl":NaN}', id="nan"),
    pytest.param('{"host":"x"} x', id="trailing-data"),
    pytest.param('{"host":"x"', id="truncated"),
])
def test_from_json_rejects_what_go_rejects(text):
    with pytest.raises(skydns.BadValue):
        skydns.Service.from_json(text)


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
services = st.builds(
    skydns.Service,
    host=text, port=st.integers(-(2**63), 2**63 - 1), priority=st.integers(0, 65535),
    weight=st.integers(0, 65535), text=text, mail=st.booleans(),
    ttl=st.integers(0, 2**32 - 1), targetstrip=st.integers(0, 10), group=text,
)


@given(services)
def test_json_round_trip(service):
    encoded = service.to_json()
    assert skydns.Service.from_json(encoded.encode()) == service
    # Only the escapes Go uses appear: no raw '<', '>', '&' or control characters.
    assert not any(c in encoded for c in "<>&\u2028\u2029") and min(encoded) >= " "


@given(services.filter(lambda s: " " not in s.host + s.text + s.group))
def test_json_has_no_spaces(service):
    assert " " not in service.to_json()


KEYS = [
    pytest.param("hello.default.myfed.svc.example.com", "/skydns",
                 "/skydns/com/example/svc/myfed/default/hello", id="design"),
    pytest.param("Hello.DEFAULT.myfed.svc.Example.com.", "/skydns",
                 "/skydns/com/example/svc/myfed/default/hello", id="fqdn-mixed-case"),
    pytest.param("service.staging.skydns.local.", "skydns",
                 "/skydns/local/skydns/staging/service", id="path-go-comment"),
    pytest.param("a.b", "/dns/records/", "/dns/records/b/a", id="multi-component-prefix"),
    pytest.param(".", "/skydns", "/skydns", id="root"),
    pytest.param("_http._tcp.x.y", "/skydns", "/skydns/y/x/_tcp/_http", id="srv-labels"),
]


@pytest.mark.parametrize(("name", "prefix", "key"), KEYS)
def test_name_to_key(name, prefix, key):
    assert skydns.name_to_key(name, prefix) == key


@pytest.mark.parametrize(("key", "prefix", "name"), [
    pytest.param("/skydns/local/skydns/", "/skydns", "skydns.local.", id="trailing-slash"),
    pytest.param("/skydns/local/skydns/x1", "/skydns", "x1.skydns.local.", id="leaf"),
    pytest.param("/dns/r/b/a", "/dns/r", "a.b.", id="multi-component-prefix"),
    pytest.param("/skydns", "/skydns", ".", id="root"),
])
def test_key_to_name(key, prefix, name):
    assert skydns.key_to_name(key, prefix) == name


@pytest.mark.parametrize(("key", "prefix"), [
    pytest.param("/other/com", "/skydns", id="outside-prefix"),
    pytest.param("/skydnsx/com", "/skydns", id="prefix-is-not-a-string-prefix"),
    pytest.param("/skydns/com//x", "/skydns", id="empty-component"),
])
def test_key_to_name_rejects(key, prefix):
    with pytest.raises(skydns.BadKey):
        skydns.key_to_name(key, prefix)


@pytest.mark.parametrize("name", [
    pytest.param("a..b", id="empty-label"),
    pytest.param("a/b.c", id="slash"),
    pytest.param("x" * 64 + ".com", id="long-label"),
])
def test_name_to_key_rejects(name):
    with pytest.raises(skydns.BadName):
        skydns.name_to_key(name)


labels = st.text(alphabet=st.characters(blacklist_characters="./", blacklist_categories=("Cs",)),
                 min_size=1, max_size=20).filter(lambda s: len(s.encode()) <= 63)


@given(st.lists(labels, min_size=1, max_size=8), st.sampled_from(["/skydns", "skydns", "/a/b/"]),
       st.booleans())
def test_name_key_round_trip(parts, prefix, fqdn):
    name = ".".join(parts) + ("." if fqdn else "")
    key = skydns.name_to_key(name, prefix)
    assert skydns.key_to_name(key, prefix) == ".".join(parts).lower() + "."
    assert skydns.name_to_key(skydns.key_to_name(key, prefix), prefix) == key


@pytest.mark.parametrize(("address", "label"), [
    ("192.0.2.10", "192-0-2-10"),
    ("2001:db8::1", "2001-db8--1"),
    ("2001:DB8:0:0:0:0:0:10", "2001-db8--10"),
])
def test_leaf_label(address, label):
    assert skydns.leaf_label(address) == label


@pytest.mark.parametrize(("host", "ip"), [
    ("192.0.2.1", "192.0.2.1"), ("::ffff:192.0.2.1", "192.0.2.1"), ("2001:db8::1", "2001:db8::1"),
    ("example.com.", None), ("", None), ("010.0.0.1", None), (" 1.2.3.4", None),
    ("fe80::1%eth0", None),
])
def test_host_address_as_go_parse_ip(host, ip):
    got = skydns.Service(host=host).host_address()
    assert (str(got) if got else None) == ip
