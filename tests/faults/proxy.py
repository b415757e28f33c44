"""A small fault-injecting HTTP proxy to put in front of the S3 server (moto).

Every request is forwarded to the upstream unless a rule added with
``fail(fault, method, match, times)`` takes it; a rule applies to the next
``times`` requests whose method is ``method`` and whose path contains
``match``. The faults are what an object store does on a bad day:

- ``"500"``: ``500 InternalError`` (S3's XML error body);
- ``"503"``: ``503 SlowDown`` ("Please reduce your request rate.");
- ``"timeout"``: the request is read and never answered (the connection
  stays open until the client gives up);
- ``"reset"``: the connection is reset (TCP RST) without an answer;
- ``"truncate"``: the upstream's answer, headers with the full
  ``Content-Length``, then half of the body and a reset.

``injected`` lists what was done, as ``(fault, method, path)``.
"""

from __future__ import annotations

import dataclasses
import http.client
import http.server
import socket
import struct
import threading
import typing as t
import urllib.parse

Fault = t.Literal["500", "503", "timeout", "reset", "truncate"]
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
#: Headers of one hop only (RFC 9110 7.6.1), not relayed.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
#: Seconds a ``timeout`` fault holds a request at most (the client gives up long before).
_HOLD = 60.0


@dataclasses.dataclass
class _Rule:
    fault: Fault
    method: str
    match: str
    times: int


class FaultProxy:
    """``FaultProxy("http://127.0.0.1:5000")`` then ``start()``; ``url`` is where to point clients."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[_Rule] = []
        self.injected: list[tuple[str, str, str]] = []
        self.forwarded = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def fail(self, fault: Fault, method: str = "GET", match: str = "", times: int = 1) -> None:
        """The next ``times`` ``method`` requests whose path contains ``match`` get ``fault``."""
        with self._lock:
            self.rules.append(_Rule(fault, method, match, times))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and rule.match in urllib.parse.unquote(path) and rule.times > 0:
                    rule.times -= 1
                    self.injected.append((rule.fault, method, urllib.parse.unquote(path)))
                    return rule.fault
            self.forwarded += 1
            return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3 uses it

    def log_message(self, format: str, *args: t.Any) -> None:
        pass

    @property
    def proxy(self) -> FaultProxy:
        return t.cast(FaultProxy, self.server.proxy)  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = self.proxy._take(self.command, self.path)
        if fault in _ERRORS:
            status, code, message = _ERRORS[fault]
            xml = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)
            return
        if fault == "timeout":
            self.proxy._release.wait(_HOLD)
            self.close_connection = True
            return
        if fault == "reset":
            self._reset()
            return
        status, headers, data = self._forward(body)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if fault == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._reset()
            return
        if self.command != "HEAD":
            self.wfile.write(data)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.proxy.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            relayed = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            if self.command != "HEAD" and not any(k.lower() == "content-length" for k, _ in relayed):
                relayed.append(("Content-Length", str(len(data))))
            return response.status, relayed, data
        finally:
            conn.close()

    def _reset(self) -> None:
        """Close with an RST (linger 0), not a FIN: what a crashed load balancer does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
