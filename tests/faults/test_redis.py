"""Redis misbehaving, on a redis-server of each test's own (never the shared
one): restarted in the middle of an export run and of a download, frozen
(SIGSTOP), and full (``maxmemory``, ``noeviction``).

The service's own Redis client is used throughout (``config.redis_connection``
in process, gunicorn and the CLI in subprocesses): its time-outs and
reconnection are what is under test.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import subprocess
import time
import typing as t
from collections import Counter
from pathlib import Path

import orjson
import pytest
import redis as redis_lib

import config
import hooks
from accounts import Accounts
from jobs import export_hooks
from jobs.export import run_export
from jobs.state import DeliveryState
from tests.conftest import TEST_PREFIX
from tests.faults.conftest import report
from tests.faults.redis_server import RedisServer
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags
from tests.test_endpoint_e2e import SECRET, curl, start_gunicorn, stop

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(ROOT / ".venv" / "bin" / "flask")
#: What issue 12 allows a request to take when Redis is frozen.
FROZEN_LIMIT_S = 5.0
HOUR = 3600.0

received: list[tuple[str, dict[str, t.Any]]] = []
on_batch: list[t.Callable[[int], None]] = []


def collect(batch_data: str, batch: dict[str, t.Any]) -> None:
    received.append((batch_data, batch))
    for action in on_batch:
        action(len(received))


@pytest.fixture(autouse=True)
def _received() -> t.Iterator[None]:
    received.clear()
    on_batch.clear()
    yield
    on_batch.clear()


def _objects(store: Store, count: int = 4, events: int = 30) -> list[str]:
    expected = []
    for i in range(count):
        store.put(hour_ago(count - i), f"obj-{i}", event_lines(f"o{i}", events, pad=150))
        expected += [f"o{i}-{j}" for j in range(events)]
    return expected


def _settings(make_settings: t.Callable[..., config.Settings], server: RedisServer, **env: str) -> config.Settings:
    return make_settings(
        REDIS_URL=server.url, ANALYTICS_EXPORT_START="beginning", ANALYTICS_EXPORT_BATCH_BYTES="2048", **env
    )


def _delivered() -> list[str]:
    return [tag for batch_data, _ in received for tag in tags(batch_data)]


def test_redis_restarted_mid_run_loses_nothing(
    own_redis: RedisServer, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    expected = _objects(Store("local", root=tmp_path / "events"))
    settings = _settings(make_settings, own_redis)
    hooks.add_action(export_hooks.DATA_PROCESS, collect, 10, 2)
    restarts: list[int] = []

    def restart_at_third(n: int) -> None:
        if n == 3 and not restarts:
            own_redis.restart()  # killed; comes back from its AOF
            restarts.append(n)

    on_batch.append(restart_at_third)
    first = run_export(settings)
    second = run_export(settings)
    assert restarts == [3]
    assert Counter(_delivered()) == Counter(expected), "every event exactly once"
    assert not first.failures and not second.delivered
    report(
        "Redis restarted (kill, AOF kept) inside the third of a run's batches",
        f"run 1 delivered {len(received)} batches, reconnecting after the restart; run 2 found nothing left",
        f"checked: {len(expected)} events delivered exactly once",
    )


# ------------------------------------------------------------------ the endpoint on a Redis of its own


def _write_day(root: Path, day: dt.date, events: int) -> None:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    for hour in range(24):
        folder = root / day.strftime("%Y/%m/%d") / f"{hour:02d}"
        folder.mkdir(parents=True)
        lines = event_lines(f"h{hour}", events // 24, ts_ms=start + hour * 3_600_000, pad=100)
        (folder / f"analytics-1-{day}-{hour:02d}").write_bytes(b"".join(line + b"\n" for line in lines))


DAY = dt.date(2026, 11, 20)
EVENTS = 24_000


class Served(t.NamedTuple):
    base: str
    port: int
    log: Path
    login: str  # "admin:<application password>"


@pytest.fixture
def served(own_redis: RedisServer, tmp_path: Path) -> t.Iterator[Served]:
    _write_day(tmp_path / "events", DAY, EVENTS)
    accounts = Accounts(own_redis.client(), TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "REDIS_URL": own_redis.url}
    base, proc = start_gunicorn(tmp_path / "gunicorn.log", env)
    try:
        yield Served(base, int(base.rsplit(":", 1)[1]), tmp_path / "gunicorn.log", f"admin:{password}")
    finally:
        stop(proc)


def test_redis_restarted_mid_download_and_between_requests(
    served: Served, own_redis: RedisServer, tmp_path: Path
) -> None:
    url = f"{served.base}/wp-json/analytics/v1/events/{DAY}"
    warm = curl(url + "?format=ndjson", "-u", served.login, tmp=tmp_path)
    assert warm.exit_code == 0 and warm.body.count(b"\n") == EVENTS

    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    auth = base64.b64encode(served.login.encode()).decode()
    path = f"/wp-json/analytics/v1/events/{DAY}?format=ndjson&chunk_size=50"
    conn.request("GET", path, headers={"Authorization": f"Basic {auth}"})
    response = conn.getresponse()
    head = response.read(64 * 1024)
    own_redis.restart()
    body = head + response.read()
    conn.close()
    assert response.status == 200 and body.count(b"\n") == int(response.headers["X-WP-Total"]) == EVENTS

    after = curl(url + "?format=csv", "-u", served.login, tmp=tmp_path)  # its pooled connection died: reconnects
    assert (after.exit_code, after.status) == (0, 200) and after.body.count(b"\r\n") == EVENTS + 1
    assert "Traceback" not in served.log.read_text()
    report(
        "Redis restarted (kill, AOF kept) while a download was streaming, then between requests",
        f"checked: the streaming download completed with all {EVENTS} events (a warm day needs no Redis mid-stream)",
        "checked: the next request reconnected and answered 200 with every event, no traceback in the log",
    )


def test_frozen_redis_fails_requests_within_five_seconds(
    served: Served, own_redis: RedisServer, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    url = f"{served.base}/wp-json/analytics/v1/events/{DAY}"
    assert curl(url + "?format=ndjson", "-u", served.login, tmp=tmp_path).status == 200
    expected = _objects(Store("local", root=tmp_path / "export"), count=2, events=10)
    settings = _settings(make_settings, own_redis, ANALYTICS_SOURCE=str(tmp_path / "export"))
    hooks.add_action(export_hooks.DATA_PROCESS, collect, 10, 2)
    timings = []
    own_redis.freeze()
    try:
        for fmt in ("json", "csv"):
            started = time.monotonic()
            got = curl(f"{url}?format={fmt}", "-u", served.login, tmp=tmp_path)
            timings.append(time.monotonic() - started)
            assert (got.status, got.headers["retry-after"]) == (503, "30"), got
            assert orjson.loads(got.body)["code"] == "analytics_unavailable"
        started = time.monotonic()
        with pytest.raises(redis_lib.TimeoutError):
            run_export(settings)
        timings.append(time.monotonic() - started)
    finally:
        own_redis.thaw()
    assert max(timings) <= FROZEN_LIMIT_S, timings
    run_export(settings)
    assert sorted(_delivered()) == sorted(expected)
    report(
        "Redis frozen (SIGSTOP) under the web app and the export",
        "checked: two requests of the events route answered 503 analytics_unavailable with Retry-After in "
        + ", ".join(f"{s:.1f} s" for s in timings[:2]),
        f"checked: an export run failed with redis TimeoutError in {timings[2]:.1f} s (limit {FROZEN_LIMIT_S} s)",
        f"checked: after SIGCONT a run delivered all {len(expected)} events",
    )


def _fill(client: redis_lib.Redis) -> int:
    """Make Redis full: junk written until a write is refused, then ``maxmemory``
    lowered under the memory in use, so that buffers Redis frees later (a
    refused write's, a closed client's) never make room again. Returns the
    junk keys written."""
    n = 0
    while True:
        try:
            client.set(f"junk:{n}", b"x" * 65536)
        except redis_lib.exceptions.OutOfMemoryError:
            break
        n += 1
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used - 1024 * 1024)
    return n


def _make_room(client: redis_lib.Redis, junk: int) -> None:
    client.config_set("maxmemory", "8mb")
    client.delete(*(f"junk:{i}" for i in range(junk)))


def test_full_redis_gives_clear_errors_and_loses_nothing(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "redis", aof=False, maxmemory="8mb") as server:
        store = Store("local", root=tmp_path / "events")
        expected = _objects(store)
        accounts = Accounts(server.client(), TEST_PREFIX, SECRET)
        accounts.create_user("admin", "admin@example.com", role="administrator")
        password, _ = accounts.create_app_password("admin", "curl")
        env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "REDIS_URL": server.url}
        base, proc = start_gunicorn(tmp_path / "gunicorn.log", env)
        settings = _settings(make_settings, server, ANALYTICS_SOURCE=str(tmp_path / "events"))
        hooks.add_action(export_hooks.DATA_PROCESS, collect, 10, 2)
        try:
            junk = _fill(server.client())
            day = hour_ago(1).date().isoformat()
            got = curl(f"{base}/wp-json/analytics/v1/events/{day}", "-u", f"admin:{password}", tmp=tmp_path)
            body = orjson.loads(got.body)
            assert (got.status, body["code"]) == (503, "analytics_unavailable"), got
            assert "full" in body["message"]
            assert got.headers["retry-after"] == "30"

            cli_env = {**_cli_env(settings, server), "ANALYTICS_INTEGRATIONS": "tests.integrations_fixtures.recorder"}
            done = subprocess.run(
                [FLASK, "--app", "wsgi", "export", "run"], cwd=ROOT, env=cli_env, capture_output=True, timeout=60
            )
            err = done.stderr.decode().strip()
            assert done.returncode != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
            assert "maxmemory" in err, err

            _make_room(server.client(), junk)
            filled: list[int] = []

            def fill_at_second(n: int) -> None:
                if n == 2 and not filled:
                    filled.append(_fill(server.client()))

            on_batch.append(fill_at_second)  # Redis fills up while a batch is being delivered
            with pytest.raises(redis_lib.exceptions.OutOfMemoryError):
                run_export(settings)
            assert len(received) == 2
            _make_room(server.client(), filled[0])
            run_export(settings)
            assert set(_delivered()) == set(expected), "every event delivered"
            duplicates = len(_delivered()) - len(expected)
            ids = Counter(b["id"] for _, b in received)
            assert [n for n in ids.values() if n > 1] == [2], "the batch whose progress was refused, twice"
            assert duplicates <= max(b["events"] for _, b in received), "at most the batch in flight twice"
            assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
        finally:
            stop(proc)
    report(
        f"Redis full: maxmemory 8mb, noeviction, filled with {junk} keys of 64 KiB (then maxmemory under its use)",
        f"checked: the events route answered 503 analytics_unavailable: {body['message']!r}",
        f"checked: 'export run' printed one line and exited {done.returncode}: {err!r}",
        "checked: a run during which Redis filled up stopped at the batch whose progress it could not record",
        f"checked: once memory was freed a run delivered all {len(expected)} events ({duplicates} delivered twice)",
    )


def _cli_env(settings: config.Settings, server: RedisServer) -> dict[str, str]:
    import os

    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")},
        "REDIS_URL": server.url,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": settings.source.describe(),
        "ANALYTICS_EXPORT_START": "beginning",
        "RECORDER_KEY": TEST_PREFIX + "recorder",
    }


def test_an_rq_worker_leaves_the_jobs_redis_time_out_alone(own_redis: RedisServer) -> None:
    """The worker's jobs (the export run) use ``config.redis_connection``; RQ
    raises the socket time-out of the connection it is given to ~7 minutes."""
    from rq import Queue, Worker

    from jobs.cli import rq_connection

    connection = rq_connection(own_redis.url)
    Worker([Queue("faults-test", connection=connection)], connection=connection)
    jobs_client = config.redis_connection(own_redis.url)
    timeout = jobs_client.connection_pool.connection_kwargs["socket_timeout"]
    assert timeout == config.REDIS_SOCKET_TIMEOUT
    report(
        "an RQ worker built as 'flask --app wsgi worker' builds it",
        f"checked: the export's Redis client keeps its {timeout} s command time-out "
        f"(RQ's own client got {connection.connection_pool.connection_kwargs['socket_timeout']} s)",
    )


def test_redis_back_empty_resumes_from_the_checkpoint(
    own_redis: RedisServer, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """Redis loses everything between runs; the subscriber started "now" an
    hour ago. Without the checkpoint it would start again at the new hour and
    never get what arrived in between."""
    store = Store("local", root=tmp_path / "events")
    settings = make_settings(REDIS_URL=own_redis.url, ANALYTICS_EXPORT_START="now")
    hooks.add_action(export_hooks.DATA_PROCESS, collect, 10, 2)
    logs: list[tuple[str, int]] = []
    hooks.add_action(export_hooks.LOG, lambda message, level: logs.append((message, level)), 10, 2)
    real = time.time()
    store.put(hour_ago(0), "first", event_lines("first", 5))
    run_export(settings, clock=lambda: real)
    checkpoint = tmp_path / "events" / ".analytics-export" / "analytics-test-subscribers.json"
    assert checkpoint.exists()

    store.put(hour_ago(0), "between", event_lines("between", 5))  # arrives while Redis is down
    own_redis.restart(empty=True)
    assert own_redis.client().dbsize() == 0
    later = real + HOUR
    run_export(settings, clock=lambda: later)  # the next run, an hour later
    store.put(hour_ago(0), "after", event_lines("after", 5))
    run_export(settings, clock=lambda: later + 60)

    expected = [f"{name}-{i}" for name in ("first", "between", "after") for i in range(5)]
    assert Counter(_delivered()) == Counter(expected), "nothing skipped, nothing twice"
    warned = [m for m, level in logs if level == export_hooks.E_USER_WARNING and "Redis had lost" in m]
    assert len(warned) == 1 and "AOF" in warned[0]
    report(
        "Redis restarted EMPTY (its AOF deleted) between two runs an hour apart (run_export's clock)",
        f"the run after it restored the subscriber from {checkpoint.relative_to(tmp_path)}: {warned[0][:120]}...",
        f"checked: all {len(expected)} events delivered exactly once, including the 5 that arrived meanwhile",
    )


def test_without_a_readable_checkpoint_a_lost_subscriber_is_not_restarted(
    own_redis: RedisServer, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    store = Store("local", root=tmp_path / "events")
    settings = make_settings(REDIS_URL=own_redis.url, ANALYTICS_EXPORT_START="beginning")
    hooks.add_action(export_hooks.DATA_PROCESS, collect, 10, 2)
    store.put(hour_ago(1), "first", event_lines("first", 3))
    run_export(settings)
    saved = tmp_path / "events" / ".analytics-export" / "analytics-test-subscribers.json"
    saved.write_bytes(b"{not json")  # damaged (or its store unreachable)
    own_redis.restart(empty=True)
    refused = run_export(settings)
    assert "checkpoint" in refused.read_errors and not refused.delivered
    assert DeliveryState(own_redis.client(), TEST_PREFIX).get(f"{__name__}.collect") is None
    report(
        "Redis back empty and the checkpoint unreadable",
        f"checked: the run refused to start the subscriber afresh: {refused.read_errors['checkpoint'][:100]}",
    )
