"""``kill -9`` of the export process at random points, run after run: every
event is delivered in the end, and each kill costs at most one batch delivered
twice (the very batch in flight, with the same ``id``).

Each run is a real ``flask --app wsgi export run`` process delivering to the
test recorder (``tests.integrations_fixtures.recorder``), killed with SIGKILL
a random moment after a random number of batches arrived: before its first
batch, inside a callback, between a callback's return and the progress write.
``ANALYTICS_FAULT_KILLS`` kills (default 20; ``scripts/test`` sets 5), then
one run to the end.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import typing as t
from collections import Counter
from pathlib import Path

import orjson

from jobs.lock import RunLock
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from tests.faults.conftest import report
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(ROOT / ".venv" / "bin" / "flask")
RECORDER_KEY = TEST_PREFIX + "faults:received"
LOCK_TTL = 1


def _kills() -> int:
    return int(os.environ.get("ANALYTICS_FAULT_KILLS", "20"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "RECORDER_"))},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": str(tmp_path / "events"),
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_INTEGRATIONS": "tests.integrations_fixtures.recorder",
        "ANALYTICS_EXPORT_LOCK_TTL": str(LOCK_TTL),
        "ANALYTICS_EXPORT_BATCH_BYTES": "4096",
        "RECORDER_KEY": RECORDER_KEY,
        **extra,
    }


#: The recorder's subscriber name (its import path): each subscriber has its own run lock.
RECORDER_SUBSCRIBER = "tests.integrations_fixtures.recorder.record_batch"


def _records(redis: redis_lib.Redis) -> list[dict[str, t.Any]]:
    return [orjson.loads(r) for r in redis.lrange(RECORDER_KEY, 0, -1)]


def _wait(condition: t.Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _lock_free(redis: redis_lib.Redis) -> bool:
    """Whether a run could start now (a killed run's lock on the recorder, the
    one subscriber, lives ``LOCK_TTL`` more seconds)."""
    with RunLock(redis, TEST_PREFIX, LOCK_TTL, [RECORDER_SUBSCRIBER]) as held:
        return bool(held)


def test_kill_dash_nine_at_random_points_loses_nothing(redis: redis_lib.Redis, tmp_path: Path) -> None:
    store = Store("local", root=tmp_path / "events")
    expected: list[str] = []
    for i in range(10):
        store.put(hour_ago(12 - i), f"obj-{i}", event_lines(f"o{i}", 60, pad=300))
        expected += [f"o{i}-{j}" for j in range(60)]
    rng = random.Random(int(os.environ.get("ANALYTICS_FAULT_SEED", str(time.time_ns()))))
    env = _env(tmp_path, RECORDER_SLEEP="0.03")
    kills: list[str] = []
    for _ in range(_kills()):
        assert _wait(lambda: _lock_free(redis), 10), "a killed run's lock never expired"
        before = len(_records(redis))
        target = before + rng.randint(0, 3)
        proc = subprocess.Popen(
            [FLASK, "--app", "wsgi", "export", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(lambda: len(_records(redis)) >= target or proc.poll() is not None, 30)  # noqa: B023 - used at once
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills.append(f"after {len(_records(redis)) - before} batch(es)")
        proc.wait(10)
        if proc.returncode == 0:
            break  # the run finished before the kill: nothing left to interrupt

    assert _wait(lambda: _lock_free(redis), 10)
    done = subprocess.run(
        [FLASK, "--app", "wsgi", "export", "run"], cwd=ROOT, env=_env(tmp_path), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()

    got = _records(redis)
    delivered = [tag for r in got for tag in tags(r["data"])]
    assert set(delivered) == set(expected), "every event delivered"
    ids = Counter(r["batch"]["id"] for r in got)
    redelivered = sum(n - 1 for n in ids.values())
    assert redelivered <= len(kills), "at most the batch in flight is delivered again, per kill"
    unique = {r["batch"]["id"]: r["data"] for r in got}
    assert Counter(tag for data in unique.values() for tag in tags(data)) == Counter(expected), (
        "an event delivered twice was always in the same batch (same id) both times"
    )
    report(
        f"kill -9 of 'export run' at random points, {len(kills)} times (ANALYTICS_FAULT_KILLS={_kills()})",
        "kills landed " + ", ".join(kills),
        f"checked: all {len(expected)} events delivered; {redelivered} batch(es) delivered twice for "
        f"{len(kills)} kills, each redelivery the same batch id; {len(delivered) - len(expected)} duplicate events",
    )
