"""The Segment destination end to end: the real export (``flask --app wsgi
export run`` subprocesses, and an RQ worker once) with
``ANALYTICS_INTEGRATIONS=integrations.segment`` delivering to a real HTTP
server (pytest-httpserver) that checks authorization and Segment's limits.

Expected calls come from the raw files, read here independently of the
service: one identify and one page (``pageView``) or track call per event,
with the event's ``endpoint.Id`` and its time to the millisecond."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import time
import typing as t
from collections import Counter
from pathlib import Path

import orjson
import pytest
from pytest_httpserver import HTTPServer
from rq import Queue

import demo
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from tests.integrations_fixtures.objects import Store, hour_ago
from tests.segment_support import FAST_RETRIES, WRITE_KEY, Capture

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(ROOT / ".venv" / "bin" / "flask")
QUEUE = "analytics-segment-test"
PATH = "/v1/batch"
DEMO_DAY = dt.date(2026, 1, 15)


@pytest.fixture
def capture(httpserver: HTTPServer) -> Capture:
    handler = Capture()
    httpserver.expect_request(PATH, method="POST").respond_with_handler(handler)
    return handler


@pytest.fixture
def env(tmp_path: Path, httpserver: HTTPServer, redis: redis_lib.Redis) -> dict[str, str]:
    (tmp_path / "events").mkdir(exist_ok=True)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "SEGMENT_"))},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": str(tmp_path / "events"),
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_QUEUE": QUEUE,
        "ANALYTICS_INTEGRATIONS": "integrations.segment",
        "ANALYTICS_EXPORT_RETRY_BASE": "1",
        "SEGMENT_API_WRITE_KEY": WRITE_KEY,
        "SEGMENT_API_URL": httpserver.url_for(PATH),
        **FAST_RETRIES,
    }


def export_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, "--app", "wsgi", "export", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def raw_events(root: Path) -> list[dict[str, t.Any]]:
    """Every event of the source directory, read with the standard library."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        found += [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return found


def iso_ms(ms: int) -> str:
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def expected_calls(events: list[dict[str, t.Any]]) -> Counter[tuple[str, str, str, str]]:
    calls: Counter[tuple[str, str, str, str]] = Counter()
    for e in events:
        main = "page" if e["event_type"] == "pageView" else "track"
        for kind in ("identify", main):
            calls[(kind, e["endpoint"]["Id"], iso_ms(e["event_timestamp"]), iso_ms(e["arrival_timestamp"]))] += 1
    return calls


def received(capture: Capture) -> Counter[tuple[str, str, str, str]]:
    return Counter((c["type"], c["anonymousId"], c["timestamp"], c["receivedAt"]) for c in capture.calls())


def test_demo_data_arrives_as_the_expected_calls(env: dict[str, str], capture: Capture, tmp_path: Path) -> None:
    demo.generate(tmp_path / "events", DEMO_DAY, 1, 400, sites=(1, 2), seed=3)
    events = raw_events(tmp_path / "events")

    done = export_run(env)

    assert done.returncode == 0, done.stderr
    assert capture.problems == [], "authorization, content type and limits held"
    assert received(capture) == expected_calls(events)
    tracks = [c for c in capture.calls() if c["type"] == "track"]
    assert Counter(c["event"] for c in tracks) == Counter(
        e["event_type"] for e in events if e["event_type"] != "pageView"
    )
    ids = [c["messageId"] for c in capture.calls()]
    assert len(set(ids)) == len(ids) == 2 * len(events)

    again = export_run(env)
    assert again.returncode == 0 and len(capture.calls()) == 2 * len(events), "delivered once"


def test_503_twice_with_retry_after_then_200_loses_nothing(
    env: dict[str, str], capture: Capture, tmp_path: Path
) -> None:
    demo.generate(tmp_path / "events", DEMO_DAY, 1, 60, sites=(1,), seed=4)
    events = raw_events(tmp_path / "events")
    capture.respond((503, {"Retry-After": "1"}), (503, {"Retry-After": "1"}))

    done = export_run(env)

    assert done.returncode == 0, done.stderr
    assert len(capture.requests) == len(capture.accepted) + 2
    assert received(capture) == expected_calls(events)


def test_429_storm_fails_the_run_and_the_next_run_delivers_the_same_message_ids(
    env: dict[str, str], capture: Capture, tmp_path: Path
) -> None:
    demo.generate(tmp_path / "events", DEMO_DAY, 1, 60, sites=(1,), seed=5)
    events = raw_events(tmp_path / "events")
    capture.always = (429, {})

    failed = export_run(env)

    assert failed.returncode != 0
    assert "Segment batch(es) undelivered" in failed.stderr and "HTTP 429" in failed.stderr
    assert capture.accepted == [] and len(capture.requests) >= 3
    refused_ids = sorted(c["messageId"] for c in capture.requests[0])

    capture.always = None
    deadline = time.monotonic() + 30
    while not capture.accepted:  # the subscriber waits ANALYTICS_EXPORT_RETRY_BASE (1 s) after a failure
        assert time.monotonic() < deadline, "the next runs never delivered"
        done = export_run(env)
        assert done.returncode == 0, done.stderr
        time.sleep(0.2)

    assert received(capture) == expected_calls(events)
    assert sorted(c["messageId"] for c in capture.calls()) == refused_ids, "the redelivered batch has the same ids"


def test_a_40_kb_event_is_dropped_and_logged_while_its_batch_mates_arrive(
    env: dict[str, str], capture: Capture, tmp_path: Path
) -> None:
    lines = []
    for i in range(5):
        attributes = {"blogId": "1", "title": f"page {i}"}
        if i == 2:
            attributes["huge"] = "h" * 40_000
        lines.append(
            orjson.dumps(
                {
                    "event_type": "scroll" if i == 2 else "pageView",  # track calls carry all attributes
                    "event_timestamp": 1_768_000_000_000 + i,
                    "arrival_timestamp": 1_768_000_000_500 + i,
                    "attributes": attributes,
                    "endpoint": {"Id": f"ep-{i}"},
                }
            )
        )
    Store("local", root=tmp_path / "events").put(hour_ago(1), "big-event", lines)

    done = export_run(env)

    assert done.returncode == 0, done.stderr
    assert capture.problems == []
    got = [(c["type"], c["anonymousId"]) for c in capture.calls()]
    assert got == [
        *[(k, f"ep-{i}") for i in (0, 1) for k in ("identify", "page")],
        ("identify", "ep-2"),  # its own identify is small: sent
        *[(k, f"ep-{i}") for i in (3, 4) for k in ("identify", "page")],
    ]
    log = [line for line in done.stderr.splitlines() if "dropped a track call" in line]
    assert len(log) == 1 and "ep-2" in log[0] and "bytes" in log[0] and "messageId" in log[0]


def test_an_rq_worker_delivers(env: dict[str, str], capture: Capture, tmp_path: Path, redis: redis_lib.Redis) -> None:
    demo.generate(tmp_path / "events", DEMO_DAY, 1, 60, sites=(1,), seed=6)
    events = raw_events(tmp_path / "events")
    Queue(QUEUE, connection=redis).enqueue("jobs.tasks.export_job", job_timeout=120)

    done = subprocess.run(
        [FLASK, "--app", "wsgi", "worker", "--burst"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert received(capture) == expected_calls(events)
