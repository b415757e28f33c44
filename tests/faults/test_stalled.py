"""A client that sends a request and never reads: with ``ANALYTICS_SEND_TIMEOUT``
the server drops it and its thread serves others again (before, it held the
thread as long as it kept the connection open).

gunicorn with a single thread makes it plain: while the stalled client holds
that thread nobody else is served, so a second download completes only
because the first was dropped.
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


def _write_day(root: Path, events: int) -> None:
    start = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC).timestamp() * 1000)
    folder = root / DAY.strftime("%Y/%m/%d") / "12"
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
