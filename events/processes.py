"""Worker processes for CPU-bound work on whole objects (summaries, CSV rows).

Parsing and flattening events is Python that holds the GIL, so a second core
is used only through another process. Processes come from a ``forkserver``
(a clean single-threaded process started once, with the modules of
``PRELOAD`` imported), never forked from the caller, which may be a threaded
gunicorn worker holding locks. As with any such pool, the main module is
imported by the workers and must be import-safe (gunicorn's, rq's, flask's
and pytest's are).

Two kinds of pool use this module: the catalog makes one for a batch of
summaries and shuts it down after (``executor``); a download hands objects to
the process's long-lived pool (``shared``), made at its first use and kept,
so a request does not pay the start of processes.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
import typing as t

from events.sources import open_source

if t.TYPE_CHECKING:
    from config import SourceLocation
    from events.sources import Source

logger = logging.getLogger(__name__)

#: Modules imported once by the forkserver, so each worker starts with them (the first
#: ``set_forkserver_preload`` before the server starts is the one that counts: one list for every pool).
PRELOAD = ["events.catalog", "events.csv_objects"]

#: Per worker process: the source it opened, by location (an S3 client is costly to build).
_sources: dict[SourceLocation, Source] = {}

_shared: concurrent.futures.ProcessPoolExecutor | None = None
_owner: tuple[int, dict[str, str]] = (0, {})  # the pid and environment that made ``_shared``
_shared_lock = threading.Lock()


#: Seconds between a worker's checks that the process which made its pool is alive.
OWNER_CHECK_SECONDS = 1.0


#: glibc's malloc in every pool's worker (a download's and the catalog's; ``mallopt``): freed memory
#: up to this many bytes stays in the heap for the next object instead of going back to the kernel.
#: A worker makes and frees an object's rows and Arrow arrays (tens of MB) per object; under glibc's
#: defaults (blocks over a threshold that adapts to the last big block freed get pages of their own,
#: and the heap is trimmed past twice that threshold) every object's memory came as new pages:
#: 55,000-110,000 page faults per worker per Parquet download of the bench day, and about 0.5 s more
#: CPU for the download (workers and web process: 8.98 s against 8.52 s; bench/FINDINGS.md, issue
#: 14's last round). These are the values glibc's own thresholds reach after a 32 MiB block is
#: freed, set from the start: a worker keeps at most 64 MiB it does not use (after a download of the
#: bench day its resident memory is 162-166 MB, not 150-154).
WORKER_TRIM_THRESHOLD = 64 * 1024 * 1024
#: Blocks of more bytes than this get pages of their own (``mmap``), given back when freed: glibc's
#: largest threshold on 64-bit (half its heap size); setting one threshold stops both adapting.
WORKER_MMAP_THRESHOLD = 32 * 1024 * 1024
#: ``mallopt``'s parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Environment variables through which an operator sets glibc malloc's thresholds: when one is set,
#: ``keep_freed_memory`` leaves the allocator as the operator set it.
MALLOC_SETTINGS = ("GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Tell this process's C allocator to keep freed memory for reuse
    (``WORKER_TRIM_THRESHOLD``, ``WORKER_MMAP_THRESHOLD``; glibc's
    ``mallopt``, mallopt(3)). False when an operator set the allocator
    (``MALLOC_SETTINGS``), where the C library has no ``mallopt`` (macOS) or
    where it refuses a value (musl ignores both): its settings stay."""
    import ctypes

    if any(name in os.environ for name in MALLOC_SETTINGS):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mmap_set = mallopt(_M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD)
    trim_set = mallopt(_M_TRIM_THRESHOLD, WORKER_TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)


def _adopt_environment(environ: dict[str, str], owner: int) -> None:
    """Run a pool's worker with the environment of the process that made the
    pool (credentials, endpoints), not that of the forkserver's start; and end
    it when that process (pid ``owner``) is gone without shutting the pool
    down (SIGKILL: gunicorn's worker time-out, the OOM killer), since a worker
    waits on the pool's queue forever and keeps the resource tracker alive.
    Its allocator keeps freed memory (``keep_freed_memory``)."""
    os.environ.clear()
    os.environ.update(environ)
    _sources.clear()
    keep_freed_memory()
    threading.Thread(target=_end_with, args=(owner,), name="pool-owner-watch", daemon=True).start()


def _end_with(owner: int) -> None:
    while True:
        time.sleep(OWNER_CHECK_SECONDS)
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(0)  # no teardown: the owner that would read our results is gone
        except PermissionError:
            continue  # pid taken by another user's process: not ours, but alive is the safe reading


def worker_source(location: SourceLocation) -> Source:
    """In a worker: the source of ``location``, opened once per process."""
    source = _sources.get(location)
    if source is None:
        source = _sources[location] = open_source(location)
    return source


def executor(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A new pool of ``workers`` processes from the forkserver, with this
    process's environment; the caller shuts it down. OSError when processes
    cannot be made."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_adopt_environment, initargs=(dict(os.environ), os.getpid())
    )


def cores() -> int:
    """CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shared() -> concurrent.futures.ProcessPoolExecutor | None:
    """This process's long-lived pool, one process per core, made at the
    first call (its processes start as work is submitted); None on a single
    core or when no pool can be made (then the caller works alone). A pool
    made before a fork (gunicorn's ``preload_app``) is not the child's: the
    child makes its own; one made under another environment (its workers
    adopted the old one: credentials, endpoints) is replaced."""
    global _shared, _owner
    workers = cores()
    if workers < 2:
        return None
    environ = dict(os.environ)
    with _shared_lock:
        if _shared is not None and _owner == (os.getpid(), environ):
            return _shared
        if _shared is not None and _owner[0] == os.getpid():
            _shared.shutdown(wait=False)  # its queued work still runs; its processes then exit
        try:
            _shared, _owner = executor(workers), (os.getpid(), environ)
            atexit.register(_shared.shutdown, wait=False, cancel_futures=True)  # before the interpreter's teardown
        except OSError as exc:
            logger.warning("no process pool, working in this process: %s", exc)
            _shared = None
        return _shared


def discard(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Forget ``pool`` as the shared one (it broke: a worker was killed), so
    that the next ``shared`` makes another; its processes are let go."""
    global _shared
    with _shared_lock:
        if _shared is pool:
            _shared = None
    pool.shutdown(wait=False, cancel_futures=True)
