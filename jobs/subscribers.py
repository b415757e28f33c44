"""Who is hooked on ``altis.analytics.export.data.process``, and calling one.

The export calls each subscriber itself instead of ``do_action``: each has its
own progress, so one that raises must neither stop the others nor make them
receive a batch twice.

Every callback hooked is its own subscriber, as WordPress calls every one of
them: two instances' bound ``.process`` methods, two lambdas, two closures
from one factory. Its progress is stored under its name, so the name must be
the same in every process and after a restart. The naming rule, in order:

1. A name the integration gives: an ``analytics_subscriber_name`` attribute
   (``NAME_ATTRIBUTE``) on the instance of a bound method, or else on the
   callback itself (a function, a ``functools.partial``, a callable object).
   The robust choice for anonymous callbacks and for several instances of one
   class, e.g. ``self.analytics_subscriber_name = f"warehouse-{region}"``.
2. Otherwise ``hooks.callback_id``: the import path (``acme.process_data``,
   ``acme.Exporter.process``, ``acme.<lambda>``), as before this rule existed,
   so progress stored by earlier versions keeps working.
3. Callbacks that end up with the same name are told apart by an ordinal in
   run order (priority, then the order they were added): the first keeps the
   name, the next ones get ``#2``, ``#3``... (``acme.<lambda>#2``). Stable as
   long as the integration registers them in the same order; rule 1 is stable
   whatever the order.

The same callback hooked at several priorities is one subscriber (its first
registration): it would otherwise get every batch twice.

Calls follow WP_Hook (``hooks.call_callback``): the first ``accepted_args``
arguments (``data``, then the batch descriptor), never more than the function
takes positionally.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t

import hooks

from .export_hooks import DATA_PROCESS

logger = logging.getLogger(__name__)

#: The attribute an integration sets to name a subscriber itself (rule 1).
NAME_ATTRIBUTE = "analytics_subscriber_name"
#: Separates a name from its ordinal among callbacks of the same name (rule 3).
ORDINAL_SEPARATOR = "#"


@dataclasses.dataclass(frozen=True)
class Subscriber:
    name: str
    callback: hooks.Callback
    accepted_args: int

    def __call__(self, data: str, batch: dict[str, t.Any]) -> None:
        hooks.call_callback(DATA_PROCESS, self.callback, self.accepted_args, data, batch)


def given_name(callback: hooks.Callback) -> str | None:
    """The name an integration gave ``callback`` (rule 1), or None.

    A value that is not a non-empty string without whitespace is logged and
    ignored (the callback is named by rule 2): a typo must not stop an export.
    """
    if isinstance(callback, str):
        return None
    owner = getattr(callback, "__self__", None)
    value = getattr(owner, NAME_ATTRIBUTE, None) if owner is not None else None
    if value is None:
        value = getattr(callback, NAME_ATTRIBUTE, None)
    if value is None:
        return None
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    logger.warning(
        "ignoring %s=%r on %s: expected a non-empty string without spaces",
        NAME_ATTRIBUTE,
        value,
        hooks.callback_id(callback),
    )
    return None


def current() -> list[Subscriber]:
    """The subscribers in run order, each under a unique, stable name (the
    rule is in the module docstring)."""
    registered: list[tuple[hooks.Callback, int]] = []
    for _priority, callback, accepted_args in hooks.callbacks(DATA_PROCESS):
        # ``==`` is WordPress's "same callback": a bound method equals another
        # of the same object and function, anything else only itself.
        if not any(callback == seen for seen, _ in registered):
            registered.append((callback, accepted_args))
    bases = [given_name(cb) or hooks.callback_id(cb) for cb, _ in registered]
    taken = set(bases)
    used: set[str] = set()
    result: list[Subscriber] = []
    for (callback, accepted_args), base in zip(registered, bases, strict=True):
        name = base
        ordinal = 1
        while name in used:
            ordinal += 1
            name = f"{base}{ORDINAL_SEPARATOR}{ordinal}"
            if name in taken:  # a callback is literally named "x#2": skip that ordinal
                name = base
        used.add(name)
        result.append(Subscriber(name, callback, accepted_args))
    return result
