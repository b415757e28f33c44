"""Promises of the scheduled export that a mutation pass found unpinned: one
run at a time (a second one is skipped, not merely never scheduled), the
reconciliation window of ``ANALYTICS_RECONCILE_DAYS``, the ``bucket.arn``
filter, and the catalog warm-up of today *and* yesterday.

Real Redis (the test database), a local directory or S3 over HTTP (moto);
expected values are worked out by hand from the README's rules."""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import time
import typing as t
from pathlib import Path

import boto3
import pytest

import config
import hooks
from events import layout
from jobs import export_hooks, subscribers, tasks
from jobs.export import run_export
from jobs.replay import requeue
from jobs.state import DeliveryState
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

OTHER_BUCKET = "analytics-test-other-firehose"


class Inbox:
    """What a subscriber received, and what the export logged."""

    def __init__(self) -> None:
        self.batches: list[str] = []
        self.logs: list[tuple[str, int]] = []

    def tags(self) -> list[str]:
        return [tag for data in self.batches for tag in tags(data)]

    def logged(self, level: int, text: str) -> list[str]:
        return [m for m, lv in self.logs if lv == level and text in m]


@pytest.fixture
def inbox() -> Inbox:
    box = Inbox()
    hooks.add_action(export_hooks.LOG, lambda message, level: box.logs.append((message, level)), 10, 2)
    return box


def settings_for(make: t.Callable[..., config.Settings], source: str, **env: str) -> config.Settings:
    return make(ANALYTICS_SOURCE=source, ANALYTICS_EXPORT_START="beginning", **env)


# ------------------------------------------------------------------ one run at a time


def test_a_second_run_while_one_is_delivering_is_skipped(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, inbox: Inbox
) -> None:
    """README "Scheduled export": one run at a time across every worker. The
    second run starts while the first is inside a subscriber's callback: it
    must deliver nothing and say so (the original's notice), and the first
    run then finishes alone; a run after it goes on normally."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    store.put(hour_ago(2), "first", event_lines("a", 2))
    inside, release = threading.Event(), threading.Event()

    def slow_subscriber(data: str) -> None:
        inbox.batches.append(data)
        if not inside.is_set():
            inside.set()
            release.wait(30)

    hooks.add_action(export_hooks.DATA_PROCESS, slow_subscriber)
    reports: list[t.Any] = []
    first = threading.Thread(target=lambda: reports.append(run_export(settings)))
    first.start()
    try:
        assert inside.wait(30), "the first run never reached the subscriber"
        second = run_export(settings)
    finally:
        release.set()
        first.join(30)

    assert inbox.tags() == ["a-0", "a-1"], "the second run delivered nothing"
    assert (second.objects, second.events, second.batches) == (0, 0, 0)
    assert inbox.logged(export_hooks.E_USER_NOTICE, "Another export run is in progress; this one is skipped.")
    assert reports and reports[0].events == 2

    store.put(hour_ago(1), "second", event_lines("b", 1))
    after = run_export(settings)
    assert after.events == 1 and inbox.tags() == ["a-0", "a-1", "b-0"], "the lock was released"


# ------------------------------------------------------------------ requeue and unreadable objects


def test_a_requeued_object_goes_now_even_to_a_subscriber_in_backoff(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, inbox: Inbox
) -> None:
    """jobs/replay.py's requeue: "deliver it now to every subscriber that has not
    received it" (README: "Requeue delivers the object within the request"),
    a subscriber waiting out a backoff included: only the runs wait for it."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    key = store.put(hour_ago(2), "fixed", event_lines("q", 2))
    failing = [True]

    def subscriber(data: str) -> None:
        if failing[0]:
            raise RuntimeError("BI tool is down")
        inbox.batches.append(data)

    hooks.add_action(export_hooks.DATA_PROCESS, subscriber)
    assert run_export(settings).failures, "the subscriber failed: it waits out its backoff"
    state = DeliveryState(redis, settings.redis_prefix)
    state.count_corrupt(key)
    state.quarantine(key, "set aside by hand", 0.0)
    failing[0] = False
    assert run_export(settings).events == 0, "in backoff: a run delivers nothing to it"
    requeue(settings, key, redis=redis)
    assert inbox.tags() == ["q-0", "q-1"]


def _two_subscribers() -> tuple[Inbox, Inbox, list[str]]:
    """Two subscribers hooked in this order: their inboxes and their names."""
    first, second = Inbox(), Inbox()

    def first_subscriber(data: str) -> None:
        first.batches.append(data)

    def second_subscriber(data: str) -> None:
        second.batches.append(data)

    hooks.add_action(export_hooks.DATA_PROCESS, first_subscriber)
    hooks.add_action(export_hooks.DATA_PROCESS, second_subscriber)
    names = [s.name for s in subscribers.current()]
    assert names[0].endswith("first_subscriber") and names[1].endswith("second_subscriber")
    return first, second, names


def test_a_requeued_object_far_behind_goes_now_to_each_subscriber_that_lacks_it(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """requeue: "deliver it now to every subscriber that has not received it",
    however far behind the positions (10 hours here, the runs look back 2)."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    old = store.put(hour_ago(10), "old", event_lines("old", 1))
    store.put(hour_ago(1), "new", event_lines("new", 1))
    has, lacks, (has_name, _) = _two_subscribers()
    state = DeliveryState(redis, settings.redis_prefix)
    state.ensure(has_name, "beginning", 0.0)
    state.record_success(has_name, [old], None, 0.0)  # it got the old object before it was set aside
    state.count_corrupt(old)
    state.quarantine(old, "set aside by hand", 0.0)
    run_export(settings)
    assert (has.tags(), lacks.tags()) == (["new-0"], ["new-0"])
    requeue(settings, old, redis=redis)
    assert (has.tags(), lacks.tags()) == (["new-0"], ["new-0", "old-0"])


def test_an_unread_object_that_is_gone_is_reported_and_the_run_goes_on(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, inbox: Inbox
) -> None:
    """README: an object whose read failed is "retried next run, never skipped".
    One that has disappeared since (deleted from the bucket) cannot even be
    stated: the run says so and delivers the rest."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    hooks.add_action(export_hooks.DATA_PROCESS, inbox.batches.append)
    store.put(hour_ago(1), "now", event_lines("now", 1))
    run_export(settings)
    gone = layout.hour_prefix(hour_ago(48)) + "gone"
    DeliveryState(redis, settings.redis_prefix).note_unread(gone, "HTTP 500")
    store.put(hour_ago(1), "later", event_lines("later", 1))
    report = run_export(settings)
    assert inbox.tags() == ["now-0", "later-0"]
    assert list(report.read_errors) == [gone] and "does not exist" in report.read_errors[gone]
    assert inbox.logged(export_hooks.E_USER_ERROR, f"Could not read {gone} (failure 2)")


def _ahead_and_behind(redis: redis_lib.Redis, settings: config.Settings, older: str) -> tuple[Inbox, Inbox]:
    """Two subscribers, hooked in this order: the first has ``older`` already
    (its ledger says so), the second has nothing yet. Their inboxes."""
    ahead, behind, (name, _) = _two_subscribers()
    state = DeliveryState(redis, settings.redis_prefix)
    state.ensure(name, "beginning", 0.0)
    state.record_success(name, [older], None, 0.0)
    return ahead, behind


def test_each_subscriber_gets_what_it_lacks_when_they_differ(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """README: "each subscriber with its own progress". One subscriber already
    has the older object (its ledger says so), the other has nothing: in one
    run the first gets only the newer object, the second both, once each."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    older = store.put(hour_ago(3), "older", event_lines("old", 1))
    store.put(hour_ago(2), "newer", event_lines("new", 1))
    ahead, behind = _ahead_and_behind(redis, settings, older)
    run_export(settings)
    assert ahead.tags() == ["new-0"]
    assert behind.tags() == ["old-0", "new-0"]


def test_an_object_unreadable_in_this_run_holds_up_no_subscriber(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """README: an object that cannot be read is retried on later runs, never
    skipped, and holds up nothing after it. Here two subscribers at different
    positions (two groups of one run) both lack a corrupt gzip object: each
    still gets the objects after it in this run, the second too, for which
    the object had already failed once in this run."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    older = store.put(hour_ago(4), "older", event_lines("old", 1))
    whole = gzip.compress(b"".join(line + b"\n" for line in event_lines("cut", 4)))
    store.put(hour_ago(3), "broken", [], raw=whole[:-20] + b"garbage" * 3)
    store.put(hour_ago(2), "newer", event_lines("new", 1))
    ahead, behind = _ahead_and_behind(redis, settings, older)
    report = run_export(settings)
    assert ahead.tags() == ["new-0"]
    assert behind.tags() == ["old-0", "new-0"]
    assert len(report.read_errors) == 1


def test_an_object_read_at_last_by_one_subscribers_job_still_reaches_the_other(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """README: an unreadable object is retried, never skipped, for every
    subscriber. Scheduled runs serve one subscriber each: the first one's job
    reads the mended object and gets it; the other's job, later, must get it
    too, though both had moved well past it (more than the late-object
    lookback, ANALYTICS_LATE_HOURS: 2)."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    whole = gzip.compress(b"".join(line + b"\n" for line in event_lines("mended", 2)))
    broken = store.put(hour_ago(30), "broken", [], raw=whole[:-20] + b"garbage" * 3)
    store.put(hour_ago(2), "newer", event_lines("new", 1))
    first, second, names = _two_subscribers()
    assert len(run_export(settings).read_errors) == 1
    assert first.tags() == second.tags() == ["new-0"]

    store.put(hour_ago(30), "broken", [], raw=whole)  # mended, under the same key
    assert store.root is not None and (store.root / broken).read_bytes() == whole
    run_export(settings, only=[names[0]], trigger="schedule")
    assert first.tags() == ["new-0", "mended-0", "mended-1"]
    run_export(settings, only=[names[1]], trigger="schedule")
    assert second.tags() == ["new-0", "mended-0", "mended-1"]


def test_mended_objects_reach_in_the_next_run_each_subscriber_that_lacks_them_and_no_other(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """README: an unreadable object is retried on later runs, never skipped,
    and delivered once. Two objects far behind both positions cannot be read,
    then are mended: the next run gives the first subscriber the one it lacks
    (its ledger has the other), the second both; nobody gets one twice."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    whole = {name: gzip.compress(b"".join(line + b"\n" for line in event_lines(name, 1))) for name in ("old", "middle")}
    older = store.put(hour_ago(30), "old", [], raw=whole["old"][:-20] + b"garbage" * 3)
    store.put(hour_ago(29), "middle", [], raw=whole["middle"][:-20] + b"garbage" * 3)
    store.put(hour_ago(2), "newer", event_lines("new", 1))
    ahead, behind = _ahead_and_behind(redis, settings, older)
    assert len(run_export(settings).read_errors) == 2
    assert ahead.tags() == behind.tags() == ["new-0"]

    for hour, name in ((30, "old"), (29, "middle")):
        store.put(hour_ago(hour), name, [], raw=whole[name])
    run_export(settings)
    assert ahead.tags() == ["new-0", "middle-0"]
    assert behind.tags() == ["new-0", "old-0", "middle-0"]


def test_an_object_mended_counts_toward_max_files(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, inbox: Inbox
) -> None:
    """README: altis.analytics.export.max.files, at most this many objects a
    run. An object that could not be read, far behind the position by the
    time it is mended: with 1, the next run delivers that object alone (the
    oldest first), the run after it the newer one."""
    store = Store("local", root=tmp_path / "events")
    settings = settings_for(make_settings, str(store.root))
    hooks.add_action(export_hooks.DATA_PROCESS, inbox.batches.append)
    whole = gzip.compress(b"".join(line + b"\n" for line in event_lines("mended", 1)))
    store.put(hour_ago(30), "broken", [], raw=whole[:-20] + b"garbage" * 3)
    store.put(hour_ago(3), "read", event_lines("read", 1))
    assert len(run_export(settings).read_errors) == 1
    assert inbox.tags() == ["read-0"]
    store.put(hour_ago(30), "broken", [], raw=whole)
    store.put(hour_ago(2), "newer", event_lines("new", 1))
    hooks.add_filter(export_hooks.MAX_FILES, lambda files: 1)
    assert run_export(settings).objects == 1
    assert inbox.tags() == ["read-0", "mended-0"]
    run_export(settings)
    assert inbox.tags() == ["read-0", "mended-0", "new-0"]


def test_an_unreadable_object_from_before_a_subscribers_start_is_not_its_to_get(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, inbox: Inbox
) -> None:
    """README: ANALYTICS_EXPORT_START, where a new subscriber's history starts.
    An object older than that which a subscriber from the beginning could not
    read stays that subscriber's to retry: the new one never gets it."""
    store = Store("local", root=tmp_path / "events")
    whole = gzip.compress(b"".join(line + b"\n" for line in event_lines("before", 1)))
    store.put(hour_ago(30), "broken", [], raw=whole[:-20] + b"garbage" * 3)
    first = Inbox()

    def from_the_beginning(data: str) -> None:
        first.batches.append(data)

    hooks.add_action(export_hooks.DATA_PROCESS, from_the_beginning)
    assert len(run_export(settings_for(make_settings, str(store.root))).read_errors) == 1
    store.put(hour_ago(30), "broken", [], raw=whole)

    hooks.remove_all_actions(export_hooks.DATA_PROCESS)
    hooks.add_action(export_hooks.DATA_PROCESS, inbox.batches.append)
    today = make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START=f"{hour_ago(0):%Y-%m-%d}")
    store.put(hour_ago(0), "today", event_lines("today", 1))
    run_export(today)
    assert inbox.tags() == ["today-0"]


# ------------------------------------------------------------------ how long the ledger remembers


T_NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def _ledger_after_a_run(
    redis: redis_lib.Redis, settings: config.Settings, hours_back: list[float], position_back: float
) -> set[float]:
    """Hours (before T_NOON) of the ledger entries a run at T_NOON keeps, the
    subscriber's position being ``position_back`` hours before T_NOON."""

    def key(back: float) -> str:
        return layout.hour_prefix(T_NOON - dt.timedelta(hours=back)) + "object"

    def subscriber(data: str) -> None:
        pass

    hooks.add_action(export_hooks.DATA_PROCESS, subscriber)
    (name,) = [s.name for s in subscribers.current()]
    state = DeliveryState(redis, settings.redis_prefix)
    state.ensure(name, "beginning", 0.0)
    state.record_success(name, [key(back) for back in hours_back if back >= position_back], None, 0.0)
    assert state.get(name).position == key(position_back)  # type: ignore[union-attr]
    run_export(settings, clock=lambda: T_NOON.timestamp())
    return {back for back in hours_back if state.is_delivered(name, key(back))}


def test_the_ledger_remembers_the_reconciliation_window_and_a_day_more(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """jobs/plan.py keep_from: a delivery is remembered while reconciliation
    (``ANALYTICS_RECONCILE_DAYS``, 3 here) or the run's own lookback (2 late hours
    before the position, and the hour before) may still list its object; a day
    more for the reconciliation window. Forgotten any earlier, reconciliation
    would deliver it again; the entries older than that go (bounded memory)."""
    (tmp_path / "empty").mkdir()  # an empty event store
    settings = settings_for(make_settings, str(tmp_path / "empty"), ANALYTICS_RECONCILE_DAYS="3")
    hours = [5 * 24, 4 * 24 + 1, 4 * 24, 3 * 24 + 23, 1]
    assert _ledger_after_a_run(redis, settings, hours, position_back=1) == {4 * 24, 3 * 24 + 23, 1}


def test_the_ledger_of_a_subscriber_far_behind_remembers_its_lookback(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """As above, for a subscriber whose position is 10 days old (paused a
    while): its next runs list from 2 late hours before the position, so the
    ledger keeps everything from the hour before that (13 hours before the
    position is gone, 3 hours before it is kept)."""
    (tmp_path / "empty").mkdir()  # an empty event store
    settings = settings_for(make_settings, str(tmp_path / "empty"), ANALYTICS_RECONCILE_DAYS="3")
    position = 10 * 24
    hours = [position + 4, position + 3, position + 2, position]
    assert _ledger_after_a_run(redis, settings, hours, position_back=position) == {
        position + 3,
        position + 2,
        position,
    }


# ------------------------------------------------------------------ the reconciliation window


def test_reconciliation_looks_back_reconcile_days_and_no_further(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path, inbox: Inbox
) -> None:
    """``ANALYTICS_RECONCILE_DAYS``: "days the reconciliation pass looks back
    for objects written late". Two objects appear late, behind the position:
    one 2 days old, one 5 days old. With 3 days, only the first is
    delivered; with 6 days the second one too."""
    store = Store("local", root=tmp_path / "events")
    hooks.add_action(export_hooks.DATA_PROCESS, inbox.batches.append)
    three_days = settings_for(make_settings, str(store.root), ANALYTICS_RECONCILE_DAYS="3")
    store.put(hour_ago(1), "now", event_lines("now", 1))
    run_export(three_days)
    two_days_old = store.put(hour_ago(2 * 24), "late", event_lines("two-days", 1))
    five_days_old = store.put(hour_ago(5 * 24), "late", event_lines("five-days", 1))

    report = run_export(three_days, mode="reconcile")
    assert report.late == [two_days_old]
    assert inbox.tags() == ["now-0", "two-days-0"]
    assert not inbox.logged(export_hooks.E_USER_WARNING, five_days_old)

    six_days = settings_for(make_settings, str(store.root), ANALYTICS_RECONCILE_DAYS="6")
    assert run_export(six_days, mode="reconcile").late == [five_days_old]
    assert inbox.tags() == ["now-0", "two-days-0", "five-days-0"]


@pytest.fixture
def fourteen_hours_east(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[None]:
    """The process's local time zone UTC+14 (Kiribati's), for the test's length."""
    monkeypatch.setenv("TZ", "Etc/GMT-14")  # POSIX's sign: GMT-14 is fourteen hours ahead
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_reconciliation_window_is_in_utc_whatever_the_servers_time_zone(
    redis: redis_lib.Redis,
    make_settings: t.Callable[..., config.Settings],
    tmp_path: Path,
    inbox: Inbox,
    fourteen_hours_east: None,
) -> None:
    """Object keys are UTC hours (Firehose's): with 3 days, an object written
    late under the hour 70 hours ago is inside the window on a server whose
    clock shows local time fourteen hours ahead of UTC."""
    assert time.localtime().tm_gmtoff == 14 * 3600
    store = Store("local", root=tmp_path / "events")
    hooks.add_action(export_hooks.DATA_PROCESS, inbox.batches.append)
    three_days = settings_for(make_settings, str(store.root), ANALYTICS_RECONCILE_DAYS="3")
    store.put(hour_ago(1), "now", event_lines("now", 1))
    run_export(three_days)
    late = store.put(hour_ago(70), "late", event_lines("late", 1))
    assert run_export(three_days, mode="reconcile").late == [late]
    assert inbox.tags() == ["now-0", "late-0"]


# ------------------------------------------------------------------ altis.analytics.export.bucket.arn


@pytest.fixture
def other_bucket(s3_endpoint: str) -> t.Iterator[t.Any]:
    bucket = boto3.resource("s3", endpoint_url=s3_endpoint).Bucket(OTHER_BUCKET)
    bucket.create()
    yield bucket
    bucket.objects.all().delete()
    bucket.delete()


@pytest.mark.parametrize(
    ("arn", "expected", "warned"),
    [
        (f"arn:aws:s3:::{OTHER_BUCKET}/firehose", ["prefixed-0"], False),
        (f"arn:aws:s3:::{OTHER_BUCKET}", ["root-0"], False),
        (OTHER_BUCKET, ["root-0"], False),  # a bare bucket name
        ([OTHER_BUCKET, "whatever/key"], ["root-0"], False),  # the original's [Bucket, Key] shape
        ("s3://" + OTHER_BUCKET, ["configured-0"], True),  # not an ARN nor a bucket name: ignored
        ("", ["configured-0"], False),
    ],
)
def test_the_bucket_arn_filter_chooses_the_bucket_read(
    redis: redis_lib.Redis,
    make_settings: t.Callable[..., config.Settings],
    s3_bucket: t.Any,
    other_bucket: t.Any,
    inbox: Inbox,
    arn: t.Any,
    expected: list[str],
    warned: bool,
) -> None:
    """README: ``bucket.arn`` is "the source bucket, by default the
    ``ANALYTICS_SOURCE`` bucket; return ``arn:aws:s3:::bucket[/prefix]`` or a
    bucket name to read another one. An invalid value logs a warning and is
    ignored"."""
    hour = hour_ago(1)
    Store("s3", bucket=s3_bucket).put(hour, "c", event_lines("configured", 1))
    Store("s3", bucket=other_bucket).put(hour, "r", event_lines("root", 1))
    other_bucket.put_object(Key="firehose/" + layout.key_for(hour, "p"), Body=event_lines("prefixed", 1)[0] + b"\n")
    hooks.add_action(export_hooks.DATA_PROCESS, inbox.batches.append)
    seen: list[t.Any] = []

    def choose(default: str) -> t.Any:
        seen.append(default)
        return arn

    hooks.add_filter(export_hooks.BUCKET_ARN, choose)

    run_export(settings_for(make_settings, f"s3://{s3_bucket.name}"))

    assert seen == [f"arn:aws:s3:::{s3_bucket.name}"], "the filter starts from the configured bucket"
    assert inbox.tags() == expected
    assert bool(inbox.logged(export_hooks.E_USER_WARNING, f"{export_hooks.BUCKET_ARN} returned")) is warned


# ------------------------------------------------------------------ the catalog warm-up job


def test_the_warm_up_job_summarizes_yesterday_and_today(
    redis: redis_lib.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: "The scheduler runs ``events.catalog.warm_days`` every 10
    minutes for today and yesterday, so a day is usually warm before anyone
    asks". After the job, a download of either day reads no object
    (``X-Analytics-Objects-Summarized: 0``); the day before yesterday, outside
    the warm-up, is still cold."""
    import wsgi
    from accounts import Accounts

    store = Store("local", root=tmp_path / "events")
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for days_back in (0, 1, 2):  # noon of each day: only that day's warm-up lists it
        noon = today - dt.timedelta(days=days_back) + dt.timedelta(hours=12)
        ts_ms = int(noon.timestamp() * 1000)
        store.put(noon, f"d{days_back}", event_lines(f"d{days_back}", 2, ts_ms=ts_ms))
    for name, value in {
        "ANALYTICS_SOURCE": str(store.root),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SECRET_KEY": "test-secret",
        "ANALYTICS_INTEGRATIONS": "",
    }.items():
        monkeypatch.setenv(name, value)
    config.reset_settings()

    assert tasks.catalog_warm_job() == 2, "one object per day: yesterday's and today's"

    settings = config.get_settings()
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    client = wsgi.create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Basic " + _b64(f"admin:{password}")

    def summarized(days_back: int) -> str:
        day = (today - dt.timedelta(days=days_back)).date().isoformat()
        response = client.get(f"/wp-json/analytics/v1/events/{day}?format=ndjson")
        assert response.status_code == 200, response.data
        assert tags(response.get_data(as_text=True)) == [f"d{days_back}-0", f"d{days_back}-1"]
        return str(response.headers["X-Analytics-Objects-Summarized"])

    assert summarized(0) == "0", "today was warm"
    assert summarized(1) == "0", "yesterday was warm"
    assert summarized(2) == "1", "the day before yesterday was not part of the warm-up"


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
