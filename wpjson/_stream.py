"""Streaming writers of a day's events: JSON array, CSV, NDJSON, optionally gzip.

The body is a generator, so memory holds one chunk (``chunk_size`` records) at
a time whatever the size of the day, and each chunk is written and flushed on
its own. Closing the generator (the client went away) closes the object being
read, through the ``open_lines`` context manager, and reads nothing more.

A read failure after the first byte cannot become an error status any more:
it is logged with the object's key and the generator raises ``StreamAborted``,
so the server drops the connection without the final chunk (curl reports
"transfer closed with outstanding read data remaining") and a JSON body lacks
its closing ``]``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import typing as t
import zlib

from events.layout import day_bounds_ms
from events.records import Event, event_in, flatten, iter_events
from events.sources import CorruptObjectError, SourceError

if t.TYPE_CHECKING:
    import datetime as dt

    from events.sources import ObjectInfo, Source

logger = logging.getLogger(__name__)

#: zlib level of on-the-fly gzip: fast, most of the gain on JSON text.
GZIP_LEVEL = 1
FORMATS = ("json", "csv", "ndjson")
CONTENT_TYPES = {
    "json": "application/json; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8",
    "ndjson": "application/x-ndjson; charset=UTF-8",
}


class StreamAborted(Exception):
    """Reading an object failed after the response had started."""

    def __init__(self, key: str, cause: Exception) -> None:
        super().__init__(f"reading {key} failed mid-stream: {cause}")
        self.key = key


def day_events(source: Source, objects: t.Iterable[ObjectInfo], day: dt.date, blog_id: int) -> t.Iterator[Event]:
    """Events of one site's UTC day from ``objects``, in key then line order.
    A corrupt object yields what precedes its damage (as the catalog counts);
    any other read failure raises StreamAborted naming the key."""
    start, end = day_bounds_ms(day)
    for info in objects:
        try:
            with source.open_lines(info.key) as lines:
                for event in iter_events(lines, info.key):
                    if event_in(event.data, start, end, blog_id):
                        yield event
        except CorruptObjectError as exc:
            logger.warning("streamed %s only up to its damage: %s", info.key, exc)
        except SourceError as exc:
            raise StreamAborted(info.key, exc) from exc


class _Encoder(t.Protocol):
    def opening(self) -> bytes: ...
    def chunk(self, events: list[Event], first: bool) -> bytes: ...
    def closing(self) -> bytes: ...


class _Json:
    def opening(self) -> bytes:
        return b"["

    def chunk(self, events: list[Event], first: bool) -> bytes:
        body = b",".join([event.raw for event in events])
        return body if first else b"," + body

    def closing(self) -> bytes:
        return b"]"


class _Ndjson:
    def opening(self) -> bytes:
        return b""

    def chunk(self, events: list[Event], first: bool) -> bytes:
        return b"\n".join([event.raw for event in events]) + b"\n"

    def closing(self) -> bytes:
        return b""


class _Csv:
    """RFC 4180 rows (CRLF, quotes doubled) through the C csv writer into a
    buffer that is emptied per chunk. No columns (an empty day) means an empty body."""

    def __init__(self, fields: t.Sequence[str]) -> None:
        self.fields = list(fields)
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def _take(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data

    def opening(self) -> bytes:
        if not self.fields:
            return b""
        self.writer.writerow(self.fields)
        return self._take()

    def chunk(self, events: list[Event], first: bool) -> bytes:
        fields = self.fields
        writerow = self.writer.writerow
        for event in events:
            get = flatten(event.data).get
            writerow([get(name, "") for name in fields])
        return self._take()

    def closing(self) -> bytes:
        return b""


def _encoder(fmt: str, fields: t.Sequence[str]) -> _Encoder:
    if fmt == "csv":
        return _Csv(fields)
    if fmt == "ndjson":
        return _Ndjson()
    return _Json()


def _chunks(events: t.Iterator[Event], size: int) -> t.Iterator[list[Event]]:
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def body(
    events: t.Iterator[Event], fmt: str, fields: t.Sequence[str], chunk_size: int, compress: bool
) -> t.Iterator[bytes]:
    """The response body, one piece per chunk of ``chunk_size`` events, each
    flushed (gzip: ``Z_SYNC_FLUSH``) so the client gets it at once."""
    encoder = _encoder(fmt, fields)
    gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None

    def out(data: bytes) -> bytes:
        if gz is None:
            return data
        return gz.compress(data) + gz.flush(zlib.Z_SYNC_FLUSH)

    with contextlib.closing(events):  # type: ignore[type-var]
        piece = out(encoder.opening())
        if piece:
            yield piece
        try:
            for index, chunk in enumerate(_chunks(events, chunk_size)):
                yield out(encoder.chunk(chunk, index == 0))
        except StreamAborted as exc:
            logger.error("events stream aborted, the client got an incomplete body: %s", exc)
            raise
    tail = encoder.closing()
    if gz is not None:
        tail = gz.compress(tail) + gz.flush(zlib.Z_FINISH)
    if tail:
        yield tail
