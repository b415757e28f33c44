"""The Segment destination's mapping semantics (the original's Transformer,
case by case), PHP json_encode for the messageId, group maps, hooks and
the write key. Expected values are worked out by hand from the PHP source
(``Transformer::transform``/``fetch``) and PHP's documented behaviour."""

from __future__ import annotations

import gc
import logging
import typing as t

import orjson
import pytest

import hooks
from integrations._segment_map import MappingError, compile_map
from integrations._segment_php import php_float_text, php_json_encode
from tests.segment_support import WRITE_KEY, load_segment

EVENT: dict[str, t.Any] = {
    "event_type": "click",
    "event_timestamp": 1643673911400,
    "attributes": {"url": "https://x.test/a", "empty": "", "zero": "0"},
    "metrics": {"n": 2},
    "endpoint": {
        "Id": "anon-1",
        "Attributes": {"DeviceType": ["mobile", "tablet"], "Nothing": [], "Colour": ["red"]},
        "Location": {"Country": "GB", "City": None},
    },
    "list": [{"a": 1}, {"a": 2}],
}


def shout(value: t.Any) -> str:
    return str(value).upper()


def test_mapping_cases_as_the_php_transformer() -> None:
    mapped = compile_map(
        {
            "plain": "endpoint.Id",
            "nested": {"country": "endpoint.Location.Country", "city": "endpoint.Location.City"},
            "indexed": "endpoint.Attributes.DeviceType.1",
            "deep_index": "list.1.a",
            "callback": "endpoint.Id|tests.test_segment_format.shout",
            "callable": f"attributes.url|{__name__}.shout",
            "static": "hello|static",
            "skipped": "",
            "skipped_zero": "0",
            "missing": "endpoint.Nope",
            "missing_callback": "endpoint.Nope|tests.test_segment_format.shout",
            "empty_string_kept": "attributes.empty",
            "empty_map_dropped": {"x": "endpoint.Nope"},
            "empty_list_dropped": "endpoint.Attributes.Nothing",
            "whole_event": "|tests.test_segment_format.shout",
            "merged": ["endpoint.Attributes", "metrics", "attributes.url", "endpoint.Nope"],
        }
    )(EVENT)

    assert mapped == {
        "plain": "anon-1",
        "nested": {"country": "GB"},  # a null (City) is not set: isset()
        "indexed": "tablet",
        "deep_index": 2,
        "callback": "ANON-1",
        "callable": "HTTPS://X.TEST/A",
        "static": "hello",
        "empty_string_kept": "",
        "whole_event": str(EVENT).upper(),
        # keyless: lists collapsed to their first item, current([]) is false;
        # a scalar or a missing path merges nothing.
        "merged": {"DeviceType": "mobile", "Nothing": False, "Colour": "red", "n": 2},
    }
    assert list(mapped) == [k for k in mapped], "order of the map"


def test_keyless_merge_follows_array_merge() -> None:
    """String keys replace in place; a list's items are appended, numbered."""
    event = {"a": {"x": 1, "y": 2}, "b": {"y": 3, "z": 4}, "c": ["p", "q"]}
    assert compile_map({"m": ["a", "b", "c"]})(event) == {"m": {"x": 1, "y": 3, "z": 4, "0": "p", "1": "q"}}
    assert compile_map({0: "a", "1": "b"})(event) == {"x": 1, "y": 3, "z": 4}, "integer and numeric keys are keyless"


def test_a_bad_map_is_refused_naming_the_key() -> None:
    with pytest.raises(MappingError, match=r"track\.context\.bad"):
        compile_map({"context": {"bad": 3}}, "track")
    with pytest.raises(MappingError, match=r"cannot be imported"):
        compile_map({"x": "a|no_such_module.fn"}, "track")
    with pytest.raises(MappingError, match=r"not a dotted import path"):
        compile_map({"x": "a|strtoupper"}, "track")


@pytest.mark.parametrize(
    ("value", "php"),
    [
        # Each right-hand side worked out from PHP 8's json_encode rules.
        ({"url": "https://a/b"}, '{"url":"https:\\/\\/a\\/b"}'),
        ({"n": 1.0, "m": -2.0, "k": 0.5}, '{"n":1,"m":-2,"k":0.5}'),
        ({"sdk": {}, "l": []}, '{"sdk":[],"l":[]}'),
        ({"t": "café €😀"}, '{"t":"caf\\u00e9 \\u20ac\\ud83d\\ude00"}'),
        ({"c": "\x01\n\x7f"}, '{"c":"\\u0001\\n\x7f"}'),
        ({"0": "a", "1": "b"}, '["a","b"]'),
        ({"1": "a", "0": "b"}, '{"1":"a","0":"b"}'),
        (
            {"f": 1e-5, "g": 1.5e25, "h": 1e16, "i": -0.0, "j": 0.0001},
            '{"f":1.0e-5,"g":1.5e+25,"h":10000000000000000,"i":-0,"j":0.0001}',
        ),
        ({"big": 2**64}, '{"big":1.8446744073709552e+19}'),
        ({"q": 'say "hi" \\o/'}, '{"q":"say \\"hi\\" \\\\o\\/"}'),
    ],
)
def test_php_json_encode(value: t.Any, php: str) -> None:
    assert php_json_encode(value) == php


def test_php_float_text() -> None:
    assert [php_float_text(x) for x in (1.0, 0.1, 1e-4, 1e-5, 1e17, 1.5e-7, 123.456, 2.0**60)] == [
        "1",
        "0.1",
        "0.0001",
        "1.0e-5",
        "1.0e+17",
        "1.5e-7",
        "123.456",
        "1.152921504606847e+18",
    ]


@pytest.fixture
def segment(monkeypatch: pytest.MonkeyPatch) -> t.Any:
    return load_segment(monkeypatch, SEGMENT_API_WRITE_KEY=WRITE_KEY)


def event_line(**changes: t.Any) -> str:
    return orjson.dumps({**EVENT, **changes}).decode()


def test_register_segment_group_map_makes_group_calls(segment: t.Any) -> None:
    """Difference 1: the original's filter returned the map, not the list,
    so no group call was made through register_segment_group_map."""
    segment.register_segment_group_map({"groupId": "endpoint.Location.Country", "traits": {"c": "endpoint.Id"}})
    segment.register_segment_group_field("endpoint.Attributes.DeviceType.0", {"colour": "endpoint.Attributes.Colour.0"})
    segment.register_segment_group_field("endpoint.Nope")  # no groupId for this event: no call

    [calls] = segment.format(event_line())

    assert [c["type"] for c in calls] == ["identify", "group", "group", "track"]
    assert calls[1]["groupId"] == "GB" and calls[1]["traits"] == {"c": "anon-1"}
    assert calls[2]["groupId"] == "mobile" and calls[2]["traits"] == {"colour": "red"}
    assert "context" not in calls[1], "group calls have no context, as in the original"


def test_groups_filter_and_its_original_single_map_shape(segment: t.Any) -> None:
    hooks.add_filter(segment.GROUPS, lambda groups: {"groupId": "endpoint.Id"})  # returns a map, as the original did
    [calls] = segment.format(event_line())
    assert [c["type"] for c in calls] == ["identify", "group", "track"]


def test_mapping_and_formatted_data_filters(segment: t.Any) -> None:
    seen: list[str] = []

    def mapping(tree: dict[str, t.Any], call_type: str) -> dict[str, t.Any]:
        seen.append(call_type)
        if call_type == "track":
            tree["event"] = "event_type|tests.test_segment_format.shout"
            tree["properties"] = {"where": "attributes.url"}
        return tree

    hooks.add_filter(segment.MAPPING, mapping, 10, 2)
    hooks.add_filter(
        segment.FORMATTED_DATA, lambda data: [[c for c in calls if c["type"] != "identify"] for calls in data]
    )

    [calls] = segment.format(event_line())

    assert sorted(seen) == ["identify", "page", "track"]
    assert [c["type"] for c in calls] == ["track"]
    assert calls[0]["event"] == "CLICK" and calls[0]["properties"] == {"where": "https://x.test/a"}


def test_page_call_for_page_views(segment: t.Any) -> None:
    [calls] = segment.format(event_line(event_type="pageView", attributes={"title": "T", "url": "u"}))
    assert calls[-1]["type"] == "page" and calls[-1]["name"] == "T"
    assert calls[-1]["properties"] == {"title": "T", "url": "u"}


def test_lines_that_are_not_objects_are_skipped(segment: t.Any, caplog: pytest.LogCaptureFixture) -> None:
    data = "\n".join([event_line(), "", "not json", "[1]", "{}", event_line(event_type="b")])
    with caplog.at_level(logging.WARNING):
        formatted = segment.format(data)
    assert [calls[-1]["event"] for calls in formatted] == ["click", "b"]
    assert "skipped 3 line(s)" in caplog.text


def fail(value: t.Any) -> t.Any:
    raise RuntimeError("a user callback failed")


def test_format_leaves_the_garbage_collector_as_it_found_it(segment: t.Any) -> None:
    """format pauses the cyclic collector while it maps a batch (a speed-up):
    the process gets it back enabled, also when a map callback raises, and a
    process that had disabled it keeps it disabled."""
    assert gc.isenabled()
    [calls] = segment.format(event_line())
    assert gc.isenabled() and calls[-1]["event"] == "click"

    gc.disable()
    try:
        segment.format(event_line(event_type="pageView"))
        assert not gc.isenabled()
    finally:
        gc.enable()

    hooks.add_filter(segment.MAPPING, lambda tree: {**tree, "event": "event_type|tests.test_segment_format.fail"})
    with pytest.raises(RuntimeError, match="a user callback failed"):
        segment.format(event_line())
    assert gc.isenabled()


def test_write_key_from_env_or_either_filter(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="integrations.segment"):
        module = load_segment(monkeypatch)
    assert not hooks.has_action(module.DATA_PROCESS), "no key: nothing registered"
    assert "Segment destination not enabled: no write key" in caplog.text

    hooks.reset()
    hooks.add_filter("altis.analytic.segment.api_write_key", lambda key: key or "from-the-original-spelling")
    module = load_segment(monkeypatch)
    assert hooks.has_action(module.DATA_PROCESS, module.process) == 10
    assert module.get_segment_api_write_key() == "from-the-original-spelling"

    hooks.reset()
    hooks.add_filter("altis.analytics.segment.api_write_key", lambda key: key + "-site-2")
    module = load_segment(monkeypatch, SEGMENT_API_WRITE_KEY="env")
    assert module.get_segment_api_write_key() == "env-site-2"


def test_bad_settings_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import config

    with pytest.raises(config.ConfigError, match="SEGMENT_API_URL is 'ftp://x'"):
        load_segment(monkeypatch, SEGMENT_API_WRITE_KEY="k", SEGMENT_API_URL="ftp://x")
    with pytest.raises(config.ConfigError, match="SEGMENT_RETRY_ATTEMPTS is 'lots'"):
        load_segment(monkeypatch, SEGMENT_API_WRITE_KEY="k", SEGMENT_RETRY_ATTEMPTS="lots")
