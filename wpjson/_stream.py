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
Other objects are parsed and filtered. CSV must parse to flatten, but parses
only the selected lines, and writes each row at once instead of holding a
chunk of parsed events.

Field selection (``_fields``), event filters (``event_type``, ``hour``,
``from``/``to``) and Parquet take the general path: the day's wanted events as
``(raw, data)`` pairs (``_wanted_events``), then written. The plain JSON and
NDJSON copy above is untouched by them. With ``_fields`` and no filter, the
catalog's selected lines are read only as far as the fields go
(``_day_cut``, wpjson/_projection.py), not parsed whole and then cut.

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
import csv
import io
import itertools
import json
import logging
import operator
import typing as t
import zlib

import orjson

from events.catalog import EventFilter
from events.csv_rows import row_maker
from events.layout import day_bounds_ms
from events.records import JSON_WHITESPACE, event_in, iter_events, loads, timestamp_ms
from events.sources import CorruptObjectError, ObjectChangedError, SourceError
from wpjson import _parquet
from wpjson._fields import FieldTree, select, select_columns
from wpjson._projection import projection

if t.TYPE_CHECKING:
    import datetime as dt

    from events.catalog import DaySummary
    from events.sources import Source

logger = logging.getLogger(__name__)

#: zlib level of on-the-fly gzip: fast, most of the gain on JSON text.
GZIP_LEVEL = 1
FORMATS = ("json", "csv", "ndjson", "parquet")
CONTENT_TYPES = {
    "json": "application/json; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8",
    "ndjson": "application/x-ndjson; charset=UTF-8",
    "parquet": _parquet.CONTENT_TYPE,
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


_strip = operator.methodcaller("strip", JSON_WHITESPACE)


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


@contextlib.contextmanager
def _object_lines(
    source: Source, summary: DaySummary, key: str, strict: bool = False
) -> t.Iterator[tuple[t.Iterator[bytes], bytes | None]]:
    """An object's lines and the catalog's selector of the site's day in them,
    or None: the selector is used only on the version it was computed from
    (``open_lines`` with its ETag); an object replaced since is parsed and
    filtered, so a cached line map never picks another site's lines.
    ``strict``: only the version summarized is read (ObjectChangedError, a
    SourceError, otherwise)."""
    selection = summary.selection(key)
    if strict:
        with source.open_lines(key, summary.versions.get(key)) as lines:
            yield lines, selection[0] if selection is not None else None
        return
    if selection is not None:
        selector, etag = selection
        try:
            opened = source.open_lines(key, etag)
        except ObjectChangedError as exc:
            logger.warning("parsing and filtering instead of using the summary: %s", exc)
        else:
            with opened as lines:
                yield lines, selector
            return
    with source.open_lines(key) as lines:
        yield lines, None


def _events_of(
    lines: t.Iterator[bytes], key: str, selector: bytes | None, start: int, end: int, blog_id: int, raw: bool
) -> t.Iterator[t.Any]:
    """The events of the site's day in one open object: raw texts (``raw``)
    or parsed dicts. With the catalog's ``selector`` only the selected lines
    are taken (and none parsed for ``raw``); otherwise every line is parsed
    and filtered."""
    if selector is None:
        return _parsed(lines, key, start, end, blog_id, raw)
    # filter(None): a line blanked in place (same ETag) must not become an empty event.
    selected = filter(None, map(_strip, itertools.compress(lines, selector)))
    return selected if raw else map(loads, selected)


def _parsed(lines: t.Iterator[bytes], key: str, start: int, end: int, blog_id: int, raw: bool) -> t.Iterator[t.Any]:
    for event in iter_events(lines, key):
        if event_in(event.data, start, end, blog_id):
            yield event.raw if raw else event.data


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
    that ``wanted`` keeps (``EventFilter.wants``: as the catalog counts them)."""
    start, end = day_bounds_ms(day)
    everything = wanted.everything
    wants = wanted.wants
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
                if not everything:
                    ts = data.get("event_timestamp")
                    if type(ts) is not int:
                        ts = timestamp_ms(data) or 0
                    if not wants(data.get("event_type"), (ts - start) // 60_000):
                        continue
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


def _cell_rows(
    source: Source,
    summary: DaySummary,
    day: dt.date,
    blog_id: int,
    shape: Shape,
    fields: list[str],
    strict: bool,
    missing: str | None = "",
) -> t.Iterator[list[t.Any]]:
    """The cells under ``fields`` of each event ``shape`` wants, cut down to
    its ``_fields``: ``[flatten(select(data, tree)).get(name, missing) for
    name in fields]``, by code compiled per shape of event (``csv_rows.row_maker``).
    The cut comes first: flattening whole events under the kept columns could
    differ (``_fields=a.0`` keeps one item of list ``a``, column ``a``)."""
    tree = shape.fields
    row = row_maker(fields, missing).row
    if tree is not None and shape.wanted.everything:
        return map(row, _day_cut(source, summary, day, blog_id, tree, strict))
    events: t.Iterator[dict[str, t.Any]]
    if shape.wanted.everything:
        events = _day_data(source, summary, day, blog_id, strict)
    else:
        events = (data for _raw, data in _wanted_events(source, summary, day, blog_id, shape.wanted, strict))
    if tree is None:
        return map(row, events)
    return (row(select(data, tree)) for data in events)


def _day_cut(
    source: Source, summary: DaySummary, day: dt.date, blog_id: int, tree: FieldTree, strict: bool
) -> t.Iterator[dict[str, t.Any]]:
    """Each of the day's events of the site cut down to ``tree``
    (``select(data, tree)`` of ``_day_data``'s events)."""
    start, end = day_bounds_ms(day)
    for info in summary.objects:
        with _reading(info.key), _object_lines(source, summary, info.key, strict) as (lines, selector):
            yield from _cut_events(lines, info.key, selector, start, end, blog_id, tree)


def _cut_events(
    lines: t.Iterator[bytes], key: str, selector: bytes | None, start: int, end: int, blog_id: int, tree: FieldTree
) -> t.Iterator[dict[str, t.Any]]:
    """``_events_of``'s parsed events of one open object, each cut down to
    ``tree``. The lines the catalog's ``selector`` picks are read only as far
    as ``tree`` goes (``_projection``); others are parsed whole to be filtered."""
    if selector is None:
        return (select(data, tree) for data in _parsed(lines, key, start, end, blog_id, raw=False))
    # filter(None): a line blanked in place (same ETag) must not become an empty event.
    return map(projection(tree).cut, filter(None, map(_strip, itertools.compress(lines, selector))))


def _day_data(
    source: Source, summary: DaySummary, day: dt.date, blog_id: int, strict: bool
) -> t.Iterator[dict[str, t.Any]]:
    """Each of the day's events of the site, parsed (``_wanted_events``'s data
    when it wants them all), without pairing each with its raw text."""
    start, end = day_bounds_ms(day)
    for info in summary.objects:
        with _reading(info.key), _object_lines(source, summary, info.key, strict) as (lines, selector):
            yield from _events_of(lines, info.key, selector, start, end, blog_id, raw=False)


def _csv_cut(rows: t.Iterator[t.Iterable[str]], size: int, cap: int, writer: _Csv) -> t.Iterator[bytes]:
    """The CSV text of ``rows`` (each a row's cells), in pieces of at most
    ``size`` rows and ``cap`` bytes (a row longer than ``cap`` alone). Rows
    are written as they come; the row that passes ``cap`` starts the next piece."""
    writerow = writer.writerow
    tell = writer.buffer.tell
    count = 0
    for cells in rows:
        before = tell()
        writerow(cells)
        count += 1
        if count > 1 and tell() > cap:
            yield writer.take(before)
            count = 1
        if count == size or tell() >= cap:
            yield writer.take()
            count = 0
    if count:
        yield writer.take()


def _csv_rows(
    source: Source, summary: DaySummary, day: dt.date, blog_id: int, fields: list[str], strict: bool = False
) -> t.Iterator[t.Iterable[str]]:
    """The cells of each of the day's events under ``fields``, as
    ``records.flatten`` gives them, by code compiled per shape of event
    (``csv_rows.row_maker``) as each event is read."""
    return map(row_maker(fields).row, _day_data(source, summary, day, blog_id, strict))


def _split(pieces: t.Iterator[bytes], cap: int = PIECE_BYTES) -> t.Iterator[bytes]:
    """``pieces`` cut into pieces of at most ``cap`` bytes (a Parquet row
    group is written whole; its bytes go out ``cap`` at a time)."""
    with contextlib.closing(pieces):  # type: ignore[type-var]
        for piece in pieces:
            for offset in range(0, len(piece), cap):
                yield piece[offset : offset + cap]


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
        rows = _cell_rows(source, summary, day, blog_id, shape, names, strict, missing=None)
        opening = b""
        pieces = _split(_parquet.pieces(rows, names, summary.number_kinds(), chunk_size))
    elif fmt == "csv":
        writer = _Csv(columns(summary, shape), shape.csv_safe)
        opening = (BOM if shape.csv_bom and writer.fields else b"") + writer.opening()
        cells: t.Iterator[t.Iterable[str]]
        if not writer.fields:
            cells = iter(())  # no column (``_fields`` naming none): an empty body, not a blank line per event
        elif shape.plain:
            cells = _csv_rows(source, summary, day, blog_id, writer.fields, strict)
        else:
            cells = _cell_rows(source, summary, day, blog_id, shape, writer.fields, strict)
        pieces = _csv_cut(cells, chunk_size, PIECE_BYTES, writer)
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


#: OWASP's CSV injection rule: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise_formula(cell: str) -> str:
    """``cell`` with a ``'`` before it when it starts like a formula (``=``,
    ``+``, ``-``, ``@``, tab, carriage return), as OWASP's "CSV Injection" page
    recommends; spreadsheets then show it as text. The price: a number such as
    ``-3`` is text too, and the ``'`` is in the file for any other reader."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


class _Csv:
    """RFC 4180 rows (CRLF, quotes doubled) through the C csv writer into a
    byte buffer (``buffer``: its ``tell`` is the piece's size in bytes) that
    ``take`` empties once per piece. The header row is written
    even when no row follows (an empty day); no columns at all (a site with
    no event summarized on any day, ``_fields`` naming none) means an empty body.

    Text is written as UTF-8. A lone surrogate (from a JSON string such as
    ``"Great news \\ud83d"``, which RFC 8259 allows) has no UTF-8 form: it is
    written as its JSON escape text (``\\ud83d``, Python's ``backslashreplace``),
    so the body stays valid UTF-8 for BI tools and keeps what the event said.

    ``safe``: every cell, header names too (they come from the events), goes
    through ``neutralise_formula`` before it is written."""

    def __init__(self, fields: t.Sequence[str], safe: bool = False) -> None:
        self.fields = list(fields)
        #: The encoded rows; ``tell`` is the exact byte count of the piece so far.
        self.buffer = io.BytesIO()
        text = io.TextIOWrapper(self.buffer, "utf-8", "backslashreplace", newline="", write_through=True)
        self.writer = csv.writer(text, lineterminator="\r\n")
        self._text = text  # the writer's file: kept so that collecting it does not close ``buffer``
        self._commas = len(self.fields) - 1
        self._safe = safe

    def writerow(self, cells: t.Iterable[str]) -> None:
        """One row. A row none of whose cells needs quotes (no comma, quote,
        CR, LF or NUL in it: the C writer's ``QUOTE_MINIMAL`` test; the usual
        case) is joined and encoded here, in two C calls instead of the
        writer's cell-by-cell pass; any other row goes through the C writer
        (tests/test_csv_rows.py compares the two on generated rows)."""
        if self._safe:
            cells = list(map(neutralise_formula, cells))
        elif type(cells) is not list:
            cells = list(cells)
        line = ",".join(cells)
        if (
            line
            and line.count(",") == self._commas
            and '"' not in line
            and "\r" not in line
            and "\n" not in line
            and "\x00" not in line
        ):
            self.buffer.write((line + "\r\n").encode("utf-8", "backslashreplace"))
        else:
            self.writer.writerow(cells)

    def take(self, upto: int | None = None) -> bytes:
        """The bytes written since the last ``take``, or their first ``upto``
        (the rest stays for the next)."""
        data = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        if upto is None:
            return data
        self.buffer.write(data[upto:])
        return data[:upto]

    def opening(self) -> bytes:
        if not self.fields:
            return b""
        self.writerow(self.fields)
        return self.take()
