"""The generated mappers (``integrations._segment_codegen``) against the
reference closures of ``integrations._segment_map``, whose rules
``test_segment_format`` pins case by case from the PHP Transformer: on
generated maps and events, the same result in the same key order, the same
callback calls in the same order, and the same errors."""

from __future__ import annotations

import copy
import typing as t

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import _segment_codegen as codegen
from integrations._segment_map import MappingError, compile_map

HERE = __name__
calls: list[tuple[str, t.Any]] = []


def _log(name: str, value: t.Any) -> None:
    calls.append((name, copy.deepcopy(value)))


def upper(value: t.Any) -> t.Any:
    _log("upper", value)
    return str(value).upper()


def wrap(value: t.Any) -> t.Any:
    _log("wrap", value)
    return {"w": value, "0": value}


def listify(value: t.Any) -> t.Any:
    _log("listify", value)
    return [value, value]


def nothing(value: t.Any) -> t.Any:
    _log("nothing", value)
    return None


def mutate(value: t.Any) -> t.Any:
    """Changes what it is handed: later paths must read the changed event."""
    _log("mutate", value)
    if isinstance(value, dict):
        value.pop("a", None)
        value["b"] = {"a": "set by mutate", "0": ["x"]}
    elif isinstance(value, list):
        value.append("appended")
    return "mutated"


@codegen.pure_callback
def pure_length(value: t.Any) -> t.Any:
    _log("pure_length", value)
    return len(value) if isinstance(value, (str, list, dict)) else None


CALLBACKS = ["upper", "wrap", "listify", "nothing", "mutate", "pure_length"]
SEGMENTS = st.sampled_from(["a", "b", "c", "0", "1", "01", "²", "-1"])
PATHS = st.builds(
    lambda segments, suffix: ".".join(segments) + suffix,
    st.lists(SEGMENTS, max_size=3),
    st.sampled_from(["", "", "|static", "|static|x"] + [f"|{HERE}.{name}" for name in CALLBACKS]),
)
KEYS = st.sampled_from(["a", "b", "type", "0", "1", "7", "-1", "01", " 1", "x.y"]) | st.integers(0, 2)
BRANCHES: st.SearchStrategy[t.Any] = st.recursive(
    PATHS | st.sampled_from(["", "0", None, [], {}]),
    lambda children: st.dictionaries(KEYS, children, max_size=5) | st.lists(PATHS, max_size=3),
    max_leaves=14,
)
MAPS = st.dictionaries(KEYS, BRANCHES, max_size=6) | st.lists(PATHS, max_size=4)
EVENT_KEYS = st.sampled_from(["a", "b", "c", "0", "1", "01", "²", "-1", "z"])
EVENT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "0", "s", "a/b"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(EVENT_KEYS, children, max_size=4),
    max_leaves=20,
)
EVENTS = st.dictionaries(EVENT_KEYS, EVENT_VALUES, max_size=5) | EVENT_VALUES


def ordered(value: t.Any) -> t.Any:
    """A comparable form that keeps dict key order and types."""
    if isinstance(value, dict):
        return ("dict", [(type(k).__name__, k, ordered(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [ordered(v) for v in value])
    return (type(value).__name__, value)


def run(mapper_of: t.Callable[[t.Any], t.Any], tree: t.Any, event: t.Any) -> tuple[t.Any, ...]:
    calls.clear()
    try:
        mapper = mapper_of(tree)
    except MappingError as exc:
        return ("MappingError", str(exc))
    event = copy.deepcopy(event)
    try:
        result = ordered(mapper(event))
    except Exception as exc:  # the same error, from the same place in the rules
        result = (type(exc).__name__, str(exc))
    return result, ordered(event), list(calls)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MAPS, EVENTS)
def test_generated_mapper_is_the_reference(tree: t.Any, event: t.Any) -> None:
    assert run(codegen.compile_mapper, tree, event) == run(compile_map, tree, event)


def test_a_callback_that_changes_the_event_is_seen_by_later_paths() -> None:
    tree = {"before": "b.a", "m": f"|{HERE}.mutate", "after": "b.a", "gone": "a"}
    event = {"a": "kept?", "b": {"a": "original"}}
    expected = {"before": "original", "m": "mutated", "after": "set by mutate"}  # worked by hand
    assert codegen.compile_mapper(tree)(copy.deepcopy(event)) == expected
    assert compile_map(tree)(copy.deepcopy(event)) == expected


def test_one_compiled_function_per_distinct_map() -> None:
    tree = {"x": "a.b", "y": {"z": f"a|{HERE}.upper"}}
    first = codegen.compile_mapper(tree)
    assert codegen.compile_mapper(copy.deepcopy(tree)) is first, "an equal map (as the filters return each batch)"
    assert codegen.compile_mapper({**tree, "x": "a.c"}) is not first


def test_errors_name_the_key_as_the_reference_does() -> None:
    with pytest.raises(MappingError, match=r"track\.context\.bad"):
        codegen.compile_mapper({"context": {"bad": 3}}, "track")
