"""gunicorn's settings for this service: gunicorn reads ``./gunicorn.conf.py``
by itself (its ``--config`` default), so ``scripts/run``, the tests' servers
and a plain ``gunicorn wsgi:app`` run from the checkout all get them; a
command-line flag still wins over a line here.

Requests gunicorn refuses before the app sees them (a request line over
``limit_request_line`` bytes, a header over ``limit_request_field_size``,
more than ``limit_request_fields`` headers, a malformed request) are
answered, like every error of the service, in WordPress's REST shape
``{"code": "http_<status>", "message", "data": {"status"}}`` as JSON instead of
gunicorn's HTML page: ``gunicorn.util.write_error``, which every worker calls
for them, is replaced below (gunicorn is pinned below 28 in requirements.txt;
tests/test_bad_input.py checks the JSON answers through a real gunicorn).

Workers and threads:

- ``gthread`` workers, two processes per core (``WEB_WORKERS``): a download is
  CPU-bound Python, and the threads of one process share one GIL, so processes
  use the cores (BENCHMARKS.md, "8 concurrent downloads").
- 32 threads per process (``WEB_THREADS``): a thread is held by every response
  in flight, including one to a client that stopped reading, until
  ``ANALYTICS_SEND_TIMEOUT`` drops it (60 s). With 2 threads, 8 such clients
  took every thread of a 4-process server; with 32, 50 of them leave a warm
  day's time to first byte well under a second (BENCHMARKS.md, "Load"). Idle
  threads cost little memory: the pool starts them as requests need them.
- At most ``MALLOC_ARENAS`` (2) glibc malloc arenas per process: by default
  glibc gives each thread that meets a busy arena one of its own, up to 8 per
  core, and each keeps the memory its thread freed. Under bench/load's mixed
  load a worker's arenas held 95 MB of which 16-22 MB was in use; with 2, its
  peak RSS went from 184 to 133 MB at the same throughput (bench/FINDINGS.md,
  "Load"). Set in the master before it forks, so every worker inherits it; a
  ``MALLOC_ARENA_MAX`` in the environment (glibc's own setting) wins.

One connection per thread, no keep-alive: a gthread worker accepts
connections until it holds ``worker_connections`` (gunicorn's default 1000)
and queues what its threads cannot take yet, and the workers accept unevenly
(of 50 stalled readers, 23-26 landed on one of 4 workers). A request accepted
by a worker whose threads are all held by stalled readers waited for
``ANALYTICS_SEND_TIMEOUT`` (58.5 s once, bench/FINDINGS.md, "Load") while
other workers had threads free. With ``worker_connections`` equal to
``threads`` a worker takes a connection only with a thread free for it (every
connection it holds, queued, in flight or kept alive, counts); a full worker
stops accepting and the connection waits in the listen queue for one that is
not full. A kept-alive connection would count without using a thread, so
gunicorn gives none (``max_keepalived`` = ``worker_connections`` -
``threads`` = 0) and every response ends with ``Connection: close``;
``keepalive = 0`` states it, so gunicorn's start-up warning "No keepalived
connections can be handled" is not printed (it still is when a
``--keep-alive`` flag asks for what this setup refuses). The cost is one TCP
connect per request (bench/FINDINGS.md, "Load"). ``worker_connections``
follows the ``threads`` in effect, set from the ``on_starting`` and
``on_reload`` hooks, so a ``--threads`` flag or ``WEB_THREADS`` keeps the
rule; a ``--worker-connections`` flag is overridden.

``child_exit``: a web worker that exits leaves its Prometheus sample files in
``PROMETHEUS_MULTIPROC_DIR``; prometheus_client's ``mark_process_dead`` drops
its live gauges so ``/metrics`` stops summing them (its counters stay counted).
"""

from __future__ import annotations

import ctypes
import json
import os
import typing as t

import gunicorn.util  # type: ignore[import-untyped]  # gunicorn ships no type hints

#: The longest request line gunicorn allows at all (its ``MAX_REQUEST_LINE``): a
#: query string of about 8,000 bytes (a 4,301-digit chunk_size, many repeated
#: parameters) still reaches the app and gets its JSON answer.
limit_request_line = 8190
#: gunicorn's defaults, stated: one header line at most 8,190 bytes, at most 100 headers.
limit_request_field_size = 8190
limit_request_fields = 100

#: How much of gunicorn's own description of a refused request the JSON message keeps.
_MESSAGE_CHARS = 300


def _write_json_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``write_error`` with a WordPress-shaped JSON body (the
    same ``http_<status>`` code as ``wpjson._errors`` gives Werkzeug's errors)."""
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps(
        {"code": f"http_{status_int}", "message": message[:_MESSAGE_CHARS], "data": {"status": status_int}}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json; charset=UTF-8\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn.util.write_error = _write_json_error


#: glibc malloc arenas a process may have (``_limit_malloc_arenas``).
MALLOC_ARENAS = 2
#: ``mallopt``'s parameter number for it (glibc's ``malloc.h``: ``M_ARENA_MAX``).
_M_ARENA_MAX = -8


def _limit_malloc_arenas(arenas: int) -> None:
    """At most ``arenas`` glibc malloc arenas in this process and the workers
    it forks, unless ``MALLOC_ARENA_MAX`` chose already; nothing where the C
    library is not glibc (musl, macOS), which has no per-thread arenas."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    if hasattr(libc, "gnu_get_libc_version"):
        libc.mallopt(_M_ARENA_MAX, arenas)


_limit_malloc_arenas(MALLOC_ARENAS)

worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS") or 2 * (os.cpu_count() or 1))
threads = int(os.environ.get("WEB_THREADS") or 32)
worker_connections = threads  # what gunicorn --print-config shows; the hooks below make it hold
keepalive = 0


def _one_connection_per_thread(server: t.Any) -> None:
    """A worker accepts at most ``threads`` connections (the docstring above)."""
    server.cfg.set("worker_connections", server.cfg.threads)


def on_starting(server: t.Any) -> None:
    _one_connection_per_thread(server)


def on_reload(server: t.Any) -> None:
    _one_connection_per_thread(server)


def child_exit(server: t.Any, worker: t.Any) -> None:
    import metrics

    metrics.mark_process_dead(worker.pid)
