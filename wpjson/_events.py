"""The events route: ``GET|HEAD /wp-json/{analytics,accelerate}/v1/events/<YYYY-MM-DD>``,
and its manifest, ``.../events/<YYYY-MM-DD>/manifest``.

Checks run in WordPress's order: authentication (in ``_server.serve``), the
site of the ``Host``, the arguments, then the capability. Everything that can
fail with a status (listing the store, Redis, summarizing objects not yet in
the catalog) happens before the first byte; the body is then a generator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import typing as t
import zlib

import orjson
from flask import Response, current_app, g, request

import config
from events import catalog, manifest, parquet
from events.catalog import EventFilter, GroupDetail
from events.fields import FieldTree, parse_fields, select
from events.sources import open_source
from wpjson import _ranges, _request, _stream
from wpjson._auth import current_user, require_capability, settings
from wpjson._errors import JSON_CONTENT_TYPE, RestError, invalid_params
from wpjson._php import is_numeric, to_float

if t.TYPE_CHECKING:
    from events.catalog import DaySummary
    from events.sources import Source
    from wpjson._php import QueryValue

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 3000
MAX_CHUNK_SIZE = 10000
#: Response header: objects read to compute this answer's total and columns (0 when the day was warm).
SUMMARIZED_HEADER = "X-Analytics-Objects-Summarized"
#: ``rest_is_boolean``'s strings (lower-cased) and ``rest_sanitize_boolean``'s reading of them.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
#: Media types an ``Accept`` header may choose, first = default for ``*/*``.
_NEGOTIABLE = {
    "application/json": "json",
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/vnd.apache.parquet": "parquet",
}
#: Changes whenever this service writes the same events as other bytes, or flushes its pieces elsewhere
#: (a gzip body's bytes depend on where: ``_coding``): part of every ``ETag``.
BODY_VERSION = 1
#: A body's length measured for a ``Range`` (``_measured_length``), by its ``ETag``, for LENGTH_TTL seconds.
LENGTH_KEY = "{prefix}wpjson:length:{etag}"
LENGTH_TTL = 86_400


def source() -> Source:
    """The app's event store, made once (an S3 client is costly to build, and thread-safe)."""
    extensions = current_app.extensions
    current = extensions.get("analytics_source")
    if current is None:
        current = extensions["analytics_source"] = open_source(settings().source)
    return t.cast("Source", current)


def site_blog_id() -> int:
    """The blog id of the request's ``Host``, or 404 ``analytics_unknown_site``."""
    blog_id = settings().blog_id_for_host(request.host)
    if blog_id is None:
        raise RestError(
            "analytics_unknown_site",
            f"No site is configured for the host {request.host.rsplit(':', 1)[0]!r}; "
            "ANALYTICS_SITES maps hosts to blog ids.",
            404,
        )
    return blog_id


class Arguments(t.NamedTuple):
    """A request's arguments, validated."""

    day: dt.date
    shape: _stream.Shape
    chunk_size: int


#: ``hour``, ``from`` and ``to`` (``HH:MM``, UTC; ``to`` may be ``24:00``).
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)


def _arguments(date: str) -> Arguments:
    """The day, shape and chunk size, or 400 ``rest_invalid_param`` naming every bad one.

    Query parameters are PHP's ``$_GET`` (the last of a repeated one). The
    schema is the original's: ``format`` a string of the enum, ``chunk_size``
    a ``number`` (``rest_validate_number_value_from_schema``: PHP
    ``is_numeric``, so ``5e3`` and ``1.5`` pass and ``abc``, ``0x10``, ``NaN``
    or an empty value do not), which the original then clamps:
    ``min( 10000, max( 1, $chunk_size ) )``, here truncated to a whole number.
    ``csv_safe`` is a ``boolean`` (``rest_is_boolean``); it or ``ANALYTICS_CSV_SAFE`` turns it on.
    This service's own (see ``_routes.EVENTS_ARGS``): ``event_type`` an array
    of strings (``wp_parse_list``: commas or whitespace, or ``event_type[]=``),
    ``hour`` an integer 0-23 (``rest_is_integer``), ``from`` and ``to``
    ``HH:MM`` (``to`` also ``24:00``) with ``from`` before ``to`` and not with
    ``hour``, ``csv_bom`` a boolean (``rest_is_boolean``). ``_fields`` is
    WordPress's global parameter (``_fields``).
    """
    problems: dict[str, tuple[str, str]] = {}
    day = None
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        problems["date"] = ("rest_invalid_date", f"date {date} is not a day of the calendar; expected YYYY-MM-DD.")
    query = _request.current().query
    fmt = query.get("format")
    if fmt is None:
        fmt = _negotiated_format()
    elif not isinstance(fmt, str):
        problems["format"] = ("rest_invalid_type", "format is not of type string.")
    elif fmt not in _stream.FORMATS:
        problems["format"] = ("rest_not_in_enum", "format is not one of json, csv, ndjson, and parquet.")
    elif fmt == "parquet" and _request.current().envelope:
        # An envelope is JSON text; a Parquet file is bytes that are not text.
        problems["format"] = ("rest_invalid_param", "format=parquet cannot be sent in an _envelope; drop _envelope.")
    chunk_size = DEFAULT_CHUNK_SIZE
    raw_chunk = query.get("chunk_size")
    if raw_chunk is not None:
        if isinstance(raw_chunk, str) and is_numeric(raw_chunk):
            chunk_size = clamp_chunk_size(to_float(raw_chunk))
        else:
            problems["chunk_size"] = ("rest_invalid_type", "chunk_size is not of type number.")
    csv_safe = settings().csv_safe
    raw_safe = query.get("csv_safe")
    if raw_safe is not None:
        if isinstance(raw_safe, str) and raw_safe.lower() in _BOOLEANS:
            csv_safe = csv_safe or _BOOLEANS[raw_safe.lower()]
        else:
            problems["csv_safe"] = ("rest_invalid_type", "csv_safe is not of type boolean.")
    wanted = _event_filter(query, problems)
    csv_bom = False
    raw_bom = query.get("csv_bom")
    if raw_bom is not None:
        if isinstance(raw_bom, str) and raw_bom.lower() in _BOOLEANS:
            csv_bom = _BOOLEANS[raw_bom.lower()]
        else:
            problems["csv_bom"] = ("rest_invalid_type", "csv_bom is not of type boolean.")
    if problems:
        raise invalid_params(problems)
    assert day is not None and isinstance(fmt, str)
    shape = _stream.Shape(
        fmt, parse_fields(query.get("_fields")), wanted, csv_bom and fmt == "csv", csv_safe and fmt == "csv"
    )
    return Arguments(day, shape, chunk_size)


def _event_filter(query: t.Mapping[str, QueryValue], problems: dict[str, tuple[str, str]]) -> EventFilter:
    """``event_type``, ``hour``, ``from`` and ``to`` as an EventFilter (problems noted in ``problems``)."""
    types: frozenset[str] | None = None
    raw_types = query.get("event_type")
    if isinstance(raw_types, str):
        types = frozenset(name for name in re.split(r"[\s,]+", raw_types) if name) or None
    elif raw_types is not None:
        if all(isinstance(item, str) for item in raw_types.values()):
            types = frozenset(t.cast("str", item) for item in raw_types.values() if item) or None
        else:
            problems["event_type"] = ("rest_invalid_type", "event_type[0] is not of type string.")
    start, end = 0, catalog.DAY_MINUTES
    raw_hour = query.get("hour")
    if raw_hour is not None:
        if not (isinstance(raw_hour, str) and is_numeric(raw_hour) and to_float(raw_hour).is_integer()):
            problems["hour"] = ("rest_invalid_type", "hour is not of type integer.")
        elif not 0 <= to_float(raw_hour) <= 23:
            problems["hour"] = ("rest_out_of_bounds", "hour must be between 0 (inclusive) and 23 (inclusive)")
        elif query.get("from") is not None or query.get("to") is not None:
            problems["hour"] = ("rest_invalid_param", "hour cannot be used with from or to; use one or the other.")
        else:
            start = int(to_float(raw_hour)) * 60
            end = start + 60
    for name in ("from", "to"):
        raw = query.get(name)
        if raw is None:
            continue
        found = _CLOCK.fullmatch(raw) if isinstance(raw, str) else None
        if found is not None:
            minute = int(found.group(1)) * 60 + int(found.group(2))
        elif name == "to" and raw == "24:00":
            minute = catalog.DAY_MINUTES
        else:
            problems[name] = ("rest_invalid_pattern", f"{name} does not match pattern HH:MM (00:00 to 23:59, UTC).")
            continue
        if name == "from":
            start = minute
        else:
            end = minute
    if "from" not in problems and "to" not in problems and "hour" not in problems and start >= end:
        problems["to"] = ("rest_invalid_param", "to must be later than from (the range is half-open, [from, to)).")
    return EventFilter(types, start, end)


def clamp_chunk_size(value: float) -> int:
    """The original's ``min( 10000, max( 1, $chunk_size ) )``, truncated to a
    whole number: ``0`` and ``-5`` give 1, ``20000`` and infinity 10000, ``1.5`` gives 1."""
    return int(min(float(MAX_CHUNK_SIZE), max(1.0, value)))


def _negotiated_format() -> str:
    """The format the ``Accept`` header prefers (``text/csv`` -> csv,
    ``application/x-ndjson`` -> ndjson), JSON when it names none of them."""
    best = request.accept_mimetypes.best_match(list(_NEGOTIABLE))
    return _NEGOTIABLE.get(best or "", "json")


def _wants_gzip() -> bool:
    """Gzip when accepted, except inside an ``_envelope`` (the envelope is plain JSON text)."""
    return request.accept_encodings["gzip"] > 0 and not _request.current().envelope


def _day(date: str) -> tuple[int, Arguments, DaySummary, list[str]]:
    """Site, arguments and the catalog's summary of the day (objects read for it listed)."""
    blog_id = site_blog_id()
    args = _arguments(date)
    require_capability(current_user(), blog_id)
    current = settings()
    redis = config.redis_connection(current.redis_url)
    read: list[str] = []
    summary = catalog.day_summary(
        source(),
        redis,
        current.redis_prefix,
        args.day,
        blog_id,
        current.late_hours,
        on_read=lambda info: read.append(info.key),
    )
    return blog_id, args, summary, read


def _etag(day: dt.date, blog_id: int, summary: DaySummary, args: Arguments, compress: bool) -> str:
    """The strong ``ETag`` of a body: the day's manifest digest (``events.manifest``),
    then a digest of everything else the bytes depend on (format, ``_fields``,
    filters, BOM, the CSV columns, Parquet's types, row groups and writer),
    then ``-gzip`` for the gzip-coded body (RFC 9110 8.8.3: another coding,
    another tag). A gzip tag also names what its bytes depend on beyond the
    plain body (where pieces are flushed: ``chunk_size``; the level; zlib's
    version), so a byte range of the coded body is exact under it."""
    shape = args.shape
    fields = None if shape.fields is None else _leaf_paths(shape.fields)
    described: list[t.Any] = [BODY_VERSION, shape.fmt, fields, sorted(shape.wanted.types or ()), shape.csv_bom]
    described.append(shape.csv_safe)
    described += [shape.wanted.start_minute, shape.wanted.end_minute, shape.wanted.types is None]
    if shape.fmt in ("csv", "parquet"):
        described.append(_stream.columns(summary, shape))
    if shape.fmt == "parquet":
        described += [summary.number_kinds(), args.chunk_size, parquet.writer_version()]
    if compress:
        described += [args.chunk_size, _stream.PIECE_BYTES, _stream.GZIP_LEVEL, zlib.ZLIB_RUNTIME_VERSION]
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    variant = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    day_digest = manifest.digest(day, blog_id, summary).removeprefix("sha256:")
    return f'"{day_digest}-{variant}{"-gzip" if compress else ""}"'


def _leaf_paths(tree: FieldTree) -> list[str]:
    """The dotted paths of ``tree``'s ``True`` nodes, sorted: the tree in a
    form of bounded depth. A ``_fields`` path of thousands of segments is a
    tree as deep, which ``json.dumps`` (recursive) would refuse with a
    RecursionError; the walk here keeps its own stack. Segments hold no dot
    (``parse_fields`` splits on them), so the paths name the tree exactly."""
    paths: list[str] = []
    trail: list[str] = []  # the segments from the root to the node being visited
    stack: list[tuple[int, str, bool | FieldTree]] = [(0, name, node) for name, node in tree.items()]
    while stack:
        depth, name, node = stack.pop()
        del trail[depth:]
        trail.append(name)
        if isinstance(node, dict):
            stack.extend((depth + 1, child_name, child) for child_name, child in node.items())
        else:
            paths.append(".".join(trail))
    return sorted(paths)


def _known_length(summary: DaySummary, shape: _stream.Shape) -> int | None:
    """The body's length from the catalog alone, where it can tell: whole
    events as JSON or NDJSON (the raw texts' lengths are in the summaries)."""
    if shape.fields is not None or shape.fmt not in ("json", "ndjson"):
        return None
    count, size = summary.matching(shape.wanted)
    if shape.fmt == "json":
        return 2 + size + max(count - 1, 0)  # [ , ]
    return size + count  # a newline after each event


def _length_key(prefix: str, etag: str) -> str:
    return LENGTH_KEY.format(prefix=prefix, etag=etag.strip('"'))


def events(date: str) -> Response:
    """One site's events of one UTC day, streamed (after ``_server.serve`` authenticated the request).

    200 with the whole body, or 206 with the part a ``Range`` asks for
    (``_ranges``); ``ETag`` and ``Accept-Ranges`` on every answer outside an
    ``_envelope``, ``Content-Length`` where the length is known."""
    blog_id, args, summary, read = _day(date)
    day, shape = args.day, args.shape
    g.analytics_format = shape.fmt  # the downloads metric's label (_download_metrics)
    if shape.fmt == "parquet" and not _stream.columns(summary, shape):
        # A Parquet file of no column is valid to Arrow but not to DuckDB or Spark ("Need at least
        # one non-root column"), and loses its row count in pandas: a clear error, not such a file.
        raise invalid_params(
            {"_fields": ("rest_invalid_param", "_fields keeps none of this day's columns: a Parquet file needs one.")}
        )
    rest = _request.current()
    store = source()
    count, _size = summary.matching(shape.wanted)
    asked = None if rest.envelope else _ranges.requested(request.headers.get("Range"))
    compress, asked = _coding(day, blog_id, summary, args, asked)
    etag = _etag(day, blog_id, summary, args, compress)
    length = None if compress else _known_length(summary, shape)
    if asked is not None and length is None:
        length = _measured_length(store, summary, day, blog_id, args, etag, compress)
        if length is None:
            asked = None
    part = None
    if asked is not None:
        assert length is not None
        try:
            part = _ranges.resolve(asked, length)
        except _ranges.RangeNotSatisfiable as exc:
            error = RestError(
                "rest_range_not_satisfiable",
                f"The range asked for starts at or after the end of the body ({exc.total} bytes).",
                416,
            )
            error.headers.update({"Content-Range": f"bytes */{exc.total}", "ETag": etag, "Accept-Ranges": "bytes"})
            raise error from None
    headers = {
        "Content-Type": _stream.CONTENT_TYPES[shape.fmt],
        "X-WP-Total": str(count),
        "X-Accel-Buffering": "no",
        "Cache-Control": "no-store",
        "Vary": "Accept, Accept-Encoding",
        SUMMARIZED_HEADER: str(len(read)),
    }
    if shape.fmt in ("csv", "parquet"):
        headers["Content-Disposition"] = f"attachment; filename={day.isoformat()}.{shape.fmt}"
    if compress:
        headers["Content-Encoding"] = "gzip"
    if not rest.envelope:
        headers["ETag"] = etag
        headers["Accept-Ranges"] = "bytes"
    if part is not None:
        headers["Content-Range"] = part.content_range()
        headers["Content-Length"] = str(part.length)
    elif length is not None and not rest.envelope:
        headers["Content-Length"] = str(length)
    body: t.Iterator[bytes] = iter(())  # HEAD: same headers, no body
    if rest.method != "HEAD":
        streamed = _streamed(summary, shape)
        body = _stream.day_body(store, streamed, day, blog_id, shape, args.chunk_size, compress, part is not None)
        if part is not None:
            body = _ranges.exact(body, part.first, part.length)
        elif length is not None and not rest.envelope:
            body = _ranges.exact(body, 0, length)
    logger.info(
        "events %s blog %s as %s: %s event(s) from %s object(s), %s summarized now%s",
        day,
        blog_id,
        shape.fmt,
        count,
        len(summary.objects),
        len(read),
        f", bytes {part.first}-{part.last}" if part is not None else "",
    )
    return Response(body, status=206 if part is not None else 200, headers=headers)


def _coding(
    day: dt.date, blog_id: int, summary: DaySummary, args: Arguments, asked: tuple[int | None, int | None] | None
) -> tuple[bool, tuple[int | None, int | None] | None]:
    """Whether the answer is gzip-coded, and the range it honours (None: the whole body).

    A range is of one representation (RFC 9110 14.1.2): the plain body when
    ``If-Range`` is absent or names the plain body's ``ETag`` (``curl
    --compressed -C -`` counts the decoded bytes it saved, and a server may
    choose the identity coding); the gzip-coded body, from the same bytes as
    every 200 of it (``day_body`` flushes gzip at the same places), when
    ``If-Range`` names the gzip ``ETag`` and gzip is still accepted: a client
    that kept the coded bytes resumes them. Any other ``If-Range`` (the day
    changed, another coding) drops the range: the whole body, gzip if accepted."""
    gzip = _wants_gzip()
    if asked is None:
        return gzip, None
    validator = request.headers.get("If-Range")
    if validator is None or _ranges.if_range_allows(validator, _etag(day, blog_id, summary, args, False)):
        return False, asked
    if gzip and _ranges.if_range_allows(validator, _etag(day, blog_id, summary, args, True)):
        return True, asked
    return gzip, None


def _streamed(summary: DaySummary, shape: _stream.Shape) -> DaySummary:
    """The part of ``summary`` that ``_stream.day_body`` reads: the objects,
    their selectors and versions, the columns, each object's ``GroupDetail.size``
    (the process pool's budget: ``csv_objects.in_order``) and for Parquet the
    whole details (``number_kinds``). The body holds it for as long as the client reads --
    one that stopped reading, until ``ANALYTICS_SEND_TIMEOUT`` drops it -- and
    the whole summary (every object read in ``listed``, each object's field
    names and histogram in ``details``) was about 7.4 MB on bench/load's large
    day (147 objects; 0.1 MB without them) when ``listed`` held whole object
    summaries: a worker's 32 threads streaming it went past issue 12's 200 MB."""
    details = summary.details
    if shape.fmt != "parquet":
        details = {key: GroupDetail("", detail.size, [], []) for key, detail in details.items()}
    return dataclasses.replace(summary, listed=(), details=details)


def _measured_length(
    store: Source, summary: DaySummary, day: dt.date, blog_id: int, args: Arguments, etag: str, compress: bool
) -> int | None:
    """The length of a body the catalog cannot tell (CSV, Parquet, ``_fields``,
    any gzip-coded body): remembered per ``ETag``, or made once without
    sending it. None when an object changed while it was made (the answer is
    then the whole body, 200)."""
    current = settings()
    redis = config.redis_connection(current.redis_url)
    key = _length_key(current.redis_prefix, etag)
    known = redis.get(key)
    if known is not None:
        return int(known)
    pieces = _stream.day_body(store, summary, day, blog_id, args.shape, args.chunk_size, compress, True)
    try:
        length = _ranges.body_length(pieces)
    except _stream.StreamAborted as exc:
        logger.warning("range ignored, the day changed while its length was measured: %s", exc)
        return None
    redis.set(key, length, ex=LENGTH_TTL)
    return length


def manifest_of_day(date: str) -> Response:
    """``GET .../events/<YYYY-MM-DD>/manifest``: the day's completeness manifest
    (``events.manifest``), same site, arguments and capability as the events;
    its counts are of the events the filters keep, and ``_fields`` cuts it
    down as WordPress's ``rest_filter_response_fields`` cuts any route's JSON."""
    blog_id, args, summary, read = _day(date)
    built = manifest.build(args.day, blog_id, summary, args.shape.wanted)
    if args.shape.fields is not None:
        built = select(built, args.shape.fields)
    body = orjson.dumps(built)
    headers = {"Cache-Control": "no-store", SUMMARIZED_HEADER: str(len(read))}
    return Response(body, content_type=JSON_CONTENT_TYPE, headers=headers)
