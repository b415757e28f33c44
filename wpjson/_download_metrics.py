"""Metrics of the events route (``metrics``): downloads by format and status,
events and bytes served, time to first byte and to last byte.

A streamed answer is counted when its body ends, so a client that leaves
mid-stream counts as status ``aborted`` (and its bytes as sent so far); the
body is wrapped by one generator that adds a length per piece (a piece is a
chunk of events), so the stream stays as fast. ``HEAD`` and ``OPTIONS`` are
not downloads.
"""

from __future__ import annotations

import time
import typing as t

from flask import g

import metrics
from wpjson import _stream
from wpjson._request import current

if t.TYPE_CHECKING:
    from flask import Response

#: ``format`` label of a refused request that named no known format.
UNKNOWN_FORMAT = "none"


def started() -> None:
    """Mark the start of a REST request (``time.perf_counter``)."""
    g.wpjson_started = time.perf_counter()


def metered(response: Response) -> Response:
    """Count ``response`` of the events route: at once if it is an error, when
    its body ends if it streams."""
    if current().method != "GET":
        return response
    fmt = str(g.get("analytics_format") or _asked_format())
    if not response.is_streamed or response.status_code != 200:
        metrics.DOWNLOADS.labels(fmt, str(response.status_code)).inc()
        return response
    events = int(response.headers.get("X-WP-Total", "0"))
    begun = float(g.get("wpjson_started", time.perf_counter()))
    pieces = t.cast("t.Iterator[bytes]", iter(response.response))
    response.response = _counted(pieces, fmt, events, begun)
    return response


def _asked_format() -> str:
    """The ``format`` of a request refused before its arguments were checked
    (or with some invalid): the query's, if it is a known one."""
    asked = current().query.get("format")
    return asked if isinstance(asked, str) and asked in _stream.FORMATS else UNKNOWN_FORMAT


def _counted(pieces: t.Iterator[bytes], fmt: str, events: int, begun: float) -> t.Iterator[bytes]:
    sent = 0
    outcome = "aborted"  # GeneratorExit: the client went away (or the server stopped the stream)
    try:
        for piece in pieces:
            if not sent:
                metrics.DOWNLOAD_FIRST_BYTE.labels(fmt).observe(time.perf_counter() - begun)
            sent += len(piece)
            yield piece
        outcome = "200"
    except Exception:
        outcome = "error"
        raise
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
        metrics.DOWNLOADS.labels(fmt, outcome).inc()
        metrics.DOWNLOAD_BYTES.labels(fmt).inc(sent)
        if outcome == "200":
            metrics.DOWNLOAD_EVENTS.labels(fmt).inc(events)
            metrics.DOWNLOAD_DURATION.labels(fmt).observe(time.perf_counter() - begun)
