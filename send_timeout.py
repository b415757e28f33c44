"""A send time-out per connection: a client that stops reading is dropped.

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

Under any other server (the Flask test client, ``flask run``) there is no
``gunicorn.socket`` and nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import typing as t

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

#: What gunicorn's threaded worker logs, with a traceback, for a socket error
#: other than a reset or a broken pipe (gunicorn/workers/gthread.py).
_GUNICORN_SOCKET_ERROR = "Socket error processing request."


class SendTimeout:
    """WSGI middleware: ``SendTimeout(app, seconds)``; ``seconds`` > 0."""

    def __init__(self, app: WSGIApplication, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"a send time-out must be positive, not {seconds!r}")
        self.app = app
        self.seconds = seconds
        _install_gunicorn_filter()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if not isinstance(sock, socket.socket):
            return self.app(environ, start_response)
        sock.settimeout(self.seconds)
        body = self.app(environ, start_response)
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
