"""Who is hooked on ``altis.analytics.export.data.process``, and calling one.

The export calls each subscriber itself instead of ``do_action``: each has its
own progress, so one that raises must neither stop the others nor make them
receive a batch twice. A subscriber is named by ``hooks.callback_id`` (its
import path), which is stable across processes and restarts for module-level
functions and string callbacks -- the name its progress is stored under.

Calls follow WP_Hook (``hooks.call_callback``): the first ``accepted_args``
arguments (``data``, then the batch descriptor), never more than the function
takes positionally.
"""

from __future__ import annotations

import dataclasses
import typing as t

import hooks

from .filters import DATA_PROCESS


@dataclasses.dataclass(frozen=True)
class Subscriber:
    name: str
    callback: hooks.Callback
    accepted_args: int

    def __call__(self, data: str, batch: dict[str, t.Any]) -> None:
        hooks.call_callback(DATA_PROCESS, self.callback, self.accepted_args, data, batch)


def current() -> list[Subscriber]:
    """The subscribers in run order, one per name (the first registration of a
    callback registered at several priorities)."""
    seen: dict[str, Subscriber] = {}
    for _priority, callback, accepted_args in hooks.callbacks(DATA_PROCESS):
        name = hooks.callback_id(callback)
        seen.setdefault(name, Subscriber(name, callback, accepted_args))
    return list(seen.values())
