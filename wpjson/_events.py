"""The events route: ``GET|HEAD /wp-json/{analytics,accelerate}/v1/events/<YYYY-MM-DD>``.

Checks run in WordPress's order: authentication (in ``_server.serve``), the
site of the ``Host``, the arguments, then the capability. Everything that can
fail with a status (listing the store, Redis, summarizing objects not yet in
the catalog) happens before the first byte; the body is then a generator.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from flask import Response, current_app, g, request

import config
from events import catalog
from events.sources import open_source
from wpjson import _request, _stream
from wpjson._auth import current_user, require_capability, settings
from wpjson._errors import RestError, invalid_params
from wpjson._php import is_numeric, to_float

if t.TYPE_CHECKING:
    from events.sources import Source

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 3000
MAX_CHUNK_SIZE = 10000
#: Response header: objects read to compute this answer's total and columns (0 when the day was warm).
SUMMARIZED_HEADER = "X-Analytics-Objects-Summarized"
#: ``rest_is_boolean``'s strings (lower-cased) and ``rest_sanitize_boolean``'s reading of them.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
#: Media types an ``Accept`` header may choose, first = default for ``*/*``.
_NEGOTIABLE = {"application/json": "json", "text/csv": "csv", "application/x-ndjson": "ndjson"}


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


def _arguments(date: str) -> tuple[dt.date, str, int, bool]:
    """(day, format, chunk_size, csv_safe) or 400 ``rest_invalid_param`` naming every bad one.

    Query parameters are PHP's ``$_GET`` (the last of a repeated one). The
    schema is the original's: ``format`` a string of the enum, ``chunk_size``
    a ``number`` (``rest_validate_number_value_from_schema``: PHP
    ``is_numeric``, so ``5e3`` and ``1.5`` pass and ``abc``, ``0x10``, ``NaN``
    or an empty value do not), which the original then clamps:
    ``min( 10000, max( 1, $chunk_size ) )``, here truncated to a whole number.
    ``csv_safe`` is a ``boolean`` (``rest_is_boolean``); it or ``ANALYTICS_CSV_SAFE`` turns it on.
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
        problems["format"] = ("rest_not_in_enum", "format is not one of json, csv, and ndjson.")
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
    if problems:
        raise invalid_params(problems)
    assert day is not None and isinstance(fmt, str)
    return day, fmt, chunk_size, csv_safe


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


def events(date: str) -> Response:
    """One site's events of one UTC day, streamed (after ``_server.serve`` authenticated the request)."""
    blog_id = site_blog_id()
    day, fmt, chunk_size, csv_safe = _arguments(date)
    g.analytics_format = fmt  # the downloads metric's label (_download_metrics)
    require_capability(current_user(), blog_id)

    current = settings()
    store = source()
    redis = config.redis_connection(current.redis_url)
    read: list[str] = []
    summary = catalog.day_summary(
        store,
        redis,
        current.redis_prefix,
        day,
        blog_id,
        current.late_hours,
        on_read=lambda info: read.append(info.key),
    )
    compress = _wants_gzip()
    headers = {
        "Content-Type": _stream.CONTENT_TYPES[fmt],
        "X-WP-Total": str(summary.count),
        "X-Accel-Buffering": "no",
        "Cache-Control": "no-store",
        "Vary": "Accept, Accept-Encoding",
        SUMMARIZED_HEADER: str(len(read)),
    }
    if fmt == "csv":
        headers["Content-Disposition"] = f"attachment; filename={day.isoformat()}.csv"
    if compress:
        headers["Content-Encoding"] = "gzip"
    body: t.Iterator[bytes] = iter(())  # HEAD: same headers, no body (an iterator: no Content-Length)
    if _request.current().method != "HEAD":
        body = _stream.day_body(store, summary, day, blog_id, fmt, chunk_size, compress, csv_safe)
    logger.info(
        "events %s blog %s as %s: %s event(s) from %s object(s), %s summarized now",
        day,
        blog_id,
        fmt,
        summary.count,
        len(summary.objects),
        len(read),
    )
    return Response(body, headers=headers)
