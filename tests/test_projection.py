"""``_fields`` read straight from an event's text (``wpjson._projection``)
against the full path it replaces, ``select(records.loads(text), tree)``.

The hand-worked cases give their expected values as literals, read from the
texts by hand with the rules of wpjson/_fields.py's docstring (WordPress's
``_rest_array_intersect_key_recursive``) and of ``records.loads`` (orjson: a
repeated key keeps its first place and its last value, an integer beyond
64 bits is read as a float; the standard library's ``json`` where orjson
refuses: lone surrogates, numbers beyond a float's range). The property test
then holds the projection to the full path, whose rules those tests and
test_wpjson_fields.py pin, on generated events written as JSON in several
ways (escaped keys, repeated keys, whitespace), comparing values, key order
and types (``repr``).
"""

from __future__ import annotations

import json
import typing as t

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.fields import parse_fields, select
from events.projection import MAX_DEPTH, Projection, projection
from events.records import loads

BENCH_FIELDS = "event_type,event_timestamp,attributes.url,attributes.title,session.session_id"
EVENT = (
    b'{"event_type":"pageView","event_timestamp":1793577619572,"application":{"app_id":"a1"},'
    b'"session":{"session_id":"s-1","start_timestamp":1793577245899},'
    b'"attributes":{"blogId":"1","url":"https://example.com/","title":"Caf\\u00e9 \xe2\x80\x94 \\"best\\""},'
    b'"endpoint":{"Attributes":{"DeviceType":["mobile","tablet"]}},"metrics":{"elapsed":2.5}}'
)


def cut(fields: str, text: bytes) -> t.Any:
    tree = parse_fields(fields)
    assert tree is not None
    return projection(tree).cut(text)


def test_nested_paths_keep_the_text_order_and_unknown_fields_are_absent() -> None:
    got = cut(BENCH_FIELDS + ",nope,attributes.nope", EVENT)
    assert repr(got) == repr(
        {
            "event_type": "pageView",
            "event_timestamp": 1793577619572,
            "session": {"session_id": "s-1"},
            "attributes": {"url": "https://example.com/", "title": 'Café — "best"'},
        }
    )
    assert projection(parse_fields(BENCH_FIELDS) or {}).fast  # the bench's _fields is read by msgspec


def test_whole_values_and_list_indexes() -> None:
    assert cut("metrics,endpoint.Attributes.DeviceType.0", EVENT) == {
        "endpoint": {"Attributes": {"DeviceType": ["mobile"]}},
        "metrics": {"elapsed": 2.5},
    }
    # [1 => "tablet"] is no list any more: json_encode writes an object.
    second = cut("endpoint.Attributes.DeviceType.1", EVENT)
    assert second == {"endpoint": {"Attributes": {"DeviceType": {"1": "tablet"}}}}
    # A list where the tree goes deeper by a name that is no index: nothing of it is kept.
    assert cut("endpoint.Attributes.DeviceType.name", EVENT) == {"endpoint": {"Attributes": {"DeviceType": []}}}
    # Lists of objects, cut item by item.
    text = b'{"a":[{"b":1,"c":2},{"c":3}],"z":0}'
    assert cut("a.0.b,a.1.c", text) == {"a": [{"b": 1}, {"c": 3}]}


def test_a_scalar_where_the_tree_goes_deeper_stays_whole() -> None:
    assert cut("event_type.x,metrics.elapsed.y", EVENT) == {"event_type": "pageView", "metrics": {"elapsed": 2.5}}
    assert cut("a.b", b'{"a":null}') == {"a": None}
    assert cut("a.b", b'{"a":true}') == {"a": True}


def test_dotted_and_escaped_keys() -> None:
    # "a.b" is a key of its own: the path a.b names the nested one.
    assert cut("a.b", b'{"a.b":1,"a":{"b":2,"a.b":3}}') == {"a": {"b": 2}}
    assert cut("a", b'{"a.b":1,"a":{"b":2,"a.b":3}}') == {"a": {"b": 2, "a.b": 3}}
    # A key written with escapes is the key it spells.
    assert cut("ab.c", b'{"\\u0061b":{"\\u0063":1,"d":2}}') == {"ab": {"c": 1}}


def test_a_repeated_key_keeps_its_first_place_and_its_last_value() -> None:
    assert list(cut("a,b", b'{"a":1,"b":2,"a":3}').items()) == [("a", 3), ("b", 2)]
    assert cut("a.x", b'{"a":{"x":1},"b":0,"a":{"y":2}}') == {"a": {}}
    assert cut("a.x", b'{"a":{"x":1},"a":"text"}') == {"a": "text"}


def test_keys_that_are_not_ascii() -> None:
    # msgspec 0.22 matches such keys of a TypedDict built at run time against nothing, or against
    # the empty key: these trees take the full path.
    text = '{"":0,"ü":{"é":1,"x":2},"日本":3}'.encode()
    assert cut("ü.é,日本", text) == {"ü": {"é": 1}, "日本": 3}
    assert cut("ü", b'{"":0}') == {}
    assert cut("a..b", b'{"a":{"":{"b":1,"c":2}}}') == {"a": {"": {"b": 1}}}


def test_numbers_as_orjson_reads_them() -> None:
    text = b'{"a":18446744073709551615,"b":18446744073709551616,"c":-9223372036854775809,"d":1e400,"e":-0.0,"f":1E2}'
    got = cut("a,b,c,e,f", text.replace(b'"d":1e400,', b""))
    assert repr(got) == repr({"a": 18446744073709551615, "b": 1.8446744073709552e19, "c": -9.223372036854776e18,
                               "e": -0.0, "f": 100.0})  # fmt: skip
    # orjson refuses 1e400: the standard library reads it as infinity, wanted or not.
    assert cut("d", text) == {"d": float("inf")}
    assert cut("a", text) == {"a": 18446744073709551615}
    # A big integer deep inside a whole value.
    assert repr(cut("x", b'{"x":{"y":[1,{"z":123456789012345678901234567890}]}}')) == repr(
        {"x": {"y": [1, {"z": 1.2345678901234568e29}]}}
    )


def test_lone_surrogates_wanted_or_not() -> None:
    assert cut("t", b'{"t":"Great news \\ud83d","u":1}') == {"t": "Great news \ud83d"}
    assert cut("u", b'{"t":"Great news \\ud83d","u":1}') == {"u": 1}
    assert cut("t", b'{"t":"\\ud83d\\ude00"}') == {"t": "\U0001f600"}


def test_a_text_loads_refuses_is_not_cut_as_if_it_were_read() -> None:
    # Not the catalog's selected lines (all read by loads), but no made-up reading of a broken text either.
    with pytest.raises(orjson.JSONDecodeError):
        cut("a", b'{"a":1,}')
    with pytest.raises(orjson.JSONDecodeError):
        cut("a", b'{"a":NaN}')


def test_a_tree_deeper_than_max_depth_takes_the_full_path() -> None:
    fields = ".".join(["attributes", "title", *["x"] * 5000])
    tree = parse_fields(fields)
    assert tree is not None
    assert not projection(tree).fast and not Projection(tree).fast
    assert cut(fields, EVENT) == {"attributes": {"title": 'Café — "best"'}}
    deepest = ".".join(["a"] * MAX_DEPTH)
    text = b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH
    assert projection(parse_fields(deepest) or {}).fast
    assert cut(deepest, text) == loads(text)


# ------------------------------------------------------------------ generated events

# Few names (dotted, empty, digits, not ASCII) so that trees and events meet, lists and indexes too.
NAMES = st.sampled_from(["a", "b", "c", "0", "1", "a.b", "", "é", "x"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**66), max_value=2**66),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["\ud83d", "\x00", "caf\u00e9", "\U0001f600"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=4)),
    max_leaves=12,
)
PATHS = st.lists(NAMES, min_size=1, max_size=4).map(".".join)


def _text(value: t.Any, style: int) -> str:
    """``value`` as JSON text: compact, escaped to ASCII, or spaced."""
    if style == 0:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if style == 1:
        return json.dumps(value, ensure_ascii=True)
    return json.dumps(value, indent=1, ensure_ascii=False)


@st.composite
def event_texts(draw: st.DrawFn) -> bytes:
    """An event's text; sometimes a key repeated (another value later in the text)."""
    members = draw(st.lists(st.tuples(NAMES, VALUES), max_size=5))
    style = draw(st.integers(0, 2))
    parts = [f"{json.dumps(key)}:{_text(value, style)}" for key, value in members]
    return ("{" + ",".join(parts) + "}").encode("utf-8", "surrogatepass")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(event_texts(), min_size=1, max_size=4), paths=st.lists(PATHS, min_size=1, max_size=4))
def test_the_projection_is_the_full_reading_cut(texts: list[bytes], paths: list[str]) -> None:
    tree = parse_fields(",".join(paths))
    if tree is None:
        return
    cutter = projection(tree)
    for text in texts:
        try:
            full = loads(text)
        except orjson.JSONDecodeError:
            continue  # invalid UTF-8 (a lone surrogate written raw): never a selected line (Projection.cut)
        assert repr(cutter.cut(text)) == repr(select(full, tree)), text
