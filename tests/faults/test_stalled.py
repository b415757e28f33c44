"""A client that sends a request and never reads: with ``ANALYTICS_SEND_TIMEOUT``
the server drops it and its thread serves others again (before, it held the
thread as long as it kept the connection open).

gunicorn with a single thread makes it plain: while the stalled client holds
that thread nobody else is served, so a second download completes only
because the first was dropped. With two workers, a worker whose threads are
all held by such clients accepts nothing more, so another client is served
by a free thread at once instead of waiting for the time-out.
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import time
import typing as t
from pathlib import Path

import pytest

from accounts import Accounts
from tests.conftest import TEST_PREFIX
from tests.faults.conftest import report
from tests.integrations_fixtures.objects import event_lines
from tests.test_endpoint_e2e import SECRET, curl, start_gunicorn, stop

if t.TYPE_CHECKING:
    import redis as redis_lib

DAY = dt.date(2026, 11, 20)
SEND_TIMEOUT = 2


def _write_day(root: Path, events: int, day: dt.date = DAY) -> None:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    folder = root / day.strftime("%Y/%m/%d") / "12"
    folder.mkdir(parents=True)
    lines = event_lines("big", events, ts_ms=start + 12 * 3_600_000, pad=1000)
    (folder / "analytics-1-big").write_bytes(b"".join(line + b"\n" for line in lines))


@pytest.fixture
def one_thread_server(redis: redis_lib.Redis, tmp_path: Path) -> t.Iterator[tuple[str, str, Path]]:
    _write_day(tmp_path / "events", 20_000)  # ~25 MB of JSON: far more than the socket buffers hold
    accounts = Accounts(redis, TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "ANALYTICS_SEND_TIMEOUT": str(SEND_TIMEOUT)}
    base, proc = start_gunicorn(tmp_path / "gunicorn.log", env, threads=1)
    try:
        yield base, f"admin:{password}", tmp_path / "gunicorn.log"
    finally:
        stop(proc)


def test_a_client_that_never_reads_is_dropped_after_the_send_timeout(
    one_thread_server: tuple[str, str, Path], tmp_path: Path
) -> None:
    base, login, log = one_thread_server
    url = f"{base}/wp-json/analytics/v1/events/{DAY}"
    assert curl(url + "?format=ndjson", "-u", login, tmp=tmp_path).exit_code == 0  # warm: summarized

    port = int(base.rsplit(":", 1)[1])
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    stalled.connect(("127.0.0.1", port))
    auth = base64.b64encode(login.encode()).decode()
    path = f"/wp-json/analytics/v1/events/{DAY}"
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\r\n"
    stalled.sendall(request.encode())
    try:
        started = time.monotonic()
        probe = curl(url + "?format=csv", "-u", login, "--max-time", "50", tmp=tmp_path)  # waits for the only thread
        waited = time.monotonic() - started
        assert (probe.exit_code, probe.status) == (0, 200), "served once the stalled client was dropped"
        assert probe.body.count(b"\r\n") == 20_001
        text = log.read_text()
        assert "it read nothing for 2 s" in text and "ANALYTICS_SEND_TIMEOUT" in text
        assert "Socket error processing request" not in text and "Traceback" not in text
        stalled.settimeout(5)
        received = 0
        while True:  # what the kernel had buffered, then the end of the dropped connection
            try:
                data = stalled.recv(1 << 20)
            except ConnectionResetError:
                break
            if not data:
                break
            received += len(data)
        assert received < 25_000_000, "the stalled client never got the whole body"
    finally:
        stalled.close()
    report(
        f"a client that never reads, on a server with one thread and ANALYTICS_SEND_TIMEOUT={SEND_TIMEOUT}",
        f"checked: another download waited {waited:.1f} s for the thread, then completed (20000 rows)",
        f"checked: one log line for the drop, no traceback; the stalled client got {received} bytes, then the end",
    )


PROBE_DAY = dt.date(2026, 11, 21)


@pytest.fixture
def two_worker_server(redis: redis_lib.Redis, tmp_path: Path) -> t.Iterator[tuple[str, str]]:
    """gunicorn with 2 workers of 2 threads each, ``gunicorn.conf.py``'s connection rule, a 60 s send time-out."""
    _write_day(tmp_path / "events", 20_000)
    _write_day(tmp_path / "events", 200, PROBE_DAY)
    accounts = Accounts(redis, TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "ANALYTICS_SEND_TIMEOUT": "60"}
    base, proc = start_gunicorn(tmp_path / "gunicorn.log", env, threads=2, workers=2)
    try:
        yield base, f"admin:{password}"
    finally:
        stop(proc)


def test_stalled_readers_on_one_worker_leave_the_next_request_to_a_worker_with_a_free_thread(
    two_worker_server: tuple[str, str], tmp_path: Path
) -> None:
    """Three clients that never read hold 3 of the 4 threads, so one worker has
    both of its threads held whichever way they were accepted. A worker takes
    a connection only with a thread free for it (``worker_connections`` =
    ``threads``), so every next request goes to the thread left. Before, the
    full worker accepted too and queued the request behind its stalled
    readers until ``ANALYTICS_SEND_TIMEOUT`` (60 s): the 20 s deadline below
    caught that in about half of the probes."""
    base, login = two_worker_server
    url = f"{base}/wp-json/analytics/v1/events"
    for day in (DAY, PROBE_DAY):  # warm: summarized, so a probe answers at once
        assert curl(f"{url}/{day}?format=ndjson", "-u", login, tmp=tmp_path).exit_code == 0

    port = int(base.rsplit(":", 1)[1])
    auth = base64.b64encode(login.encode()).decode()
    path = f"/wp-json/analytics/v1/events/{DAY}"
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\r\n"
    stalled = []
    try:
        for _ in range(3):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            client.connect(("127.0.0.1", port))
            client.sendall(request.encode())
            stalled.append(client)
        # Each one's response has begun, so a thread holds it (before, one queued behind a full worker's
        # stalled readers timed out here).
        for client in stalled:
            client.settimeout(30)
            assert client.recv(1, socket.MSG_PEEK) == b"H"
        waits, connection = [], set()
        for _ in range(10):
            started = time.monotonic()
            probe = curl(f"{url}/{PROBE_DAY}?format=csv", "-u", login, "--max-time", "20", tmp=tmp_path)
            waits.append(time.monotonic() - started)
            assert (probe.exit_code, probe.status) == (0, 200), f"probe {len(waits)} waited {waits[-1]:.1f} s"
            assert probe.body.count(b"\r\n") == 201
            connection.add(probe.headers["connection"])
    finally:
        for client in stalled:
            client.close()
    assert connection == {"close"}  # no keep-alive: a kept-alive connection would take a thread's place
    report(
        "3 clients that never read, on 2 workers x 2 threads (ANALYTICS_SEND_TIMEOUT=60)",
        f"checked: 10 downloads in turn each completed (200 rows), the longest in {max(waits):.1f} s",
    )
