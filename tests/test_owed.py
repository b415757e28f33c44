"""Objects a shared change makes deliverable again are owed to every
subscriber, not only to the one whose job reads them first (real Redis, real
export, S3 over HTTP or a local directory; a busy subscriber really holds its
lock).

Each subscriber has its own RQ job and lock, so a ``requeue`` made while one
subscriber's job runs, or a failed read that another subscriber's job
retries first, must still reach a subscriber whose position is already past
the object and whose listing windows (``ANALYTICS_LATE_HOURS``,
``ANALYTICS_RECONCILE_DAYS``) no longer cover it -- exactly once.
"""

from __future__ import annotations

import gzip
import typing as t
from pathlib import Path

import orjson
import pytest

import config
import hooks
from jobs import export_hooks, subscribers
from jobs.export import run_export
from jobs.lock import RunLock
from jobs.replay import requeue
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

got: dict[str, list[str]] = {"a": [], "b": []}


def subscriber_a(data: str) -> None:
    got["a"].extend(tags(data))


def subscriber_b(data: str) -> None:
    got["b"].extend(tags(data))


@pytest.fixture(autouse=True)
def _subscribed() -> None:
    got["a"], got["b"] = [], []
    hooks.add_action(export_hooks.DATA_PROCESS, subscriber_a)
    hooks.add_action(export_hooks.DATA_PROCESS, subscriber_b)


def names() -> tuple[str, str]:
    by_callback = {s.callback: s.name for s in subscribers.current()}
    return by_callback[subscriber_a], by_callback[subscriber_b]


def narrow_settings(make_settings: t.Callable[..., config.Settings], store: Store) -> config.Settings:
    """One hour of lookback and one day of reconciliation: an object 30 hours
    old is outside both once a subscriber has moved past it."""
    return make_settings(
        ANALYTICS_SOURCE=store.source_setting,
        ANALYTICS_EXPORT_START="beginning",
        ANALYTICS_LATE_HOURS="1",
        ANALYTICS_RECONCILE_DAYS="1",
    )


def status_pending(settings: config.Settings) -> dict[str, t.Any]:
    import wsgi

    result = wsgi.create_app(settings).test_cli_runner().invoke(args=["export", "status", "--json"])
    assert result.exit_code == 0, result.output
    return {s["name"]: s["pending"] for s in orjson.loads(result.output)["subscribers"]}


def test_requeue_while_a_subscriber_is_busy_reaches_it_on_its_next_run(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    store = Store("local", root=tmp_path / "events")
    settings = narrow_settings(make_settings, store)
    name_a, name_b = names()
    good = gzip.compress(b"".join(line + b"\n" for line in event_lines("k", 2)))
    key = store.put(hour_ago(30), "corrupt", [], raw=good[:-20] + b"garbage" * 3)
    store.put(hour_ago(1), "fine", event_lines("f", 1))
    for _ in range(3):  # the third failed read quarantines it
        run_export(settings)
    assert got == {"a": ["f-0"], "b": ["f-0"]}

    (store.root / key).write_bytes(good)  # type: ignore[operator]
    # B's job is running: its lock is held by another run.
    with RunLock(redis, settings.redis_prefix, settings.export_lock_ttl, [name_b]) as held:
        assert held == [name_b]
        report = requeue(settings, key, redis=redis)
    assert report.busy == [name_b]
    assert got == {"a": ["f-0", "k-0", "k-1"], "b": ["f-0"]}
    assert status_pending(settings) == {name_a: 0, name_b: 1}, "the requeued object is pending for B"

    run_export(settings, only=[name_b])  # B's next scheduled job
    assert got["b"] == ["f-0", "k-0", "k-1"]
    for _ in range(2):
        run_export(settings)
    assert got == {"a": ["f-0", "k-0", "k-1"], "b": ["f-0", "k-0", "k-1"]}, "delivered once each"
    assert status_pending(settings) == {name_a: 0, name_b: 0}


def test_unread_object_read_first_by_one_subscriber_still_reaches_the_other(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], s3_bucket: t.Any
) -> None:
    """An archived (GLACIER) object cannot be read until restored: a real S3 read error."""
    store = Store("s3", bucket=s3_bucket)
    settings = narrow_settings(make_settings, store)
    name_a, name_b = names()
    archived = store.put(hour_ago(30), "archived", event_lines("k", 1), storage_class="GLACIER")
    store.put(hour_ago(1), "fine", event_lines("f", 1))
    report = run_export(settings)
    assert archived in report.read_errors
    assert got == {"a": ["f-0"], "b": ["f-0"]}, "both positions are now past the archived object"

    s3_bucket.Object(archived).restore_object(RestoreRequest={"Days": 1})
    run_export(settings, only=[name_a])  # A's job reads it first and clears its failure
    assert got == {"a": ["f-0", "k-0"], "b": ["f-0"]}
    assert status_pending(settings) == {name_a: 0, name_b: 1}

    run_export(settings, only=[name_b])  # B's job
    assert got["b"] == ["f-0", "k-0"]
    for _ in range(2):
        run_export(settings)
    assert got == {"a": ["f-0", "k-0"], "b": ["f-0", "k-0"]}, "delivered once each"
    assert status_pending(settings) == {name_a: 0, name_b: 0}
