"""Auto-pause and the alert action against real Redis and a local directory:
a subscriber failing ANALYTICS_EXPORT_PAUSE_AFTER times in a row is paused and
alerted once, stays paused, resumes on ``export resume`` and then gets every
event; the lag alert fires once and clears; quarantine and reconciliation alert."""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
import typing as t
from pathlib import Path

import orjson
import pytest

import config
import hooks
from jobs import alerts, export_hooks
from jobs import lock as run_lock
from jobs.export import run_export
from jobs.state import DeliveryState
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags
from wsgi import create_app

if t.TYPE_CHECKING:
    import redis as redis_lib

NAME = "tests.test_ops_alerts.subscriber"


class Received:
    def __init__(self) -> None:
        self.batches: list[str] = []
        self.alerts: list[tuple[str, str, str, dict[str, t.Any]]] = []
        self.failing = True
        self.calls = 0
        self.after_batch: t.Callable[[], None] | None = None


got = Received()


def subscriber(data: str) -> None:
    got.calls += 1
    if got.failing:
        raise RuntimeError("BI tool is down")
    got.batches.append(data)
    if got.after_batch is not None:
        got.after_batch()


def on_alert(code: str, message: str, subscriber: str, details: dict[str, t.Any]) -> None:
    got.alerts.append((code, message, subscriber, details))


@pytest.fixture(autouse=True)
def _received() -> t.Iterator[None]:
    global got
    got = Received()
    hooks.add_action(alerts.ALERT, on_alert, 10, 4)
    hooks.add_action(export_hooks.DATA_PROCESS, subscriber)
    yield


@pytest.fixture
def local(tmp_path: Path) -> Store:
    return Store("local", root=tmp_path / "events")


def codes(lag: bool = True) -> list[str]:
    """The alert codes so far, in order (without the lag ones unless ``lag``)."""
    return [code for code, *_ in got.alerts if lag or code not in (alerts.LAGGING, alerts.LAG_CLEARED)]


def lines_of(path: Path) -> list[str]:
    """The tags of a raw file, read here without our code."""
    return [orjson.loads(line)["attributes"]["tag"] for line in path.read_bytes().splitlines() if line.strip()]


def test_twenty_failures_pause_once_and_resume_delivers_everything(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store, tmp_path: Path
) -> None:
    settings = make_settings(
        ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning",
        ANALYTICS_EXPORT_RETRY_BASE="60", ANALYTICS_EXPORT_RETRY_MAX="3600",
    )  # fmt: skip
    assert settings.export_pause_after == 20, "the documented default"
    first = local.put(hour_ago(2), "s-1", event_lines("x", 3))
    now = [time.time()]
    for attempt in range(1, 21):
        run_export(settings, clock=lambda: now[0])
        assert got.calls == attempt
        now[0] += 3601  # past the longest backoff
    # The fake clock moves 20 hours: the lag alert fires too (test_lag_alert_fires_once_and_clears).
    assert codes(lag=False) == [alerts.FAILING, alerts.PAUSED], "one alert per state change"
    (paused,) = [a for a in got.alerts if a[0] == alerts.PAUSED]
    assert paused[2] == NAME and paused[3]["failures"] == 20 and "BI tool is down" in paused[3]["error"]
    # README "Pause and resume": the alert says how to resume; the paused metric is 1.
    assert paused[1] == (
        f"Subscriber {NAME} is paused after 20 failures in a row (last: {paused[3]['error']}). "
        f"Nothing is lost: fix it, then run 'flask --app wsgi export resume {NAME}'."
    )
    assert _sample("analytics_export_paused", NAME) == 1

    # Paused: no more calls, however long we wait; status says why.
    second = local.put(hour_ago(1), "s-2", event_lines("y", 2))
    now[0] += 86400
    report = run_export(settings, clock=lambda: now[0])
    assert got.calls == 20 and NAME in report.waiting
    state = DeliveryState(redis, settings.redis_prefix).get(NAME)
    assert state is not None and state.paused and "20 failures in a row" in state.paused_reason
    app = create_app(settings)
    runner = app.test_cli_runner()
    status = runner.invoke(args=["export", "status"])
    assert "PAUSED" in status.output and "20 failures in a row" in status.output
    as_json = orjson.loads(runner.invoke(args=["export", "status", "--json"]).output)
    (entry,) = as_json["subscribers"]
    assert entry["paused"] is True and "BI tool is down" in entry["paused_reason"]

    # Resume on command: the next run delivers every event of both files, once.
    got.failing = False
    result = runner.invoke(args=["export", "resume", NAME])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["export", "resume", NAME])
    assert again.exit_code == 1 and "not paused" in again.output
    unknown = runner.invoke(args=["export", "resume", "nobody"])
    assert unknown.exit_code == 1 and "unknown subscriber 'nobody'" in unknown.output
    run_export(settings, clock=lambda: now[0])
    expected = lines_of(local.root / first) + lines_of(local.root / second)  # type: ignore[operator]
    assert [tag for data in got.batches for tag in tags(data)] == expected
    assert codes(lag=False) == [alerts.FAILING, alerts.PAUSED, alerts.RECOVERED]
    run_export(settings, clock=lambda: now[0])
    assert codes(lag=False) == [alerts.FAILING, alerts.PAUSED, alerts.RECOVERED], "a recovery alerts once"


def test_pause_after_zero_never_pauses(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = make_settings(
        ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning", ANALYTICS_EXPORT_PAUSE_AFTER="0"
    )
    local.put(hour_ago(2), "s-1", event_lines("x", 1))
    now = [time.time()]
    for _ in range(25):
        run_export(settings, clock=lambda: now[0])
        now[0] += 3601
    assert got.calls == 25 and codes(lag=False) == [alerts.FAILING]


def punctual(data: str) -> None:
    """A second subscriber, which never fails (so never lags)."""


def test_lag_alert_fires_once_and_clears(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    assert settings.alert_lag == 3600, "the documented default: one hour"
    # Checked before the lagging one (priority 5): a subscriber whose lag did not change holds up no other's.
    hooks.add_action(export_hooks.DATA_PROCESS, punctual, 5)
    key = local.put(hour_ago(3), "s-1", event_lines("x", 2))
    written = time.time() - 2 * 3600  # the object arrived two hours ago
    os.utime(local.root / key, (written, written))  # type: ignore[operator]
    now = [time.time()]

    run_export(settings, clock=lambda: now[0])  # fails: two hours behind
    lag = [a for a in got.alerts if a[0] == alerts.LAGGING]
    assert len(lag) == 1 and lag[0][2] == NAME and lag[0][3]["lag_seconds"] >= 7200 and key in lag[0][1]
    # README "Alerts": subscriber_lagging's details; "Metrics": analytics_export_lag_seconds per subscriber.
    assert lag[0][3] == {"lag_seconds": lag[0][3]["lag_seconds"], "threshold_seconds": 3600, "oldest": key}
    assert _sample("analytics_export_lag_seconds", NAME) == lag[0][3]["lag_seconds"]
    now[0] += 3601
    run_export(settings, clock=lambda: now[0])  # fails again, still behind: no second alert
    assert codes().count(alerts.LAGGING) == 1

    got.failing = False
    now[0] += 3601
    run_export(settings, clock=lambda: now[0])
    cleared = [a for a in got.alerts if a[0] == alerts.LAG_CLEARED]
    assert len(cleared) == 1 and cleared[0][3] == {"lag_seconds": 0, "threshold_seconds": 3600}
    assert cleared[0][1:3] == (f"Subscriber {NAME} caught up: lag 0 s.", NAME)
    assert _sample("analytics_export_lag_seconds", NAME) == 0
    run_export(settings, clock=lambda: now[0])
    assert codes() == [alerts.FAILING, alerts.LAGGING, alerts.RECOVERED, alerts.LAG_CLEARED]


def test_a_lag_of_exactly_alert_lag_is_not_lagging(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """README: ANALYTICS_ALERT_LAG is the seconds a subscriber "may lag" before
    the alert: an oldest undelivered object exactly that old raises nothing;
    at the next try, an hour later, it does."""
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    key = local.put(hour_ago(3), "s-1", event_lines("x", 1))
    now = float(int(time.time()))
    os.utime(local.root / key, (now - 3600, now - 3600))  # type: ignore[operator]
    run_export(settings, clock=lambda: now)
    assert codes() == [alerts.FAILING]
    run_export(settings, clock=lambda: now + 3601)  # past the first retry (60 s); the object 7201 s old
    assert codes() == [alerts.FAILING, alerts.LAGGING]


def test_a_full_selection_leaves_the_lag_as_it_was(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """A run that got altis.analytics.export.max.files objects may have left
    more behind: its lag is unknown, so a lagging subscriber is not "caught
    up" until a run finds nothing more; a subscriber checked before it (here
    one also held to a full selection) holds up no other's check."""
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    hooks.add_filter(export_hooks.MAX_FILES, lambda files: 1)
    hooks.add_action(export_hooks.DATA_PROCESS, punctual, 5)
    logs: list[str] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append(message), 10, 2)
    written = time.time() - 2 * 3600
    for i in range(2):
        key = local.put(hour_ago(3), f"s-{i}", event_lines(f"x{i}", 1))
        os.utime(local.root / key, (written, written))  # type: ignore[operator]
    now = [time.time()]
    run_export(settings, clock=lambda: now[0])  # fails, two hours behind
    assert codes() == [alerts.FAILING, alerts.LAGGING]
    got.failing = False
    for _ in range(2):  # one object each: full selections
        now[0] += 3601
        run_export(settings, clock=lambda: now[0])
    assert [tag for data in got.batches for tag in tags(data)] == ["x0-0", "x1-0"]
    assert codes() == [alerts.FAILING, alerts.LAGGING, alerts.RECOVERED]
    # A run's message names every subscriber it served.
    served = [m for m in logs if m.startswith("Exported ")]
    assert served and served[-1].endswith(f" to {__name__}.punctual, {NAME}."), served
    run_export(settings, clock=lambda: now[0])  # nothing left
    assert codes() == [alerts.FAILING, alerts.LAGGING, alerts.RECOVERED, alerts.LAG_CLEARED]


def test_quarantine_and_reconciliation_alert(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    got.failing = False
    good = gzip.compress(b"".join(line + b"\n" for line in event_lines("z", 4)))
    broken = local.put(hour_ago(1), "broken", [], raw=good[:-20] + b"garbage" * 3)
    for _ in range(3):
        run_export(settings)
    quarantined = [a for a in got.alerts if a[0] == alerts.QUARANTINED]
    assert len(quarantined) == 1 and quarantined[0][3]["key"] == broken

    # An object written late, far behind the position: only reconciliation finds it.
    local.put(hour_ago(1), "s-9", event_lines("now", 1))
    run_export(settings)
    late = local.put(hour_ago(30), "s-1", event_lines("late", 2))
    report = run_export(settings, mode="reconcile")
    assert report.late == [late]
    (found,) = [a for a in got.alerts if a[0] == alerts.LATE_OBJECTS]
    assert found[3] == {"keys": [late], "count": 1}
    run_export(settings, mode="reconcile")  # nothing late any more: no alert
    assert len([a for a in got.alerts if a[0] == alerts.LATE_OBJECTS]) == 1


def test_a_raising_alert_callback_does_not_stop_the_export(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")

    def broken(*_: t.Any) -> None:
        raise RuntimeError("mail server down")

    hooks.add_action(alerts.ALERT, broken, 20, 4)  # after on_alert: WordPress stops at a callback that raises
    local.put(hour_ago(2), "s-1", event_lines("x", 1))
    local.put(hour_ago(1), "s-2", event_lines("y", 1))
    report = run_export(settings)
    assert NAME in report.failures and codes(lag=False) == [alerts.FAILING]
    got.failing = False
    state = DeliveryState(redis, settings.redis_prefix).get(NAME)
    assert state is not None and state.retry_at is not None
    report = run_export(settings, clock=lambda: state.retry_at + 1)  # type: ignore[operator]
    assert [tag for data in got.batches for tag in tags(data)] == ["x-0", "y-0"]
    assert codes(lag=False) == [alerts.FAILING, alerts.RECOVERED]


def test_a_raising_alert_callback_does_not_silence_the_ones_after_it(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """The README's example registers an email and a Slack notifier: with the
    mail server down, Slack must still hear of every change (found by a
    fresh-eyes review: the first callback that raised ended the alert)."""
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")

    def broken(*_: t.Any) -> None:
        raise RuntimeError("mail server down")

    hooks.add_action(alerts.ALERT, broken, 5, 4)  # before on_alert (priority 10)
    local.put(hour_ago(2), "s-1", event_lines("x", 1))
    report = run_export(settings)
    assert NAME in report.failures and codes(lag=False) == [alerts.FAILING]


def _sample(name: str, subscriber: str, label: str = "subscriber") -> float:
    """The value of metric ``name`` (README "Metrics") for ``subscriber`` (or
    another ``label``'s value), read from the Prometheus text with
    prometheus_client's own parser (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    import metrics

    text = metrics.exposition()[0].decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get(label) == subscriber:
                return float(sample.value)
    return 0.0


def test_the_first_failure_alerts_with_its_details_and_the_metrics_count_per_subscriber(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    # README "Alerts": subscriber_failing fires on the first failure after a
    # success, with details error and failures; README "Metrics": failures per
    # subscriber, failures in a row, when it is retried.
    settings = make_settings(
        ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning",
        ANALYTICS_EXPORT_RETRY_BASE="60", ANALYTICS_EXPORT_RETRY_MAX="3600",
    )  # fmt: skip
    local.put(hour_ago(2), "s-1", event_lines("x", 1))
    failed_before = _sample("analytics_export_delivery_failures_total", NAME)
    now = [time.time()]
    run_export(settings, clock=lambda: now[0])
    (failing,) = got.alerts
    code, message, subscriber, details = failing
    assert (code, subscriber, set(details)) == (alerts.FAILING, NAME, {"error", "failures"})
    assert details["failures"] == 1 and "BI tool is down" in details["error"]
    assert message == f"Subscriber {NAME} started failing: {details['error']}"
    now[0] += 3601  # past the backoff: the second failure in a row alerts no more
    run_export(settings, clock=lambda: now[0])
    assert codes(lag=False) == [alerts.FAILING] and got.calls == 2
    state = DeliveryState(redis, settings.redis_prefix).get(NAME)
    assert state is not None and state.retry_at == now[0] + 120
    assert _sample("analytics_export_delivery_failures_total", NAME) - failed_before == 2
    assert _sample("analytics_export_consecutive_failures", NAME) == 2
    assert _sample("analytics_export_retry_at_timestamp_seconds", NAME) == now[0] + 120


def other_subscriber(data: str) -> None:
    got.batches.append(data)


OTHER = "tests.test_ops_alerts.other_subscriber"


def test_a_corrupt_object_is_read_once_a_run_and_quarantined_on_the_third(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    # README: a corrupt object is retried on the next runs, quarantined after 3
    # failed reads (logged once, alerted with its key and error), then listed with
    # why and when. Two subscribers needing different objects are planned in two
    # groups: the object that failed for the first is not read again for the second.
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    got.failing = False
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    hooks.add_action(export_hooks.DATA_PROCESS, other_subscriber)
    good = gzip.compress(b"".join(line + b"\n" for line in event_lines("z", 4)))
    broken = local.put(hour_ago(1), "broken", [], raw=good[:-20] + b"garbage" * 3)
    first = local.put(hour_ago(2), "first", event_lines("a", 1))
    DeliveryState(redis, settings.redis_prefix).record_success(OTHER, [first], None, 0.0)  # it has the first already

    def errors(text: str) -> list[str]:
        return [m for m, level in logs if level == export_hooks.E_USER_ERROR and text in m]

    one = run_export(settings, clock=lambda: T_RUN)
    assert list(one.read_errors) == [broken] and one.read_errors[broken] and one.quarantined == []
    assert len(errors(f"Could not read {broken} (attempt 1 of 3)")) == 1
    state = DeliveryState(redis, settings.redis_prefix)
    assert state.unread()[broken] == {"count": 1, "error": one.read_errors[broken]}
    two = run_export(settings, clock=lambda: T_RUN + 1)
    assert two.quarantined == [] and len(errors(f"Could not read {broken} (attempt 2 of 3)")) == 1
    three = run_export(settings, clock=lambda: T_RUN + 2)
    assert three.quarantined == [broken]
    error = three.read_errors[broken]
    assert state.quarantined() == {broken: {"reason": error, "at": T_RUN + 2}}
    (logged,) = errors(f"Quarantined {broken}")
    assert logged.startswith(f"Quarantined {broken}: unreadable 3 times ({error}).")
    (alert,) = [a for a in got.alerts if a[0] == alerts.QUARANTINED]
    assert alert == (alerts.QUARANTINED, logged, "", {"key": broken, "error": error})


T_RUN = 1_800_000_000.0


def test_a_recovery_alerts_once_and_resets_the_retry_metrics(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    # README "Alerts": subscriber_recovered when a delivery succeeds after
    # failures; README "Metrics": failures in a row and the retry time back to 0.
    # The failure itself is logged once, by the run (the alert does not log it again).
    # Batches of at most 1 KiB: the recovering run delivers two, and alerts once.
    settings = make_settings(
        ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning", ANALYTICS_EXPORT_BATCH_BYTES="1024"
    )
    logs: list[str] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append(message), 10, 2)
    local.put(hour_ago(3), "s-1", event_lines("x", 1, pad=700))
    local.put(hour_ago(2), "s-2", event_lines("y", 1, pad=700))
    now = [time.time()]
    run_export(settings, clock=lambda: now[0])
    assert not [m for m in logs if "started failing" in m]
    got.failing = False
    now[0] += 3601
    run_export(settings, clock=lambda: now[0])
    assert [tag for data in got.batches for tag in tags(data)] == ["x-0", "y-0"] and len(got.batches) == 2
    assert codes(lag=False) == [alerts.FAILING, alerts.RECOVERED]
    recovered = got.alerts[-1]
    assert recovered == (alerts.RECOVERED, f"Subscriber {NAME} recovered: a batch was delivered.", NAME, {})
    assert f"Subscriber {NAME} recovered: a batch was delivered." in logs
    assert _sample("analytics_export_consecutive_failures", NAME) == 0
    assert _sample("analytics_export_retry_at_timestamp_seconds", NAME) == 0


def test_a_failed_batch_is_logged_with_its_objects_error_and_retry_time(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """What a person reads of a failure (the log action often feeds email or
    chat): the batch's objects, three by name and then how many more, the
    error as ``<exception type>: <message>`` and the retry time in UTC
    (ANALYTICS_EXPORT_RETRY_BASE 60 s, doubling). Then the recovery's batches
    and events, counted in the run's report and the metrics (README "Metrics")."""
    env = {"ANALYTICS_SOURCE": str(local.root), "ANALYTICS_EXPORT_START": "beginning"}
    settings = make_settings(**env, ANALYTICS_EXPORT_RETRY_BASE="60", ANALYTICS_EXPORT_RETRY_MAX="3600")
    logs: list[str] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append(message), 10, 2)
    keys = sorted(local.put(hour_ago(3), f"s-{i}", event_lines(f"x{i}", 2)) for i in range(3))
    now = float(int(time.time()))

    def failure(events: int, named: str, wait: int) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now + wait))
        return (
            f"Subscriber {NAME} failed on a batch of {events} events ({named}): RuntimeError: BI tool is down. "
            f"It will be retried from there after {when}; other subscribers are not affected."
        )

    report = run_export(settings, clock=lambda: now)
    assert report.failures == {NAME: "RuntimeError: BI tool is down"}
    assert failure(6, ", ".join(keys), 60) in logs, logs
    keys = sorted([*keys, *(local.put(hour_ago(3), f"s-{i}", event_lines(f"x{i}", 2)) for i in (3, 4))])
    now += 61
    run_export(settings, clock=lambda: now)
    assert failure(10, ", ".join(keys[:3]) + " and 2 more", 120) in logs, logs

    got.failing = False
    now += 121
    small = make_settings(**env, ANALYTICS_EXPORT_BATCH_BYTES="1024")
    batches, events = (
        _sample("analytics_export_delivered_batches_total", NAME),
        _sample("analytics_export_delivered_events_total", NAME),
    )
    report = run_export(small, clock=lambda: now)
    delivered = [tag for data in got.batches for tag in tags(data)]
    assert delivered == [f"x{i}-{n}" for i in range(5) for n in range(2)]
    assert len(got.batches) > 1, "ten events of about 300 bytes exceed 1024 bytes"
    assert (report.batches, report.events, report.failures) == (len(got.batches), 10, {})
    exported = f"Exported 10 events from 5 file(s) in {len(got.batches)} batch deliveries to {NAME}."
    assert exported in logs, logs
    # README "export status": the last run, as its job recorded it.
    status = orjson.loads(create_app(small).test_cli_runner().invoke(args=["export", "status", "--json"]).output)
    assert status["last_run"] == {
        "mode": "run", "started": now, "finished": now, "objects": 5, "events": 10, "batches": len(got.batches),
        "failures": {}, "read_errors": {}, "subscribers": [NAME],
    }  # fmt: skip
    assert _sample("analytics_export_delivered_batches_total", NAME) - batches == len(got.batches)
    assert _sample("analytics_export_delivered_events_total", NAME) - events == 10


@pytest.mark.parametrize("lost_while", ["delivering", "reading"])
def test_a_run_whose_lock_expired_stops_before_the_next_batch(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store, lost_while: str
) -> None:
    """README: each subscriber's lock has a TTL renewed while its run lives, so
    none is served by two runs. A run that could not renew it (here: the key
    gone, as after Redis lost it) stops, says why, and records no progress, not
    even for a batch the subscriber returned from (another run may own it now):
    the next run delivers that batch again, then the rest. Lost while the
    subscriber had a batch, or between two batches (while the run read objects:
    at the warning about the first object's invalid line)."""
    settings = make_settings(
        ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning",
        ANALYTICS_EXPORT_LOCK_TTL="1", ANALYTICS_EXPORT_BATCH_BYTES="1024",
    )  # fmt: skip
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    local.put(hour_ago(2), "s-1", [*event_lines("x", 4), b"{nope"])
    local.put(hour_ago(1), "s-2", event_lines("y", 4))
    lost = threading.Event()

    class Lost(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "lost the export lock" in record.getMessage():
                lost.set()

    def expire() -> None:
        redis.delete(run_lock.lock_name(settings.redis_prefix, NAME))
        assert lost.wait(30), "the renewal never noticed"

    got.failing = False
    if lost_while == "delivering":
        got.after_batch = lambda: expire() if len(got.batches) == 1 else None
    else:
        hooks.add_action(export_hooks.LOG, lambda message, level: message.startswith("Skipped") and expire(), 20, 2)
    handler = Lost()
    logging.getLogger("jobs.lock").addHandler(handler)
    try:
        run_export(settings)
    finally:
        logging.getLogger("jobs.lock").removeHandler(handler)
    assert lost.is_set()
    aborted = "Export run aborted: a subscriber's lock expired; another run may have started"
    assert (aborted, export_hooks.E_USER_ERROR) in logs, logs
    first = [tag for data in got.batches for tag in tags(data)]
    if lost_while == "delivering":
        assert len(got.batches) == 1 and 0 < len(first) < 8, "1024 bytes hold some of eight events of ~170 bytes"
    else:
        assert first == []
    run_export(settings)
    everything = [f"{s}-{n}" for s in "xy" for n in range(4)]
    assert [tag for data in got.batches for tag in tags(data)] == first + everything


def test_each_run_is_counted_and_timed_by_its_mode(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """README "Metrics": analytics_export_runs_total and _run_duration_seconds
    by ``mode``. A run is timed by its clock: here one that stands still, so
    each run adds 0 s to the histogram's sum and 1 to its count."""
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    got.failing = False
    local.put(hour_ago(2), "s-1", event_lines("x", 1))
    series = ("runs_total", "run_duration_seconds_count", "run_duration_seconds_sum")

    def samples() -> dict[tuple[str, str], float]:
        return {
            (mode, name): _sample(f"analytics_export_{name}", mode, label="mode")
            for mode in ("run", "reconcile")
            for name in series
        }

    before = samples()
    now = time.time()
    run_export(settings, clock=lambda: now)
    run_export(settings, mode="reconcile", clock=lambda: now)
    run_export(settings, clock=lambda: now)
    after = samples()
    assert {key: after[key] - before[key] for key in after} == {
        ("run", "runs_total"): 2, ("run", "run_duration_seconds_count"): 2, ("run", "run_duration_seconds_sum"): 0,
        ("reconcile", "runs_total"): 1, ("reconcile", "run_duration_seconds_count"): 1,
        ("reconcile", "run_duration_seconds_sum"): 0,
    }  # fmt: skip


def test_the_late_objects_alert_lists_the_first_hundred_and_counts_them_all(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """README "Alerts": late_objects' details are ``keys`` (first 100) and
    ``count``. A reconciliation that finds 101 late objects (more than a run's
    default max.files, 100: reconciliation is not held to it) delivers them all."""
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    got.failing = False
    local.put(hour_ago(1), "s-9", event_lines("now", 1))
    run_export(settings)
    late = sorted(local.put(hour_ago(30), f"late-{i:03}", event_lines(f"late{i}", 1)) for i in range(101))
    report = run_export(settings, mode="reconcile")
    assert sorted(report.late) == late
    (found,) = [a for a in got.alerts if a[0] == alerts.LATE_OBJECTS]
    assert found[3] == {"keys": late[:100], "count": 101}


def test_an_object_stamped_ahead_of_the_workers_clock_is_no_lag(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """README "Metrics": analytics_export_lag_seconds, the age of the oldest
    object a subscriber was planned but did not get. The store's clock ten
    minutes ahead of the worker's: that object is no age yet, so 0 s."""
    settings = make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning")
    key = local.put(hour_ago(1), "s-1", event_lines("x", 1))
    now = float(int(time.time()))
    os.utime(local.root / key, (now + 600, now + 600))  # type: ignore[operator]
    run_export(settings, clock=lambda: now)
    assert codes() == [alerts.FAILING], "the delivery failed: the object is left"
    assert _sample("analytics_export_lag_seconds", NAME) == 0


def test_a_success_at_the_time_of_the_last_error_is_not_a_second_recovery(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """README "Alerts": subscriber_recovered when a delivery succeeds after
    failures, once. On a clock that stands still the failure, the recovery
    and the next delivery share one time: the delivery after the recovery is
    no recovery (its last success is not older than its last error)."""
    settings = make_settings(
        ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START="beginning", ANALYTICS_EXPORT_PAUSE_AFTER="1"
    )
    local.put(hour_ago(3), "s-1", event_lines("x", 1))
    now = time.time()
    run_export(settings, clock=lambda: now)
    assert codes(lag=False) == [alerts.FAILING, alerts.PAUSED]
    got.failing = False
    assert create_app(settings).test_cli_runner().invoke(args=["export", "resume", NAME]).exit_code == 0
    run_export(settings, clock=lambda: now)
    local.put(hour_ago(2), "s-2", event_lines("y", 1))
    run_export(settings, clock=lambda: now)
    assert [tag for data in got.batches for tag in tags(data)] == ["x-0", "y-0"]
    assert codes(lag=False) == [alerts.FAILING, alerts.PAUSED, alerts.RECOVERED]
