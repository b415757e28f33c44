"""What ``hooks`` adds or changes for Python: the two deliberate differences
from WordPress, string callbacks, argument trimming by signature, validation
at registration, ``callbacks()``/``callback_id()``, ``reset()`` and threads."""

from __future__ import annotations

import collections
import functools
import logging
import re
import subprocess
import sys
import threading
import tracemalloc
import typing as t
from pathlib import Path

import pytest

import hooks
from hooks import (
    HookCallbackError,
    add_action,
    add_filter,
    apply_filters,
    current_filter,
    did_action,
    did_filter,
    do_action,
    do_action_ref_array,
    doing_filter,
    has_filter,
    remove_action,
    remove_filter,
)
from tests.test_hooks_helpers import MockAction

REPO_ROOT = Path(__file__).resolve().parent.parent


def module_level_filter(value: str) -> str:
    """Reached by the string callback ``tests.test_hooks_python.module_level_filter``."""
    return value + "+module"


class Greeter:
    def greet(self, value: str) -> str:
        return value + "+greet"

    @staticmethod
    def shout(value: str) -> str:
        return value.upper()


NOT_CALLABLE = 42


# --- The two deliberate differences from WordPress -----------------------------


def test_trac_64653_sole_callback_removing_itself_does_not_skip_next_priority() -> None:
    """WordPress skips priority 12 here: removing the only callback at 11
    re-sorts the running iteration onto 12, which ``next()`` then skips."""
    log: list[str] = []

    def first() -> None:
        log.append("10")

    def remove_self() -> None:
        log.append("11")
        remove_action("trac_64653", remove_self, 11)

    def after() -> None:
        log.append("12")

    add_action("trac_64653", first, 10, 0)
    add_action("trac_64653", remove_self, 11, 0)
    add_action("trac_64653", after, 12, 0)

    do_action("trac_64653")
    do_action("trac_64653")

    assert log == ["10", "11", "12", "10", "12"]


def test_trac_64653_remove_all_at_running_priority_does_not_skip_next_priority() -> None:
    log: list[str] = []
    add_action("trac_64653_all", lambda: (log.append("11"), hooks.remove_all_actions("trac_64653_all", 11)), 11, 0)
    add_action("trac_64653_all", lambda: log.append("12"), 12, 0)

    do_action("trac_64653_all")

    assert log == ["11", "12"]


def test_current_filter_restored_when_callback_raises() -> None:
    """WordPress leaves a failed hook on ``$wp_current_filter``; here the
    stack is popped, so an outer hook that catches the error sees itself."""
    seen: list[t.Any] = []

    def failing(value: str) -> str:
        raise RuntimeError("boom")

    def outer(value: str) -> str:
        try:
            apply_filters("inner_hook", value)
        except RuntimeError:
            seen.append((current_filter(), doing_filter("inner_hook"), doing_filter("outer_hook")))
        return value + "!"

    add_filter("inner_hook", failing)
    add_filter("outer_hook", outer)

    assert apply_filters("outer_hook", "v") == "v!"
    assert seen == [("outer_hook", False, True)]
    assert current_filter() is False
    assert doing_filter() is False


def test_stack_restored_when_callback_raises_through_every_level() -> None:
    add_action("level_2", lambda: 1 / 0, 10, 0)
    add_action("level_1", lambda: do_action("level_2"), 10, 0)

    with pytest.raises(ZeroDivisionError):
        do_action("level_1")

    assert current_filter() is False
    assert doing_filter("level_1") is False
    assert did_action("level_1") == 1
    assert did_action("level_2") == 1
    # The hooks are not left "running": removing their callbacks forgets them.
    hooks.remove_all_actions("level_1")
    assert has_filter("level_1") is False


# --- Arguments -----------------------------------------------------------------


def test_callback_with_fewer_parameters_gets_only_as_many() -> None:
    """PHP ignores surplus arguments; a Python callback taking one parameter
    registered with accepted_args=3 gets one."""
    got: list[tuple[t.Any, ...]] = []

    def one(value: str) -> str:
        got.append((value,))
        return value + "1"

    def two(value: str, extra: str, /) -> str:
        got.append((value, extra))
        return value + "2"

    def none() -> str:
        got.append(())
        return "reset"

    add_filter("fewer", one, 10, 3)
    add_filter("fewer", two, 11, 3)
    add_filter("fewer", none, 12, 3)

    assert apply_filters("fewer", "v", "a", "b") == "reset"
    assert got == [("v",), ("v1", "a"), ()]


def test_var_positional_callback_gets_accepted_args() -> None:
    got: list[tuple[t.Any, ...]] = []
    add_action("varargs", lambda *args: got.append(args), 10, 2)
    add_action("varargs", lambda first, *rest: got.append((first, *rest)), 11, 5)
    do_action("varargs", 1, 2, 3)
    assert got == [(1, 2), (1, 2, 3)]


def test_keyword_only_parameters_are_not_filled() -> None:
    got: list[t.Any] = []

    def cb(value: str, *, flag: bool = False) -> None:
        got.append((value, flag))

    add_action("kwonly", cb, 10, 3)
    do_action("kwonly", "a", True, "c")
    assert got == [("a", False)]


def test_signature_is_inspected_once() -> None:
    class Counting:
        """A callable whose signature reads are counted."""

        reads = 0

        @property
        def __signature__(self) -> t.Any:
            type(self).reads += 1
            import inspect

            return inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_OR_KEYWORD)])

        def __call__(self, *args: t.Any) -> t.Any:
            return args

    cb = Counting()
    add_filter("sig_once", cb, 10, 3)
    results = [apply_filters("sig_once", "v", "extra") for _ in range(5)]

    assert results == [("v",)] * 5  # trimmed to the one declared parameter
    assert Counting.reads == 1


def test_do_action_ref_array_passes_nothing_for_empty_sequence() -> None:
    got: list[tuple[t.Any, ...]] = []
    all_got: list[tuple[t.Any, ...]] = []
    add_action("ref_array", lambda *args: got.append(args), 10, 3)
    add_action("all", lambda *args: all_got.append(args), 10, 1)

    do_action_ref_array("ref_array", [])
    do_action_ref_array("ref_array", ["a", "b"])

    assert got == [(), ("a", "b")]
    assert all_got == [("ref_array", []), ("ref_array", ["a", "b"])]


def test_apply_filters_ref_array_needs_a_value() -> None:
    with pytest.raises(TypeError, match="must hold the value"):
        hooks.apply_filters_ref_array("needs_value", [])


def test_all_hook_runs_first_with_hook_name_and_every_argument() -> None:
    """WordPress's do_all_hook passes all arguments regardless of accepted_args."""
    log: list[tuple[t.Any, ...]] = []
    add_filter("all", lambda *args: log.append(("all", *args)), 10, 1)
    add_filter("with_all", lambda value, extra: log.append(("hook", value, extra)) or value + "!", 10, 2)

    assert apply_filters("with_all", "v", "x") == "v!"
    do_action("without_callbacks")
    do_action("with_all", "a", "b")

    assert log == [
        ("all", "with_all", "v", "x"),
        ("hook", "v", "x"),
        ("all", "without_callbacks"),
        ("all", "with_all", "a", "b"),
        ("hook", "a", "b"),
    ]


def test_all_hook_sees_current_filter() -> None:
    seen: list[t.Any] = []
    add_action("all", lambda name: seen.append((name, current_filter())))
    do_action("watched")
    assert seen == [("watched", "watched")]


# --- Registration rules ----------------------------------------------------------


def test_readd_same_callback_at_same_priority_keeps_place_and_updates_accepted_args() -> None:
    a, b = MockAction("a"), MockAction("b")
    add_filter("readd", a.filter, 10, 1)
    add_filter("readd", b.filter, 10, 1)
    add_filter("readd", a.filter, 10, 2)
    assert hooks.callbacks("readd") == [(10, a.filter, 2), (10, b.filter, 1)]


def test_has_filter_priority_zero_is_not_false() -> None:
    add_filter("zero", "__return_true", 0)
    found = has_filter("zero", "__return_true")
    assert found == 0
    assert found is not False
    assert has_filter("zero", "__return_false") is False


def test_has_filter_with_priority_argument() -> None:
    add_filter("exact", "__return_true", 5)
    assert has_filter("exact", "__return_true", 5) is True
    assert has_filter("exact", "__return_true", 10) is False


def test_has_filter_returns_lowest_priority() -> None:
    add_filter("lowest", "__return_true", 20)
    add_filter("lowest", "__return_true", -5)
    assert has_filter("lowest", "__return_true") == -5


def test_remove_filter_needs_the_exact_priority() -> None:
    add_filter("exact_remove", "__return_true", 5)
    assert remove_filter("exact_remove", "__return_true") is False  # default 10
    assert has_filter("exact_remove", "__return_true") == 5
    assert remove_filter("exact_remove", "__return_true", 5) is True
    assert remove_filter("exact_remove", "__return_true", 5) is False


def test_bound_methods_of_different_objects_are_different_callbacks() -> None:
    g1, g2 = Greeter(), Greeter()
    add_filter("greet", g1.greet)
    add_filter("greet", g2.greet)
    add_filter("greet", g1.greet)
    assert apply_filters("greet", "x") == "x+greet+greet"
    assert remove_filter("greet", g2.greet) is True
    assert apply_filters("greet", "x") == "x+greet"


def test_builtin_bound_method_identity() -> None:
    seen: list[t.Any] = []
    add_action("builtin", seen.append)
    add_action("builtin", seen.append)
    do_action("builtin", "once")
    assert seen == ["once"]
    assert remove_action("builtin", seen.append) is True


def test_returns_true_and_negative_priorities_run_first() -> None:
    log: list[int] = []
    assert add_action("neg", lambda: log.append(0), 0, 0) is True
    assert add_action("neg", lambda: log.append(-10), -10, 0) is True
    assert add_action("neg", lambda: log.append(99), 99, 0) is True
    do_action("neg")
    assert log == [-10, 0, 99]


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["list"]])
def test_non_callable_callback_raises_type_error_naming_hook(bad: t.Any) -> None:
    with pytest.raises(TypeError, match="hook 'my_hook': callback must be callable or a string"):
        add_filter("my_hook", bad)
    assert has_filter("my_hook") is False


@pytest.mark.parametrize("accepted_args", [-1, True, 1.0, "1", None])
def test_accepted_args_must_be_a_non_negative_int(accepted_args: t.Any) -> None:
    with pytest.raises(TypeError, match="hook 'my_hook': accepted_args must be an int >= 0"):
        add_filter("my_hook", "__return_true", 10, accepted_args)


def test_hook_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match=re.escape("hook name must be a str, got tuple: ('not', 'a', 'name')")):
        add_filter(("not", "a", "name"), "__return_true")  # type: ignore[arg-type]


def test_a_non_callable_callback_is_named_by_its_type() -> None:
    with pytest.raises(TypeError, match=re.escape("callback must be callable or a string, got int: 42")):
        add_filter("my_hook", 42)  # type: ignore[arg-type]


def test_a_malformed_string_callback_error_lists_the_return_helpers() -> None:
    with pytest.raises(HookCallbackError) as info:
        add_filter("my_hook", "no_dots")
    assert "one of __return_true, __return_false, __return_zero, __return_null, " in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: remove_filter("prio_hook", "__return_true", "10"),  # type: ignore[arg-type]
        lambda: hooks.remove_all_filters("prio_hook", 1.5),  # type: ignore[arg-type]
        lambda: has_filter("prio_hook", "__return_true", "10"),  # type: ignore[arg-type]
    ],
    ids=["remove_filter", "remove_all_filters", "has_filter"],
)
def test_a_bad_priority_is_refused_naming_the_hook(call: t.Callable[[], object]) -> None:
    add_filter("prio_hook", "__return_true")
    with pytest.raises(TypeError, match="hook 'prio_hook': priority must be an int"):
        call()
    assert has_filter("prio_hook", "__return_true") == 10


@pytest.mark.parametrize("bad", ["", "no_dots", "pkg..func", "pkg.1func", "pkg.func-name"])
def test_malformed_string_callback_refused_at_add_time(bad: str) -> None:
    with pytest.raises(HookCallbackError, match=re.escape(f"hook 'my_hook': callback {bad!r} is neither")):
        add_filter("my_hook", bad)
    assert has_filter("my_hook") is False


# --- String callbacks --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("__return_true", True),
        ("__return_false", False),
        ("__return_zero", 0),
        ("__return_null", None),
        ("__return_empty_string", ""),
        ("__return_empty_array", []),
    ],
)
def test_return_helpers(name: str, expected: t.Any) -> None:
    add_filter("helper", name)
    result = apply_filters("helper", "original")
    assert result == expected
    assert type(result) is type(expected)


def test_return_empty_array_gives_a_new_list_each_time() -> None:
    add_filter("fresh_list", "__return_empty_array")
    first = apply_filters("fresh_list", None)
    first.append("mutated")
    assert apply_filters("fresh_list", None) == []


def test_dotted_path_callbacks() -> None:
    add_filter("dotted", "tests.test_hooks_python.module_level_filter")
    add_filter("dotted", "tests.test_hooks_python.Greeter.shout", 11)
    assert apply_filters("dotted", "x") == "X+MODULE"


def test_dotted_path_resolved_when_first_called(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering does not import: the module may appear later (e.g. loaded
    by another integration); it is imported on the first call, then cached."""
    add_filter("late", "late_integration_mod.shout")
    assert "late_integration_mod" not in sys.modules

    (tmp_path / "late_integration_mod.py").write_text("def shout(value):\n    return value.upper() + '!'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert apply_filters("late", "hi") == "HI!"
        module = sys.modules["late_integration_mod"]
        monkeypatch.setattr(module, "shout", lambda value: "replaced")
        assert apply_filters("late", "hi") == "HI!"  # resolved once, cached
    finally:
        sys.modules.pop("late_integration_mod", None)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_package_xyz.func", "no module 'no_such_package_xyz' can be imported"),
        # Every shorter prefix is tried; the message then says what a path must be.
        (
            "no_such_package_xyz.sub.func",
            "no module 'no_such_package_xyz' can be imported; use a dotted path of a module on sys.path",
        ),
        ("tests.test_hooks_python.Greeter.nope", "has no attribute path 'Greeter.nope'"),
        ("tests.test_hooks_python.no_such_function", "has no attribute path 'no_such_function'"),
        ("tests.test_hooks_python.NOT_CALLABLE", "names a int, not a callable"),
    ],
)
def test_unresolvable_string_raises_hook_callback_error(path: str, message: str) -> None:
    add_action("resolving", path)
    with pytest.raises(HookCallbackError, match=message) as info:
        do_action("resolving")
    assert f"hook 'resolving': callback {path!r}" in str(info.value)
    assert isinstance(info.value, LookupError)
    assert current_filter() is False


def test_string_and_function_are_different_callbacks() -> None:
    """As in WordPress, identity is by representation: the dotted string and
    the function object it names are two entries."""
    add_filter("two_forms", "tests.test_hooks_python.module_level_filter")
    add_filter("two_forms", module_level_filter)
    assert apply_filters("two_forms", "x") == "x+module+module"
    assert has_filter("two_forms", module_level_filter) == 10


# --- callbacks() and callback_id() ---------------------------------------------------


def test_callbacks_lists_run_order() -> None:
    g = Greeter()
    add_filter("listing", g.greet, 20, 1)
    add_filter("listing", "__return_true", 5, 0)
    add_filter("listing", module_level_filter, 20, 3)

    listing = hooks.callbacks("listing")

    assert listing == [(5, "__return_true", 0), (20, g.greet, 1), (20, module_level_filter, 3)]
    listing.clear()  # a copy: the registry is unchanged
    assert len(hooks.callbacks("listing")) == 3
    assert hooks.callbacks("nothing_here") == []


def test_callback_id_forms() -> None:
    class Callable:
        def __call__(self) -> None:
            pass

    assert hooks.callback_id("__return_true") == "__return_true"
    assert hooks.callback_id("pkg.mod.func") == "pkg.mod.func"
    assert hooks.callback_id(module_level_filter) == "tests.test_hooks_python.module_level_filter"
    assert hooks.callback_id(Greeter().greet) == "tests.test_hooks_python.Greeter.greet"
    assert hooks.callback_id(Greeter.shout) == "tests.test_hooks_python.Greeter.shout"
    assert hooks.callback_id(len) == "builtins.len"
    # A callable instance is named by its class, in the class's own module.
    assert hooks.callback_id(Callable()) == "tests.test_hooks_python.test_callback_id_forms.<locals>.Callable"
    assert hooks.callback_id(functools.partial(module_level_filter)) == (
        "functools.partial(tests.test_hooks_python.module_level_filter)"
    )


def test_callback_id_is_stable_across_processes() -> None:
    code = (
        "import hooks; from tests.test_hooks_python import module_level_filter, Greeter; "
        "print(hooks.callback_id(module_level_filter)); print(hooks.callback_id(Greeter().greet))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    assert out == [hooks.callback_id(module_level_filter), hooks.callback_id(Greeter().greet)]


def test_call_callback_calls_one_subscriber_like_the_hook_would() -> None:
    got: list[tuple[t.Any, ...]] = []

    def subscriber(data: str, batch: dict[str, int] | None = None) -> None:
        got.append((data, batch))

    assert hooks.call_callback("one_by_one", "tests.test_hooks_python.module_level_filter", 2, "x", {}) == "x+module"
    assert hooks.call_callback("one_by_one", "__return_true", 2, "x", {}) is True
    hooks.call_callback("one_by_one", subscriber, 1, "data", {"n": 1})
    hooks.call_callback("one_by_one", subscriber, 5, "data", {"n": 2}, "surplus")
    assert got == [("data", None), ("data", {"n": 2})]
    with pytest.raises(HookCallbackError, match=re.escape("hook 'one_by_one': callback 'nowhere_xyz.f'")):
        hooks.call_callback("one_by_one", "nowhere_xyz.f", 1, "x")


def test_call_callback_runs_with_the_hook_as_current_filter() -> None:
    seen: list[tuple[str | bool, bool]] = []

    def subscriber(data: str) -> None:
        seen.append((hooks.current_filter(), hooks.doing_action("one_by_one")))
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        hooks.call_callback("one_by_one", subscriber, 1, "data")
    assert seen == [("one_by_one", True)]
    assert hooks.current_filter() is False, "the stack is restored after a raise"


# --- Running-hook edge cases -----------------------------------------------------------


def test_last_callback_removed_and_later_priority_added_while_running_runs() -> None:
    """The hook stays registered while it runs, so "added at a later priority
    runs" holds even when the hook was momentarily empty."""
    log: list[str] = []

    def later() -> None:
        log.append("later")

    def swap() -> None:
        log.append("swap")
        remove_action("swapping", swap, 10)
        add_action("swapping", later, 20, 0)

    add_action("swapping", swap, 10, 0)
    do_action("swapping")

    assert log == ["swap", "later"]
    assert hooks.callbacks("swapping") == [(20, later, 0)]


def test_later_priority_added_after_a_nested_run_of_the_emptied_hook_still_runs() -> None:
    """As above with a recursive run of the hook in between: the inner run
    ending must not make the outer run lose the callbacks added after it
    (each run counts; the hook is kept while any is active)."""
    log: list[str] = []

    def later() -> None:
        log.append("later")

    def swap() -> None:
        log.append("swap")
        remove_action("nested_swap", swap, 10)
        do_action("nested_swap")  # runs nothing: the hook is empty now
        add_action("nested_swap", later, 20, 0)

    add_action("nested_swap", swap, 10, 0)
    do_action("nested_swap")

    assert log == ["swap", "later"]
    assert did_action("nested_swap") == 2


def test_reset_clears_callbacks_counters_and_stack() -> None:
    inside: list[t.Any] = []

    def resetting() -> None:
        hooks.reset()
        inside.append(current_filter())

    add_action("resetting", resetting, 10, 0)
    add_filter("other", "__return_true")
    apply_filters("other", None)
    do_action("resetting")

    assert inside == [False]  # the stack was cleared mid-run, and the run ended cleanly
    assert current_filter() is False
    assert has_filter("resetting") is False
    assert has_filter("other") is False
    assert did_action("resetting") == 0
    assert did_filter("other") == 0


def test_current_filter_is_per_thread() -> None:
    started, release = threading.Event(), threading.Event()
    seen_in_thread: list[t.Any] = []

    def blocking() -> None:
        seen_in_thread.append(current_filter())
        started.set()
        release.wait(5)

    add_action("in_thread", blocking, 10, 0)
    worker = threading.Thread(target=do_action, args=("in_thread",))
    worker.start()
    try:
        assert started.wait(5)
        assert current_filter() is False
        assert doing_filter("in_thread") is False
    finally:
        release.set()
        worker.join(5)
    assert seen_in_thread == ["in_thread"]


def test_do_action_without_callbacks_touches_only_the_counter() -> None:
    """Nothing hooked: only the counter is touched (no stack push, no registry
    entry). How fast that is, is measured by bench/hooks_probe.py, not here."""
    for _ in range(3):
        do_action("nobody_listens", 1, 2)
        assert apply_filters("nobody_filters", 1, 2) == 1

    assert did_action("nobody_listens") == 3
    assert did_filter("nobody_filters") == 3
    assert has_filter("nobody_listens") is False and has_filter("nobody_filters") is False
    assert hooks.callbacks("nobody_listens") == [] and hooks.callbacks("nobody_filters") == []
    assert current_filter() is False, "nothing left on the stack"


# --- The ref_array forms, the 'all' hook and the query functions' arguments ----------


def test_ref_array_forms_count_in_did_action_and_did_filter_hooked_or_not() -> None:
    """WordPress's do_action_ref_array and apply_filters_ref_array add to
    $wp_actions and $wp_filters as the plain forms do, even with nothing hooked;
    an unhooked filter returns the value, args[0]."""
    for _ in range(3):
        do_action_ref_array("ref_unhooked", [1])
        assert hooks.apply_filters_ref_array("ref_unhooked_filter", ["value", "extra"]) == "value"
    add_action("ref_hooked", "__return_true")
    do_action_ref_array("ref_hooked", [])

    assert did_action("ref_unhooked") == 3
    assert did_filter("ref_unhooked_filter") == 3
    assert did_action("ref_hooked") == 1


def test_all_hook_sees_ref_array_calls_of_unhooked_hooks_with_the_sequence() -> None:
    """do_action_ref_array and apply_filters_ref_array pass the 'all' hook the
    hook's name and the argument array itself (their func_get_args())."""
    log: list[tuple[t.Any, ...]] = []
    add_action("all", lambda *args: log.append(args))
    add_filter("ref_hooked_filter", lambda value: value + "!")

    do_action_ref_array("ref_nobody", ["a", "b"])
    assert hooks.apply_filters_ref_array("ref_nobody_filter", ["v", "x"]) == "v"
    assert hooks.apply_filters_ref_array("ref_hooked_filter", ["w", "y"]) == "w!"

    assert log == [("ref_nobody", ["a", "b"]), ("ref_nobody_filter", ["v", "x"]), ("ref_hooked_filter", ["w", "y"])]


def test_every_all_hook_callback_gets_the_hook_name_whatever_the_previous_one_returned() -> None:
    """The 'all' hook is run as an action (WP_Hook::do_all_hook ignores
    return values), even around a filter."""
    seen: list[t.Any] = []
    add_action("all", lambda name, *rest: None)
    add_action("all", lambda name, *rest: seen.append(name))

    do_action("named_action", 1)
    assert apply_filters("named_filter", 2) == 2

    assert seen == ["named_action", "named_filter"]


def test_all_hook_callback_taking_only_the_name_gets_only_the_name() -> None:
    """Surplus arguments are dropped by signature for the 'all' hook too (PHP
    ignores them), so a watcher of hook names needs no ``*args``."""
    names: list[str] = []

    def only_name(name: str) -> None:
        names.append(name)

    add_action("all", only_name)
    do_action("wide", 1, 2, 3)
    assert apply_filters("wide_filter", "v", "x") == "v"
    assert names == ["wide", "wide_filter"]


def test_has_filter_with_false_callback_asks_whether_anything_is_hooked() -> None:
    """WordPress's has_filter( $hook_name, $callback = false ): false means
    any callback, as None does here."""
    assert has_filter("anything", False) is False
    add_filter("anything", "__return_true")
    assert has_filter("anything", False) is True
    assert hooks.has_action("anything", False) is True


def test_has_action_with_priority_answers_a_bool() -> None:
    add_action("exact_action", "__return_true", 10)
    assert hooks.has_action("exact_action", "__return_true", 10) is True
    assert hooks.has_action("exact_action", "__return_true", 5) is False
    assert hooks.has_action("exact_action", "__return_true") == 10


def test_remove_all_filters_of_an_unknown_hook_returns_true() -> None:
    """WordPress's remove_all_filters always returns true."""
    assert hooks.remove_all_filters("never_hooked") is True
    assert hooks.remove_all_actions("never_hooked", 10) is True


def test_distinct_functions_and_builtin_methods_are_distinct_callbacks() -> None:
    """WordPress's _wp_filter_build_unique_id keys a closure by its object: two
    closures with the same name, or two lists' ``append``, are two callbacks."""
    log: list[str] = []

    def make(tag: str) -> t.Callable[[str], None]:
        def callback(value: str) -> None:
            log.append(tag + value)

        return callback

    first, second = make("1:"), make("2:")
    a: list[str] = []
    b: list[str] = []
    queue: collections.deque[str] = collections.deque()
    for callback in (first, second, a.append, b.append, queue.append, queue.appendleft):
        add_action("distinct", callback)

    do_action("distinct", "v")

    assert log == ["1:v", "2:v"]
    assert a == ["v"] and b == ["v"]
    assert list(queue) == ["v", "v"]


def test_a_string_callback_is_resolved_once_and_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hooks")
    add_filter("logged", "tests.test_hooks_python.module_level_filter")

    assert apply_filters("logged", "x") == "x+module"
    assert apply_filters("logged", "y") == "y+module"

    messages = [r.getMessage() for r in caplog.records if r.name == "hooks"]
    assert messages == ["hook logged: resolved callback tests.test_hooks_python.module_level_filter"]


def test_dotted_path_to_a_method_of_a_class_in_a_submodule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'package.module.Class.method': each shorter prefix is tried until one
    imports (here 'mut_pkg.mod'), then attributes are followed."""
    package = tmp_path / "mut_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "class Tools:\n    @staticmethod\n    def shout(value):\n        return value.upper()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        add_filter("deep", "mut_pkg.mod.Tools.shout")
        assert apply_filters("deep", "hi") == "HI"
    finally:
        for name in ("mut_pkg.mod", "mut_pkg"):
            sys.modules.pop(name, None)


def test_a_module_whose_own_import_fails_is_named_with_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module exists but imports a missing dependency: the error says so,
    instead of claiming the module cannot be found."""
    (tmp_path / "mut_broken_mod.py").write_text(
        "import mut_missing_dependency_xyz\n\ndef func(value):\n    return value\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    add_filter("broken", "mut_broken_mod.func")
    try:
        with pytest.raises(HookCallbackError) as info:
            apply_filters("broken", "v")
    finally:
        sys.modules.pop("mut_broken_mod", None)
    assert str(info.value) == (
        "hook 'broken': callback 'mut_broken_mod.func': importing 'mut_broken_mod' failed: "
        "No module named 'mut_missing_dependency_xyz'"
    )


# --- Hooks emptied are forgotten; identities of look-alike callables --------------------


def _bytes_kept_per_name(cycle: t.Callable[[str], object], n: int = 2000) -> float:
    """Bytes still allocated after running ``cycle`` once for each of ``n``
    fresh hook names, per name, from an empty registry."""
    names = [f"per_job_hook_{i}" for i in range(n)]
    hooks.reset()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for name in names:
            cycle(name)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        hooks.reset()
    return kept / n


def _hook_and_unhook(name: str) -> None:
    add_action(name, module_level_filter)
    remove_action(name, module_level_filter)
    do_action(name)


def _hook_and_remove_all(name: str) -> None:
    add_action(name, module_level_filter, 5)
    add_action(name, module_level_filter, 7)
    hooks.remove_all_actions(name)
    do_action(name)


def _hook_once(name: str) -> None:
    def once() -> None:
        remove_action(name, once)

    add_action(name, once, 10, 0)
    do_action(name)


@pytest.mark.parametrize("cycle", [_hook_and_unhook, _hook_and_remove_all, _hook_once])
def test_a_hook_emptied_is_forgotten_so_per_job_hook_names_do_not_grow_the_process(
    cycle: t.Callable[[str], None],
) -> None:
    """A long-running worker that hooks a name per job and unhooks it (by
    removing, removing all, or a one-shot callback removing itself while the
    hook runs) keeps only the name's ``did_action`` counter, as a worker that
    only fires the name does; an emptied hook kept in the registry costs a few
    hundred bytes per name (its object, its priority map and list)."""
    counter_only = _bytes_kept_per_name(do_action)
    assert _bytes_kept_per_name(cycle) <= counter_only + 48


def test_two_methods_of_one_object_with_the_same_name_are_two_callbacks() -> None:
    """Methods wrapped by a decorator without functools.wraps all bear the
    wrapper's ``__name__``; they are still different callbacks (their
    functions differ), as WordPress tells ``[$obj, 'a']`` from ``[$obj, 'b']``."""

    def logged(method: t.Callable[[Job, list[str]], None]) -> t.Callable[[Job, list[str]], None]:
        def wrapper(self: Job, log: list[str]) -> None:
            method(self, log)

        return wrapper

    class Job:
        @logged
        def start(self, log: list[str]) -> None:
            log.append("start")

        @logged
        def stop(self, log: list[str]) -> None:
            log.append("stop")

    job = Job()
    add_action("job_methods", job.start)
    add_action("job_methods", job.stop)
    log: list[str] = []
    do_action("job_methods", log)
    assert log == ["start", "stop"]
    assert has_filter("job_methods", job.stop) == 10


def test_a_callable_with_a_self_attribute_but_no_name_can_be_hooked() -> None:
    """Any callable is accepted, also one that carries a ``__self__`` (as
    method-like wrappers do) but no ``__name__``."""

    class BoundLike:
        def __init__(self, owner: object) -> None:
            self.__self__ = owner

        def __call__(self, value: str) -> str:
            return value + "+bound"

    callback = BoundLike(object())
    add_filter("bound_like", callback)
    assert apply_filters("bound_like", "x") == "x+bound"
    assert remove_filter("bound_like", callback) is True


def test_callback_id_of_builtin_methods_names_the_builtins_module() -> None:
    """Methods of builtin types carry no module (``str.upper`` has no
    ``__module__``, ``[].append``'s is None): their id is in ``builtins``, as
    ``len``'s is."""
    assert hooks.callback_id(str.upper) == "builtins.str.upper"
    assert hooks.callback_id([].append) == "builtins.list.append"
