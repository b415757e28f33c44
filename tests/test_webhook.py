"""The signed webhook destination against real HTTP servers (pytest-httpserver):
every request is checked with the verification snippet of the README, as a
receiver would; retries, Retry-After, refusals, several URLs, redelivery, and
the real export CLI over demo data."""

from __future__ import annotations

import gzip
import threading
import time
import types
import typing as t
from collections import Counter
from pathlib import Path

import orjson
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import config
import hooks
from jobs import subscribers
from jobs.export import run_export
from tests.destinations import ROOT, export_env, flask, load, settings, source_events, write_demo
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

SECRET = "whsec_test_7f3a"


def readme_verify() -> t.Callable[..., bytes]:
    """The README's verification snippet, run as the README shows it."""
    text = (ROOT / "README.md").read_text()
    code = text.split("<!-- webhook-verify -->\n```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 10, "the README promises a ten-line snippet"
    namespace: dict[str, t.Any] = {}
    exec(code, namespace)
    return t.cast(t.Callable[..., bytes], namespace["verify"])


class Receiver:
    """Records each request (time, headers, raw body) and answers with the
    next planned response, then 204 for ever."""

    def __init__(self, plan: t.Sequence[Response | float] = ()) -> None:
        self.plan = list(plan)
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.requests.append((time.monotonic(), dict(request.headers), request.get_data()))
            step = self.plan.pop(0) if self.plan else Response(status=204)
        if isinstance(step, float):  # slower than the client's time-out
            time.sleep(step)
            return Response(status=204)
        return step

    def payloads(self) -> list[bytes]:
        verify = readme_verify()
        return [verify(headers, body, SECRET) for _, headers, body in self.requests]


def serve(httpserver: HTTPServer, path: str, receiver: Receiver) -> str:
    httpserver.expect_request(path, method="POST").respond_with_handler(receiver)
    return httpserver.url_for(path)


def webhook(monkeypatch: pytest.MonkeyPatch, **env: str) -> types.ModuleType:
    defaults = {"ANALYTICS_WEBHOOK_SECRET": SECRET, "ANALYTICS_WEBHOOK_RETRY_DELAY": "0.01"}
    return load("integrations.webhook", monkeypatch, "ANALYTICS_WEBHOOK_", **{**defaults, **env})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store("local", root=tmp_path / "events")


def test_batches_are_signed_ndjson_that_the_readme_snippet_verifies(
    redis: redis_lib.Redis, store: Store, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(hour_ago(3), "a", event_lines("a", 30, pad=40))
    store.put(hour_ago(2), "b", event_lines("b", 10, pad=40), gzipped=True)
    receiver = Receiver()
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=serve(httpserver, "/hook", receiver))

    report = run_export(settings(tmp_path / "events", ANALYTICS_EXPORT_BATCH_BYTES="2048"))

    assert not report.failures
    payloads = receiver.payloads()
    assert len(payloads) > 2, "40 padded events make several 2 KiB batches"
    assert [tag for p in payloads for tag in tags(p.decode())] == [f"a-{i}" for i in range(30)] + [
        f"b-{i}" for i in range(10)
    ]
    keys = [headers["Idempotency-Key"] for _, headers, _ in receiver.requests]
    assert len(set(keys)) == len(keys) and all(keys)
    for _, headers, body in receiver.requests:
        assert headers["Content-Type"].startswith("application/x-ndjson")
        assert headers["Content-Encoding"] == "gzip" and body[:2] == b"\x1f\x8b"
    # What the snippet must refuse: another secret, a changed body, an old request.
    verify = readme_verify()
    _, headers, body = receiver.requests[0]
    with pytest.raises(ValueError):
        verify(headers, body, "another secret")
    with pytest.raises(ValueError):
        verify(headers, gzip.compress(gzip.decompress(body).replace(b"a-0", b"a-9")), SECRET)
    with pytest.raises(ValueError):
        verify(headers, body, SECRET, tolerance=-1)


def test_gzip_off_sends_the_plain_payload(
    redis: redis_lib.Redis, store: Store, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(hour_ago(2), "a", event_lines("a", 3))
    receiver = Receiver()
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=serve(httpserver, "/hook", receiver), ANALYTICS_WEBHOOK_GZIP="off")

    run_export(settings(tmp_path / "events"))

    [(_, headers, body)] = receiver.requests
    assert "Content-Encoding" not in headers
    assert tags(body.decode()) == ["a-0", "a-1", "a-2"]
    assert receiver.payloads() == [body]


def test_429_and_5xx_are_retried_honouring_retry_after(
    redis: redis_lib.Redis, store: Store, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(hour_ago(2), "a", event_lines("a", 5))
    receiver = Receiver([Response(status=503), Response(status=429, headers={"Retry-After": "1"})])
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=serve(httpserver, "/hook", receiver))

    report = run_export(settings(tmp_path / "events"))

    assert not report.failures
    assert len(receiver.requests) == 3
    payloads = receiver.payloads()
    assert payloads[0] == payloads[1] == payloads[2], "the same batch each time"
    assert len({h["Idempotency-Key"] for _, h, _ in receiver.requests}) == 1
    assert receiver.requests[2][0] - receiver.requests[1][0] >= 1.0, "Retry-After: 1 was honoured"


@pytest.fixture
def threaded_server() -> t.Iterator[HTTPServer]:
    """A server that answers the retry while the timed-out request still sleeps."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_a_time_out_is_retried(
    redis: redis_lib.Redis, store: Store, threaded_server: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(hour_ago(2), "a", event_lines("a", 5))
    receiver = Receiver([1.5])
    url = serve(threaded_server, "/hook", receiver)
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=url, ANALYTICS_WEBHOOK_TIMEOUT="0.3")

    report = run_export(settings(tmp_path / "events"))

    assert not report.failures
    assert len(receiver.requests) == 2
    assert tags(receiver.payloads()[1].decode()) == [f"a-{i}" for i in range(5)]


def test_exhausted_retries_fail_the_batch_and_a_later_run_redelivers_it_with_the_same_key(
    redis: redis_lib.Redis, store: Store, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(hour_ago(2), "a", event_lines("a", 5))
    receiver = Receiver([Response(status=500), Response(status=502), Response(status=503)])
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=serve(httpserver, "/hook", receiver), ANALYTICS_WEBHOOK_RETRIES="2")
    s = settings(tmp_path / "events", ANALYTICS_EXPORT_RETRY_BASE="1")

    first = run_export(s)
    [(name, error)] = first.failures.items()
    assert "HTTP 503" in error and "3 attempt" in error
    second = run_export(s, clock=lambda: time.time() + 5)  # after the subscriber's retry time

    assert not second.failures and second.delivered[name]
    assert len(receiver.requests) == 4
    # A receiver that stores each Idempotency-Key once ends with each event once.
    stored = {h["Idempotency-Key"]: p for (_, h, _), p in zip(receiver.requests, receiver.payloads(), strict=True)}
    assert len(stored) == 1
    assert [tag for p in stored.values() for tag in tags(p.decode())] == [f"a-{i}" for i in range(5)]


def test_another_4xx_fails_at_once_without_retry(
    redis: redis_lib.Redis,
    store: Store,
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store.put(hour_ago(2), "a", event_lines("a", 5))
    receiver = Receiver([Response("no such hook", status=404)])
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=serve(httpserver, "/hook", receiver))

    report = run_export(settings(tmp_path / "events"))

    assert len(receiver.requests) == 1
    [error] = report.failures.values()
    assert "HTTP 404 no such hook" in error
    assert any("refused batch" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_several_urls_are_separate_subscribers_and_one_failing_does_not_hold_back_another(
    redis: redis_lib.Redis, store: Store, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(hour_ago(3), "a", event_lines("a", 20, pad=40))
    store.put(hour_ago(2), "b", event_lines("b", 20, pad=40))
    down = Receiver([Response(status=500)])
    up = Receiver()
    urls = f"{serve(httpserver, '/down', down)}, {serve(httpserver, '/up', up)}"
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=urls, ANALYTICS_WEBHOOK_RETRIES="0")
    names = [s.name for s in subscribers.current()]
    assert len(names) == 2 and len(set(names)) == 2
    host = f"localhost:{httpserver.port}"
    assert all(n.startswith(f"integrations.webhook.post_batch.{host}.") for n in names)
    s = settings(tmp_path / "events", ANALYTICS_EXPORT_BATCH_BYTES="2048", ANALYTICS_EXPORT_RETRY_BASE="1")
    expected = [f"a-{i}" for i in range(20)] + [f"b-{i}" for i in range(20)]

    first = run_export(s)

    assert list(first.failures) == [names[0]]
    assert [tag for p in up.payloads() for tag in tags(p.decode())] == expected, "/up got everything"
    later = run_export(s, clock=lambda: time.time() + 5)
    assert not later.failures
    assert [tag for p in down.payloads()[1:] for tag in tags(p.decode())] == expected
    assert len(up.requests) == len(up.payloads()), "/up was not sent anything twice"


def test_names_are_stable_across_loads_and_distinct_per_path(monkeypatch: pytest.MonkeyPatch) -> None:
    urls = "https://hooks.example.com/a?token=1,https://hooks.example.com/b"
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=urls)
    first = [s.name for s in subscribers.current()]
    hooks.reset()
    webhook(monkeypatch, ANALYTICS_WEBHOOK_URL=urls.replace("token=1", "token=2"))
    assert [s.name for s in subscribers.current()] == first
    assert len(set(first)) == 2 and all("token" not in n for n in first)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ANALYTICS_WEBHOOK_URL": "ftp://example.com/x"}, "ANALYTICS_WEBHOOK_URL"),
        ({"ANALYTICS_WEBHOOK_URL": "https://a.example/x https://a.example/x"}, "ANALYTICS_WEBHOOK_URL"),
        ({"ANALYTICS_WEBHOOK_URL": "https://a.example/x", "ANALYTICS_WEBHOOK_SECRET": ""}, "ANALYTICS_WEBHOOK_SECRET"),
        ({"ANALYTICS_WEBHOOK_TIMEOUT": "soon"}, "ANALYTICS_WEBHOOK_TIMEOUT"),
        ({"ANALYTICS_WEBHOOK_RETRIES": "-1"}, "ANALYTICS_WEBHOOK_RETRIES"),
        ({"ANALYTICS_WEBHOOK_GZIP": "maybe"}, "ANALYTICS_WEBHOOK_GZIP"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(config.ConfigError) as raised:
        webhook(monkeypatch, **{"ANALYTICS_WEBHOOK_URL": "https://a.example/x", **env})
    message = str(raised.value)
    assert message.startswith(variable) and "\n" not in message


def test_without_a_url_nothing_is_registered_and_one_line_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    webhook(monkeypatch)
    assert subscribers.current() == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "integrations.webhook"]
    assert "ANALYTICS_WEBHOOK_URL is not set" in line


def test_the_cli_refuses_a_malformed_setting_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    env = export_env(
        tmp_path / "events",
        "integrations.webhook",
        ANALYTICS_WEBHOOK_URL="https://a.example/x",
        ANALYTICS_WEBHOOK_SECRET="s",
        ANALYTICS_WEBHOOK_TIMEOUT="soon",
    )
    done = flask(["export", "status"], env)
    assert done.returncode != 0
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "ANALYTICS_WEBHOOK_TIMEOUT is 'soon'" in err, err


def test_the_real_export_cli_delivers_the_demo_data_signed(
    redis: redis_lib.Redis, httpserver: HTTPServer, tmp_path: Path
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir)
    expected = Counter(line for line, _ in source_events(events_dir))
    receiver = Receiver()
    env = export_env(
        events_dir,
        "integrations.webhook",
        ANALYTICS_WEBHOOK_URL=serve(httpserver, "/hook", receiver),
        ANALYTICS_WEBHOOK_SECRET=SECRET,
        ANALYTICS_EXPORT_BATCH_BYTES="65536",
    )

    done = flask(["export", "run"], env)

    assert done.returncode == 0, done.stderr
    got = Counter(line for p in receiver.payloads() for line in p.splitlines())
    assert got == expected, "every event once, byte for byte"
    assert len(receiver.requests) > 1
    for line in list(got)[:5]:
        orjson.loads(line)
