"""The worker's clock jumping forward an hour between export runs (an NTP
step, a VM resumed): nothing is skipped, nothing delivered twice, and a
subscriber in backoff is retried on the next run instead of being stuck.

The export reads the time only through ``run_export``'s ``clock`` argument
(default ``time.time``), so the test passes a clock an hour ahead; the object
store keeps the true hours (Firehose names its folders by its own clock).
"""

from __future__ import annotations

import time
import typing as t
from collections import Counter
from pathlib import Path

import config
import hooks
from jobs import export_hooks
from jobs.export import run_export
from tests.faults.conftest import report
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

HOUR = 3600.0
received: dict[str, list[str]] = {"steady": [], "flaky": []}
flaky_failures = [1]


def steady(batch_data: str) -> None:
    received["steady"] += tags(batch_data)


def flaky(batch_data: str) -> None:
    if flaky_failures[0] > 0:
        flaky_failures[0] -= 1
        raise RuntimeError("BI tool is down")
    received["flaky"] += tags(batch_data)


def test_clock_jumping_forward_an_hour_between_runs(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    received["steady"].clear()
    received["flaky"].clear()
    flaky_failures[0] = 1
    store = Store("local", root=tmp_path / "events")
    settings = make_settings(ANALYTICS_EXPORT_START="now", ANALYTICS_EXPORT_RETRY_BASE="600")
    hooks.add_action(export_hooks.DATA_PROCESS, steady)
    hooks.add_action(export_hooks.DATA_PROCESS, flaky)
    real = time.time()
    expected: list[str] = []

    def put(hours_ago: int, name: str) -> None:
        store.put(hour_ago(hours_ago), name, event_lines(name, 5))
        expected.extend(f"{name}-{i}" for i in range(5))

    put(0, "before")
    first = run_export(settings, clock=lambda: real)  # subscribers start "now": this hour
    assert "tests.faults.test_clock.flaky" in first.failures

    put(0, "same-hour")  # written after the first run, under the hour it started in
    ahead = real + HOUR
    second = run_export(settings, clock=lambda: ahead)
    third = run_export(settings, clock=lambda: ahead + 60)
    put(0, "after")
    fourth = run_export(settings, clock=lambda: ahead + 120)

    theirs = expected
    assert Counter(received["steady"]) == Counter(theirs), "the steady subscriber: everything once"
    assert Counter(received["flaky"]) == Counter(theirs), "the subscriber in backoff: retried after the jump"
    assert not second.failures and not third.delivered and not fourth.failures
    report(
        "the clock jumps forward an hour between runs (run_export's clock argument)",
        "run 1 at the true time: 'flaky' fails and backs off 600 s; run 2 an hour ahead retries it at once",
        f"checked: {len(theirs)} events each delivered once to both subscribers; nothing skipped or repeated",
    )
