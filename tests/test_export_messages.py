"""What the export says through ``altis.analytics.export.log`` (which sites
wire to email or chat, per the documentation's example): a failed batch names a
few of its objects, not all of them; a run whose every delivery failed does not
also announce an export; a successful run names who was served (each
subscriber's job logs its own run). Found by a fresh-eyes review: a failed
batch of 100 objects logged a 10 KB line on every retry, and a run whose two
subscribers both failed logged "Exported ... in 0 batch deliveries."

Real Redis (the test database), a local directory; expected texts from the
keys written here."""

from __future__ import annotations

import typing as t
from pathlib import Path

import hooks
from jobs import export_hooks
from jobs.export import run_export
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago

if t.TYPE_CHECKING:
    import redis as redis_lib

    import config


def refuse(data: str) -> None:
    raise RuntimeError("the BI tool is down")


def deliver(data: str) -> None:
    pass


def test_a_failed_batch_names_three_objects_and_the_count_of_the_others(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    store = Store("local", root=tmp_path / "events")
    keys = [store.put(hour_ago(2), f"obj{i}", event_lines(f"o{i}", 2)) for i in range(5)]
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    hooks.add_action(export_hooks.DATA_PROCESS, refuse)

    run_export(make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning"), redis=redis)

    errors = [m for m, level in logs if level == export_hooks.E_USER_ERROR]
    assert len(errors) == 1, errors
    shown = [key for key in keys if key in errors[0]]
    assert len(shown) == 3 and "and 2 more" in errors[0]
    assert not [m for m, _ in logs if m.startswith("Exported")], "nothing was exported"


def test_a_successful_run_names_the_subscriber_it_served(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    store = Store("local", root=tmp_path / "events")
    store.put(hour_ago(2), "only", event_lines("a", 3))
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    hooks.add_action(export_hooks.DATA_PROCESS, deliver)

    run_export(make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning"), redis=redis)

    notices = [m for m, level in logs if level == export_hooks.E_USER_NOTICE and m.startswith("Exported")]
    assert notices == [f"Exported 3 events from 1 file(s) in 1 batch deliveries to {__name__}.deliver."]
