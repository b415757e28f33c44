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

import logging
import typing as t
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("objects", [4, 5])
def test_a_failed_batch_names_three_objects_and_the_count_of_the_others(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, objects: int
) -> None:
    store = Store("local", root=tmp_path / "events")
    keys = [store.put(hour_ago(2), f"obj{i}", event_lines(f"o{i}", 2)) for i in range(objects)]
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    hooks.add_action(export_hooks.DATA_PROCESS, refuse)

    run_export(make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning"), redis=redis)

    errors = [m for m, level in logs if level == export_hooks.E_USER_ERROR]
    assert len(errors) == 1, errors
    shown = [key for key in keys if key in errors[0]]
    assert len(shown) == 3 and f"and {objects - 3} more" in errors[0]
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


def test_a_run_that_does_nothing_says_why_in_the_worker_log(
    redis: redis_lib.Redis,
    make_settings: t.Callable[..., config.Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """README "Hooks": the export is off when cron.enabled returns False, and
    nothing runs unless a callback is hooked on data.process. The worker's log
    names the hook responsible (the hook names as the README spells them)."""
    settings = make_settings(ANALYTICS_SOURCE=str(tmp_path / "events"), ANALYTICS_EXPORT_START="beginning")
    caplog.set_level(logging.INFO, logger="jobs.export")

    run_export(settings, redis=redis)
    hooks.add_action(export_hooks.DATA_PROCESS, deliver)
    hooks.add_filter(export_hooks.CRON_ENABLED, lambda enabled: False)
    run_export(settings, redis=redis)

    said = [r.getMessage() for r in caplog.records if r.name == "jobs.export"]
    assert said == [
        "nothing hooked on altis.analytics.export.data.process: export skipped",
        "export disabled by altis.analytics.export.cron.enabled",
    ]


def test_a_run_while_another_holds_the_subscriber_says_so_and_does_nothing(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """README "Scheduled export": one run at a time. Another run holds the only
    subscriber's lock (its Redis key taken, as that run's lock takes it):
    `export run` prints that another run is in progress, and the log action
    gets the original's notice, word for word."""
    import wsgi
    from jobs import lock as run_lock

    store = Store("local", root=tmp_path / "events")
    store.put(hour_ago(2), "waiting", event_lines("w", 1))
    settings = make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning")
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    hooks.add_action(export_hooks.DATA_PROCESS, deliver)
    redis.set(run_lock.lock_name(settings.redis_prefix, f"{__name__}.deliver"), "another-run", ex=60)

    result = wsgi.create_app(settings).test_cli_runner().invoke(args=["export", "run"])

    assert (result.exit_code, result.output) == (0, "Another export run is in progress; nothing done.\n")
    assert logs == [("Another export run is in progress; this one is skipped.", export_hooks.E_USER_NOTICE)]


def test_a_run_given_a_redis_connection_keeps_its_state_there(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """run_export's ``redis``: the connection to use. Given one while REDIS_URL
    names a port where nothing listens, the run delivers, and records its
    progress through it: a second run delivers nothing again."""
    store = Store("local", root=tmp_path / "events")
    store.put(hour_ago(2), "only", event_lines("a", 2))
    settings = make_settings(
        ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning", REDIS_URL="redis://127.0.0.1:1/0"
    )
    hooks.add_action(export_hooks.DATA_PROCESS, deliver)

    first = run_export(settings, redis=redis)
    second = run_export(settings, redis=redis)

    assert (first.events, first.batches, second.events, second.skipped) == (2, 1, 0, None)


def test_objects_without_events_are_reported_as_empty_data(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """Two objects that hold no event (an empty one, one of blank lines): the
    run warns that the data was empty, counting them, and announces no export."""
    store = Store("local", root=tmp_path / "events")
    store.put(hour_ago(2), "empty", [])
    store.put(hour_ago(1), "blank", [b"", b"  "])
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    hooks.add_action(export_hooks.DATA_PROCESS, deliver)

    run_export(make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning"), redis=redis)

    assert logs == [("No events found in 2 file(s): the data was empty.", export_hooks.E_USER_WARNING)]
