"""One object's CSV rows of a site's day, written in this process or in a worker.

A CSV download spends most of its time in Python per event (parsing, rows),
so a big day's objects are handed, whole, to the process pool
(``processes.shared``) and their text comes back in key order
(``wpjson._stream``). The same function writes an object in the download's
own thread (a small day, a single core, an object too large to hold), so
both give the same bytes: ``object_csv`` is the one way an object becomes rows.

What a worker returns is its object's text in parts (``csv_text.Part``: the
bytes and where each row ends), and the read error that stopped it, if any,
as a value: the download raises it where it would have been raised reading
the object itself, after the rows before it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import typing as t

from events import processes
from events.catalog import line_selector
from events.csv_rows import row_maker
from events.csv_text import CsvText, Part
from events.object_events import events_of, object_lines
from events.sources import SourceError

if t.TYPE_CHECKING:
    from config import SourceLocation
    from events.sources import ObjectInfo, Source

logger = logging.getLogger(__name__)

#: Cuts an event before its row is made (``_fields``' ``select`` with its tree); module-level, so it pickles.
Cut = t.Callable[[dict[str, t.Any]], dict[str, t.Any]]


class ObjectTask(t.NamedTuple):
    """One object of a site's day to write as CSV: its key, the catalog's
    packed selection (``DaySummary.selectors``: bitmap, lines, ETag) or None
    (parse and filter), the version summarized (``strict``: only that one is
    read), the day's bounds in ms and the blog id."""

    key: str
    selection: tuple[bytes, int, str] | None
    version: str | None
    strict: bool
    start: int
    end: int
    blog_id: int


class Rows(t.NamedTuple):
    """What to write of each event: the CSV ``fields``, ``safe`` (``csv_safe``:
    formulas neutralised), ``cut`` (None: the whole event), and ``part_rows``,
    the most rows of a part (the response's chunk size: ``CsvText.parts``)."""

    fields: tuple[str, ...]
    safe: bool = False
    cut: Cut | None = None
    part_rows: int | None = None


def object_csv(source: Source, task: ObjectTask, rows: Rows) -> t.Iterator[Part]:
    """The CSV rows (no header) of ``task``'s events, in parts
    (``CsvText.parts``), read from ``source`` as ``object_events`` reads an
    object. A read error (SourceError; CorruptObjectError at a gzip stream's
    damage) is raised after the part holding the rows read before it."""
    selection = None
    if task.selection is not None:
        packed, lines, etag = task.selection
        selection = (line_selector(packed, lines), etag)
    writer = CsvText(rows.fields, rows.safe)
    row = row_maker(rows.fields).row
    with object_lines(source, task.key, selection, task.version, task.strict) as (lines_of, selector):
        events = events_of(lines_of, task.key, selector, task.start, task.end, task.blog_id, raw=False)
        if rows.cut is not None:
            events = map(rows.cut, events)
        yield from writer.parts(map(row, events), count=rows.part_rows)


def object_csv_in_worker(
    location: SourceLocation, task: ObjectTask, rows: Rows
) -> tuple[list[Part], SourceError | None]:
    """In a pool's worker: ``object_csv`` of ``task`` from the worker's own
    source of ``location``, every part, and the read error that ended it (None:
    none). Other exceptions (a bug) propagate to the caller's future."""
    parts: list[Part] = []
    try:
        # Whole objects go back at once: parts of a chunk's rows would only be more to pickle.
        for part in object_csv(processes.worker_source(location), task, rows._replace(part_rows=None)):
            parts.append(part)
    except SourceError as exc:
        return parts, exc
    return parts, None


#: A day of fewer stored bytes than this is written in the download's thread: handing objects over
#: costs more than a second core gains on it (bench/FINDINGS.md, "CSV objects in worker processes").
POOLED_DAY_BYTES = 8 * 1024 * 1024
#: An object of more stored bytes than this is written in the download's thread, part by part: a
#: worker returns an object's text whole, and memory must not hold several such texts at once.
POOLED_OBJECT_BYTES = 16 * 1024 * 1024
#: Stored bytes of the objects handed to the pool by all of a process's downloads at once, at most (``budget``).
POOLED_BYTES_IN_FLIGHT = 64 * 1024 * 1024


def choose_pool(objects: t.Sequence[ObjectInfo]) -> concurrent.futures.Executor | None:
    """The pool to hand a day of ``objects`` to (``processes.shared``), or
    None: a small day, one core, or no pool."""
    if sum(info.size for info in objects) < POOLED_DAY_BYTES:
        return None
    return processes.shared()


Written = tuple[str, t.Iterable[Part], SourceError | None]


class _Budget:
    """Stored bytes of the objects this process's downloads have handed to
    the pool and not taken back yet, at most ``limit``: a worker's result
    waits in this process until its download takes it, so the sum bounds
    the memory they hold however many downloads run. When the pool has no
    room left, a download writes its next object itself (the pool is busy
    with others' objects: the cores are in use anyway)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size


budget = _Budget(POOLED_BYTES_IN_FLIGHT)

_Result = concurrent.futures.Future[tuple[list[Part], SourceError | None]]


def in_order(
    source: Source,
    jobs: t.Sequence[tuple[ObjectInfo, ObjectTask]],
    rows: Rows,
    pool: concurrent.futures.Executor | None,
) -> t.Iterator[Written]:
    """Each object's ``(key, parts, read error or None)``, in the order of
    ``jobs``. With a ``pool``, up to one object per worker plus one is being
    written there while the caller takes the earliest. An object is written
    lazily here instead (its parts raise its read error) when it is over
    ``POOLED_OBJECT_BYTES``, when the process's ``budget`` has no room, or
    once the pool broke (a worker killed). Closing the iterator cancels what
    has not started; what has finishes in its worker and is dropped (at most
    one object per worker)."""
    workers = processes.cores() if pool is not None else 0
    ahead: collections.deque[tuple[ObjectTask, _Result | None, int]] = collections.deque()
    queue = iter(jobs)

    def fill() -> None:
        nonlocal pool
        while len(ahead) <= workers:
            job = next(queue, None)
            if job is None:
                return
            info, task = job
            future, held = None, 0
            if pool is not None and info.size <= POOLED_OBJECT_BYTES and budget.take(info.size):
                held = info.size
                try:
                    future = pool.submit(object_csv_in_worker, source.location, task, rows)
                except (concurrent.futures.process.BrokenProcessPool, RuntimeError) as exc:
                    _broken(pool, exc)
                    pool = None
            ahead.append((task, future, held))

    try:
        fill()
        while ahead:
            task, future, held = ahead[0]
            if future is not None and pool is not None:
                try:
                    parts, error = future.result()
                except concurrent.futures.process.BrokenProcessPool as exc:
                    _broken(pool, exc)
                    pool = None
                else:
                    ahead.popleft()
                    budget.give(held)
                    fill()
                    yield task.key, parts, error
                    continue
            ahead.popleft()
            budget.give(held)
            fill()
            yield task.key, object_csv(source, task, rows), None
    finally:
        for _task, future, held in ahead:
            if future is not None:
                future.cancel()
            budget.give(held)


def _broken(pool: concurrent.futures.Executor, exc: BaseException) -> None:
    """No more pool for this download (the rest is written here) nor for the next (``processes.discard``)."""
    logger.warning("writing CSV in this process, the process pool failed: %s", exc)
    if isinstance(pool, concurrent.futures.ProcessPoolExecutor):
        processes.discard(pool)
