"""Delivery to Segment over real HTTP (pytest-httpserver): authorization,
limits, gzip, retries with Retry-After, 400s that are given up, failures
that make ``process`` raise (so the export keeps the batch)."""

from __future__ import annotations

import logging
import time
import typing as t

import httpx
import orjson
import pytest
from pytest_httpserver import HTTPServer

import hooks
from tests.conftest import free_port
from tests.segment_support import FAST_RETRIES, MAX_CALL, MAX_REQUEST, WRITE_KEY, Capture, load_segment

PATH = "/v1/batch"


def event(i: int, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "event_type": "click",
        "event_timestamp": 1643673911400 + i,
        "arrival_timestamp": 1643673912000 + i,
        "attributes": {"n": str(i), **extra},
        "endpoint": {"Id": f"anon-{i}"},
    }


def ndjson(events: list[dict[str, t.Any]]) -> str:
    return "\n".join(orjson.dumps(e).decode() for e in events) + "\n"


@pytest.fixture
def capture(httpserver: HTTPServer) -> Capture:
    handler = Capture()
    httpserver.expect_request(PATH, method="POST").respond_with_handler(handler)
    return handler


def segment_for(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, **env: str) -> t.Any:
    return load_segment(
        monkeypatch,
        SEGMENT_API_WRITE_KEY=WRITE_KEY,
        SEGMENT_API_URL=httpserver.url_for(PATH),
        **{**FAST_RETRIES, **env},
    )


def test_every_event_arrives_with_auth_and_within_limits(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, capture: Capture
) -> None:
    segment = segment_for(monkeypatch, httpserver)
    big = "x" * 2000  # ~1,500 events of ~2 KB calls: several 500 KB bodies
    events = [event(i, padding=big) for i in range(600)]
    succeeded: list[tuple[httpx.Response, str]] = []
    hooks.add_action(segment.REQUEST_SUCCESS, lambda response, batch: succeeded.append((response, batch)), 10, 2)

    segment.process(ndjson(events))

    assert capture.problems == []
    assert len(capture.accepted) >= 3, "more than one 500 KB body"
    calls = capture.calls()
    assert sorted(c["anonymousId"] for c in calls if c["type"] == "track") == sorted(f"anon-{i}" for i in range(600))
    assert len(calls) == 1200
    assert len(succeeded) == len(capture.accepted) and all(r.status_code == 200 for r, _ in succeeded)


def test_gzip_bodies(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, capture: Capture) -> None:
    segment = segment_for(monkeypatch, httpserver, SEGMENT_GZIP="1")
    segment.process(ndjson([event(i) for i in range(5)]))
    assert capture.gzipped == 1 and capture.problems == []
    assert len(capture.calls()) == 10


def test_503_with_retry_after_then_200_loses_nothing(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, capture: Capture
) -> None:
    segment = segment_for(monkeypatch, httpserver)
    capture.respond((503, {"Retry-After": "1"}), (503, {"Retry-After": "1"}))
    started = time.monotonic()

    segment.process(ndjson([event(i) for i in range(3)]))

    assert time.monotonic() - started >= 2, "Retry-After: 1 honoured twice"
    assert len(capture.requests) == 3 and capture.requests[0] == capture.requests[2], "the same body again"
    assert len(capture.calls()) == 6


def test_429_storm_raises_so_the_export_keeps_the_batch(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, capture: Capture
) -> None:
    segment = segment_for(monkeypatch, httpserver)
    capture.always = (429, {})
    failures: list[t.Any] = []
    hooks.add_action(segment.REQUEST_FAILURE, lambda response, batch: failures.append(response), 10, 2)

    with pytest.raises(segment.SegmentDeliveryError, match="1 of 1 Segment batch"):
        segment.process(ndjson([event(1)]))

    assert len(capture.requests) == 3, "SEGMENT_RETRY_ATTEMPTS tries"
    assert [r.status_code for r in failures] == [429]


def test_connection_refused_is_retried_then_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    segment = load_segment(
        monkeypatch,
        SEGMENT_API_WRITE_KEY=WRITE_KEY,
        SEGMENT_API_URL=f"http://127.0.0.1:{free_port()}/v1/batch",
        **FAST_RETRIES,
    )
    with pytest.raises(segment.SegmentDeliveryError, match="ConnectError"):
        segment.process(ndjson([event(1)]))


def test_a_400_is_logged_not_retried_and_blocks_nothing(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    segment = segment_for(monkeypatch, httpserver, SEGMENT_CONCURRENCY="1")
    big = "y" * 20_000
    events = [event(i, padding=big) for i in range(60)]  # ~20 KB per event: three bodies
    capture.respond(400)

    with caplog.at_level(logging.INFO, logger="integrations.segment"):
        segment.process(ndjson(events))  # does not raise: retrying cannot help

    assert len(capture.requests) == len(capture.accepted) + 1, "the 400 was not retried"
    assert len(capture.accepted) >= 2, "later batches delivered"
    refused = [r for r in caplog.records if "refused a batch" in r.getMessage()]
    assert len(refused) == 1
    message = refused[0].getMessage()
    assert "HTTP 400" in message and "bytes" in message and '"type":"identify"' in message and "anon-0" in message


def test_a_call_over_32_kb_is_dropped_and_logged(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer, capture: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    segment = segment_for(monkeypatch, httpserver)
    events = [event(0), event(1, blob="z" * 40_000), event(2)]

    with caplog.at_level(logging.WARNING, logger="integrations.segment"):
        segment.process(ndjson(events))

    calls = capture.calls()
    assert capture.problems == []
    assert [(c["type"], c["anonymousId"]) for c in calls] == [
        ("identify", "anon-0"),
        ("track", "anon-0"),
        ("identify", "anon-1"),  # its identify is small: kept
        ("identify", "anon-2"),
        ("track", "anon-2"),
    ]
    dropped = [r.getMessage() for r in caplog.records if "dropped a track call" in r.getMessage()]
    assert len(dropped) == 1 and "anon-1" in dropped[0] and f"{MAX_CALL}-byte limit" in dropped[0]
    assert "1 call(s) over" in caplog.text


def test_prepare_bodies_stay_under_500_kb(monkeypatch: pytest.MonkeyPatch) -> None:
    segment = load_segment(monkeypatch, SEGMENT_API_WRITE_KEY=WRITE_KEY)
    calls = [[{"type": "track", "n": i, "pad": "p" * 30_000}] for i in range(50)]
    bodies = segment.prepare(calls)
    # A call is ~30,032 bytes; 17 of them and their commas fit in 512,000 less the 12 of {"batch":[]}.
    assert [len(orjson.loads(b)["batch"]) for b in bodies] == [17, 17, 16]
    assert all(len(b.encode()) <= MAX_REQUEST for b in bodies)
    assert [c["n"] for b in bodies for c in orjson.loads(b)["batch"]] == list(range(50))


def test_a_wrong_write_key_is_not_given_up(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    """401 is not retried now (it needs a configuration change) but process
    raises, so the export retries the batch once the key is fixed."""
    capture = Capture(key="the-right-key")
    httpserver.expect_request(PATH, method="POST").respond_with_handler(capture)
    segment = segment_for(monkeypatch, httpserver)
    with pytest.raises(segment.SegmentDeliveryError):
        segment.process(ndjson([event(1)]))
    assert len(capture.problems) == 1
