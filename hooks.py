"""WordPress's hook API (actions and filters) in Python, with WP_Hook's semantics.

Integrations read like the PHP examples in the documentation::

    from hooks import add_action, add_filter

    def log_analytics_messages(message, level):
        ...

    add_action("altis.analytics.export.log", log_analytics_messages, 10, 2)
    add_filter("altis.analytics.export.events", "__return_empty_array")

The registry is process-wide and meant to be filled when modules are imported
(integrations, start-up code). ``reset()`` empties it -- callbacks, the
``did_action``/``did_filter`` counters and the current-hook stack -- and is
how tests (``tests/conftest.py`` calls it around every test) and tools start
from a clean registry; code that needs its callbacks back afterwards registers
them again (call the integration's own set-up, or ``importlib.reload`` it).

Semantics follow WordPress's ``WP_Hook`` and ``plugin.php`` case by case; the
ordering rules are written next to the code that implements them. Two
deliberate differences from WordPress, each pinned by a named test:

1. A callback that is alone at its priority and removes itself while the hook
   runs does not make the next priority skip (WordPress Trac #64653): a run
   always continues with the lowest registered priority above the one it just
   finished.
2. The current-hook stack (``current_filter``/``doing_filter``) is restored
   when a callback raises; WordPress leaves the failed hook on the stack.

The current-hook stack is kept per thread, so a threaded server reports the
hook its own thread is running. Adding and removing callbacks is serialised by
a lock; dispatching takes no lock.

Why one module of over 400 lines: it is WordPress's ``plugin.php`` and
``WP_Hook`` together, one registry whose state every function shares, and
integrations import it as the PHP examples read (``from hooks import
add_action``); half of it is the ordering rules written beside their code.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import inspect
import logging
import threading
import typing as t

__all__ = [
    "ALL_HOOK",
    "HookCallbackError",
    "add_action",
    "add_filter",
    "apply_filters",
    "apply_filters_ref_array",
    "call_callback",
    "callback_id",
    "callbacks",
    "current_action",
    "current_filter",
    "did_action",
    "did_filter",
    "do_action",
    "do_action_ref_array",
    "doing_action",
    "doing_filter",
    "has_action",
    "has_filter",
    "remove_action",
    "remove_all_actions",
    "remove_all_filters",
    "remove_filter",
    "reset",
]

logger = logging.getLogger(__name__)

#: A callable, one of WordPress's ``__return_*`` helper names, or a dotted
#: import path ``"package.module.function"`` resolved when first called.
Callback: t.TypeAlias = "t.Callable[..., t.Any] | str"

#: Callbacks on this hook run before every action and filter, with the hook's
#: name followed by the arguments it was fired with.
ALL_HOOK = "all"
DEFAULT_PRIORITY = 10
DEFAULT_ACCEPTED_ARGS = 1


class HookCallbackError(LookupError):
    """A string callback that names no importable callable."""


# ---------------------------------------------------------------------------
# WordPress's ``__return_*`` helpers, usable by name as in PHP.
# ---------------------------------------------------------------------------


def _return_true() -> bool:
    return True


def _return_false() -> bool:
    return False


def _return_zero() -> int:
    return 0


def _return_null() -> None:
    return None


def _return_empty_string() -> str:
    return ""


def _return_empty_array() -> list[t.Any]:
    return []  # a new list each call: callers may append to what a filter returns


_RETURN_HELPERS: dict[str, t.Callable[[], t.Any]] = {
    "__return_true": _return_true,
    "__return_false": _return_false,
    "__return_zero": _return_zero,
    "__return_null": _return_null,
    "__return_empty_string": _return_empty_string,
    "__return_empty_array": _return_empty_array,
}


# ---------------------------------------------------------------------------
# Registry state. ``reset()`` clears all of it.
# ---------------------------------------------------------------------------


class _Entry:
    """One registered callback; caches the resolved function and how many
    positional arguments to pass, both worked out on the first call."""

    __slots__ = ("accepted_args", "callback", "func", "max_positional", "n_args")

    def __init__(self, callback: Callback, accepted_args: int) -> None:
        self.callback = callback
        self.accepted_args = accepted_args
        self.func: t.Callable[..., t.Any] | None = None
        self.max_positional: int | None = None  # None: unlimited (*args) or unknown
        self.n_args = 0

    def resolve(self, hook_name: str) -> t.Callable[..., t.Any]:
        func, max_positional = _resolve(self.callback, hook_name)
        self.max_positional = max_positional
        self.n_args = _args_passed(self.accepted_args, max_positional)
        self.func = func
        return func


class _Hook:
    """Callbacks of one hook: ``callbacks[priority]`` maps identity -> entry in
    insertion order; ``priorities`` is the sorted list of priorities in use."""

    __slots__ = ("callbacks", "name", "priorities", "running")

    def __init__(self, name: str) -> None:
        self.name = name
        self.callbacks: dict[int, dict[t.Hashable, _Entry]] = {}
        self.priorities: list[int] = []
        self.running = 0  # active runs (recursion counts); the hook is kept while > 0


class _Local(threading.local):
    def __init__(self) -> None:
        self.stack: list[str] = []  # hooks being run by this thread, innermost last


_hooks: dict[str, _Hook] = {}
_actions: dict[str, int] = {}
_filters: dict[str, int] = {}
_resolved: dict[str, tuple[t.Callable[..., t.Any], int | None]] = {}
_local = _Local()
_lock = threading.RLock()


def reset() -> None:
    """Forget every callback, the ``did_action``/``did_filter`` counters, the
    current-hook stack of every thread and the string-callback cache.

    The documented way for tests and integrations' tests to start from an
    empty registry (``tests/conftest.py`` calls it before and after each test).
    """
    global _local
    with _lock:
        _hooks.clear()
        _actions.clear()
        _filters.clear()
        _resolved.clear()
        _local = _Local()


# ---------------------------------------------------------------------------
# Identity, validation and resolution of callbacks.
# ---------------------------------------------------------------------------


def _unique_id(callback: object) -> t.Hashable:
    """The identity under which a callback is stored, like WordPress's
    ``_wp_filter_build_unique_id``: a string is itself; a bound method is its
    object plus its function (``obj.method`` read twice is the same callback);
    anything else is the object itself. Registered entries hold a reference
    to their callback, so an ``id()`` in a stored key cannot be reused."""
    if isinstance(callback, str):
        return callback
    owner = getattr(callback, "__self__", None)
    if owner is not None and not inspect.ismodule(owner):
        func = getattr(callback, "__func__", None)
        if func is not None:  # Python method (also classmethods: owner is the class)
            return ("method", id(owner), id(func))
        name = getattr(callback, "__name__", None)
        if isinstance(name, str):  # builtin bound method, e.g. ``some_list.append``
            return ("builtin", id(owner), name)
    return ("object", id(callback))


def _check_registration(hook_name: object, callback: object, priority: object, accepted_args: object) -> None:
    """Refuse a bad registration when it is made, naming the hook (pluggy)."""
    if not isinstance(hook_name, str):
        raise TypeError(f"hook name must be a str, got {type(hook_name).__name__}: {hook_name!r}")
    if isinstance(callback, str):
        parts = callback.split(".")
        if callback not in _RETURN_HELPERS and (len(parts) < 2 or not all(p.isidentifier() for p in parts)):
            raise HookCallbackError(
                f"hook {hook_name!r}: callback {callback!r} is neither a callable nor a dotted import path; "
                f"pass a function, 'package.module.function', or one of {', '.join(_RETURN_HELPERS)}"
            )
    elif not callable(callback):
        raise TypeError(
            f"hook {hook_name!r}: callback must be callable or a string, got {type(callback).__name__}: {callback!r}"
        )
    _check_priority(hook_name, priority)
    if type(accepted_args) is bool or not isinstance(accepted_args, int) or accepted_args < 0:
        raise TypeError(f"hook {hook_name!r}: accepted_args must be an int >= 0, got {accepted_args!r}")


def _check_priority(hook_name: object, priority: object) -> None:
    if type(priority) is bool or not isinstance(priority, int):
        raise TypeError(f"hook {hook_name!r}: priority must be an int (e.g. 10), got {priority!r}")


def _max_positional(func: t.Callable[..., t.Any]) -> int | None:
    """How many positional arguments ``func`` takes; None for ``*args`` or
    when the signature cannot be read (then it gets ``accepted_args``)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _args_passed(accepted: int, max_positional: int | None) -> int:
    """How many arguments a callback gets: the first ``accepted`` (0: none),
    never more positional arguments than its signature takes (``None``: no
    limit). PHP ignores surplus arguments, so the documented examples work as
    written; Python would raise."""
    return accepted if max_positional is None else min(accepted, max_positional)


def _resolve(callback: Callback, hook_name: str) -> tuple[t.Callable[..., t.Any], int | None]:
    """The function to call for ``callback`` and its positional capacity."""
    if not isinstance(callback, str):
        return callback, _max_positional(callback)
    cached = _resolved.get(callback)
    if cached is None:
        func = _RETURN_HELPERS.get(callback) or _import_callable(callback, hook_name)
        cached = _resolved[callback] = (func, _max_positional(func))
        logger.debug("hook %s: resolved callback %s", hook_name, callback)
    return cached


def _import_callable(path: str, hook_name: str) -> t.Callable[..., t.Any]:
    """Import ``package.module.attr[.attr...]``: the longest importable module
    prefix, then attributes (so ``pkg.mod.Class.method`` works)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: t.Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # this prefix is not a module: try a shorter one
            raise HookCallbackError(
                f"hook {hook_name!r}: callback {path!r}: importing {module_name!r} failed: {exc}"
            ) from exc
        for attr in parts[split:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise HookCallbackError(
                    f"hook {hook_name!r}: callback {path!r}: {module_name!r} has no attribute path "
                    f"{'.'.join(parts[split:])!r}; check the spelling or register the function itself"
                ) from None
        if not callable(obj):
            raise HookCallbackError(
                f"hook {hook_name!r}: callback {path!r} names a {type(obj).__name__}, not a callable"
            )
        return t.cast(t.Callable[..., t.Any], obj)
    raise HookCallbackError(
        f"hook {hook_name!r}: callback {path!r}: no module {parts[0]!r} can be imported; "
        "use a dotted path of a module on sys.path, e.g. 'integrations.mymodule.my_function'"
    )


# ---------------------------------------------------------------------------
# Registration.
# ---------------------------------------------------------------------------


def add_filter(
    hook_name: str, callback: Callback, priority: int = DEFAULT_PRIORITY, accepted_args: int = DEFAULT_ACCEPTED_ARGS
) -> bool:
    """Hook ``callback`` onto ``hook_name``; returns True like WordPress.

    Ordering rule: callbacks run by ascending ``priority`` (negative numbers
    allowed), then in the order they were added. Re-adding the same callback
    at the same priority keeps its one entry where it was (its
    ``accepted_args`` is updated); at another priority it is a second entry.
    """
    _check_registration(hook_name, callback, priority, accepted_args)
    key = _unique_id(callback)
    with _lock:
        hook = _hooks.get(hook_name)
        if hook is None:
            hook = _hooks[hook_name] = _Hook(hook_name)
        bucket = hook.callbacks.get(priority)
        if bucket is None:
            bucket = hook.callbacks[priority] = {}
            # A new list, not an in-place insert: running dispatches re-read it.
            hook.priorities = sorted(hook.callbacks)
        # Assigning an existing dict key keeps its position: "same entry, in place".
        bucket[key] = _Entry(callback, accepted_args)
    return True


def add_action(
    hook_name: str, callback: Callback, priority: int = DEFAULT_PRIORITY, accepted_args: int = DEFAULT_ACCEPTED_ARGS
) -> bool:
    """Hook ``callback`` onto the action ``hook_name`` (same registry as filters)."""
    return add_filter(hook_name, callback, priority, accepted_args)


def _drop_if_unused(hook: _Hook) -> None:
    """Forget an empty hook unless it is running (a running hook keeps its
    object, so a callback re-added by a callback still runs when it should)."""
    if not hook.priorities and not hook.running and _hooks.get(hook.name) is hook:
        del _hooks[hook.name]


def remove_filter(hook_name: str, callback: Callback, priority: int = DEFAULT_PRIORITY) -> bool:
    """Unhook ``callback`` from ``hook_name`` at exactly ``priority``.

    Returns whether it was registered there. A callback removed while the hook
    runs still runs this time if its priority's turn has already started.
    """
    _check_priority(hook_name, priority)
    hook = _hooks.get(hook_name)
    if hook is None:
        return False
    key = _unique_id(callback)
    with _lock:
        bucket = hook.callbacks.get(priority)
        if not bucket or key not in bucket:
            return False
        del bucket[key]
        if not bucket:
            del hook.callbacks[priority]
            hook.priorities = sorted(hook.callbacks)
        _drop_if_unused(hook)
    return True


def remove_action(hook_name: str, callback: Callback, priority: int = DEFAULT_PRIORITY) -> bool:
    """Unhook ``callback`` from the action ``hook_name`` at exactly ``priority``."""
    return remove_filter(hook_name, callback, priority)


def remove_all_filters(hook_name: str, priority: int | None = None) -> bool:
    """Unhook every callback of ``hook_name``, or only those at ``priority``.
    Always returns True, like WordPress."""
    if priority is not None:
        _check_priority(hook_name, priority)
    with _lock:
        hook = _hooks.get(hook_name)
        if hook is None:
            return True
        if priority is None:
            hook.callbacks.clear()
        else:
            hook.callbacks.pop(priority, None)
        hook.priorities = sorted(hook.callbacks)
        _drop_if_unused(hook)
    return True


def remove_all_actions(hook_name: str, priority: int | None = None) -> bool:
    """Unhook every callback of the action ``hook_name`` (or at ``priority``)."""
    return remove_all_filters(hook_name, priority)


# ---------------------------------------------------------------------------
# Queries.
# ---------------------------------------------------------------------------


def has_filter(
    hook_name: str, callback: Callback | t.Literal[False] | None = None, priority: int | None = None
) -> bool | int:
    """Without ``callback``: whether anything is hooked onto ``hook_name``.

    With ``callback``: the lowest priority it is registered at, or False.
    The priority may be 0, which equals False in Python: compare with
    ``is False``. With ``priority`` too: whether it is registered at exactly
    that priority (bool), as in WordPress 6.x.
    """
    hook = _hooks.get(hook_name)
    if callback is None or callback is False:
        return bool(hook is not None and hook.priorities)
    if hook is None:
        return False
    key = _unique_id(callback)
    if priority is not None:
        _check_priority(hook_name, priority)
        return key in hook.callbacks.get(priority, ())
    for prio in hook.priorities:
        if key in hook.callbacks.get(prio, ()):
            return prio
    return False


def has_action(
    hook_name: str, callback: Callback | t.Literal[False] | None = None, priority: int | None = None
) -> bool | int:
    """``has_filter`` for actions (same registry)."""
    return has_filter(hook_name, callback, priority)


def callbacks(hook_name: str) -> list[tuple[int, Callback, int]]:
    """``(priority, callback as registered, accepted_args)`` in run order.

    Read-only view for other modules (e.g. the export job lists the
    subscribers of a hook); changing the list changes nothing.
    """
    hook = _hooks.get(hook_name)
    if hook is None:
        return []
    with _lock:
        return [
            (prio, entry.callback, entry.accepted_args)
            for prio in hook.priorities
            for entry in hook.callbacks[prio].values()
        ]


def callback_id(callback: Callback) -> str:
    """A stable name for a callback: the string itself for string callbacks,
    ``module.qualname`` for functions, methods and classes, the class's
    ``module.qualname`` for callable instances.

    Stable across processes for module-level functions, methods and string
    callbacks. Not unique for lambdas or closures defined in the same scope
    (``mod.<lambda>``), nor for the same method of two instances.
    """
    if isinstance(callback, str):
        return callback
    if isinstance(callback, functools.partial):
        return f"functools.partial({callback_id(callback.func)})"
    qualname = getattr(callback, "__qualname__", None)
    module = getattr(callback, "__module__", None)
    if not isinstance(qualname, str):  # a callable instance: name its class
        qualname = type(callback).__qualname__
        module = type(callback).__module__
    return f"{module or 'builtins'}.{qualname}"


def call_callback(hook_name: str, callback: Callback, accepted_args: int, *args: t.Any) -> t.Any:
    """Call one callback exactly as ``hook_name`` would: string callbacks
    resolved (and cached) the same way, the first ``accepted_args`` of
    ``args`` passed, trimmed to what its signature takes.

    For code that must call subscribers one by one (e.g. to track each one's
    progress) instead of through ``do_action``; pair it with ``callbacks()``.
    An unresolvable string raises ``HookCallbackError`` naming the hook.
    While it runs, ``current_filter()`` is ``hook_name``.
    """
    func, max_positional = _resolve(callback, hook_name)
    n = _args_passed(accepted_args, max_positional)
    stack = _local.stack  # inside, current_filter() names the hook, as in a real run
    stack.append(hook_name)
    try:
        return func(*args[:n])
    finally:
        stack.pop()


def did_action(hook_name: str) -> int:
    """How many times ``do_action(hook_name)`` ran, hooked or not."""
    return _actions.get(hook_name, 0)


def did_filter(hook_name: str) -> int:
    """How many times ``apply_filters(hook_name)`` ran, hooked or not."""
    return _filters.get(hook_name, 0)


def current_filter() -> str | t.Literal[False]:
    """The innermost hook this thread is running, or False (as WordPress)."""
    stack = _local.stack
    return stack[-1] if stack else False


def current_action() -> str | t.Literal[False]:
    """Same as ``current_filter``."""
    return current_filter()


def doing_filter(hook_name: str | None = None) -> bool:
    """Without a name: whether any hook is running; with one: whether that
    hook is anywhere on this thread's stack (it may be an outer hook)."""
    stack = _local.stack
    if hook_name is None:
        return bool(stack)
    return hook_name in stack


def doing_action(hook_name: str | None = None) -> bool:
    """Same as ``doing_filter``."""
    return doing_filter(hook_name)


# ---------------------------------------------------------------------------
# Running hooks.
# ---------------------------------------------------------------------------


def _run(hook: _Hook, args: list[t.Any], filtering: bool, all_hook: bool = False) -> t.Any:
    """Run ``hook``'s callbacks with ``args``; for a filter ``args[0]`` is the
    running value and the result; for the ``all`` hook every callback gets all
    arguments regardless of ``accepted_args`` (as ``WP_Hook::do_all_hook``).

    Ordering rules while the hook runs (WordPress's, except the first fix):
    - The run moves priority by priority. After finishing a priority it takes
      the lowest priority *currently registered* above it. So a callback added
      at a later priority runs this time, one added at an earlier priority
      does not, and a priority that disappears (e.g. its sole callback removed
      itself) never makes the next one skip -- WordPress Trac #64653.
    - Within a priority the run iterates over a snapshot taken when that
      priority starts: a callback removed by another callback of the same
      priority still runs this time; one added at the same priority does not.
    - Each run keeps its position on its own (a local variable), so recursion
      into the same hook starts a fresh run and the outer run resumes where it
      was ('1-134-234' in WordPress's own test).
    """
    hook.running += 1
    try:
        value = args[0] if args else None
        n_passed = len(args)
        current: int | None = None
        while True:
            priorities = hook.priorities
            index = 0 if current is None else bisect.bisect_right(priorities, current)
            if index >= len(priorities):
                return value
            current = priorities[index]
            bucket = hook.callbacks.get(current)
            if not bucket:
                continue
            for entry in tuple(bucket.values()):
                func = entry.func if entry.func is not None else entry.resolve(hook.name)
                if filtering:
                    args[0] = value  # filters pass the running value first
                n = _args_passed(n_passed, entry.max_positional) if all_hook else entry.n_args
                if n == 0:
                    result = func()
                elif n >= n_passed:
                    result = func(*args)
                else:
                    result = func(*args[:n])
                if filtering:
                    value = result
    finally:
        hook.running -= 1
        if not hook.running and not hook.priorities:
            with _lock:
                _drop_if_unused(hook)


def _dispatch(hook_name: str, args: list[t.Any], filtering: bool, all_args: t.Sequence[t.Any]) -> t.Any:
    """Push ``hook_name`` on this thread's stack, run the ``all`` hook, then
    the hook itself; the stack is popped even when a callback raises
    (deliberate difference from WordPress)."""
    stack = _local.stack  # this list, even if reset() swaps in a new one meanwhile
    stack.append(hook_name)
    try:
        all_hook = _hooks.get(ALL_HOOK)
        if all_hook is not None:
            _run(all_hook, list(all_args), filtering=False, all_hook=True)
        hook = _hooks.get(hook_name)  # looked up after 'all': it may have added callbacks
        if hook is None:
            return args[0] if filtering else None
        return _run(hook, args, filtering)
    finally:
        stack.pop()


def do_action(hook_name: str, *args: t.Any) -> None:
    """Run the callbacks hooked onto the action ``hook_name``.

    With no arguments, callbacks get one empty string (as WordPress), so a
    callback with ``accepted_args=1`` always receives something.
    ``did_action`` counts the call even when nothing is hooked.
    """
    _actions[hook_name] = _actions.get(hook_name, 0) + 1
    if hook_name not in _hooks and ALL_HOOK not in _hooks:  # cheap when nothing is hooked
        return
    _dispatch(hook_name, list(args) if args else [""], False, (hook_name, *args))


def do_action_ref_array(hook_name: str, args: t.Sequence[t.Any]) -> None:
    """``do_action`` with the arguments in a sequence. Unlike ``do_action``,
    an empty sequence passes nothing, and the ``all`` hook receives the
    sequence itself as its second argument (both as WordPress)."""
    _actions[hook_name] = _actions.get(hook_name, 0) + 1
    if hook_name not in _hooks and ALL_HOOK not in _hooks:
        return
    _dispatch(hook_name, list(args), False, (hook_name, args))


def apply_filters(hook_name: str, value: t.Any, *args: t.Any) -> t.Any:
    """Pass ``value`` through the callbacks hooked onto ``hook_name`` and
    return the result. Each callback gets the running value first, then the
    extra ``args`` up to its ``accepted_args``."""
    _filters[hook_name] = _filters.get(hook_name, 0) + 1
    if hook_name not in _hooks and ALL_HOOK not in _hooks:
        return value
    return _dispatch(hook_name, [value, *args], True, (hook_name, value, *args))


def apply_filters_ref_array(hook_name: str, args: t.Sequence[t.Any]) -> t.Any:
    """``apply_filters`` with the value and extra arguments in one sequence
    (``args[0]`` is the value); the ``all`` hook receives the sequence."""
    if not args:
        raise TypeError(f"apply_filters_ref_array({hook_name!r}, args): args must hold the value to filter first")
    _filters[hook_name] = _filters.get(hook_name, 0) + 1
    if hook_name not in _hooks and ALL_HOOK not in _hooks:
        return args[0]
    return _dispatch(hook_name, list(args), True, (hook_name, args))
