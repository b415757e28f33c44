"""WordPress core's ``tests/phpunit/tests/actions.php``, ported to Python under
the original test names. Dropped (PHP-only): ``test_action_args_with_php4_syntax``
(PHP 4 ``array( &$obj )`` unwrapping), ``test_array_access_of_wp_filter_global``
(ArrayAccess on the ``$wp_filter`` global), ``test_do_action_deprecated`` and
``..._with_multiple_params`` (``do_action_deprecated``)."""

from __future__ import annotations

import typing as t

import hooks
from hooks import (
    add_action,
    add_filter,
    apply_filters,
    current_action,
    did_action,
    do_action,
    do_action_ref_array,
    doing_action,
    doing_filter,
    has_action,
    has_filter,
    remove_action,
    remove_filter,
)
from tests.test_hooks_helpers import MockAction


def test_simple_action() -> None:
    a = MockAction()
    hook_name = "test_simple_action"

    add_action(hook_name, a.action)
    do_action(hook_name)

    assert a.call_count == 1
    assert a.hook_names == [hook_name]
    assert a.args[-1] == [""]  # no arguments: callbacks get one empty string


def test_remove_action() -> None:
    a = MockAction()
    hook_name = "test_remove_action"

    add_action(hook_name, a.action)
    do_action(hook_name)
    assert a.call_count == 1
    assert a.hook_names == [hook_name]

    assert remove_action(hook_name, a.action) is True
    do_action(hook_name)
    assert a.call_count == 1
    assert a.hook_names == [hook_name]


def test_has_action() -> None:
    hook_name = "test_has_action"
    callback = "tests.test_hooks_actions.test_has_action_func"  # never called: need not exist

    assert has_action(hook_name, callback) is False
    assert has_action(hook_name) is False

    add_action(hook_name, callback)
    assert has_action(hook_name, callback) == 10
    assert has_action(hook_name) is True

    remove_action(hook_name, callback)
    assert has_action(hook_name, callback) is False
    assert has_action(hook_name) is False


def test_multiple_actions() -> None:
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a1, a2 = MockAction("a1", log), MockAction("a2", log)
    hook_name = "test_multiple_actions"

    add_action(hook_name, a1.action)
    add_action(hook_name, a2.action)
    do_action(hook_name)

    assert log == [("a1", "action", ("",)), ("a2", "action", ("",))]


def test_action_args_1() -> None:
    a = MockAction()
    hook_name = "test_action_args_1"
    val = "test_action_args_1_val"

    add_action(hook_name, a.action)
    do_action(hook_name, val)

    assert a.call_count == 1
    assert a.args[-1] == [val]


def test_action_args_2() -> None:
    a1, a2 = MockAction(), MockAction()
    hook_name = "test_action_args_2"
    val1, val2 = "test_action_args_2_val1", "test_action_args_2_val2"

    add_action(hook_name, a1.action, 10, 2)  # a1 accepts two arguments, a2 one
    add_action(hook_name, a2.action)
    do_action(hook_name, val1, val2)

    assert a1.args == [[val1, val2]]
    assert a2.args == [[val1]]


def test_action_args_3() -> None:
    """Ticket 17817: each callback gets its own number of arguments, whether
    fewer or more than the previous callback."""
    a1, a2, a3 = MockAction(), MockAction(), MockAction()
    hook_name = "test_action_args_3"
    val1, val2 = "test_action_args_3_val1", "test_action_args_3_val2"

    add_action(hook_name, a1.action, 10, 2)
    add_action(hook_name, a2.action)
    add_action(hook_name, a3.action, 10, 2)
    do_action(hook_name, val1, val2)

    assert a1.args == [[val1, val2]]
    assert a2.args == [[val1]]
    assert a3.args == [[val1, val2]]


def test_action_priority() -> None:
    a = MockAction()
    hook_name = "test_action_priority"

    add_action(hook_name, a.action, 10)
    add_action(hook_name, a.action2, 9)
    do_action(hook_name)

    assert a.events == [
        {"method": "action2", "hook_name": hook_name, "args": [""]},  # priority 9 first
        {"method": "action", "hook_name": hook_name, "args": [""]},
    ]


def test_did_action() -> None:
    hook_name1, hook_name2 = "action1", "action2"

    do_action(hook_name1)  # nothing hooked: still counted
    assert did_action(hook_name1) == 1
    assert did_action(hook_name2) == 0

    for _ in range(10):
        do_action(hook_name2)
    assert did_action(hook_name1) == 1
    assert did_action(hook_name2) == 10


def test_all_action() -> None:
    a = MockAction()
    hook_name1, hook_name2 = "test_all_action_1", "test_all_action_2"

    add_action("all", a.action)
    assert has_filter("all", a.action) == 10
    do_action(hook_name1)
    do_action(hook_name2)
    do_action(hook_name1)
    do_action(hook_name1)

    assert a.call_count == 4
    assert a.hook_names == [hook_name1, hook_name2, hook_name1, hook_name1]
    # The 'all' hook gets the hook's name, then the arguments (none here).
    assert a.args == [[hook_name1], [hook_name2], [hook_name1], [hook_name1]]

    remove_action("all", a.action)
    assert has_filter("all", a.action) is False


def test_remove_all_action() -> None:
    a = MockAction()
    hook_name = "test_remove_all_action"

    add_action("all", a.action)
    assert has_filter("all", a.action) == 10
    do_action(hook_name)
    assert a.call_count == 1
    assert a.hook_names == [hook_name]

    remove_action("all", a.action)
    assert has_filter("all", a.action) is False
    do_action(hook_name)
    assert a.call_count == 1
    assert a.hook_names == [hook_name]


def test_action_ref_array() -> None:
    obj = type("Obj", (), {})()
    a = MockAction()
    hook_name = "test_action_ref_array"

    add_action(hook_name, a.action)
    do_action_ref_array(hook_name, [obj])

    assert a.args[0][0] is obj
    obj.foo = True  # type: ignore[attr-defined]
    assert a.args[0][0].foo is True


def test_action_keyed_array() -> None:
    """Ticket 11241: a dict argument arrives as it was passed."""
    a = MockAction()
    hook_name = "test_action_keyed_array"
    add_action(hook_name, a.action)

    context = {"key1": "val1"}
    do_action(hook_name, context)
    assert a.args[0][0] is context

    context2 = {"key2": "val2", "key3": "val3"}
    do_action(hook_name, context2)
    assert a.args[1][0] is context2


def test_action_closure() -> None:
    """Ticket 10493: closures are callbacks with an identity of their own."""
    hook_name = "test_action_closure"
    store: dict[str, t.Any] = {}

    def closure(a: str, b: str) -> None:
        store[a] = b

    add_action(hook_name, closure, 10, 2)
    assert has_action(hook_name, closure) == 10
    do_action(hook_name, "val1", "val2")
    assert store == {"val1": "val2"}

    hook_name2 = "test_action_closure_2"
    closure2 = lambda: store.__setitem__("closure_no_args", True)  # noqa: E731
    add_action(hook_name2, closure2)
    assert has_action(hook_name2, closure2) == 10
    do_action(hook_name2)  # accepted_args 1, but the lambda takes none: called with none
    assert store["closure_no_args"] is True

    assert remove_action(hook_name, closure) is True
    assert remove_action(hook_name2, closure2) is True


def test_action_callback_representations() -> None:
    """Ticket 23265, in Python terms: the same callable reached twice (a
    classmethod or a bound method read anew) is one callback."""
    hook_name = "test_action_callback_representations"
    assert has_action(hook_name) is False

    add_action(hook_name, MockAction.static_action)
    assert has_action(hook_name, MockAction.static_action) == 10

    a = MockAction()
    add_action(hook_name, a.action, 5)
    assert has_action(hook_name, a.action) == 5
    assert has_action(hook_name, MockAction().action) is False  # another object


class _SelfRemover:
    def action_self_removal(self) -> None:
        remove_action("test_action_self_removal", self.action_self_removal)


def test_action_self_removal() -> None:
    remover = _SelfRemover()
    add_action("test_action_self_removal", remover.action_self_removal)
    do_action("test_action_self_removal")
    assert did_action("test_action_self_removal") == 1
    assert has_action("test_action_self_removal") is False


def test_action_recursion() -> None:
    """Ticket 17817: a recursive run calls callbacks of earlier and later
    priority, and the outer run then finishes."""
    hook_name = "test_action_recursion"
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a, b = MockAction("a", log), MockAction("b", log)
    recursing = False

    def action_that_causes_recursion(name: str) -> None:
        nonlocal recursing
        log.append(("recursion", "enter", (recursing,)))
        if not recursing:
            recursing = True
            do_action(name, name)
        recursing = False

    add_action(hook_name, a.action, 11, 1)
    add_action(hook_name, b.action, 13, 1)
    add_action(hook_name, action_that_causes_recursion, 12, 1)
    do_action(hook_name, hook_name)

    assert a.call_count == 2, "recursive actions should call all callbacks with earlier priority"
    assert b.call_count == 2, "recursive actions should call callbacks with later priority"
    assert [entry[:2] for entry in log] == [
        ("a", "action"),
        ("recursion", "enter"),
        ("a", "action"),
        ("recursion", "enter"),
        ("b", "action"),
        ("b", "action"),
    ]


def test_action_callback_manipulation_while_running() -> None:
    """Tickets 9968 and 17817: adding and removing callbacks mid-run."""
    hook_name = "test_action_callback_manipulation_while_running"
    log: list[tuple[str, str, tuple[t.Any, ...]]] = []
    a, b, c, d, e = (MockAction(n, log) for n in "abcde")

    def action_that_manipulates_a_running_hook(name: str, mocks: list[MockAction]) -> None:
        log.append(("manipulator", "action", ()))
        remove_action(name, mocks[1].action, 12)
        add_action(name, mocks[2].action, 12, 2)
        add_action(name, mocks[3].action, 13, 2)
        add_action(name, mocks[4].action, 10, 2)

    add_action(hook_name, a.action, 11, 2)
    add_action(hook_name, action_that_manipulates_a_running_hook, 12, 2)
    add_action(hook_name, b.action, 12, 2)

    do_action(hook_name, hook_name, [a, b, c, d, e])
    do_action(hook_name, hook_name, [a, b, c, d, e])

    assert a.call_count == 2, "callbacks should run unless otherwise instructed"
    assert b.call_count == 1, "callback removed by same priority callback should still get called"
    assert c.call_count == 1, "callback added by same priority callback should not get called"
    assert d.call_count == 2, "callback added by earlier priority callback should get called"
    assert e.call_count == 1, "callback added by later priority callback should not get called"
    assert [name for name, _, _ in log] == ["a", "manipulator", "b", "d", "e", "a", "manipulator", "c", "d"]


def test_remove_anonymous_callback() -> None:
    """Ticket 17817 comment 52: find a callback by inspecting the registry,
    then remove it at the priority found."""
    hook_name = "test_remove_anonymous_callback"
    a = MockAction()
    add_action(hook_name, a.action, 12, 1)
    assert has_action(hook_name) is True

    for priority, callback, _accepted in hooks.callbacks(hook_name):
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, MockAction) and getattr(callback, "__name__", "") == "action":
            assert remove_filter(hook_name, owner.action, priority) is True

    assert has_action(hook_name) is False


def test_current_action() -> None:
    """Ticket 14994: ``current_action`` is ``current_filter``: the innermost hook."""
    seen: list[t.Any] = []
    add_action("second", lambda: seen.append(current_action()))
    add_action("first", lambda: (seen.append(current_action()), do_action("second")))

    assert current_action() is False
    do_action("first")

    assert seen == ["first", "second"]
    assert current_action() is False


def test_doing_filter() -> None:
    """Ticket 14994, with a running filter instead of writing the global stack."""
    seen: dict[str, bool] = {}

    def probe(value: str) -> str:
        seen.update(any=doing_filter(), testing=doing_filter("testing"), something_else=doing_filter("something_else"))
        return value

    assert doing_filter() is False
    assert doing_filter("testing") is False

    add_filter("testing", probe)
    apply_filters("testing", "")

    assert seen == {"any": True, "testing": True, "something_else": False}
    assert doing_filter() is False


def test_doing_action() -> None:
    seen: dict[str, bool] = {}

    def probe() -> None:
        seen.update(any=doing_action(), testing=doing_action("testing"), something_else=doing_action("something_else"))

    assert doing_action() is False
    assert doing_action("testing") is False

    add_action("testing", probe)
    do_action("testing")

    assert seen == {"any": True, "testing": True, "something_else": False}
    assert doing_action() is False


def test_doing_filter_real() -> None:
    checks: list[tuple[str, bool]] = []

    def apply_testing_nested_filter(value: str) -> str:
        checks.extend(
            [
                ("nested: any", doing_filter()),
                ("nested: testing", doing_filter("testing")),
                ("nested: testing_nested", doing_filter("testing_nested")),
                ("nested: something_else", doing_filter("something_else")),
            ]
        )
        return value

    def apply_testing_filter(value: str) -> str:
        checks.extend(
            [
                ("outer: any", doing_filter()),
                ("outer: testing", doing_filter("testing")),
                ("outer: something_else", doing_filter("something_else")),
                ("outer: testing_nested before", doing_filter("testing_nested")),
            ]
        )
        add_filter("testing_nested", apply_testing_nested_filter)
        checks.append(("outer: has_action nested", has_action("testing_nested", apply_testing_nested_filter) == 10))
        apply_filters("testing_nested", "")
        checks.append(("outer: testing_nested after", doing_filter("testing_nested")))
        return value

    assert doing_filter() is False
    assert doing_filter("testing") is False

    add_filter("testing", apply_testing_filter)
    assert has_action("testing") is True
    assert has_action("testing", apply_testing_filter) == 10

    apply_filters("testing", "")

    assert checks == [
        ("outer: any", True),
        ("outer: testing", True),
        ("outer: something_else", False),
        ("outer: testing_nested before", False),
        ("outer: has_action nested", True),
        ("nested: any", True),
        ("nested: testing", True),
        ("nested: testing_nested", True),
        ("nested: something_else", False),
        ("outer: testing_nested after", False),
    ]
    assert doing_filter() is False
    assert doing_filter("testing") is False
