"""Clients that send part of a request and go quiet (review finding 3): with
``ANALYTICS_REQUEST_TIMEOUT`` gunicorn closes their connections and their
threads serve others again (before, each held a thread for as long as it
kept the connection open).

A worker with two threads and two such clients makes it plain: while both
threads wait for the rest of those requests nobody else is served, so a
third client is answered only because they were closed.
"""

from __future__ import annotations

import socket
import time
import typing as t
from pathlib import Path

from tests.faults.conftest import report
from tests.test_endpoint_e2e import curl, start_gunicorn, stop

if t.TYPE_CHECKING:
    import redis as redis_lib

REQUEST_TIMEOUT = 2
#: The request line and one header, without the blank line that ends the headers.
PARTIAL = b"GET /wp-json/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server ends the connection (EOF or a reset) before ``deadline`` (monotonic seconds)."""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def test_partial_requests_are_closed_after_the_request_timeout(redis: redis_lib.Redis, tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "ANALYTICS_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
    base, proc = start_gunicorn(log, env, threads=2)
    port = int(base.rsplit(":", 1)[1])
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:
        for sock in stalled:
            sock.sendall(PARTIAL)
        started = time.monotonic()
        # --max-time: generous; without the time-out this client is never answered.
        probe = curl(f"{base}/wp-json/", "--max-time", "40", tmp=tmp_path)
        waited = time.monotonic() - started
        assert probe.exit_code == 0 and probe.status == 200, "answered once the stalled clients were closed"
        assert all(_closed_by_server(sock, time.monotonic() + 30) for sock in stalled)
        text = log.read_text()
        assert text.count("ANALYTICS_REQUEST_TIMEOUT") == 2, text[-2000:]
        assert "Traceback" not in text and "Socket error processing request" not in text
    finally:
        for sock in stalled:
            sock.close()
        stop(proc)
    report(
        f"two clients sending only {PARTIAL!r}, a worker with two threads, ANALYTICS_REQUEST_TIMEOUT={REQUEST_TIMEOUT}",
        f"checked: a third client waited {waited:.1f} s, then was answered ({probe.status})",
        "checked: both partial connections closed by the server, one log line each, no traceback",
    )


def test_a_body_that_stops_coming_is_closed_after_the_request_timeout(redis: redis_lib.Redis, tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "ANALYTICS_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
    base, proc = start_gunicorn(log, env, threads=1)
    port = int(base.rsplit(":", 1)[1])
    head = (
        "POST /wp-login.php HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    stalled = socket.create_connection(("127.0.0.1", port))
    try:
        stalled.sendall(head.encode() + b"log=adm")  # 7 of the 100 bytes announced
        probe = curl(f"{base}/wp-json/", "--max-time", "40", tmp=tmp_path)  # waits for the only thread
        assert (probe.exit_code, probe.status) == (0, 200)
        assert _closed_by_server(stalled, time.monotonic() + 30)
        text = log.read_text()
        assert text.count("ANALYTICS_REQUEST_TIMEOUT") == 1, text[-2000:]
        assert "Traceback" not in text
    finally:
        stalled.close()
        stop(proc)
    report(
        f"a sign-in body cut after 7 of 100 bytes, one thread, ANALYTICS_REQUEST_TIMEOUT={REQUEST_TIMEOUT}",
        "checked: another client answered, the stalled connection closed, one log line, no traceback",
    )
