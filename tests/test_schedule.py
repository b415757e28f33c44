"""Scheduling end to end: the periodic-job sync, real ``flask --app wsgi
scheduler`` and ``worker`` subprocesses on the test Redis database, and a
worker killed with SIGKILL in the middle of a run."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import time
import typing as t
from collections import Counter
from pathlib import Path

import orjson
import psutil
import pytest
from rq import Queue, Worker
from rq_scheduler import Scheduler

import config
import hooks
from jobs import export_hooks, schedule
from jobs.state import DeliveryState
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(ROOT / ".venv" / "bin" / "flask")
QUEUE = "analytics-export-test"
RECORDER = "tests.integrations_fixtures.recorder"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment of the subprocesses: the test database, a local source, the recorder."""
    (tmp_path / "events").mkdir(exist_ok=True)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "RECORDER_"))},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": str(tmp_path / "events"),
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_QUEUE": QUEUE,
        "ANALYTICS_INTEGRATIONS": RECORDER,
        "ANALYTICS_EXPORT_LOCK_TTL": "2",
        "RECORDER_KEY": TEST_PREFIX + "test:received",
    }


def start(args: list[str], env: dict[str, str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FLASK, "--app", "wsgi", *args],
        cwd=ROOT,
        env={**env, **extra},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: kill reaches the work horse too
    )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def records(redis: redis_lib.Redis, env: dict[str, str]) -> list[dict[str, t.Any]]:
    return [orjson.loads(r) for r in redis.lrange(env["RECORDER_KEY"], 0, -1)]


def wait_for(condition: t.Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def scheduled(redis: redis_lib.Redis) -> dict[str, t.Any]:
    settings = config.Settings.from_env(
        {"REDIS_URL": TEST_REDIS_URL, "ANALYTICS_REDIS_PREFIX": TEST_PREFIX, "ANALYTICS_QUEUE": QUEUE}
    )
    ours = schedule.job_id(settings, "")
    return {
        job.id[len(ours) :]: (job, when)
        for job, when in Scheduler(queue_name=QUEUE, connection=redis).get_jobs(with_times=True)
        if job.id.startswith(ours)
    }


def test_sync_keeps_unchanged_replaces_changed_removes_disabled(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings]
) -> None:
    settings = make_settings(ANALYTICS_QUEUE=QUEUE)
    first = schedule.sync(settings, redis)
    assert sorted(first.created) == ["catalog-warm", "export", "reconcile"]
    jobs = scheduled(redis)
    assert jobs["export"][0].meta["interval"] == 600 and jobs["export"][0].func_name == "jobs.tasks.export_job"
    assert jobs["export"][0].result_ttl > 600 and jobs["export"][0].origin == QUEUE

    later = jobs["export"][1].replace(microsecond=0) + dt.timedelta(minutes=7)
    Scheduler(queue_name=QUEUE, connection=redis).change_execution_time(jobs["export"][0], later)
    again = schedule.sync(settings, redis)
    assert sorted(again.kept) == ["catalog-warm", "export", "reconcile"]
    assert scheduled(redis)["export"][1] == later, "an unchanged schedule keeps its next run time"

    hooks.add_filter(export_hooks.CRON_FREQUENCY, lambda: "hourly")
    assert schedule.sync(settings, redis).replaced == ["export"]
    assert scheduled(redis)["export"][0].meta["interval"] == 3600

    hooks.add_filter(export_hooks.CRON_ENABLED, "__return_false")
    assert sorted(schedule.sync(settings, redis).removed) == ["export", "reconcile"]
    assert sorted(scheduled(redis)) == ["catalog-warm"]


def test_frequency_change_between_scheduler_restarts(redis: redis_lib.Redis, env: dict[str, str]) -> None:
    def restart(**extra: str) -> str:
        done = subprocess.run(
            [FLASK, "--app", "wsgi", "scheduler", "--burst", "--poll-interval", "1"],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stderr.decode()

    assert "created ['catalog-warm', 'export', 'reconcile']" in restart(RECORDER_FREQUENCY="hourly")
    assert scheduled(redis)["export"][0].meta["interval"] == 3600
    assert "replaced ['export']" in restart(RECORDER_FREQUENCY="daily")
    assert scheduled(redis)["export"][0].meta["interval"] == 86400
    assert "kept ['catalog-warm', 'export', 'reconcile']" in restart(RECORDER_FREQUENCY="daily")
    assert "removed ['export', 'reconcile']" in restart(RECORDER_FREQUENCY="daily", RECORDER_ENABLED="0")
    assert sorted(scheduled(redis)) == ["catalog-warm"]


def test_two_schedulers_two_workers_never_overlap(redis: redis_lib.Redis, env: dict[str, str], tmp_path: Path) -> None:
    store = Store("local", root=tmp_path / "events")
    sched_env = {"RECORDER_FREQUENCY": "recorder_test", "RECORDER_INTERVAL": "1", "RECORDER_SLEEP": "0.3"}
    procs = [start(["scheduler", "--poll-interval", "1"], env, **sched_env) for _ in range(2)]
    procs += [start(["worker"], env, **sched_env) for _ in range(2)]
    try:
        # Objects arrive while the ticks run (a tick is now two jobs: the fan-out and a delivery).
        wait_for(lambda: len(Worker.all(connection=redis)) >= 2, 30, "two workers")
        wait_for(lambda: "export" in scheduled(redis), 30, "the export scheduled")
        written: list[str] = []

        def delivered() -> int:
            return sum(len(tags(r["data"])) for r in records(redis, env))

        for i in range(8):  # objects keep arriving, each once the one before was delivered
            store.put(hour_ago(1), f"s-{i:02d}", event_lines(f"o{i}", 3))
            written += [f"o{i}-{j}" for j in range(3)]
            wait_for(lambda: delivered() >= 3 * (i + 1), 30, f"the events of object {i}")  # noqa: B023
        quiet_from = time.time()
        state = DeliveryState(redis, TEST_PREFIX)
        # Two more whole runs after the last delivery: nothing may be delivered twice.
        wait_for(lambda: sum(r["started"] >= quiet_from for r in state.runs_since(quiet_from)) >= 2, 30, "two runs")
    finally:
        for proc in procs:
            stop(proc)
    got = records(redis, env)
    delivered = [tag for r in got for tag in tags(r["data"])]
    assert sorted(delivered) == sorted(written), "every event exactly once"
    spans = sorted(tuple(orjson.loads(x)) for x in redis.lrange(env["RECORDER_KEY"] + ":spans", 0, -1))
    assert len(spans) == len(got)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), "runs overlap"
    assert len(got) >= 3, "several runs delivered (objects kept arriving)"
    ids = redis.zrange("rq:scheduler:scheduled_jobs", 0, -1)
    assert sum(1 for i in ids if i.decode().endswith("periodic-export")) == 1, "one schedule entry"


def test_worker_killed_mid_run_loses_nothing(redis: redis_lib.Redis, env: dict[str, str], tmp_path: Path) -> None:
    """The worker dies while the BI tool holds the third batch and the export
    has not heard back: every event arrives, and the only one delivered twice
    is that batch, again with the same id (README: "a batch redelivered after
    a crash" keeps its id, so an idempotent subscriber writes it once)."""
    store = Store("local", root=tmp_path / "events")
    store.put(hour_ago(2), "big", event_lines("k", 120, pad=60))
    store.put(hour_ago(1), "small", event_lines("s", 5))
    slow = {"ANALYTICS_EXPORT_BATCH_BYTES": "2048", "RECORDER_HANG_AT": "3"}
    worker = start(["worker"], env, **slow)
    try:
        Queue(QUEUE, connection=redis).enqueue("jobs.tasks.export_job", job_timeout=120)
        wait_for(lambda: len(records(redis, env)) >= 3, 30, "the third batch, in flight at the kill")
        # RQ's work horse runs in a session of its own: kill it and the worker.
        for proc in [*psutil.Process(worker.pid).children(recursive=True), psutil.Process(worker.pid)]:
            proc.kill()
    finally:
        stop(worker, signal.SIGKILL)
    before = records(redis, env)
    assert len(before) == 3, "the kill landed while the third of 17 batches was in flight"
    in_flight = before[2]

    deadline = time.monotonic() + 20
    while True:  # the dead worker's lock expires after ANALYTICS_EXPORT_LOCK_TTL
        done = subprocess.run(
            [FLASK, "--app", "wsgi", "export", "run"],
            cwd=ROOT,
            env={**env, **slow, "RECORDER_HANG_AT": "0"},
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()
        if b"in progress" not in done.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    got = records(redis, env)
    delivered = [tag for r in got for tag in tags(r["data"])]
    expected = [f"k-{i}" for i in range(120)] + [f"s-{i}" for i in range(5)]
    assert set(delivered) == set(expected), "every event delivered"
    duplicates = sorted(tag for tag, n in Counter(delivered).items() if n > 1)
    assert duplicates == sorted(tags(in_flight["data"])), "only the batch in flight is delivered twice"
    again = [r for r in got[3:] if r["batch"]["id"] == in_flight["batch"]["id"]]
    assert len(again) == 1, "redelivered once, with the same id"
    assert (again[0]["data"], again[0]["batch"]) == (in_flight["data"], in_flight["batch"]), "the very same batch"
    assert len({r["batch"]["id"] for r in got}) == len(got) - 1, "every other id is delivered once"


def test_bad_integration_is_a_one_line_error(env: dict[str, str]) -> None:
    done = subprocess.run(
        [FLASK, "--app", "wsgi", "export", "status"],
        cwd=ROOT,
        env={**env, "ANALYTICS_INTEGRATIONS": "tests.integrations_fixtures.missing_module"},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    err = done.stderr.decode().strip()
    assert "integration 'tests.integrations_fixtures.missing_module'" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_a_slow_subscriber_never_delays_a_fast_one(redis: redis_lib.Redis, env: dict[str, str], tmp_path: Path) -> None:
    """Two real workers and a real scheduler (export every 3 s): next to the
    recorder (fast) a subscriber that takes 5 s per batch. Each subscriber is
    its own job, so the fast one gets every object by the tick after it was
    written (its lag: under one interval, plus the scheduler's poll and a
    margin for a loaded machine), while the slow one falls behind, its batches
    never overlapping (never two jobs of one subscriber at once)."""
    interval, poll, margin = 3, 1, 2.0
    store = Store("local", root=tmp_path / "events")
    both = {
        "ANALYTICS_INTEGRATIONS": f"{RECORDER},tests.integrations_fixtures.slow_subscriber",
        "RECORDER_FREQUENCY": "recorder_test",
        "RECORDER_INTERVAL": str(interval),
        "ANALYTICS_EXPORT_BATCH_BYTES": "2048",  # an object below is 3 batches: 15 s for the slow one
    }
    procs = [start(["worker"], env, **both) for _ in range(2)]
    procs.append(start(["scheduler", "--poll-interval", str(poll)], env, **both))
    written: dict[str, float] = {}
    try:
        wait_for(lambda: len(Worker.all(connection=redis)) >= 2, 30, "two workers")
        wait_for(lambda: "export" in scheduled(redis), 30, "the export scheduled")
        for i in range(6):
            store.put(hour_ago(1), f"o-{i:02d}", event_lines(f"o{i}", 20, pad=100))
            written[f"o{i}"] = time.time()
            time.sleep(1.5)

        def fast_tags() -> set[str]:
            return {tag for r in records(redis, env) for tag in tags(r["data"])}

        wait_for(lambda: len(fast_tags()) == 6 * 20, 30, "every event at the fast subscriber")
        slow = [orjson.loads(x) for x in redis.lrange(env["RECORDER_KEY"] + ":slow", 0, -1)]
    finally:
        for proc in procs:
            stop(proc)
    first_seen: dict[str, float] = {}
    for record in records(redis, env):
        for tag in tags(record["data"]):
            obj = tag.split("-")[0]
            first_seen[obj] = min(first_seen.get(obj, record["start"]), record["start"])
    lags = {obj: first_seen[obj] - at for obj, at in written.items()}
    assert max(lags.values()) < interval + poll + margin, lags
    slow_got = {tag.split("-")[0] for r in slow for tag in r["tags"]}
    assert "o5" not in slow_got, "the slow one is still far behind when the fast one has everything"
    spans = sorted((r["start"], r["end"]) for r in slow)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), "slow batches overlap"
