"""One object's rows of a site's day, written in this process or in a worker.

A CSV or Parquet download spends most of its time in Python per event
(parsing, rows), so a big day's objects are handed, whole, to the process
pool (``processes.shared``) and what they become comes back in key order
(``in_order``, used by ``wpjson._stream``). The same function writes an
object in the download's own thread (a small day, a single core, an object
too large to hold), so both give the same bytes: ``object_csv`` is the one
way an object becomes CSV rows, ``parquet.object_cells`` the one way it
becomes Parquet cells.

What a worker returns is its object's rows in parts (CSV: ``csv_text.Part``,
the bytes and where each row ends; Parquet: Arrow arrays of cells), and the
read error that stopped it, if any, as a value: the download raises it where
it would have been raised reading the object itself, after the rows before it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import logging
import threading
import typing as t

from events import processes
from events.catalog import EventFilter, line_selector
from events.csv_rows import row_maker
from events.csv_text import CsvText, Part
from events.object_events import object_events, object_lines
from events.sources import SourceError

if t.TYPE_CHECKING:
    from config import SourceLocation
    from events.fields import FieldTree
    from events.sources import ObjectInfo, Source

logger = logging.getLogger(__name__)

T = t.TypeVar("T")


class ObjectTask(t.NamedTuple):
    """One object of a site's day to write: its key, the catalog's packed
    selection (``DaySummary.selectors``: bitmap, lines, ETag) or None (parse
    and filter), the version summarized (``strict``: only that one is read),
    the day's bounds in ms, the blog id and the events wanted (``event_type``,
    ``hour``, ``from``/``to``)."""

    key: str
    selection: tuple[bytes, int, str] | None
    version: str | None
    strict: bool
    start: int
    end: int
    blog_id: int
    wanted: EventFilter = EventFilter()


class Rows(t.NamedTuple):
    """What to write of each event: the ``fields`` (columns), ``safe``
    (``csv_safe``: formulas neutralised), ``tree`` (``_fields``; None: the
    whole event), ``missing`` (the cell of a field an event lacks: CSV's
    empty text, Parquet's None) and ``part_rows``, the most rows of a part
    (CSV: the response's chunk size; Parquet: a row group)."""

    fields: tuple[str, ...]
    safe: bool = False
    tree: FieldTree | None = None
    missing: str | None = ""
    part_rows: int | None = None


@contextlib.contextmanager
def object_rows(source: Source, task: ObjectTask, rows: Rows) -> t.Iterator[t.Iterator[list[t.Any]]]:
    """While ``task``'s object is open in ``source``: the cells
    under ``rows.fields`` of each of its events (``object_events``: filtered,
    cut down to ``rows.tree``), made by code compiled per shape of event
    (``csv_rows.row_maker``). A read error (SourceError; CorruptObjectError at
    a gzip stream's damage) is raised by the rows' iterator where it happens."""
    selection = None
    if task.selection is not None:
        packed, lines, etag = task.selection
        selection = (line_selector(packed, lines), etag)
    row = row_maker(rows.fields, rows.missing).row
    with object_lines(source, task.key, selection, task.version, task.strict) as (lines_of, selector):
        events = object_events(lines_of, task.key, selector, task.start, task.end, task.blog_id, task.wanted, rows.tree)
        yield map(row, events)


def object_csv(source: Source, task: ObjectTask, rows: Rows) -> t.Iterator[Part]:
    """The CSV rows (no header) of ``task``'s events, in parts
    (``CsvText.parts``). A read error is raised after the part holding the
    rows read before it."""
    writer = CsvText(rows.fields, rows.safe)
    with object_rows(source, task, rows) as cells:
        yield from writer.parts(cells, count=rows.part_rows)


def in_worker(
    write: t.Callable[[Source, ObjectTask, Rows], t.Iterator[T]], location: SourceLocation, task: ObjectTask, rows: Rows
) -> tuple[list[T], SourceError | None]:
    """In a pool's worker: every part ``write`` makes of ``task`` from the
    worker's own source of ``location`` (one part: a whole object goes back at
    once, parts of a chunk's rows would only be more to pickle), and the read
    error that ended it (None: none). Other exceptions (a bug) propagate to
    the caller's future."""
    parts: list[T] = []
    try:
        for part in write(processes.worker_source(location), task, rows._replace(part_rows=None)):
            parts.append(part)
    except SourceError as exc:
        return parts, exc
    return parts, None


#: A day of fewer stored bytes than this is written in the download's thread: handing objects over
#: costs more than a second core gains on it (bench/FINDINGS.md, "CSV objects in worker processes").
POOLED_DAY_BYTES = 8 * 1024 * 1024
#: An object of more bytes than this (``in_order``'s size: stored, or its site's day's events as text,
#: whichever is more) is written in the download's thread, part by part: a worker returns an object's
#: rows whole, and memory must not hold several such at once.
POOLED_OBJECT_BYTES = 16 * 1024 * 1024
#: Bytes (``in_order``'s sizes) of the objects handed to the pool by all of a process's downloads at
#: once, at most (``budget``).
POOLED_BYTES_IN_FLIGHT = 64 * 1024 * 1024


def choose_pool(objects: t.Sequence[ObjectInfo]) -> concurrent.futures.Executor | None:
    """The pool to hand a day of ``objects`` to (``processes.shared``), or
    None: a small day, one core, or no pool."""
    if sum(info.size for info in objects) < POOLED_DAY_BYTES:
        return None
    return processes.shared()


#: ``in_order``'s item: an object's key, its parts, and the read error that ended them (None: none).
Written = tuple[str, t.Iterable[T], SourceError | None]


class _Budget:
    """Bytes of the objects this process's downloads have handed to the
    pool and not taken back yet (``in_order``'s sizes), at most ``limit``: a worker's result
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


#: A worker's answer: ``in_worker``'s parts and read error.
_Future = concurrent.futures.Future[tuple[list[T], SourceError | None]]


def in_order(
    source: Source,
    jobs: t.Sequence[tuple[int, ObjectTask]],
    rows: Rows,
    pool: concurrent.futures.Executor | None,
    write: t.Callable[[Source, ObjectTask, Rows], t.Iterator[T]],
) -> t.Iterator[Written[T]]:
    """Each object's ``(key, parts, read error or None)``, in the order of
    ``jobs`` (``(size, task)``: the bytes its rows will hold, at least its
    stored size and its site's day's events as JSON text, ``GroupDetail.size``,
    since a gzip object's text is many times its stored size), its parts made by ``write`` (``object_csv``, or
    ``parquet.object_cells``: a module-level function, which pickles). With a
    ``pool``, up to one object per worker plus one is being written there
    (``in_worker``) while the caller takes the earliest. An object is written
    lazily here instead (its parts raise its read error) when it is over
    ``POOLED_OBJECT_BYTES``, when the process's ``budget`` has no room, or
    once the pool broke (a worker killed). Closing the iterator cancels what
    has not started; what has finishes in its worker and is dropped (at most
    one object per worker)."""
    workers = processes.cores() if pool is not None else 0
    ahead: collections.deque[tuple[ObjectTask, _Future[T] | None, int]] = collections.deque()
    queue = iter(jobs)

    def fill() -> None:
        nonlocal pool
        while len(ahead) <= workers:
            job = next(queue, None)
            if job is None:
                return
            size, task = job
            future, held = None, 0
            if pool is not None and size <= POOLED_OBJECT_BYTES and budget.take(size):
                held = size
                try:
                    future = pool.submit(in_worker, write, source.location, task, rows)
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
            yield task.key, write(source, task, rows), None
    finally:
        for _task, future, held in ahead:
            if future is not None:
                future.cancel()
            budget.give(held)


def _broken(pool: concurrent.futures.Executor, exc: BaseException) -> None:
    """No more pool for this download (the rest is written here) nor for the next (``processes.discard``)."""
    logger.warning("writing rows in this process, the process pool failed: %s", exc)
    if isinstance(pool, concurrent.futures.ProcessPoolExecutor):
        processes.discard(pool)
