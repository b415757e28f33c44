"""A send and a read time-out per connection: a client that stops reading,
or stops sending its request half-way, is dropped.

gunicorn's threaded worker writes a response with a blocking ``sendall`` on
the client's socket, so a client that sends a request and never reads fills
the socket buffers and holds a worker thread for as long as it likes (issue
12: eight such clients made 25 of 36 other requests time out).
``SendTimeout`` wraps the WSGI app and gives the connection's socket -- the
one gunicorn writes to, ``environ["gunicorn.socket"]`` -- a time-out when the
request starts: a ``sendall`` that cannot hand one chunk to the kernel within
``ANALYTICS_SEND_TIMEOUT`` seconds (Python's socket time-out bounds the whole
call) raises ``TimeoutError``, gunicorn ends the response, and the thread is
free again. A client that reads slowly but steadily is never dropped: each
chunk has the whole time-out.

When that happens this module logs one warning line (gunicorn's own line for
it, a traceback, is filtered out) and shuts the socket down, so gunicorn's
graceful close -- run on the worker's main thread, where it waits up to two
seconds for a peer that will never speak -- returns at once.

The read time-out (``ANALYTICS_REQUEST_TIMEOUT``) is the same idea for the
other direction: gunicorn's threaded worker hands a connection to a thread as
soon as its first bytes arrive and then reads the request line and headers
with a blocking ``recv``, so a client that sends ``GET / HTTP/1.1`` and a
header, then goes quiet, held a thread for good (review finding 3: two such
sockets took both threads of a worker for over 100 s; gunicorn has no
setting for it, its ``timeout`` is the worker's heartbeat). ``SendTimeout``
therefore gives the socket a time-out each time gunicorn makes it blocking
for a request (its ``TConn.init``, wrapped here), and keeps it while the app
reads the body, until the response starts, when the send time-out takes
over. A ``recv`` that gets nothing for that long raises ``TimeoutError``: one
warning line, the socket is shut down (so gunicorn's graceful close does not
wait on its main thread for a silent peer) and gunicorn closes the
connection without an answer (in a body read by the app, the error is
werkzeug's ``ClientDisconnected``, a 400 nobody reads, not a 500 with a
traceback). The time-out is per ``recv``: a client that
trickles a byte now and then is not caught; a buffering proxy in front is
the answer to that (README, "Security and reliability").

Under any other server (the Flask test client, ``flask run``) there is no
``gunicorn.socket`` and nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import typing as t

from werkzeug.exceptions import ClientDisconnected

if t.TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

#: What gunicorn's threaded worker logs, with a traceback, for a socket error
#: other than a reset or a broken pipe (gunicorn/workers/gthread.py).
_GUNICORN_SOCKET_ERROR = "Socket error processing request."


class SendTimeout:
    """WSGI middleware: ``SendTimeout(app, seconds, read_seconds)``; both > 0
    (``read_seconds`` None: no read time-out)."""

    def __init__(self, app: WSGIApplication, seconds: float, read_seconds: float | None = None) -> None:
        for value in (seconds, read_seconds):
            if value is not None and value <= 0:
                raise ValueError(f"a time-out must be positive, not {value!r}")
        self.app = app
        self.seconds = seconds
        self.read_seconds = read_seconds
        _install_gunicorn_filter()
        if read_seconds is not None:
            _install_read_timeout(read_seconds)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if not isinstance(sock, socket.socket):
            return self.app(environ, start_response)
        # The body, if any, is read before the response starts: under the read time-out.
        sock.settimeout(self.read_seconds if self.read_seconds is not None else self.seconds)

        def starting(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> t.Callable[[bytes], object]:
            _in_app.reading_body = False
            sock.settimeout(self.seconds)
            return start_response(status, headers, exc_info)

        _in_app.reading_body = True
        try:
            body = self.app(environ, starting)
        finally:
            _in_app.reading_body = False
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            return body  # keep gunicorn's sendfile path; the time-out still holds
        return _Watched(body, sock, environ, self.seconds)


class _Watched:
    """The app's response iterable; on ``close`` after a send time-out, says so once and shuts the socket."""

    def __init__(self, body: t.Iterable[bytes], sock: socket.socket, environ: WSGIEnvironment, seconds: float) -> None:
        self.body = body
        self.sock = sock
        self.environ = environ
        self.seconds = seconds

    def __iter__(self) -> t.Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        # gunicorn closes the iterable in a ``finally`` while the write's
        # exception propagates: that exception is the one in flight here.
        timed_out = isinstance(sys.exc_info()[1], TimeoutError)
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if timed_out:
                logger.warning(
                    "dropped %s: it read nothing for %s s of %s %s (ANALYTICS_SEND_TIMEOUT)",
                    self.environ.get("REMOTE_ADDR", "a client"),
                    self.seconds,
                    self.environ.get("REQUEST_METHOD", ""),
                    self.environ.get("PATH_INFO", ""),
                )
                with contextlib.suppress(OSError):  # the peer may be gone already
                    self.sock.shutdown(socket.SHUT_RDWR)


class _DropSendTimeoutTracebacks(logging.Filter):
    """gunicorn logs a dropped stalled client as an error with a traceback; we said it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.msg == _GUNICORN_SOCKET_ERROR and isinstance(exc, TimeoutError))


def _install_gunicorn_filter() -> None:
    log = logging.getLogger("gunicorn.error")
    if not any(isinstance(f, _DropSendTimeoutTracebacks) for f in log.filters):
        log.addFilter(_DropSendTimeoutTracebacks())


#: Whether this thread is in the app before its response started (reading a body, if any).
_in_app = threading.local()
#: The read time-out in seconds of this process's gunicorn connections (``_install_read_timeout``).
_read_timeout: list[float] = []


def _install_read_timeout(seconds: float) -> None:
    """Make gunicorn's threaded worker read each request under a ``seconds``
    time-out (see the module docstring); nothing when this process runs no
    gthread worker (the test client, another worker class)."""
    gthread = sys.modules.get("gunicorn.workers.gthread")
    unreader = sys.modules.get("gunicorn.http.unreader")
    if gthread is None or unreader is None:
        return
    _read_timeout[:] = [seconds]
    if getattr(gthread.TConn.init, "_analytics_read_timeout", False):
        return
    original_init = gthread.TConn.init
    original_chunk = unreader.SocketUnreader.chunk

    def init(conn: t.Any) -> None:
        # gunicorn calls this after making the socket blocking (no time-out) for every request.
        original_init(conn)
        conn.sock.settimeout(_read_timeout[0])

    def chunk(self: t.Any, size_hint: int | None = None) -> bytes:
        try:
            return t.cast("bytes", original_chunk(self, size_hint))
        except TimeoutError:
            peer: object = "a client"
            with contextlib.suppress(OSError):
                peer = self.sock.getpeername()[0]
            logger.warning(
                "closed the connection of %s: it sent nothing for %s s of its request (ANALYTICS_REQUEST_TIMEOUT)",
                peer,
                _read_timeout[0],
            )
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            if getattr(_in_app, "reading_body", False):
                # Inside the app: werkzeug's "the client went away" (a 400 nobody reads), not a 500 with a traceback.
                raise ClientDisconnected("the request body stopped coming (ANALYTICS_REQUEST_TIMEOUT)") from None
            raise

    init._analytics_read_timeout = True  # type: ignore[attr-defined]
    gthread.TConn.init = init
    unreader.SocketUnreader.chunk = chunk
