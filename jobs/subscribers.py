"""Who is hooked on ``altis.analytics.export.data.process``, and calling one.

The export calls each subscriber itself instead of ``do_action``: each has its
own progress, so one that raises must neither stop the others nor make them
receive a batch twice. A subscriber is named by ``hooks.callback_id`` (its
import path), which is stable across processes and restarts for module-level
functions and string callbacks -- the name its progress is stored under.

Calls follow WP_Hook: the first ``accepted_args`` arguments (``data``, then
the batch descriptor), never more than the function takes positionally.
"""

from __future__ import annotations

import dataclasses
import inspect
import pkgutil
import typing as t

import hooks

from .filters import DATA_PROCESS


@dataclasses.dataclass(frozen=True)
class Subscriber:
    name: str
    callback: hooks.Callback
    accepted_args: int

    def __call__(self, data: str, batch: dict[str, t.Any]) -> None:
        func = _resolve(self.callback)
        if func is None:
            return  # a WordPress __return_* helper: nothing to deliver to
        n = self.accepted_args
        capacity = _max_positional(func)
        if capacity is not None:
            n = min(n, capacity)
        func(*(data, batch)[: max(0, min(n, 2))])


def current() -> list[Subscriber]:
    """The subscribers in run order, one per name (the first registration of a
    callback registered at several priorities)."""
    seen: dict[str, Subscriber] = {}
    for _priority, callback, accepted_args in hooks.callbacks(DATA_PROCESS):
        name = hooks.callback_id(callback)
        seen.setdefault(name, Subscriber(name, callback, accepted_args))
    return list(seen.values())


def _resolve(callback: hooks.Callback) -> t.Callable[..., t.Any] | None:
    if not isinstance(callback, str):
        return callback
    if callback.startswith("__return_"):
        return None
    try:
        func = pkgutil.resolve_name(callback)
    except (ImportError, AttributeError, ValueError) as exc:
        message = f"hook {DATA_PROCESS!r}: callback {callback!r} cannot be imported: {exc}"
        raise hooks.HookCallbackError(message) from exc
    return t.cast(t.Callable[..., t.Any], func)


def _max_positional(func: t.Callable[..., t.Any]) -> int | None:
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
