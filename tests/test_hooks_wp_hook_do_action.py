"""WordPress core's ``tests/phpunit/tests/hooks/doAction.php`` (``WP_Hook::do_action``),
ported under the original test names. Non-integer priorities of
``test_priority_callback_order`` are refused here (see test_hooks_wp_hook.py)."""

from __future__ import annotations

import typing as t

import pytest

from hooks import add_filter, do_action, remove_filter
from tests.test_hooks_helpers import MockAction


class _Recorder:
    """WordPress's ``_action_callback( ...$args )``: records what it got."""

    def __init__(self) -> None:
        self.events: list[tuple[t.Any, ...]] = []

    def action_callback(self, *args: t.Any) -> None:
        self.events.append(args)


def test_do_action_with_callback() -> None:
    a = MockAction()
    add_filter("test_do_action_with_callback", a.action, 1, 2)
    do_action("test_do_action_with_callback", "test_do_action_with_callback_arg")
    assert a.args == [["test_do_action_with_callback_arg"]]


def test_do_action_with_multiple_calls() -> None:
    a = MockAction()
    add_filter("test_do_action_with_multiple_calls", a.filter, 1, 2)
    do_action("test_do_action_with_multiple_calls", "arg")
    do_action("test_do_action_with_multiple_calls", "arg")
    assert a.call_count == 2


def test_do_action_with_multiple_callbacks_on_same_priority() -> None:
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a, b = MockAction("a", log), MockAction("b", log)
    add_filter("test_do_action_with_multiple_callbacks_on_same_priority", a.filter, 1, 2)
    add_filter("test_do_action_with_multiple_callbacks_on_same_priority", b.filter, 1, 2)
    do_action("test_do_action_with_multiple_callbacks_on_same_priority", "arg")
    assert log == [("a", "filter", ("arg",)), ("b", "filter", ("arg",))]


def test_do_action_with_multiple_callbacks_on_different_priorities() -> None:
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a, b = MockAction("a", log), MockAction("b", log)
    add_filter("test_do_action_with_multiple_callbacks_on_different_priorities", b.filter, 2, 2)
    add_filter("test_do_action_with_multiple_callbacks_on_different_priorities", a.filter, 1, 2)
    do_action("test_do_action_with_multiple_callbacks_on_different_priorities", "arg")
    assert log == [("a", "filter", ("arg",)), ("b", "filter", ("arg",))]


@pytest.mark.parametrize(
    ("priorities", "expected_call_order"),
    [
        pytest.param((10, 9), ["action2", "action"], id="int DESC"),
        pytest.param((9, 10), ["action", "action2"], id="int ASC"),
    ],
)
def test_priority_callback_order(priorities: tuple[int, int], expected_call_order: list[str]) -> None:
    """Ticket 60193."""
    mock = MockAction()
    add_filter("test_priority_callback_order", mock.action, priorities[0], 1)
    add_filter("test_priority_callback_order", mock.action2, priorities[1], 1)
    do_action("test_priority_callback_order", "")
    assert mock.methods == expected_call_order


def test_do_action_with_no_accepted_args() -> None:
    r = _Recorder()
    add_filter("test_do_action_with_no_accepted_args", r.action_callback, 1, 0)
    do_action("test_do_action_with_no_accepted_args", "arg")
    assert r.events == [()]


def test_do_action_with_one_accepted_arg() -> None:
    r = _Recorder()
    add_filter("test_do_action_with_one_accepted_arg", r.action_callback, 1, 1)
    do_action("test_do_action_with_one_accepted_arg", "arg", "second")
    assert r.events == [("arg",)]


def test_do_action_with_more_accepted_args() -> None:
    r = _Recorder()
    add_filter("test_do_action_with_more_accepted_args", r.action_callback, 100, 1000)
    do_action("test_do_action_with_more_accepted_args", "arg")
    assert r.events == [("arg",)]


class _DoesntChangeValue:
    hook = "do_action_doesnt_change_value"

    def __init__(self) -> None:
        self.output = ""

    def value1(self, value: str) -> str:
        self.output += value + "1"
        return "x1"

    def value2(self, value: str) -> str:
        remove_filter(self.hook, self.value2, 10)
        self.output += "-"
        do_action(self.hook, "b")
        self.output += "-"
        add_filter(self.hook, self.value2, 10, 1)
        self.output += value + "2"
        return "x2"

    def value3(self, value: str) -> str:
        self.output += value + "3"
        return "x3"


def test_do_action_doesnt_change_value() -> None:
    """Return values of action callbacks are ignored; each gets the action's argument."""
    f = _DoesntChangeValue()
    add_filter(f.hook, f.value1, 10, 1)
    add_filter(f.hook, f.value2, 10, 1)
    add_filter(f.hook, f.value3, 11, 1)

    do_action(f.hook, "a")

    assert f.output == "a1-b1b3-a2a3"
