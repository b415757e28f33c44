"""WordPress core's ``tests/phpunit/tests/filters.php``, ported to Python under
the original test names. Dropped: ``test_apply_filters_deprecated`` and its two
variants (``apply_filters_deprecated``), ``test_current_priority`` and
``test_other_priority`` (``WP_Hook::current_priority()`` on the ``$wp_filter``
global's objects, which this module does not expose). The two ``*_ref_*``
tests about PHP references become identity checks: Python passes objects by
reference anyway."""

from __future__ import annotations

import typing as t

from hooks import (
    add_action,
    add_filter,
    apply_filters,
    apply_filters_ref_array,
    did_filter,
    has_filter,
    remove_all_filters,
    remove_filter,
)
from tests.test_hooks_helpers import MockAction


def test_simple_filter() -> None:
    a = MockAction()
    hook_name = "test_simple_filter"
    val = "test_simple_filter_val"

    add_filter(hook_name, a.filter)
    assert apply_filters(hook_name, val) == val

    assert a.call_count == 1
    assert a.hook_names == [hook_name]
    assert a.args[-1] == [val]


def test_remove_filter() -> None:
    a = MockAction()
    hook_name = "test_remove_filter"
    val = "test_remove_filter_val"

    add_filter(hook_name, a.filter)
    assert apply_filters(hook_name, val) == val
    assert a.call_count == 1
    assert a.hook_names == [hook_name]

    assert remove_filter(hook_name, a.filter) is True
    assert apply_filters(hook_name, val) == val
    assert a.call_count == 1
    assert a.hook_names == [hook_name]


def test_has_filter() -> None:
    hook_name = "test_has_filter"
    callback = "tests.test_hooks_filters.test_has_filter_func"  # never called: need not exist

    assert has_filter(hook_name, callback) is False
    assert has_filter(hook_name) is False

    add_filter(hook_name, callback)
    assert has_filter(hook_name, callback) == 10
    assert has_filter(hook_name) is True

    remove_filter(hook_name, callback)
    assert has_filter(hook_name, callback) is False
    assert has_filter(hook_name) is False


def test_multiple_filters() -> None:
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a1, a2 = MockAction("a1", log), MockAction("a2", log)
    hook_name = "test_multiple_filters"
    val = "test_multiple_filters_val"

    add_filter(hook_name, a1.filter)
    add_filter(hook_name, a2.filter)
    assert apply_filters(hook_name, val) == val

    assert log == [("a1", "filter", (val,)), ("a2", "filter", (val,))]


def test_filter_args_1() -> None:
    a = MockAction()
    hook_name = "test_filter_args_1"
    val, arg1 = "test_filter_args_1_val", "test_filter_args_1_arg1"

    add_filter(hook_name, a.filter, 10, 2)
    assert apply_filters(hook_name, val, arg1) == val

    assert a.call_count == 1
    assert a.args[-1] == [val, arg1]


def test_filter_args_2() -> None:
    a1, a2 = MockAction(), MockAction()
    hook_name = "test_filter_args_2"
    val, arg1, arg2 = "test_filter_args_2_val", "test_filter_args_2_arg1", "test_filter_args_2_arg2"

    add_filter(hook_name, a1.filter, 10, 3)  # a1 takes the value and both arguments, a2 the value only
    add_filter(hook_name, a2.filter)
    assert apply_filters(hook_name, val, arg1, arg2) == val

    assert a1.args == [[val, arg1, arg2]]
    assert a2.args == [[val]]


def test_filter_priority() -> None:
    a = MockAction()
    hook_name = "test_filter_priority"
    val = "test_filter_priority_val"

    add_filter(hook_name, a.filter, 10)
    add_filter(hook_name, a.filter2, 9)
    assert apply_filters(hook_name, val) == val

    assert a.events == [
        {"method": "filter2", "hook_name": hook_name, "args": [val]},  # priority 9 first
        {"method": "filter", "hook_name": hook_name, "args": [val]},
    ]


def test_did_filter() -> None:
    hook_name1, hook_name2 = "filter1", "filter2"
    val = "test_did_filter_val"

    apply_filters(hook_name1, val)  # nothing hooked: still counted
    assert did_filter(hook_name1) == 1
    assert did_filter(hook_name2) == 0

    for _ in range(10):
        apply_filters(hook_name2, val)
    assert did_filter(hook_name1) == 1
    assert did_filter(hook_name2) == 10


def test_all_filter() -> None:
    a = MockAction()
    hook_name1, hook_name2 = "test_all_filter_1", "test_all_filter_2"
    val = "test_all_filter_val"

    add_filter("all", a.filterall)
    assert apply_filters(hook_name1, val) == val
    assert apply_filters(hook_name2, val) == val
    assert apply_filters(hook_name1, val) == val
    assert apply_filters(hook_name1, val) == val

    assert a.call_count == 4
    assert a.hook_names == [hook_name1, hook_name2, hook_name1, hook_name1]
    assert a.args == [[val]] * 4

    remove_filter("all", a.filterall)
    assert has_filter("all", a.filterall) is False


def test_remove_all_filter() -> None:
    a = MockAction()
    hook_name = "test_remove_all_filter"
    val = "test_remove_all_filter_val"

    add_filter("all", a.filterall)
    assert has_filter("all") is True
    assert has_filter("all", a.filterall) == 10
    assert apply_filters(hook_name, val) == val
    assert a.call_count == 1
    assert a.hook_names == [hook_name]

    remove_filter("all", a.filterall)
    assert has_filter("all", a.filterall) is False
    assert has_filter("all") is False
    assert apply_filters(hook_name, val) == val
    assert a.call_count == 1
    assert a.hook_names == [hook_name]


def test_remove_all_filters_should_respect_the_priority_argument() -> None:
    """Ticket 20920."""
    a = MockAction()
    hook_name = "test_remove_all_filters_should_respect_the_priority_argument"

    add_filter(hook_name, a.filter, 12)
    assert has_filter(hook_name) is True

    assert remove_all_filters(hook_name, 11) is True  # nothing at 11: nothing removed
    assert has_filter(hook_name) is True

    assert remove_all_filters(hook_name, 12) is True
    assert has_filter(hook_name) is False


def test_filter_with_ref_value() -> None:
    """Ticket 53218: the very object passed in is what callbacks get and what
    comes back."""
    obj = type("Obj", (), {})()
    a = MockAction()
    hook_name = "test_filter_with_ref_value"
    add_action(hook_name, a.filter)

    filtered = apply_filters(hook_name, obj)

    assert a.args[0][0] is obj
    assert filtered is obj


def test_filter_with_ref_argument() -> None:
    obj = type("Obj", (), {})()
    a = MockAction()
    hook_name = "test_filter_with_ref_argument"
    add_action(hook_name, a.filter, 10, 2)

    apply_filters(hook_name, "Hello", obj)

    assert a.args[0] == ["Hello", obj]
    assert a.args[0][1] is obj


def test_filter_ref_array() -> None:
    """Ticket 9886."""
    obj = type("Obj", (), {})()
    a = MockAction()
    hook_name = "test_filter_ref_array"
    add_action(hook_name, a.filter)

    apply_filters_ref_array(hook_name, [obj])

    assert a.args[0][0] is obj


def test_filter_ref_array_result() -> None:
    """Ticket 12723: the value runs through each callback; extra arguments
    are passed unchanged."""
    obj = type("Obj", (), {})()
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a, b = MockAction("a", log), MockAction("b", log)
    hook_name = "test_filter_ref_array_result"

    add_action(hook_name, a.filter_append, 10, 2)
    add_action(hook_name, b.filter_append, 10, 2)

    result = apply_filters_ref_array(hook_name, ["string", obj])

    assert result == "string_append_append"
    assert log == [("a", "filter_append", ("string", obj)), ("b", "filter_append", ("string_append", obj))]
    assert a.args[0][1] is obj
    assert b.args[0][1] is obj


def test_has_filter_after_remove_all_filters() -> None:
    """Ticket 29070."""
    a = MockAction()
    hook_name = "test_has_filter_after_remove_all_filters"

    add_filter(hook_name, a.filter, 11)
    add_filter(hook_name, a.filter, 12)
    assert has_filter(hook_name) is True

    remove_all_filters(hook_name)
    assert has_filter(hook_name) is False

    add_filter(hook_name, a.filter, 11)
    add_filter(hook_name, a.filter, 12)
    assert has_filter(hook_name) is True

    remove_all_filters(hook_name, 11)
    remove_all_filters(hook_name, 12)
    assert has_filter(hook_name) is False
