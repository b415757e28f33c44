"""The export's batches and the hot loop that fills them.

A batch is whole NDJSON lines from one or more objects, at most
``ANALYTICS_EXPORT_BATCH_BYTES`` (a single event larger than that makes a
batch of its own). ``BatchWriter`` is the one way in: ``write_object``
streams an object's lines into the current batch and hands each full batch
to its ``hand_over`` callable; ``finish`` hands over the last one. Only this
module touches a batch's buffer and counters; whoever receives a ``Batch``
reads it through ``events``, ``ndjson()``, ``descriptor()``, ``done_keys()``
and ``partial()``.

Batch boundaries are deterministic (same objects, same progress -> same
batches), so after a crash the next run redelivers at most the batch that was
in flight, with the same descriptor ``id``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import typing as t

import orjson

from events import records
from events.records import JSON_WHITESPACE
from events.sources import ObjectInfo, SourceError, continues_line


@dataclasses.dataclass
class _Segment:
    """The lines ``start_line..end_line`` (1-based) of one object in a batch."""

    info: ObjectInfo
    start_line: int
    end_line: int
    complete: bool = False


class Batch:
    """Whole NDJSON lines from one or more objects, at most ``limit`` bytes.

    The lines are copied into one buffer that grows to the largest batch and is
    then reused by every batch of the run (``size`` bytes used): no object per
    event, one decode per delivery, and no fresh memory per batch -- growing a
    new buffer and freeing it for each batch cost more in page faults than the
    copying itself."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()  # grows as lines are written past its end
        self.clear()

    def clear(self) -> None:
        self.segments: list[_Segment] = []
        if len(self.buf) > 2 * self.limit:  # grown by an event larger than a batch
            self.buf = bytearray()
        self.size = 0
        self.events = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.line = 0

    def begin(self, info: ObjectInfo, start_line: int) -> None:
        self.segments.append(_Segment(info, start_line, start_line - 1))
        self.line = 0

    def is_full_for(self, size: int, line_no: int) -> bool:
        """Cut only between lines: the events of one line stay together."""
        return self.events > 0 and line_no != self.line and self.size + size > self.limit

    def add(self, event: records.Event, line_no: int) -> None:
        """The general path's add (the common line is added inline by ``BatchWriter._stream``)."""
        line = event.raw + b"\n"
        end = self.size + len(line)
        self.buf[self.size : end] = line  # grows the buffer only for an event larger than a batch
        self.size = end
        self.events += 1
        self.line = line_no
        self.segments[-1].end_line = line_no
        ms = records.timestamp_ms(event.data)
        if ms is not None:
            self.first_ms = ms if self.first_ms is None or ms < self.first_ms else self.first_ms
            self.last_ms = ms if self.last_ms is None or ms > self.last_ms else self.last_ms

    def ndjson(self) -> str:
        """The batch's lines as one string, each ending in a newline."""
        with memoryview(self.buf)[: self.size] as view:
            return str(view, "utf-8", "replace")

    def descriptor(self) -> dict[str, t.Any]:
        """What a subscriber registered with ``accepted_args=2`` gets: ``id`` is
        the same whenever the same lines of the same objects are redelivered."""
        parts = [f"{s.info.key}\0{s.info.etag}\0{s.start_line}\0{s.end_line}" for s in self.segments]
        return {
            "id": hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32],
            "keys": [s.info.key for s in self.segments],
            "events": self.events,
            "first_event_ms": self.first_ms,
            "last_event_ms": self.last_ms,
        }

    def done_keys(self) -> list[str]:
        """Keys of the objects this batch completes."""
        return [s.info.key for s in self.segments if s.complete]

    def partial(self) -> tuple[str, int] | None:
        """``(key, last line)`` of the object this batch delivers only part of, or None."""
        last = self.segments[-1] if self.segments else None
        if last is None or last.complete or last.end_line < last.start_line:
            return None
        return last.info.key, last.end_line


class BatchWriter:
    """Fills batches of at most ``limit`` bytes from objects' lines and hands
    each full one to ``hand_over``, which returns whether anyone is still
    listening (False: stop writing)."""

    def __init__(self, limit: int, hand_over: t.Callable[[Batch], bool]) -> None:
        self._batch = Batch(limit)
        self._hand_over = hand_over

    def write_object(
        self,
        info: ObjectInfo,
        skip: int,
        open_lines: t.Callable[[str], t.ContextManager[t.Iterator[bytes]]],
        parse_report: records.ParseReport,
    ) -> bool:
        """Add the events of ``info`` after its line ``skip`` (delivered
        already), handing batches over as they fill. Returns False when
        ``hand_over`` said nobody is left. A ``SourceError`` while opening or
        reading takes this object's lines back out of the current batch (the
        batches handed over keep theirs: their progress is recorded) and
        propagates."""
        batch = self._batch
        batch.begin(info, skip + 1)
        mark = _Mark(batch)
        try:
            with open_lines(info.key) as lines:
                alive, total_lines = self._stream(lines, info, skip, parse_report, mark)
        except SourceError:
            mark.drop(batch)
            raise
        if not alive:
            return False
        segment = batch.segments[-1]
        segment.end_line = max(segment.end_line, total_lines)
        segment.complete = True
        return True

    def finish(self) -> None:
        """Hand over what the last batch holds (progress too when it has no event)."""
        if self._batch.segments:
            self._flush()

    def _flush(self) -> bool:
        alive = self._hand_over(self._batch)
        self._batch.clear()
        return alive

    def _stream(
        self,
        lines: t.Iterator[bytes],
        info: ObjectInfo,
        skip: int,
        parse_report: records.ParseReport,
        mark: _Mark,
    ) -> tuple[bool, int]:
        """Add the events of ``info`` after line ``skip`` to the batch, handing
        it over whenever it fills. Returns whether anyone is still listening
        and the object's physical line count.

        This loop is the export's hot path, so the common line -- one JSON
        object, whole -- is parsed, checked and added inline, with the batch's
        counters in locals. The first line that is anything else (blank, BOM,
        several objects, a piece of a line longer than ``MAX_LINE_BYTES``,
        invalid) hands the rest of the object to ``records.iter_events``.
        Lines are physical lines in both paths, so a resume lands on whole events.
        """
        batch = self._batch
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        limit = batch.limit
        buf = batch.buf
        size = batch.size
        events = batch.events
        lo = math.inf if batch.first_ms is None else batch.first_ms
        hi = -math.inf if batch.last_ms is None else batch.last_ms
        pieces = iter(lines)
        line_no = _skip_lines(pieces, skip)
        handover: bytes | None = None  # the line where the general parser takes over
        for line in pieces:
            line_no += 1
            try:
                data = loads(line)
            except decode_error:
                data = None
            if type(data) is not dict:
                handover = line
                break
            if line[-2] != 125 or line[-1] != 10 or line[0] != 123:  # not exactly b"{...}\n"
                if continues_line(line):
                    handover = line  # the first piece of a longer line: the general parser joins them
                    break
                line = line.strip(JSON_WHITESPACE) + b"\n"
            end = size + len(line)
            if end > limit and events:
                batch.size = size
                batch.events = events
                batch.first_ms, batch.last_ms = _bounds(lo, hi)
                batch.segments[-1].end_line = line_no - 1
                if not self._flush():
                    return False, line_no
                batch.begin(info, line_no)
                mark.reset()
                buf = batch.buf
                size = 0
                end = len(line)
                events = 0
                lo, hi = math.inf, -math.inf
            buf[size:end] = line
            size = end
            events += 1
            ts = data.get("event_timestamp")
            if type(ts) is not int:  # the common case, inline; the others as the day filter reads them
                ts = records.timestamp_ms(data)
                if ts is None:
                    continue
            if ts < lo:
                lo = ts
            if ts > hi:
                hi = ts
        batch.size = size
        batch.events = events
        batch.first_ms, batch.last_ms = _bounds(lo, hi)
        added = line_no - skip - (handover is not None)  # one event per line added here
        if added > 0:
            batch.segments[-1].end_line = skip + added
            parse_report.events += added
        if handover is None:
            return True, line_no
        # Blank lines pad the general parser's numbering to the line it takes over.
        rest = itertools.chain(itertools.repeat(b"", line_no - 1), (handover,), pieces)
        tally = _Tally()
        for n, event in _numbered_events(rest, info.key, line_no - 1, parse_report, tally):
            if batch.is_full_for(len(event.raw) + 1, n):
                batch.segments[-1].end_line = n - 1
                if not self._flush():
                    return False, tally.lines
                batch.begin(info, n)
                mark.reset()
            batch.add(event, n)
        return True, tally.lines


class _Tally:
    """Physical lines read from the object being streamed."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines = 0


class _Mark:
    """Where the object being streamed began in the current batch, so a read
    that fails halfway takes its events (the batch tail) out again."""

    __slots__ = ("events", "first_ms", "last_ms", "start")

    def __init__(self, batch: Batch) -> None:
        self.start = batch.size
        self.events = batch.events
        self.first_ms = batch.first_ms
        self.last_ms = batch.last_ms

    def reset(self) -> None:
        """The batch was handed over: the object now starts it."""
        self.start = self.events = 0
        self.first_ms = self.last_ms = None

    def drop(self, batch: Batch) -> None:
        batch.segments.pop()
        batch.size = self.start
        batch.events = self.events
        batch.first_ms = self.first_ms
        batch.last_ms = self.last_ms


def _skip_lines(pieces: t.Iterator[bytes], skip: int) -> int:
    """Read past the first ``skip`` physical lines (delivered already) without
    parsing them: a piece of exactly ``MAX_LINE_BYTES`` without a newline
    continues its line. Returns the lines read (fewer if the object is shorter)."""
    line_no = 0
    continued = False
    if skip <= 0:
        return 0
    for piece in pieces:
        if not continued:
            line_no += 1
        continued = continues_line(piece)
        if line_no >= skip and not continued:
            break
    return line_no


def _bounds(lo: float, hi: float) -> tuple[int | None, int | None]:
    """The hot loop's running min/max back to the descriptor's (None when no event had a time)."""
    return (None if lo == math.inf else int(lo)), (None if hi == -math.inf else int(hi))


def _numbered_events(
    lines: t.Iterable[bytes], key: str, skip: int, parse_report: records.ParseReport, tally: _Tally
) -> t.Iterator[tuple[int, records.Event]]:
    """``(line number, event)`` for the lines after ``skip`` (already delivered:
    passed as blank lines so numbering stays right without parsing them).

    Numbers are physical lines: ``open_lines`` hands a line longer than
    ``MAX_LINE_BYTES`` over in pieces, and a piece that does not end the line
    does not start a new one, so a resume never lands inside an event."""

    def counted() -> t.Iterator[bytes]:
        continued = False
        for piece in lines:
            if not continued:
                tally.lines += 1
            continued = continues_line(piece)
            yield b"" if tally.lines <= skip else piece

    for event in records.iter_events(counted(), key, parse_report):
        yield tally.lines, event
