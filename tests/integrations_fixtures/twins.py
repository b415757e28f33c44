"""A test integration with callbacks that share a name, the way the PHP docs
and real plugins register them: two instances' bound ``process`` methods, two
lambdas made by one factory, and one lambda named explicitly.

Each records into ``RECEIVED[label]``; ``FAILING`` holds labels whose next
call raises. Importing the module registers them (as an integration does);
tests call ``register()`` again after ``hooks.reset()``.
"""

from __future__ import annotations

import typing as t

from hooks import add_action

DATA_PROCESS = "altis.analytics.export.data.process"

RECEIVED: dict[str, list[str]] = {}
FAILING: set[str] = set()


def _record(label: str, data: str) -> None:
    if label in FAILING:
        FAILING.discard(label)
        raise ConnectionError(f"{label}: BI tool unreachable")
    RECEIVED.setdefault(label, []).append(data)


class Warehouse:
    """One destination per instance, like an integration class configured twice."""

    def __init__(self, label: str) -> None:
        self.label = label

    def process(self, data: str) -> None:
        _record(self.label, data)


def collector(label: str) -> t.Callable[[str], None]:
    """A closure per label: every one is ``twins.collector.<locals>.<lambda>``."""
    return lambda data: _record(label, data)


def register() -> None:
    add_action(DATA_PROCESS, Warehouse("warehouse-eu").process)
    add_action(DATA_PROCESS, Warehouse("warehouse-us").process)
    add_action(DATA_PROCESS, collector("lambda-1"))
    add_action(DATA_PROCESS, collector("lambda-2"))
    named = collector("named")
    named.analytics_subscriber_name = "acme-archive"  # type: ignore[attr-defined]
    add_action(DATA_PROCESS, named)


register()
