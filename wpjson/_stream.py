"""Streaming writers of a day's events: JSON array, CSV, NDJSON, optionally gzip.

One module (over 400 lines) because the four formats' writers share the one hot
path that reads a day (the catalog's raw copy, parse-and-filter, the piece cap).

The body is a generator, so memory holds one piece at a time whatever the
size of the day, and each piece is written and flushed on its own. A piece
ends at ``chunk_size`` records or ``PIECE_BYTES`` (256 KiB), whichever comes
first, so a worker's many threads each hold a few hundred KB, not
``chunk_size`` large events (issue 12's load). Closing the generator (the client went away) closes the object being
read, through the ``open_lines`` context manager, and reads nothing more.

``day_body`` (the route's) serves JSON and NDJSON without parsing where the
catalog knows which lines of an object hold the day's events of the site
(``DaySummary.selector``): those lines, stripped, are the raw events, so a
chunk is only bytes, moved by C-level ``itertools`` from the read to the join.
Other objects are parsed and filtered. CSV and Parquet must parse to
flatten, but parse only the selected lines; each object's rows are made by
``csv_objects`` (CSV text, or Parquet's Arrow cells: ``parquet.object_cells``),
in the process pool's workers for a big day, and come back in key order
(``_object_parts``), ``_fields`` and event filters applied there.

JSON and NDJSON with field selection (``_fields``) or event filters
(``event_type``, ``hour``, ``from``/``to``) take the general path: the day's
wanted events as ``(raw, data)`` pairs (``_wanted_events``), then written. The
plain JSON and NDJSON copy above is untouched by them. With ``_fields`` and no
filter, the catalog's selected lines are read only as far as the fields go
(``_day_cut``, events/projection.py), not parsed whole and then cut.

With ``strict`` (a 206 answer, whose bytes must be those the client already
has the beginning of), every object is read only in the version the catalog
summarized: one replaced since aborts the stream instead of being parsed.

A read failure after the first byte cannot become an error status any more:
it is logged with the object's key and the generator raises ``StreamAborted``,
so the server drops the connection without the final chunk (curl reports
"transfer closed with outstanding read data remaining") and a JSON body lacks
its closing ``]``.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import logging
import operator
import typing as t
import zlib

import orjson

from events import parquet
from events.catalog import EventFilter
from events.csv_objects import ObjectTask, Rows, choose_pool, in_order, object_csv
from events.csv_text import CsvText as _Csv
from events.csv_text import Part
from events.fields import FieldTree, select, select_columns
from events.layout import day_bounds_ms
from events.object_events import cut_events, object_lines, wanted_by
from events.object_events import events_of as _events_of
from events.object_events import strip_line as _strip
from events.records import event_in, iter_events, loads
from events.sources import CorruptObjectError, SourceError

if t.TYPE_CHECKING:
    import datetime as dt

    from events.catalog import DaySummary
    from events.sources import Source

logger = logging.getLogger(__name__)

T = t.TypeVar("T")

#: zlib level of on-the-fly gzip: fast, most of the gain on JSON text.
GZIP_LEVEL = 1
FORMATS = ("json", "csv", "ndjson", "parquet")
CONTENT_TYPES = {
    "json": "application/json; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8",
    "ndjson": "application/x-ndjson; charset=UTF-8",
    "parquet": parquet.CONTENT_TYPE,
}
#: The most bytes one response piece holds (before gzip): a piece ends at
#: ``chunk_size`` records or at this many bytes, whichever comes first, so a
#: worker's threads each hold about this much, not ``chunk_size`` large events
#: (3,000 demo events are some 6 MB of JSON; issue 12's load, BENCHMARKS.md).
#: A single record longer than this goes out alone.
PIECE_BYTES = 256 * 1024
#: One separator byte per event (the comma or newline joining it), for ``_Capped``.
_ONES = itertools.repeat(1)
#: UTF-8's byte order mark: ``csv_bom=1`` starts a CSV body with it, so Excel reads the text as UTF-8.
BOM = b"\xef\xbb\xbf"


class Shape(t.NamedTuple):
    """What a body holds beyond the day and site: its format, the ``_fields``
    tree (None: whole events), the events wanted, a BOM before a CSV, and
    whether CSV cells are neutralised (``csv_safe``: ``neutralise_formula``)."""

    fmt: str
    fields: FieldTree | None = None
    wanted: EventFilter = EventFilter()
    csv_bom: bool = False
    csv_safe: bool = False

    @property
    def plain(self) -> bool:
        """Whole events, every one of the day: the catalog's raw copy serves JSON and NDJSON."""
        return self.fields is None and self.wanted.everything


class StreamAborted(Exception):
    """Reading an object failed after the response had started."""

    def __init__(self, key: str, cause: Exception) -> None:
        super().__init__(f"reading {key} failed mid-stream: {cause}")
        self.key = key


@contextlib.contextmanager
def _reading(key: str) -> t.Iterator[None]:
    """Around the reading of one object: a corrupt object ends at its damage
    (as the catalog counts); another read failure raises StreamAborted."""
    try:
        yield
    except CorruptObjectError as exc:
        logger.warning("streamed %s only up to its damage: %s", key, exc)
    except SourceError as exc:
        raise StreamAborted(key, exc) from exc


def _object_lines(
    source: Source, summary: DaySummary, key: str, strict: bool = False
) -> t.ContextManager[tuple[t.Iterator[bytes], bytes | None]]:
    """``object_events.object_lines`` of ``key`` with the summary's selection and version."""
    return object_lines(source, key, summary.selection(key), summary.versions.get(key), strict)


def _raw_chunks(
    source: Source,
    summary: DaySummary,
    day: dt.date,
    blog_id: int,
    size: int,
    strict: bool = False,
    cap: int = PIECE_BYTES,
) -> t.Iterator[list[bytes]]:
    """The day's raw events in lists of at most ``size`` (``_capped``: at most
    ``cap`` bytes with a separator each), across objects."""
    start, end = day_bounds_ms(day)
    pieces = _Capped(size, cap)
    for info in summary.objects:
        with _reading(info.key), _object_lines(source, summary, info.key, strict) as (lines, selector):
            yield from pieces.feed(_events_of(lines, info.key, selector, start, end, blog_id, raw=True))
    if pieces.pending:
        yield pieces.pending


class _Capped:
    """Cuts a stream of event texts into lists of at most ``size`` events
    whose lengths, plus one byte each (the comma or newline that joins them),
    add up to at most ``cap`` bytes; an event longer than ``cap`` goes alone.

    Events are taken in runs (``itertools.islice``) sized from their average
    length so far, and a run is measured and cut with ``itertools.accumulate``
    and ``bisect``: the raw copy keeps to C-level steps, none in Python per
    event, and a run holds about what still fits, not ``size`` events."""

    def __init__(self, size: int, cap: int) -> None:
        self.size = size
        self.cap = cap
        self.pending: list[bytes] = []
        self.held = 0  # bytes of ``pending``, a separator each
        self.average = max(1, cap // 16)  # bytes per event; until measured, runs of 16

    def feed(self, events: t.Iterator[bytes]) -> t.Iterator[list[bytes]]:
        """Yields each list as it fills (a new one starts after); what is
        left when ``events`` ends stays in ``pending`` for the next object.
        A CorruptObjectError from ``events`` is raised once every event read
        before it is in a list (README: a damaged object's events up to the
        damage are served)."""
        size, cap = self.size, self.cap
        run: list[bytes] = []
        damage: CorruptObjectError | None = None
        while True:
            if not run:
                if damage is not None:
                    raise damage  # after the events before it went into pieces: ``_reading`` ends the object
                wanted = min(size - len(self.pending), max(1, (cap - self.held) // self.average))
                try:
                    # extend, not list(): the events taken before the damage stay in ``run`` (CPython's
                    # list.extend appends one by one; test_endpoint's damaged-object test holds it to that).
                    run.extend(itertools.islice(events, wanted))
                except CorruptObjectError as exc:
                    damage = exc
                if not run:
                    if damage is not None:
                        raise damage
                    return
            ends = list(itertools.accumulate(map(operator.add, map(len, run), _ONES), initial=self.held))
            self.average = max(1, (ends[-1] - self.held) // len(run))
            fit = bisect.bisect_right(ends, cap) - 1  # how many of ``run`` stay within cap
            if fit == 0 and not self.pending:
                fit = 1  # one event longer than cap: alone in its piece
            if fit == len(run):
                self.pending += run
                self.held = ends[-1]
                run = []
                if len(self.pending) < size and self.held < cap:
                    continue
            else:
                self.pending += run[:fit]
                del run[:fit]
            yield self.pending
            self.pending = []
            self.held = 0


def _json_pieces(chunks: t.Iterator[list[bytes]]) -> t.Iterator[bytes]:
    """Chunks joined with commas (a leading one after the first chunk). Each
    chunk's list is emptied once joined, so a piece's events are not held
    twice while it goes out: memory is about one chunk, not three."""
    first = True
    for chunk in chunks:
        if not first:
            chunk.insert(0, b"")
        first = False
        body = b",".join(chunk)
        chunk.clear()
        yield body


def _ndjson_pieces(chunks: t.Iterator[list[bytes]]) -> t.Iterator[bytes]:
    """Chunks as lines, each ending in a newline; lists emptied as in ``_json_pieces``."""
    for chunk in chunks:
        chunk.append(b"")
        body = b"\n".join(chunk)
        chunk.clear()
        yield body


def _wanted_events(
    source: Source, summary: DaySummary, day: dt.date, blog_id: int, wanted: EventFilter, strict: bool
) -> t.Iterator[tuple[bytes, dict[str, t.Any]]]:
    """``(raw text, parsed data)`` of each of the day's events of the site
    that ``wanted`` keeps (``object_events.wanted_by``: as the catalog counts them)."""
    start, end = day_bounds_ms(day)
    keeps = None if wanted.everything else wanted_by(wanted, start)
    for info in summary.objects:
        with _reading(info.key), _object_lines(source, summary, info.key, strict) as (lines, selector):
            if selector is None:
                pairs: t.Iterator[tuple[bytes, dict[str, t.Any]]] = (
                    (event.raw, event.data)
                    for event in iter_events(lines, info.key)
                    if event_in(event.data, start, end, blog_id)
                )
            else:
                # filter(None): a line blanked in place (same ETag) must not become an empty event.
                pairs = ((raw, loads(raw)) for raw in filter(None, map(_strip, itertools.compress(lines, selector))))
            for raw, data in pairs:
                if keeps is None or keeps(data):
                    yield raw, data


def _dumps(value: t.Any) -> bytes:
    """Compact JSON of a cut-down event; a string holding a lone surrogate
    (which orjson refuses) is written with the standard library's escapes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _shaped_chunks(
    source: Source,
    summary: DaySummary,
    day: dt.date,
    blog_id: int,
    size: int,
    shape: Shape,
    strict: bool,
    cap: int = PIECE_BYTES,
) -> t.Iterator[list[bytes]]:
    """As ``_raw_chunks`` (at most ``size`` events, ``cap`` bytes), for the
    events ``shape`` wants, each cut down to its ``_fields``."""
    tree = shape.fields
    texts: t.Iterator[bytes]
    if tree is not None and shape.wanted.everything:
        texts = map(_dumps, _day_cut(source, summary, day, blog_id, tree, strict))
    else:
        wanted = _wanted_events(source, summary, day, blog_id, shape.wanted, strict)
        texts = (raw if tree is None else _dumps(select(data, tree)) for raw, data in wanted)
    pending: list[bytes] = []
    held = 0
    for text in texts:
        held += len(text) + 1
        if held > cap and pending:
            yield pending
            pending = []
            held = len(text) + 1
        pending.append(text)
        if len(pending) == size:
            yield pending
            pending = []
            held = 0
    if pending:
        yield pending


def _day_cut(
    source: Source, summary: DaySummary, day: dt.date, blog_id: int, tree: FieldTree, strict: bool
) -> t.Iterator[dict[str, t.Any]]:
    """Each of the day's events of the site cut down to ``tree``
    (``object_events.cut_events``)."""
    start, end = day_bounds_ms(day)
    for info in summary.objects:
        with _reading(info.key), _object_lines(source, summary, info.key, strict) as (lines, selector):
            yield from cut_events(lines, info.key, selector, start, end, blog_id, tree)


class _Cut:
    """Cuts CSV text into a response's pieces: each at most ``size`` rows and
    ``cap`` bytes, as many rows as fit (a row longer than ``cap`` alone). A
    piece comes out as soon as it is decided (full, or the next row does not
    fit), so rows written before a read failure are sent as they would be row
    by row. The cuts depend only on the rows' lengths, not on where the text
    was written (here or in a worker): a gzip-coded body, flushed per piece,
    has the same bytes either way (its ``ETag`` promises it)."""

    def __init__(self, size: int, cap: int) -> None:
        self.size = size
        self.cap = cap
        self.pending: list[memoryview] = []
        self.count = 0  # rows of ``pending``
        self.held = 0  # bytes of ``pending``

    def feed(self, part: Part) -> t.Iterator[bytes]:
        """The pieces ``part`` completes; its last rows may stay for the next part."""
        data, ends = memoryview(part.data), part.ends
        size, cap = self.size, self.cap
        rows = len(ends)
        first = offset = 0  # the first row not taken, where it starts in ``data``
        while first < rows:
            # Rows first..last-1 fit: their ends are at most ``offset + cap - held``.
            last = bisect.bisect_right(ends, offset + cap - self.held, first, min(rows, first + size - self.count))
            if last == first:
                if self.count:
                    yield self.take()
                    continue
                last = first + 1  # a row longer than cap, alone
            stop = ends[last - 1]
            self.pending.append(data[offset:stop])
            self.held += stop - offset
            self.count += last - first
            first, offset = last, stop
            if first < rows or self.count == size or self.held >= cap:
                yield self.take()

    def take(self) -> bytes:
        piece = b"".join(self.pending)
        self.pending = []
        self.count = self.held = 0
        return piece


def _cut_parts(parts: t.Iterator[Part], size: int, cap: int) -> t.Iterator[bytes]:
    """``parts`` cut into pieces of at most ``size`` rows and ``cap`` bytes (``_Cut``)."""
    cut = _Cut(size, cap)
    with contextlib.closing(parts):  # type: ignore[type-var]
        for part in parts:
            yield from cut.feed(part)
    if cut.count:
        yield cut.take()


def _object_parts(
    source: Source,
    summary: DaySummary,
    day: dt.date,
    blog_id: int,
    shape: Shape,
    rows: Rows,
    strict: bool,
    write: t.Callable[[Source, ObjectTask, Rows], t.Iterator[T]],
) -> t.Iterator[T]:
    """What ``write`` makes of each object of the day (``csv_objects.object_csv``:
    CSV text; ``parquet.object_cells``: Parquet cells) for the events ``shape``
    wants, object after object; a big day's objects are written by the
    process pool, in order (``csv_objects.in_order``). A read error is raised,
    or logged for a damaged object, as ``_reading`` does for every format,
    after the rows before it."""
    start, end = day_bounds_ms(day)
    selectors, versions, details = summary.selectors, summary.versions, summary.details
    jobs = [
        (
            max(info.size, detail.size if (detail := details.get(info.key)) is not None else 0),
            ObjectTask(
                info.key, selectors.get(info.key), versions.get(info.key), strict, start, end, blog_id, shape.wanted
            ),
        )
        for info in summary.objects
    ]
    written = in_order(source, jobs, rows, choose_pool(summary.objects), write)
    with contextlib.closing(written):  # type: ignore[type-var]
        for key, parts, error in written:
            with _reading(key):
                yield from parts
                if error is not None:
                    raise error


def _split(pieces: t.Iterator[bytes], cap: int = PIECE_BYTES) -> t.Iterator[bytes]:
    """``pieces`` cut into pieces of at most ``cap`` bytes (a Parquet row
    group is written whole; its bytes go out ``cap`` at a time)."""
    with contextlib.closing(pieces):  # type: ignore[type-var]
        for piece in pieces:
            for offset in range(0, len(piece), cap):
                yield piece[offset : offset + cap]


def _nothing() -> t.Iterator[bytes]:
    """No piece, as a generator (``day_body`` closes its pieces)."""
    yield from ()


def columns(summary: DaySummary, shape: Shape) -> list[str]:
    """The CSV header (and Parquet columns) of a body of ``shape``: the
    site's columns, only those ``_fields`` keeps."""
    if shape.fields is None:
        return list(summary.columns)
    return select_columns(summary.columns, shape.fields)


def day_body(
    source: Source,
    summary: DaySummary,
    day: dt.date,
    blog_id: int,
    shape: Shape | str,
    chunk_size: int,
    compress: bool,
    strict: bool = False,
) -> t.Iterator[bytes]:
    """The response body of one site's day, one piece per chunk of
    ``chunk_size`` events, each flushed (gzip: ``Z_SYNC_FLUSH``) so the client
    gets it at once. Nothing is read before the first piece (the opening).
    ``shape`` is a ``Shape``, or a format name for whole events of the whole day."""
    if isinstance(shape, str):
        shape = Shape(shape)
    fmt = shape.fmt
    gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None

    def out(data: bytes) -> bytes:
        if gz is None:
            return data
        return gz.compress(data) + gz.flush(zlib.Z_SYNC_FLUSH)

    pieces: t.Iterator[bytes]
    closing = b""
    if fmt == "parquet":
        names = columns(summary, shape)
        group = max(chunk_size, parquet.MIN_ROW_GROUP_ROWS)
        cells = Rows(tuple(names), tree=shape.fields, missing=None, part_rows=group)
        arrays = _object_parts(source, summary, day, blog_id, shape, cells, strict, parquet.object_cells)
        opening = b""
        pieces = _split(parquet.file_pieces(arrays, names, summary.number_kinds(), group))
    elif fmt == "csv":
        writer = _Csv(columns(summary, shape), shape.csv_safe)
        opening = (BOM if shape.csv_bom and writer.fields else b"") + writer.opening()
        if not writer.fields:
            # no column (``_fields`` naming none): an empty body, not a blank line per event
            pieces = _nothing()
        else:
            text = Rows(tuple(writer.fields), shape.csv_safe, shape.fields, part_rows=chunk_size)
            parts = _object_parts(source, summary, day, blog_id, shape, text, strict, object_csv)
            pieces = _cut_parts(parts, chunk_size, PIECE_BYTES)
    else:
        if shape.plain:
            chunks = _raw_chunks(source, summary, day, blog_id, chunk_size, strict)
        else:
            chunks = _shaped_chunks(source, summary, day, blog_id, chunk_size, shape, strict)
        opening, closing = (b"[", b"]") if fmt == "json" else (b"", b"")
        pieces = _json_pieces(chunks) if fmt == "json" else _ndjson_pieces(chunks)
    with contextlib.closing(pieces):  # type: ignore[type-var]
        piece = out(opening)
        if piece:
            yield piece
        try:
            for piece in pieces:
                data, piece = out(piece), b""  # with gzip, drop the plain piece before the next is built
                yield data
        except StreamAborted as exc:
            logger.error("events stream aborted, the client got an incomplete body: %s", exc)
            raise
    if gz is not None:
        closing = gz.compress(closing) + gz.flush(zlib.Z_FINISH)
    if closing:
        yield closing
