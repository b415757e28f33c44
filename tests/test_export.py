"""The export run against real Redis, a local directory and S3 over HTTP (moto):
batches, per-subscriber progress, late objects, read failures, quarantine,
the documented filters and the export CLI."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import time
import typing as t
from pathlib import Path

import orjson
import pytest

import config
import hooks
from events.sources import MAX_LINE_BYTES
from jobs import export_hooks
from jobs.export import SkipReason, run_export
from jobs.state import DeliveryState
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

E_USER_ERROR, E_USER_WARNING = export_hooks.E_USER_ERROR, export_hooks.E_USER_WARNING


class Received:
    """Collects what subscribers get; module-level functions below append here
    so their callback_id is a stable import path, as in production."""

    def __init__(self) -> None:
        self.a: list[str] = []
        self.b: list[tuple[str, dict[str, t.Any]]] = []
        self.logs: list[tuple[str, int]] = []
        self.fail_a = 0


got = Received()


def subscriber_a(data: str) -> None:
    if got.fail_a > 0:
        got.fail_a -= 1
        raise RuntimeError("BI tool is down")
    got.a.append(data)


def subscriber_b(data: str, batch: dict[str, t.Any]) -> None:
    got.b.append((data, batch))


def log_messages(message: str, level: int) -> None:
    got.logs.append((message, level))


@pytest.fixture(autouse=True)
def _received() -> t.Iterator[None]:
    global got
    got = Received()
    hooks.add_action(export_hooks.LOG, log_messages, 10, 2)
    yield


def subscribe(a: bool = True, b: bool = True) -> None:
    if a:
        hooks.add_action(export_hooks.DATA_PROCESS, subscriber_a)
    if b:
        hooks.add_action(export_hooks.DATA_PROCESS, subscriber_b, 10, 2)


def all_tags(batches: t.Iterable[str]) -> list[str]:
    return [tag for data in batches for tag in tags(data)]


def logged(level: int, text: str) -> list[str]:
    return [m for m, lv in got.logs if lv == level and text in m]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store("local", root=tmp_path / "events")
    bucket = request.getfixturevalue("s3_bucket")
    return Store("s3", bucket=bucket)


@pytest.fixture
def local(tmp_path: Path) -> Store:
    return Store("local", root=tmp_path / "events")


def settings_for(make_settings: t.Callable[..., config.Settings], store: Store, **env: str) -> config.Settings:
    return make_settings(ANALYTICS_SOURCE=store.source_setting, ANALYTICS_EXPORT_START="beginning", **env)


def test_batches_are_whole_bounded_lines_with_a_descriptor(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], store: Store
) -> None:
    settings = settings_for(make_settings, store, ANALYTICS_EXPORT_BATCH_BYTES="1024")
    first = event_lines("one", 25, pad=20)
    bad = [b'{"event_type": "broken", "attributes": {"Email"XXX": 1}}']
    k1 = store.put(hour_ago(3), "stream-1-a", first[:10] + bad + first[10:])
    k2 = store.put(hour_ago(2), "stream-1-b", event_lines("two", 12, pad=20), gzipped=True)
    subscribe()

    report = run_export(settings)

    expected = [f"one-{i}" for i in range(25)] + [f"two-{i}" for i in range(12)]
    assert all_tags(got.a) == expected
    assert all_tags(d for d, _ in got.b) == expected
    assert len(got.a) > 2, "25+12 padded events exceed 1024 bytes several times"
    for data in got.a:
        assert data.endswith("\n") and len(data.encode()) <= 1024
    first_batch_data, first_batch = got.b[0]
    assert first_batch["keys"] == [k1]
    assert first_batch["events"] == len(first_batch_data.splitlines())
    lines = [orjson.loads(x) for x in first_batch_data.splitlines()]
    assert first_batch["first_event_ms"] == min(x["event_timestamp"] for x in lines)
    assert first_batch["last_event_ms"] == max(x["event_timestamp"] for x in lines)
    assert k2 in got.b[-1][1]["keys"]
    assert len({b["id"] for _, b in got.b}) == len(got.b)
    assert report.invalid_lines == 1
    assert logged(E_USER_WARNING, f"invalid line(s) in {k1} (line 11")

    got.a.clear()
    run_export(settings)
    assert got.a == []
    assert logged(export_hooks.E_USER_NOTICE, "No new files found")


def test_late_objects_delivered_once_and_reconciled(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = settings_for(make_settings, local, ANALYTICS_LATE_HOURS="2")
    subscribe(b=False)
    local.put(hour_ago(3), "s-2", event_lines("h3", 2))
    run_export(settings)
    # Firehose flushes late: objects appear under an hour before the position,
    # and out of key order.
    local.put(hour_ago(1), "s-9", event_lines("h1", 2))
    local.put(hour_ago(4), "s-1", event_lines("h4", 2))
    local.put(hour_ago(3), "s-1", event_lines("h3-early", 2))
    run_export(settings)
    run_export(settings)
    assert sorted(all_tags(got.a)) == sorted(
        ["h3-0", "h3-1", "h1-0", "h1-1", "h4-0", "h4-1", "h3-early-0", "h3-early-1"]
    )

    # Beyond ANALYTICS_LATE_HOURS a run does not look; reconciliation does.
    old = local.put(hour_ago(30), "s-1", event_lines("old", 3))
    got.a.clear()
    run_export(settings)
    assert got.a == []
    report = run_export(settings, mode="reconcile")
    assert all_tags(got.a) == ["old-0", "old-1", "old-2"]
    assert report.late == [old]
    assert logged(E_USER_WARNING, f"Late object {old}")
    run_export(settings, mode="reconcile")
    run_export(settings)
    assert all_tags(got.a) == ["old-0", "old-1", "old-2"]


def test_failing_subscriber_backs_off_and_gets_everything(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], store: Store
) -> None:
    settings = settings_for(make_settings, store, ANALYTICS_EXPORT_RETRY_BASE="60", ANALYTICS_EXPORT_RETRY_MAX="100")
    subscribe()
    got.fail_a = 2
    now = [time.time()]
    clock = lambda: now[0]  # noqa: E731
    store.put(hour_ago(2), "s-1", event_lines("x", 3))

    run_export(settings, clock=clock)  # a fails (1st), b gets x
    assert got.a == [] and all_tags(d for d, _ in got.b) == ["x-0", "x-1", "x-2"]
    assert logged(E_USER_ERROR, "Subscriber tests.test_export.subscriber_a failed")

    store.put(hour_ago(1), "s-2", event_lines("y", 2))
    now[0] += 30  # inside a's backoff: b goes on alone
    report = run_export(settings, clock=clock)
    assert report.waiting == ["tests.test_export.subscriber_a"]
    assert all_tags(d for d, _ in got.b) == ["x-0", "x-1", "x-2", "y-0", "y-1"]

    now[0] += 31  # retry: fails again, next delay doubles (capped at 100)
    run_export(settings, clock=clock)
    state = DeliveryState(redis, settings.redis_prefix).get("tests.test_export.subscriber_a")
    assert state is not None and state.retry_at == pytest.approx(now[0] + 100)
    now[0] += 60
    assert run_export(settings, clock=clock).waiting == ["tests.test_export.subscriber_a"]

    now[0] += 41
    run_export(settings, clock=clock)
    assert all_tags(got.a) == ["x-0", "x-1", "x-2", "y-0", "y-1"]
    assert all_tags(d for d, _ in got.b) == ["x-0", "x-1", "x-2", "y-0", "y-1"], "b got each batch once"


def failing_on_third_call() -> t.Callable[[str, dict[str, t.Any]], None]:
    """A subscriber that records into ``got.b`` but raises on its third call."""
    calls = {"n": 0}

    def flaky(data: str, batch: dict[str, t.Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("timeout")
        got.b.append((data, batch))

    return flaky


def test_progress_inside_a_large_object_redelivers_only_the_failed_batch(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = settings_for(make_settings, local, ANALYTICS_EXPORT_BATCH_BYTES="1024", ANALYTICS_EXPORT_RETRY_BASE="1")
    hooks.add_action(export_hooks.DATA_PROCESS, failing_on_third_call(), 10, 2)
    local.put(hour_ago(1), "big", event_lines("big", 60, pad=40))
    now = [time.time()]
    run_export(settings, clock=lambda: now[0])
    delivered = all_tags(d for d, _ in got.b)
    assert delivered == [f"big-{i}" for i in range(len(delivered))] and 0 < len(delivered) < 60
    now[0] += 2
    run_export(settings, clock=lambda: now[0])
    assert all_tags(d for d, _ in got.b) == [f"big-{i}" for i in range(60)], "resumed at the line it stopped"


def test_resume_after_a_line_longer_than_a_read_piece_lands_on_whole_events(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """A physical line of concatenated events longer than MAX_LINE_BYTES arrives
    in pieces; progress is kept by physical line, so a failure after it
    resumes exactly after it: every event once, none cut in half."""
    settings = settings_for(make_settings, local, ANALYTICS_EXPORT_BATCH_BYTES="2048", ANALYTICS_EXPORT_RETRY_BASE="1")
    hooks.add_action(export_hooks.DATA_PROCESS, failing_on_third_call(), 10, 2)
    long_line = b"".join(event_lines("long", 3000, pad=200))  # Firehose concatenation, no newlines
    assert len(long_line) > 3 * MAX_LINE_BYTES
    local.put(hour_ago(1), "mixed", [*event_lines("head", 5, pad=400), long_line, *event_lines("tail", 30, pad=400)])
    now = [time.time()]
    run_export(settings, clock=lambda: now[0])
    now[0] += 2
    run_export(settings, clock=lambda: now[0])

    expected = [f"head-{i}" for i in range(5)] + [f"long-{i}" for i in range(3000)] + [f"tail-{i}" for i in range(30)]
    assert all_tags(d for d, _ in got.b) == expected


def test_lines_are_delivered_as_stored_and_invalid_ones_reported_by_line(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """Clean lines, lines with CRLF or stray blanks, a blank line and invalid
    lines mixed in one object: each event once, as its JSON text plus a newline,
    and every invalid line logged with its own physical line number."""
    settings = settings_for(make_settings, local)
    subscribe(a=False)
    ev = event_lines("m", 8)
    lines = [ev[0], ev[1] + b"\r", b"  " + ev[2] + b" \t", b"[1, 2]", ev[3], b"", ev[4], b"{nope", ev[5] + ev[6], ev[7]]
    key = local.put(hour_ago(1), "mixed", lines)

    report = run_export(settings)

    data, batch = got.b[0]
    assert len(got.b) == 1
    assert data == "".join(line.decode() + "\n" for line in [*ev[:5], ev[5], ev[6], ev[7]])
    assert batch["events"] == 8 and batch["keys"] == [key]
    assert (batch["first_event_ms"], batch["last_event_ms"]) == (1_764_000_000_000, 1_764_000_000_007)
    assert report.invalid_lines == 2
    assert logged(E_USER_WARNING, f"Skipped 2 invalid line(s) in {key} (line 4: ")
    assert logged(E_USER_WARNING, "; line 8: not JSON")


def test_invalid_lines_are_counted_over_the_run_and_the_first_five_named(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """The run's count of skipped lines (``export run`` prints it) adds up every
    object's; an object's warning names its first five (a broken file may hold
    thousands), by physical line number."""
    settings = settings_for(make_settings, local)
    subscribe(a=False)
    ev = event_lines("v", 3)
    local.put(hour_ago(2), "one", [ev[0], b"{nope"])
    many = local.put(hour_ago(1), "many", [b"{bad" for _ in range(6)] + [ev[1], ev[2]])

    report = run_export(settings)

    assert all_tags(d for d, _ in got.b) == ["v-0", "v-1", "v-2"]
    assert report.invalid_lines == 7
    [message] = logged(E_USER_WARNING, f"Skipped 6 invalid line(s) in {many} (")
    assert re.findall(r"line (\d+): ", message) == ["1", "2", "3", "4", "5"]


def test_a_redis_that_comes_back_empty_resumes_from_the_checkpoint(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store, tmp_path: Path
) -> None:
    """README: ANALYTICS_EXPORT_CHECKPOINT keeps a copy of each subscriber's
    position "for a Redis that comes back empty": emptied after a run, the next
    run delivers only what is new, and says so. Emptied while the checkpoint
    cannot be read, the subscriber is not started afresh (that could skip
    events; here, from the beginning, repeat them): the run says why and waits.
    A checkpoint place that cannot be used (a path through a file) is a
    warning saying what to set; the export goes on."""
    import wsgi

    settings = settings_for(make_settings, local, ANALYTICS_EXPORT_CHECKPOINT=str(tmp_path / "checkpoint"))
    subscribe(a=False)
    name = f"{__name__}.subscriber_b"
    first = local.put(hour_ago(3), "first", event_lines("first", 2))
    run_export(settings)
    redis.flushdb()
    local.put(hour_ago(2), "second", event_lines("second", 1))
    run_export(settings)
    assert all_tags(d for d, _ in got.b) == ["first-0", "first-1", "second-0"]
    [file] = (tmp_path / "checkpoint").iterdir()
    [restored] = logged(E_USER_WARNING, f"Redis had lost the export state of {name} (")
    assert f"restored from the checkpoint {file} at position {first}, " in restored
    assert restored.endswith(". Objects delivered after that checkpoint was written are delivered again.")

    saved = file.read_bytes()
    file.unlink()
    file.mkdir()  # unreadable
    redis.flushdb()
    result = wsgi.create_app(settings).test_cli_runner().invoke(args=["export", "run"])
    assert result.exit_code == 1 and "could not read checkpoint: cannot read the export checkpoint " in result.output
    [error] = logged(E_USER_ERROR, f"Redis has no export state for {name} and cannot read the export checkpoint ")
    assert error.endswith("; not starting them afresh (that could skip events). Retrying on the next run.")
    assert all_tags(d for d, _ in got.b) == ["first-0", "first-1", "second-0"]
    file.rmdir()
    file.write_bytes(saved)
    run_export(settings)
    assert all_tags(d for d, _ in got.b) == ["first-0", "first-1", "second-0"]

    (tmp_path / "a-file").write_bytes(b"")
    unwritable = settings_for(make_settings, local, ANALYTICS_EXPORT_CHECKPOINT=str(tmp_path / "a-file" / "dir"))
    local.put(hour_ago(1), "third", event_lines("third", 1))
    run_export(unwritable)
    assert all_tags(d for d, _ in got.b)[-1] == "third-0"
    [warning] = logged(E_USER_WARNING, f"the export checkpoint {tmp_path / 'a-file' / 'dir'}")
    assert warning.endswith(". Set ANALYTICS_EXPORT_CHECKPOINT to a writable place.")


def test_a_redis_emptied_before_anything_was_delivered_says_so_for_each_subscriber(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store, tmp_path: Path
) -> None:
    """Two subscribers checkpointed before their first object (nothing
    delivered, history from the export start, "beginning"): after Redis is
    emptied each one's warning says so in words, not with an empty field; with
    the checkpoint unreadable too, the error names both."""
    settings = settings_for(make_settings, local, ANALYTICS_EXPORT_CHECKPOINT=str(tmp_path / "checkpoint"))
    subscribe()
    names = [f"{__name__}.subscriber_a", f"{__name__}.subscriber_b"]
    run_export(settings)  # nothing to deliver yet: both are recorded, and checkpointed
    redis.flushdb()
    run_export(settings)
    for name in names:
        [restored] = logged(E_USER_WARNING, f"Redis had lost the export state of {name} (")
        assert " at position (none), history from the beginning. Objects delivered " in restored, restored

    [file] = (tmp_path / "checkpoint").iterdir()
    file.unlink()
    file.mkdir()  # unreadable
    redis.flushdb()
    run_export(settings)
    [error] = logged(E_USER_ERROR, "Redis has no export state for ")
    assert error.startswith(f"Redis has no export state for {names[0]}, {names[1]} and cannot read "), error


def test_read_failing_halfway_takes_the_objects_events_out_of_the_batch(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """A gzip object cut short fails after many of its lines were read: none of
    them reach a subscriber, the batch keeps the other objects' events, and its
    descriptor's times are those of the events it holds."""
    from events.sources import CorruptObjectError, open_source

    settings = settings_for(make_settings, local)
    subscribe(a=False)
    early = local.put(hour_ago(3), "early", event_lines("e", 3, ts_ms=1_000))
    whole = gzip.compress(b"".join(line + b"\n" for line in event_lines("cut", 3000, ts_ms=9_000_000, pad=50)))
    cut = local.put(hour_ago(2), "cut", [], raw=whole[: len(whole) // 2])
    late = local.put(hour_ago(1), "late", event_lines("l", 2, ts_ms=5_000))
    read = 0
    with pytest.raises(CorruptObjectError), open_source(settings.source).open_lines(cut) as pieces:
        for _ in pieces:
            read += 1
    assert read > 100, "the object fails after many of its lines were read"

    report = run_export(settings)

    assert cut in report.read_errors
    assert [tags(data) for data, _ in got.b] == [["e-0", "e-1", "e-2", "l-0", "l-1"]]
    batch = got.b[0][1]
    assert batch["keys"] == [early, late] and batch["events"] == 5
    assert (batch["first_event_ms"], batch["last_event_ms"]) == (1_000, 5_001)


def test_a_failure_at_any_batch_resumes_on_whole_lines(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    """Whichever batch fails -- before, on or after a line longer than
    MAX_LINE_BYTES, or after an invalid line -- the next run resumes on the
    line after the last delivered one: every event once, in order."""
    long_line = b"".join(event_lines("long", 500, pad=1600))
    assert len(long_line) > 2 * MAX_LINE_BYTES
    body = [*event_lines("head", 6, pad=400), long_line, b"{broken", *event_lines("tail", 12, pad=400)]
    local.put(hour_ago(1), "mixed", body)
    expected = [f"head-{i}" for i in range(6)] + [f"long-{i}" for i in range(500)] + [f"tail-{i}" for i in range(12)]
    calls = 0
    for fail_at in range(1, 12):
        hooks.reset()
        received: list[str] = []
        state = {"n": 0}

        def flaky(
            data: str, fail_at: int = fail_at, state: dict[str, int] = state, received: list[str] = received
        ) -> None:
            state["n"] += 1
            if state["n"] == fail_at:
                raise ConnectionError("timeout")
            received.append(data)

        hooks.add_action(export_hooks.DATA_PROCESS, flaky)
        settings = settings_for(
            make_settings,
            local,
            ANALYTICS_EXPORT_BATCH_BYTES="2048",
            ANALYTICS_EXPORT_RETRY_BASE="1",
            ANALYTICS_REDIS_PREFIX=f"resume{fail_at}:",
        )
        now = time.time()
        run_export(settings, clock=lambda now=now: now)
        run_export(settings, clock=lambda now=now: now + 2)
        assert all_tags(received) == expected, f"failure on call {fail_at}"
        calls = max(calls, state["n"])
    assert calls > 5, "the failures hit batches before, on and after the long line"


def test_read_failure_is_retried_never_skipped(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], s3_bucket: t.Any
) -> None:
    """An archived (GLACIER) object cannot be read until restored: a real S3 read error."""
    import wsgi

    store = Store("s3", bucket=s3_bucket)
    settings = settings_for(make_settings, store, ANALYTICS_LATE_HOURS="0")
    subscribe(b=False)
    store.put(hour_ago(5), "a", event_lines("a", 1))
    archived = store.put(hour_ago(5), "b", event_lines("b", 1), storage_class="GLACIER")
    store.put(hour_ago(2), "c", event_lines("c", 1))

    for attempt in (1, 2):
        report = run_export(settings)
        assert archived in report.read_errors
        assert logged(E_USER_ERROR, f"Could not read {archived} (failure {attempt})")
    assert sorted(all_tags(got.a)) == ["a-0", "c-0"]
    runner = wsgi.create_app(settings).test_cli_runner()
    status = orjson.loads(runner.invoke(args=["export", "status", "--json"]).output)
    # S3's own error for an archived object, as the last read's error of the object
    assert "InvalidObjectState" in report.read_errors[archived]
    assert status["unreadable"] == [{"key": archived, "count": 2, "error": report.read_errors[archived]}]

    s3_bucket.Object(archived).restore_object(RestoreRequest={"Days": 1})
    report = run_export(settings)
    assert report.read_errors == {}
    assert sorted(all_tags(got.a)) == ["a-0", "b-0", "c-0"]
    status = orjson.loads(runner.invoke(args=["export", "status", "--json"]).output)
    assert status["unreadable"] == [], "a read that succeeds clears the object's failures"
    run_export(settings)
    assert sorted(all_tags(got.a)) == ["a-0", "b-0", "c-0"]


def test_corrupt_object_quarantined_then_requeued(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    import wsgi

    settings = settings_for(make_settings, local)
    subscribe(b=False)
    good = gzip.compress(b"".join(line + b"\n" for line in event_lines("z", 4)))
    key = local.put(hour_ago(2), "corrupt", [], raw=good[:-20] + b"garbage" * 3)
    local.put(hour_ago(1), "fine", event_lines("ok", 1))
    for _ in range(3):
        run_export(settings)
    assert all_tags(got.a) == ["ok-0"]
    assert logged(E_USER_ERROR, f"Quarantined {key}")

    runner = wsgi.create_app(settings).test_cli_runner()
    status = orjson.loads(runner.invoke(args=["export", "status", "--json"]).output)
    assert [q["key"] for q in status["quarantined"]] == [key]
    run_export(settings)
    assert all_tags(got.a) == ["ok-0"], "a quarantined object is not retried by runs"

    (local.root / key).write_bytes(good)  # type: ignore[operator]
    result = runner.invoke(args=["export", "requeue", key])
    assert result.exit_code == 0, result.output
    assert all_tags(got.a) == ["ok-0", "z-0", "z-1", "z-2", "z-3"]
    again = runner.invoke(args=["export", "requeue", key])
    assert again.exit_code == 1 and f"{key} is not quarantined" in again.output


def test_nothing_hooked_means_no_listing(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], s3_endpoint: str
) -> None:
    settings = make_settings(ANALYTICS_SOURCE="s3://no-such-bucket-here")
    report = run_export(settings)
    assert report.skipped is SkipReason.NO_SUBSCRIBERS and report.read_errors == {}
    assert got.logs == []
    subscribe()
    report = run_export(settings)
    # New subscribers: the checkpoint beside the source is read first (jobs.checkpoint), and fails the same way.
    assert report.read_errors and logged(E_USER_ERROR, "s3://no-such-bucket-here")


def test_max_files_is_coerced_and_validated(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    settings = settings_for(make_settings, local)
    subscribe(b=False)
    for i in range(3):
        local.put(hour_ago(3 - i), f"s-{i}", event_lines(f"f{i}", 1))
    hooks.add_filter(export_hooks.MAX_FILES, lambda: "200")  # the documentation's own example
    assert export_hooks.max_files() == 200
    hooks.remove_all_filters(export_hooks.MAX_FILES)
    hooks.add_filter(export_hooks.MAX_FILES, lambda: "2")
    assert run_export(settings).objects == 2
    assert all_tags(got.a) == ["f0-0", "f1-0"]
    hooks.remove_all_filters(export_hooks.MAX_FILES)
    hooks.add_filter(export_hooks.MAX_FILES, lambda: "abc")
    assert run_export(settings).objects == 1
    assert logged(E_USER_WARNING, "altis.analytics.export.max.files returned 'abc'")


def test_frequency_filter_and_cron_schedules() -> None:
    assert (export_hooks.frequency().name, export_hooks.frequency().interval) == ("ten_minutes", 600)
    hooks.add_filter(export_hooks.CRON_FREQUENCY, lambda: "hourly")
    assert export_hooks.frequency().interval == 3600
    hooks.add_filter(
        export_hooks.CRON_SCHEDULES, lambda s: {**s, "five_minutes": {"interval": 300, "display": "Every 5 minutes"}}
    )
    hooks.add_filter(export_hooks.CRON_FREQUENCY, lambda: "five_minutes", 20)
    assert export_hooks.frequency().interval == 300
    hooks.add_filter(export_hooks.CRON_FREQUENCY, lambda: "fortnightly", 30)
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda m, lv: logs.append((m, lv)), 10, 2)
    assert export_hooks.frequency().interval == 600
    assert logs and logs[0][1] == E_USER_WARNING and "fortnightly" in logs[0][0]


def test_new_subscriber_starts_now_by_default(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    subscribe(b=False)
    local.put(hour_ago(5), "old", event_lines("old", 1))
    local.put(hour_ago(0), "new", event_lines("new", 1))
    run_export(make_settings(ANALYTICS_SOURCE=str(local.root)))
    assert all_tags(got.a) == ["new-0"]
    hooks.add_action(export_hooks.DATA_PROCESS, subscriber_b, 10, 2)
    day = (hour_ago(5) - dt.timedelta(days=1)).date().isoformat()
    run_export(make_settings(ANALYTICS_SOURCE=str(local.root), ANALYTICS_EXPORT_START=day))
    assert all_tags(d for d, _ in got.b) == ["old-0", "new-0"]
    assert all_tags(got.a) == ["new-0"]


def test_cli_status_replay_and_one_line_errors(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    import wsgi

    settings = settings_for(make_settings, local)
    subscribe()
    first = hour_ago(3)
    local.put(first, "s-1", event_lines("r", 2))
    local.put(hour_ago(1), "s-2", event_lines("q", 1))
    runner = wsgi.create_app(settings).test_cli_runner()
    assert runner.invoke(args=["export", "run"]).exit_code == 0
    status = orjson.loads(runner.invoke(args=["export", "status", "--json"]).output)
    assert status["enabled"] is True and status["frequency"] == {"name": "ten_minutes", "interval": 600}
    by_name = {s["name"]: s for s in status["subscribers"]}
    assert by_name["tests.test_export.subscriber_a"]["pending"] == 0
    assert by_name["tests.test_export.subscriber_b"]["position"].endswith("s-2")
    text = runner.invoke(args=["export", "status"]).output
    assert "subscriber tests.test_export.subscriber_a" in text and "quarantined: 0" in text

    waiting = local.put(hour_ago(1), "s-3", event_lines("w", 1))
    written = time.time() - (2 * 3600 + 5 * 60 + 30)
    os.utime(local.root / waiting, (written, written))
    text = runner.invoke(args=["export", "status"]).output
    assert "pending:       1 object(s), lag 2h 5m" in text, text
    assert runner.invoke(args=["export", "run"]).exit_code == 0
    got.a.clear()
    got.b.clear()

    result = runner.invoke(
        args=["export", "replay", "--since", f"{first:%Y-%m-%dT%H}", "--subscriber", "tests.test_export.subscriber_b"]
    )
    assert result.exit_code == 0, result.output
    assert all_tags(d for d, _ in got.b) == ["r-0", "r-1", "q-0", "w-0"]
    assert all_tags(got.a) == [], "replay for b only"

    everything = runner.invoke(
        args=["export", "replay", "--since", "0001-01-01", "--subscriber", "tests.test_export.subscriber_a"]
    )
    assert everything.exit_code == 0, everything.output
    assert all_tags(got.a) == ["r-0", "r-1", "q-0", "w-0"], "from the calendar's first day: everything"
    assert runner.invoke(args=["export", "status"]).exit_code == 0

    bad = runner.invoke(args=["export", "replay", "--since", "2026-13-01"])
    assert bad.exit_code == 2 and "expected YYYY-MM-DD or YYYY-MM-DDTHH" in bad.output
    unknown = runner.invoke(args=["export", "replay", "--since", "2026-01-01", "--subscriber", "nope"])
    assert unknown.exit_code == 1 and "unknown subscriber 'nope'" in unknown.output
    assert "Traceback" not in unknown.output

    down = wsgi.create_app(make_settings(REDIS_URL="redis://127.0.0.1:1/0")).test_cli_runner()
    result = down.invoke(args=["export", "run"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot reach Redis at redis://127.0.0.1:1/0: ")
    assert len(result.output.strip().splitlines()) == 1


def test_a_store_that_cannot_be_listed_is_reported_and_retried(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], s3_endpoint: str, tmp_path: Path
) -> None:
    """A listing that fails (here: the bucket does not exist) delivers nothing
    and is retried on the next run: ``export run`` fails with what it could not
    read, the log says which store and that it retries. (The checkpoint is
    kept elsewhere: beside the events, its read would fail first.)"""
    import wsgi

    settings = make_settings(
        ANALYTICS_SOURCE="s3://analytics-test-no-such-bucket", ANALYTICS_EXPORT_START="beginning",
        ANALYTICS_EXPORT_CHECKPOINT=str(tmp_path / "checkpoint"),
    )  # fmt: skip
    subscribe(b=False)
    result = wsgi.create_app(settings).test_cli_runner().invoke(args=["export", "run"])
    assert result.exit_code == 1
    assert "could not read the listing: " in result.output and "(retried on the next run)" in result.output
    [error] = logged(E_USER_ERROR, "Could not list ")
    assert "analytics-test-no-such-bucket" in error and error.endswith(". Retrying on the next run.")
    assert "NoSuchBucket" in error and "NoSuchBucket" in result.output
    assert got.a == []


def test_disabled_export_does_nothing(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], local: Store
) -> None:
    subscribe()
    local.put(hour_ago(0), "s", event_lines("d", 1))
    hooks.add_filter(export_hooks.CRON_ENABLED, "__return_false")
    assert run_export(settings_for(make_settings, local)).skipped is SkipReason.DISABLED
    assert got.a == [] and got.b == []
