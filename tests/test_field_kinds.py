"""Field kinds compiled per shape (``events.field_kinds.FieldKinds``, issue 15)
against the key-by-key walk (``records.add_field_kinds``), whose rules (a JSON
number within INT64 or a float is a number, anything else text, nulls and empty
lists no field) test_records.py and test_catalog.py pin from the README.

Hypothesis makes events of few shapes whose values change kind under the same
keys, as test_csv_rows.py does for the compiled CSV rows: what the compiled
checks must notice.
"""

from __future__ import annotations

import typing as t

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import field_kinds, shapes
from events.field_kinds import FieldKinds
from events.records import add_field_kinds
from tests.test_csv_rows import EVENTS, VALUES, _variants


def _walked(events: t.Iterable[dict[str, t.Any]]) -> tuple[set[str], set[str], set[str]]:
    numbers: set[str] = set()
    others: set[str] = set()
    floats: set[str] = set()
    for event in events:
        add_field_kinds(numbers, others, floats, event)
    return numbers, others, floats


def _compiled(events: t.Iterable[dict[str, t.Any]]) -> tuple[set[str], set[str], set[str]]:
    kinds = FieldKinds()
    for event in events:
        kinds.add(event)
    return kinds.sets()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates=st.lists(EVENTS, min_size=1, max_size=4), replacements=st.lists(VALUES, min_size=1, max_size=3))
def test_compiled_kinds_equal_the_walk(templates: list[dict[str, t.Any]], replacements: list[t.Any]) -> None:
    events = [variant for template in templates for variant in _variants(template, replacements)]
    assert _compiled(events) == _walked(events)
    # Each event alone too: a shape compiled for one event must not lend its names to the next.
    for event in events:
        assert _compiled([event]) == _walked([event])


def test_integers_past_int64_are_text_whatever_was_compiled() -> None:
    low, high = -(2**63), 2**63 - 1
    events = [{"n": 1, "m": {"k": 2}}, {"n": high, "m": {"k": low}}, {"n": high + 1, "m": {"k": low - 1}}]
    assert _compiled(events[:2]) == ({"n", "m.k"}, set(), set())
    # The same keys with integers just outside INT64 (a Parquet INT64 cannot hold them): text.
    assert _compiled(events) == ({"n", "m.k"}, {"n", "m.k"}, set())
    assert _compiled(events[2:]) == (set(), {"n", "m.k"}, set())


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        ({"a": []}, {"a": [1]}, (set(), {"a"}, set())),  # an empty list is no field; one with items is text
        ({"a": [1]}, {"a": []}, (set(), {"a"}, set())),
        ({"a": {}}, {"a": {"b": 1.5}}, ({"a.b"}, set(), {"a.b"})),  # an empty object holds no field
        ({"a": {"b": 1}}, {"a": {}}, ({"a.b"}, set(), set())),
        ({"a": None}, {"a": True}, (set(), {"a"}, set())),
        ({"a": True}, {"a": 1}, ({"a"}, {"a"}, set())),  # a boolean is not a number
        ({"a": 1}, {"a": 1.0}, ({"a"}, set(), {"a"})),
        ({"a": {"b": 1}}, {"a": {"c": "x"}}, ({"a.b"}, {"a.c"}, set())),  # other keys under the same name
        ({"a": {"b": 1}}, {"a": "x"}, ({"a.b"}, {"a"}, set())),
    ],
)
def test_a_value_of_another_kind_under_the_same_keys_is_sorted_by_its_own_kind(
    first: dict[str, t.Any], then: dict[str, t.Any], expected: tuple[set[str], set[str], set[str]]
) -> None:
    assert _compiled([first, then]) == expected
    assert _compiled([then, first]) == expected


def test_any_key_text_is_a_name() -> None:
    # Keys are never code: quotes, backslashes, line ends and other scripts are names like any other.
    odd = ["a'b", 'c"d', "e\\f", "g\nh", "é.ü", "", " ", "{x}", "v1"]
    event = {key: {key: index} for index, key in enumerate(odd)}
    assert _compiled([event, event]) == _walked([event])
    assert "a'b.a'b" in _compiled([event])[0]


def test_a_nesting_deeper_than_python_allows_in_one_function_is_sorted() -> None:
    event: dict[str, t.Any] = {"leaf": 1, "text": "x"}
    for level in range(300):
        event = {f"k{level}": event, "n": level}
    numbers, others, _floats = _compiled([event, event])
    assert (numbers, others) == _walked([event])[:2]
    assert len(numbers) == 301 and len(others) == 1


def test_shapes_past_the_limit_are_still_sorted_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(field_kinds, "MAX_SHAPES", field_kinds._compiled[0])  # no more compiling in this process
    events = [{f"fresh{index}": index, "t": {"u": [index] if index % 2 else []}} for index in range(5)]
    assert _compiled(events) == _walked(events)
    assert _compiled(events) == ({f"fresh{index}" for index in range(5)}, {"t.u"}, set())


@pytest.fixture
def fresh() -> t.Iterator[None]:
    """The process's compiled shapes as in a new process (other tests compile many)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(field_kinds, "_tables", {"": {}})
        patch.setattr(field_kinds, "_compiled", [0])
        patch.setattr(field_kinds, "_seen_once", shapes.SeenOnce())
        yield


@pytest.mark.usefixtures("fresh")
def test_a_shape_is_compiled_the_second_time_it_is_met() -> None:
    # The hypothesis test above checks compiled code only if shapes are compiled: make sure they are.
    event = {"only_here_a": 1, "only_here_b": {"c": "x", "d": 2.5}}
    before = field_kinds._compiled[0]
    assert _compiled([event]) == ({"only_here_a", "only_here_b.d"}, {"only_here_b.c"}, {"only_here_b.d"})
    assert field_kinds._compiled[0] == before  # met once: walked
    assert _compiled([event, {**event, "only_here_a": "now text"}]) == (
        {"only_here_a", "only_here_b.d"},
        {"only_here_a", "only_here_b.c"},
        {"only_here_b.d"},
    )
    assert field_kinds._compiled[0] == before + 1


@pytest.mark.usefixtures("fresh")
def test_keys_that_differ_every_time_are_walked_not_compiled() -> None:
    """An id used as a key (every event's keys its own) would make each event
    pay a compile that is never used again, and keep its code: such objects,
    and objects wider than MAX_SHAPE_KEYS, are walked (found by review: a cold
    day of such events took 25x the walk's time and kept 220 MB)."""
    before = field_kinds._compiled[0]
    unique = [{"attributes": {f"id-{index}": index, "blogId": "1"}} for index in range(300)]
    assert _compiled(unique) == _walked(unique)
    wide = {f"k{index}": index for index in range(shapes.MAX_SHAPE_KEYS + 1)}
    nested_wide = {"a": {f"k{index}": "x" for index in range(shapes.MAX_SHAPE_KEYS)}, "b": 1}
    for event in (wide, nested_wide):
        assert _compiled([event, event, event]) == _walked([event])
    # The unique events' one top shape ("attributes",) is compiled, their 300 attribute shapes are not;
    # nested_wide's top shape is found too wide with what it inlines (counted, kept as a walk).
    assert field_kinds._compiled[0] - before == 2
    assert set(field_kinds._tables[""]) == {("attributes",), ("a", "b")}
