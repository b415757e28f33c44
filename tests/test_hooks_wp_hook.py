"""WordPress core's ``tests/phpunit/tests/hooks/*.php`` (the ``WP_Hook`` class
tests: addFilter, applyFilters, hasFilter, hasFilters, removeFilter,
removeAllFilters, iterator, doAllHook, buildUniqueId), ported under the
original test names to this module's functions; ``doAction.php`` is in
``test_hooks_wp_hook_do_action.py``. The registry is read through
``hooks.callbacks()`` where WordPress reads ``$hook->callbacks``.

Dropped: ``preinitHooks.php`` (``WP_Hook::build_preinitialized_hooks`` for a
``$wp_filter`` array set before WordPress loads: no such boot phase here),
``siteScoped.php`` (multisite), ``hasFilters.php``'s
``test_not_has_filter_with_directly_removed_callback`` (unsets the PHP array
directly), ``buildUniqueId.php``'s malformed-array cases (PHP array callables),
and ``arrayAccess.php`` (PHP ArrayAccess). ``test_priority_callback_order``'s
non-integer priorities (strings, floats, null, bools) are PHP type juggling:
here they are refused when registered, which is tested instead.
"""

from __future__ import annotations

import typing as t

import pytest

import hooks
from hooks import add_filter, apply_filters, do_action, has_filter, remove_all_filters, remove_filter
from tests.test_hooks_helpers import MockAction


def _priorities(hook_name: str) -> list[int]:
    return sorted({priority for priority, _, _ in hooks.callbacks(hook_name)})


def _at(hook_name: str, priority: int) -> list[tuple[t.Any, int]]:
    return [(cb, accepted) for prio, cb, accepted in hooks.callbacks(hook_name) if prio == priority]


# --- addFilter.php -----------------------------------------------------------


def test_add_filter_with_function() -> None:
    hook_name = "test_add_filter_with_function"
    add_filter(hook_name, "__return_null", 1, 2)
    assert hooks.callbacks(hook_name) == [(1, "__return_null", 2)]


def test_add_filter_with_object() -> None:
    a = MockAction()
    hook_name = "test_add_filter_with_object"
    add_filter(hook_name, a.action, 1, 2)
    assert hooks.callbacks(hook_name) == [(1, a.action, 2)]


def test_add_filter_with_static_method() -> None:
    hook_name = "test_add_filter_with_static_method"
    add_filter(hook_name, MockAction.static_action, 1, 2)
    assert hooks.callbacks(hook_name) == [(1, MockAction.static_action, 2)]


def test_add_two_filters_with_same_priority() -> None:
    hook_name = "test_add_two_filters_with_same_priority"
    add_filter(hook_name, "__return_null", 1, 2)
    assert len(_at(hook_name, 1)) == 1
    add_filter(hook_name, "__return_false", 1, 2)
    assert _at(hook_name, 1) == [("__return_null", 2), ("__return_false", 2)]


def test_add_two_filters_with_different_priority() -> None:
    hook_name = "test_add_two_filters_with_different_priority"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_false", 2, 2)
    assert _at(hook_name, 1) == [("__return_null", 2)]
    assert _at(hook_name, 2) == [("__return_false", 2)]


def test_readd_filter() -> None:
    hook_name = "test_readd_filter"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_null", 1, 2)
    assert _at(hook_name, 1) == [("__return_null", 2)]


def test_readd_filter_with_different_priority() -> None:
    hook_name = "test_readd_filter_with_different_priority"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_null", 2, 2)
    assert _at(hook_name, 1) == [("__return_null", 2)]
    assert _at(hook_name, 2) == [("__return_null", 2)]


def test_sort_after_add_filter() -> None:
    a, b, c = MockAction(), MockAction(), MockAction()
    hook_name = "test_sort_after_add_filter"
    add_filter(hook_name, a.action, 10, 1)
    add_filter(hook_name, b.action, 5, 1)
    add_filter(hook_name, c.action, 8, 1)
    assert [prio for prio, _, _ in hooks.callbacks(hook_name)] == [5, 8, 10]


class _RemoveAndAdd:
    """The callbacks of addFilter.php's remove-and-add tests, as filters."""

    hook = "remove_and_add"

    def add1(self, value: str) -> str:
        return value + "1"

    def add2(self, value: str) -> str:
        remove_filter(self.hook, self.add2, 11)
        add_filter(self.hook, self.add2, 11, 1)
        return value + "2"

    def remove_and_recurse_and_add2(self, value: str) -> str:
        remove_filter(self.hook, self.remove_and_recurse_and_add2, 11)
        value += "-" + apply_filters(self.hook, "") + "-"
        add_filter(self.hook, self.remove_and_recurse_and_add2, 11, 1)
        return value + "2"

    def add3(self, value: str) -> str:
        return value + "3"

    def add4(self, value: str) -> str:
        return value + "4"


def test_remove_and_add() -> None:
    f = _RemoveAndAdd()
    add_filter(f.hook, "__return_empty_string", 10, 0)
    add_filter(f.hook, f.add2, 11, 1)
    add_filter(f.hook, f.add4, 12, 1)

    value = apply_filters(f.hook, "")

    assert _priorities(f.hook) == [10, 11, 12]
    assert value == "24"


def test_remove_and_add_last_filter() -> None:
    f = _RemoveAndAdd()
    add_filter(f.hook, "__return_empty_string", 10, 0)
    add_filter(f.hook, f.add1, 11, 1)
    add_filter(f.hook, f.add2, 12, 1)  # removes itself at 11 (not there), adds itself at 11

    value = apply_filters(f.hook, "")

    assert _priorities(f.hook) == [10, 11, 12]
    assert value == "12"


def test_remove_and_recurse_and_add() -> None:
    f = _RemoveAndAdd()
    add_filter(f.hook, "__return_empty_string", 10, 0)
    add_filter(f.hook, f.add1, 11, 1)
    add_filter(f.hook, f.remove_and_recurse_and_add2, 11, 1)
    add_filter(f.hook, f.add3, 11, 1)
    add_filter(f.hook, f.add4, 12, 1)
    assert _priorities(f.hook) == [10, 11, 12]

    value = apply_filters(f.hook, "")

    assert value == "1-134-234"


class _RemoveAndAddAction:
    """The same as actions writing to ``output`` (accepted_args 0)."""

    hook = "remove_and_add_action"

    def __init__(self) -> None:
        self.output = ""

    def add1(self) -> None:
        self.output += "1"

    def add2(self) -> None:
        remove_filter(self.hook, self.add2, 11)
        add_filter(self.hook, self.add2, 11, 0)
        self.output += "2"

    def remove_and_recurse_and_add2(self) -> None:
        remove_filter(self.hook, self.remove_and_recurse_and_add2, 11)
        self.output += "-"
        do_action(self.hook)
        self.output += "-"
        add_filter(self.hook, self.remove_and_recurse_and_add2, 11, 0)
        self.output += "2"

    def add3(self) -> None:
        self.output += "3"

    def add4(self) -> None:
        self.output += "4"


def test_remove_and_add_action() -> None:
    f = _RemoveAndAddAction()
    add_filter(f.hook, "__return_empty_string", 10, 0)
    add_filter(f.hook, f.add2, 11, 0)
    add_filter(f.hook, f.add4, 12, 0)

    do_action(f.hook)

    assert f.output == "24"


def test_remove_and_add_last_action() -> None:
    f = _RemoveAndAddAction()
    add_filter(f.hook, "__return_empty_string", 10, 0)
    add_filter(f.hook, f.add1, 11, 0)
    add_filter(f.hook, f.add2, 12, 0)

    do_action(f.hook)

    assert f.output == "12"


def test_remove_and_recurse_and_add_action() -> None:
    f = _RemoveAndAddAction()
    add_filter(f.hook, "__return_empty_string", 10, 0)
    add_filter(f.hook, f.add1, 11, 0)
    add_filter(f.hook, f.remove_and_recurse_and_add2, 11, 0)
    add_filter(f.hook, f.add3, 11, 0)
    add_filter(f.hook, f.add4, 12, 0)

    do_action(f.hook)

    assert f.output == "1-134-234"


# --- applyFilters.php ----------------------------------------------------------


def test_apply_filters_with_callback() -> None:
    a = MockAction()
    hook_name = "test_apply_filters_with_callback"
    arg = "test_apply_filters_with_callback_arg"
    add_filter(hook_name, a.filter, 1, 2)

    returned = apply_filters(hook_name, arg)

    assert returned == arg
    assert a.args == [[arg]]


def test_apply_filters_with_multiple_calls() -> None:
    a = MockAction()
    hook_name = "test_apply_filters_with_multiple_calls"
    arg = "test_apply_filters_with_multiple_calls_arg"
    add_filter(hook_name, a.filter, 1, 2)

    returned_one = apply_filters(hook_name, arg)
    returned_two = apply_filters(hook_name, returned_one)

    assert returned_two == arg
    assert a.call_count == 2


@pytest.mark.parametrize(
    ("priorities", "expected_call_order"),
    [
        pytest.param((10, 9), ["filter2", "filter"], id="int DESC"),
        pytest.param((9, 10), ["filter", "filter2"], id="int ASC"),
    ],
)
def test_priority_callback_order(priorities: tuple[int, int], expected_call_order: list[str]) -> None:
    """Ticket 60193."""
    mock = MockAction()
    hook_name = "test_priority_callback_order"
    add_filter(hook_name, mock.filter, priorities[0], 1)
    add_filter(hook_name, mock.filter2, priorities[1], 1)

    apply_filters(hook_name, "test_priority_callback_order_val")

    assert mock.methods == expected_call_order


@pytest.mark.parametrize("priority", ["10", 9.5, "9.5", None, True, False, "test"])
def test_priority_callback_order_rejects_non_integer_priorities(priority: t.Any) -> None:
    """Ticket 60193's unhappy path: PHP coerces these; we refuse them when
    registered, naming the hook, and register nothing."""
    with pytest.raises(TypeError, match=r"hook 'test_priority_callback_order'.*priority must be an int"):
        add_filter("test_priority_callback_order", MockAction().filter, priority, 1)
    assert has_filter("test_priority_callback_order") is False


# --- hasFilter.php -------------------------------------------------------------


def test_has_filter_with_function() -> None:
    add_filter("test_has_filter_with_function", "__return_null", 1, 2)
    assert has_filter("test_has_filter_with_function", "__return_null") == 1


def test_has_filter_with_object() -> None:
    a = MockAction()
    add_filter("test_has_filter_with_object", a.action, 1, 2)
    assert has_filter("test_has_filter_with_object", a.action) == 1


def test_has_filter_with_static_method() -> None:
    add_filter("test_has_filter_with_static_method", MockAction.static_action, 1, 2)
    assert has_filter("test_has_filter_with_static_method", MockAction.static_action) == 1


def test_has_filter_without_callback() -> None:
    add_filter("test_has_filter_without_callback", "__return_null", 1, 2)
    assert has_filter("test_has_filter_without_callback") is True


def test_not_has_filter_without_callback() -> None:
    assert has_filter("test_not_has_filter_without_callback") is False


def test_not_has_filter_with_callback() -> None:
    assert has_filter("test_not_has_filter_with_callback", "__return_null") is False


def test_has_filter_with_wrong_callback() -> None:
    add_filter("test_has_filter_with_wrong_callback", "__return_null", 1, 2)
    assert has_filter("test_has_filter_with_wrong_callback", "__return_false") is False


# --- hasFilters.php ------------------------------------------------------------


def test_has_filters_with_callback() -> None:
    add_filter("test_has_filters_with_callback", "__return_null", 42, 3)
    assert has_filter("test_has_filters_with_callback") is True


def test_has_filters_without_callback() -> None:
    assert has_filter("test_has_filters_without_callback") is False


def test_not_has_filters_with_removed_callback() -> None:
    hook_name = "test_not_has_filters_with_removed_callback"
    add_filter(hook_name, "__return_null", 42, 3)
    remove_filter(hook_name, "__return_null", 42)
    assert has_filter(hook_name) is False


# --- removeFilter.php ----------------------------------------------------------


def test_remove_filter_with_function() -> None:
    hook_name = "test_remove_filter_with_function"
    add_filter(hook_name, "__return_null", 1, 2)
    assert remove_filter(hook_name, "__return_null", 1) is True
    assert 1 not in _priorities(hook_name)
    assert hooks.callbacks(hook_name) == []


def test_remove_filter_with_object() -> None:
    a = MockAction()
    hook_name = "test_remove_filter_with_object"
    add_filter(hook_name, a.action, 1, 2)
    assert remove_filter(hook_name, a.action, 1) is True
    assert hooks.callbacks(hook_name) == []


def test_remove_filter_with_static_method() -> None:
    hook_name = "test_remove_filter_with_static_method"
    add_filter(hook_name, MockAction.static_action, 1, 2)
    assert remove_filter(hook_name, MockAction.static_action, 1) is True
    assert hooks.callbacks(hook_name) == []


def test_remove_filters_with_another_at_same_priority() -> None:
    hook_name = "test_remove_filters_with_another_at_same_priority"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_false", 1, 2)

    remove_filter(hook_name, "__return_null", 1)

    assert _at(hook_name, 1) == [("__return_false", 2)]


def test_remove_filter_with_another_at_different_priority() -> None:
    hook_name = "test_remove_filter_with_another_at_different_priority"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_false", 2, 2)

    remove_filter(hook_name, "__return_null", 1)

    assert _priorities(hook_name) == [2]
    assert _at(hook_name, 2) == [("__return_false", 2)]


# --- removeAllFilters.php ------------------------------------------------------


def test_remove_all_filters() -> None:
    hook_name = "test_remove_all_filters"
    add_filter(hook_name, "__return_null", 1, 2)

    assert remove_all_filters(hook_name) is True

    assert _priorities(hook_name) == []
    assert has_filter(hook_name) is False


def test_remove_all_filters_with_priority() -> None:
    hook_name = "test_remove_all_filters_with_priority"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_false", 2, 2)

    remove_all_filters(hook_name, 1)

    assert _priorities(hook_name) == [2]
    assert has_filter(hook_name, "__return_null") is False
    assert has_filter(hook_name) is True
    assert has_filter(hook_name, "__return_false") == 2


# --- iterator.php --------------------------------------------------------------


def test_foreach() -> None:
    hook_name = "test_foreach"
    add_filter(hook_name, "__return_null", 1, 2)
    add_filter(hook_name, "__return_false", 2, 2)

    assert [(prio, cb) for prio, cb, _ in hooks.callbacks(hook_name)] == [(1, "__return_null"), (2, "__return_false")]


# --- doAllHook.php -------------------------------------------------------------


def test_do_all_hook_with_multiple_calls() -> None:
    a = MockAction()
    add_filter("all", a.action, 1, 2)

    do_action("all_arg")
    do_action("all_arg")

    assert a.call_count == 2
    assert a.args == [["all_arg"], ["all_arg"]]


# --- buildUniqueId.php ---------------------------------------------------------


def test_string_callback_returns_string() -> None:
    """A string callback is identified by the string: the same name registered
    twice is one entry."""
    add_filter("test_string_callback_returns_string", "__return_null")
    add_filter("test_string_callback_returns_string", "__return_null")
    assert hooks.callbacks("test_string_callback_returns_string") == [(10, "__return_null", 1)]


def test_two_different_objects_produce_different_ids() -> None:
    a, b = MockAction(), MockAction()
    add_filter("test_two_different_objects_produce_different_ids", a.action)
    add_filter("test_two_different_objects_produce_different_ids", b.action)
    assert [cb for _, cb, _ in hooks.callbacks("test_two_different_objects_produce_different_ids")] == [
        a.action,
        b.action,
    ]


def test_same_object_produces_same_id() -> None:
    a = MockAction()
    add_filter("test_same_object_produces_same_id", a.action)
    add_filter("test_same_object_produces_same_id", a.action)  # a new bound-method object, same callback
    assert len(hooks.callbacks("test_same_object_produces_same_id")) == 1
