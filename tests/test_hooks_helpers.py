"""``MockAction``: a recording callback holder, like WordPress's test helper of
the same name, shared by the hook tests (this module holds no tests).

Every call is recorded with the method's name, the hook running at the time
(``current_filter()``) and the arguments received. Mocks may share one
``log`` list so a test can assert the exact order of calls across them.
"""

from __future__ import annotations

import typing as t

import hooks


class MockAction:
    """Records calls of ``action``/``action2``/``filter``/``filter2``/
    ``filter_append``/``filterall``; filters return their first argument."""

    def __init__(self, name: str = "mock", log: list[tuple[str, str, tuple[t.Any, ...]]] | None = None) -> None:
        self.name = name
        self.events: list[dict[str, t.Any]] = []
        self.log = log

    def _record(self, method: str, hook_name: t.Any, args: tuple[t.Any, ...]) -> None:
        self.events.append({"method": method, "hook_name": hook_name, "args": list(args)})
        if self.log is not None:
            self.log.append((self.name, method, args))

    def action(self, *args: t.Any) -> t.Any:
        self._record("action", hooks.current_filter(), args)
        return args[0] if args else None

    def action2(self, *args: t.Any) -> t.Any:
        self._record("action2", hooks.current_filter(), args)
        return args[0] if args else None

    def filter(self, *args: t.Any) -> t.Any:
        self._record("filter", hooks.current_filter(), args)
        return args[0]

    def filter2(self, *args: t.Any) -> t.Any:
        self._record("filter2", hooks.current_filter(), args)
        return args[0]

    def filter_append(self, *args: t.Any) -> t.Any:
        self._record("filter_append", hooks.current_filter(), args)
        return args[0] + "_append"

    def filterall(self, hook_name: str, *args: t.Any) -> None:
        """For the ``all`` hook: the hook's name comes first."""
        self._record("filterall", hook_name, args)

    @classmethod
    def static_action(cls, *args: t.Any) -> None:
        """Stands in for PHP's ``array( 'MockAction', 'action' )``."""

    @property
    def call_count(self) -> int:
        return len(self.events)

    @property
    def hook_names(self) -> list[t.Any]:
        return [event["hook_name"] for event in self.events]

    @property
    def args(self) -> list[list[t.Any]]:
        return [event["args"] for event in self.events]

    @property
    def methods(self) -> list[str]:
        return [event["method"] for event in self.events]
