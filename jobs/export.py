"""The export run: new raw-event objects, streamed as NDJSON batches to every
subscriber of ``altis.analytics.export.data.process``, losing nothing.

A run is a function of the source, the delivery state in Redis and the hooks
(``run_export``); the scheduled job, ``export run``, ``reconcile``, ``requeue``
and ``replay`` all call it. How it avoids the original's seven defects:

1. Progress moves only after a subscriber's callback returns.
2. An object that fails to read stays pending (remembered in ``unread``) and is
   retried by every later run; a corrupt one is retried ``CORRUPT_ATTEMPTS``
   times, then quarantined (status, E_USER_ERROR, ``export requeue``).
3. No single cursor: each subscriber has a ledger of delivered objects and
   each run lists from ``ANALYTICS_LATE_HOURS`` hours before its position, so
   an object Firehose writes late under an earlier hour is still delivered,
   once; the reconciliation pass covers ``ANALYTICS_RECONCILE_DAYS`` days.
4. Objects are streamed line by line into batches of at most
   ``ANALYTICS_EXPORT_BATCH_BYTES`` (whole lines; an object larger than a batch
   spans several): memory is bounded by the batch size.
5. Progress is stored as keys and line offsets, never as a ``[Bucket, Key]``.
6. Each subscriber has its own progress, error, and backoff; one that raises
   is skipped until its retry time while the others go on.
7. ``max.files`` is coerced and validated (``filters.max_files``).

Batch boundaries are deterministic (same objects, same progress -> same
batches), so after a crash the next run redelivers at most the batch that was
in flight, with the same descriptor ``id``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import logging
import math
import time
import typing as t

import orjson

import config
from events import layout, records
from events.sources import CorruptObjectError, ObjectInfo, SourceError, continues_line, open_source

from . import filters, subscribers
from .filters import E_USER_ERROR, E_USER_NOTICE, E_USER_WARNING, log
from .lock import RunLock
from .state import DeliveryState, SubscriberState, hour_score

if t.TYPE_CHECKING:
    import redis as redis_lib

    from events.sources import Source

logger = logging.getLogger(__name__)

#: Reads of one object that fail as corrupt before it is quarantined.
CORRUPT_ATTEMPTS = 3
_HOUR = 3600
_DAY = 86400
#: What ``records`` strips around a line (JSON whitespace, and the vertical tab and form feed).
_WS = b" \t\r\n\x0b\x0c"

Mode = t.Literal["run", "reconcile", "keys"]
#: Who asked for a run: the scheduler, a person (``export run``), or a replay.
Trigger = t.Literal["schedule", "manual", "replay"]
#: Scheduled runs in a row that find nothing before the "longer interval"
#: warning. Firehose flushes a buffer at most 900 s after its first record
#: (``BufferingHints.IntervalInSeconds`` is at most 900), so while events flow
#: an object arrives at least every 15 minutes; three empty runs in a row (30
#: minutes at the default ``ten_minutes``) mean the interval is shorter than
#: the data needs, or nothing flows. Warned once per streak.
EMPTY_RUNS_BEFORE_WARNING = 3


class RunAborted(Exception):
    """The run lock was lost (Redis unreachable for longer than its TTL)."""


class UnknownSubscriberError(ValueError):
    """A subscriber name that no callback on ``data.process`` has."""


@dataclasses.dataclass
class RunReport:
    """What one run did; ``skipped`` says why it did nothing."""

    skipped: str = ""
    objects: int = 0  # objects read to the end
    events: int = 0  # events read (each delivered to every subscriber that needed it)
    batches: int = 0  # successful callback calls
    delivered: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # subscriber -> keys completed
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # subscriber -> error
    waiting: list[str] = dataclasses.field(default_factory=list)  # subscribers in backoff
    read_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    quarantined: list[str] = dataclasses.field(default_factory=list)
    late: list[str] = dataclasses.field(default_factory=list)
    invalid_lines: int = 0


def run_export(
    settings: config.Settings,
    *,
    mode: Mode = "run",
    only: t.Collection[str] | None = None,
    keys: t.Sequence[str] = (),
    redis: redis_lib.Redis | None = None,
    source: Source | None = None,
    clock: t.Callable[[], float] = time.time,
    check_enabled: bool = True,
    trigger: Trigger = "manual",
) -> RunReport:
    """One export run (``mode`` ``run``), a reconciliation pass (``reconcile``)
    or the delivery of given ``keys``; ``only`` limits it to some subscribers.
    ``trigger`` decides only what a run that found nothing logs (``_summarise``).

    Does nothing -- without touching the source -- when the export is disabled
    or nobody is hooked on ``data.process``, and nothing when another run holds
    the lock.
    """
    report = RunReport()
    if check_enabled and not filters.enabled():
        report.skipped = "disabled"
        logger.info("export disabled by %s", filters.CRON_ENABLED)
        return report
    subs = subscribers.current()
    if only is not None:
        subs = [s for s in subs if s.name in only]
    if not subs:
        report.skipped = "no subscribers"
        logger.info("nothing hooked on %s: export skipped", filters.DATA_PROCESS)
        return report
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    lock = RunLock(redis, settings.redis_prefix, settings.export_lock_ttl)
    with lock as held:
        if not held:
            report.skipped = "locked"
            log("Another export run is in progress; this one is skipped.", E_USER_NOTICE)
            return report
        started = clock()
        if source is None:
            source = open_source(filters.source_location(settings))
        run = _Run(settings, state, source, lock, clock, report, mode, trigger)
        try:
            run.execute(subs, keys)
        except RunAborted as exc:
            log(f"Export run aborted: {exc}", E_USER_ERROR)
        state.record_run(
            {
                "mode": mode,
                "started": started,
                "finished": clock(),
                "objects": report.objects,
                "events": report.events,
                "batches": report.batches,
                "failures": report.failures,
                "read_errors": report.read_errors,
            }
        )
    return report


@dataclasses.dataclass
class _Segment:
    """The lines ``start_line..end_line`` (1-based) of one object in a batch."""

    info: ObjectInfo
    start_line: int
    end_line: int
    complete: bool = False


class _Batch:
    """Whole NDJSON lines from one or more objects, at most ``limit`` bytes
    (a single event larger than ``limit`` makes a batch of its own).

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
        """The general path's add (the common line is added inline by ``_Run._stream``)."""
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
        return [s.info.key for s in self.segments if s.complete]

    def partial(self) -> tuple[str, int] | None:
        last = self.segments[-1] if self.segments else None
        if last is None or last.complete or last.end_line < last.start_line:
            return None
        return last.info.key, last.end_line


class _Run:
    """The state of one run; ``execute`` plans per subscriber, then delivers
    to groups of subscribers that need exactly the same objects."""

    def __init__(
        self,
        settings: config.Settings,
        state: DeliveryState,
        source: Source,
        lock: RunLock,
        clock: t.Callable[[], float],
        report: RunReport,
        mode: Mode,
        trigger: Trigger = "manual",
    ) -> None:
        self.settings = settings
        self.state = state
        self.source = source
        self.lock = lock
        self.clock = clock
        self.report = report
        self.mode = mode
        self.trigger = trigger
        self.now = clock()
        self.failed_reads: set[str] = set()
        self.failing: set[str] = set()  # keys with a read failure on record when the run began

    # -- planning -----------------------------------------------------------
    def execute(self, subs: list[subscribers.Subscriber], keys: t.Sequence[str]) -> None:
        limit = filters.max_files() if self.mode == "run" else None
        quarantined = set(self.state.quarantined())
        unread = self.state.unread()
        # Only one run at a time (the lock): what failed before this run is all
        # a successful read may have to clear, so most objects cost no round trip.
        self.failing = self.state.failing()
        groups: dict[tuple[tuple[str, int], ...], tuple[list[subscribers.Subscriber], list[ObjectInfo]]] = {}
        planned: list[tuple[subscribers.Subscriber, SubscriberState]] = []
        for sub in subs:
            st = self.state.ensure(sub.name, self.settings.export_start, self.now)
            if st.waiting(self.now) and self.mode != "keys":
                self.report.waiting.append(sub.name)
                continue
            try:
                objects = self._select(st, limit, quarantined, unread, keys)
            except SourceError as exc:
                self.report.read_errors[""] = str(exc)
                log(f"Could not list {self.source.location.describe()}: {exc}. Retrying on the next run.", E_USER_ERROR)
                return
            planned.append((sub, st))
            if not objects:
                continue
            partials = self.state.partials(sub.name)
            signature = tuple((o.key, partials.get(o.key, 0)) for o in objects)
            groups.setdefault(signature, ([], objects))[0].append(sub)
        for signature, (members, objects) in sorted(groups.items()):
            offsets = dict(signature)
            self._deliver(members, objects, offsets)
        self._summarise(bool(groups))
        if self.mode == "run":
            for sub, st in planned:
                keep_from = min(self.now - (self.settings.reconcile_days + 1) * _DAY, self._lookback_score(st))
                self.state.prune(sub.name, keep_from)

    def _lookback(self, st: SubscriberState) -> str:
        return lookback_prefix(st, self.settings.late_hours)

    def _lookback_score(self, st: SubscriberState) -> float:
        start = self._lookback(st)
        return (hour_score(start) - _HOUR) if start else 0.0

    def _select(
        self,
        st: SubscriberState,
        limit: int | None,
        quarantined: set[str],
        unread: dict[str, dict[str, t.Any]],
        keys: t.Sequence[str],
    ) -> list[ObjectInfo]:
        """The objects this run delivers to ``st``'s subscriber, oldest key first."""
        if self.mode == "keys":
            return [
                self.source.stat(key)
                for key in keys
                if layout.hour_of_key(key) and not self.state.is_delivered(st.name, key)
            ]
        lookback = self._lookback(st)
        if self.mode == "reconcile":
            window = layout.hour_prefix(
                dt.datetime.fromtimestamp(self.now - self.settings.reconcile_days * _DAY, dt.UTC)
            )
            begin, end = max(st.since, window), lookback
            if begin >= end:
                return []
        else:
            begin, end = lookback, None
        done = self.state.delivered(st.name, hour_score(begin) if begin else 0.0)
        chosen: list[ObjectInfo] = []
        for info in self.source.list(start_after=begin):
            if end is not None and info.key > end:
                break
            if info.key in done or info.key in quarantined or layout.hour_of_key(info.key) is None:
                continue
            chosen.append(info)
            if limit is not None and len(chosen) >= limit:
                break
        if self.mode == "run":
            # Objects whose read failed earlier, now behind the listing window:
            # never skipped, whatever the position.
            listed = {o.key for o in chosen}
            for key in unread:
                if st.since <= key < begin and key not in quarantined and key not in listed:
                    if self.state.is_delivered(st.name, key):
                        continue
                    try:
                        chosen.append(self.source.stat(key))
                    except SourceError as exc:
                        self._read_failed(key, exc)
            chosen.sort()
            if limit is not None:
                chosen = chosen[:limit]
        return chosen

    # -- delivery -----------------------------------------------------------
    def _deliver(
        self, members: list[subscribers.Subscriber], objects: list[ObjectInfo], offsets: dict[str, int]
    ) -> None:
        alive = list(members)
        batch = _Batch(self.settings.export_batch_bytes)
        for info in objects:
            if not alive:
                return
            if info.key in self.failed_reads:
                continue
            skip = offsets.get(info.key, 0)
            batch.begin(info, skip + 1)
            mark = _Mark(batch)
            parse = records.ParseReport()
            try:
                with self.source.open_lines(info.key) as lines:
                    alive, total_lines = self._stream(lines, info, skip, batch, alive, parse, mark)
            except SourceError as exc:
                mark.drop(batch)
                self._read_failed(info.key, exc)
                continue
            if not alive:
                return
            batch.segments[-1].end_line = max(batch.segments[-1].end_line, total_lines)
            batch.segments[-1].complete = True
            self.report.objects += 1
            if info.key in self.failing:
                self.state.clear_failures(info.key)
            if parse.invalid_count:
                self.report.invalid_lines += parse.invalid_count
                where = "; ".join(f"line {i.line_no}: {i.reason}" for i in parse.invalid[:5])
                log(f"Skipped {parse.invalid_count} invalid line(s) in {info.key} ({where}).", E_USER_WARNING)
        if batch.segments:
            self._flush(batch, alive)

    def _stream(
        self,
        lines: t.Iterator[bytes],
        info: ObjectInfo,
        skip: int,
        batch: _Batch,
        alive: list[subscribers.Subscriber],
        parse: records.ParseReport,
        mark: _Mark,
    ) -> tuple[list[subscribers.Subscriber], int]:
        """Add the events of ``info`` after line ``skip`` to ``batch``, handing the
        batch over whenever it fills. Returns the live subscribers and the
        object's physical line count.

        This loop is the export's hot path, so the common line -- one JSON
        object, whole -- is parsed, checked and added inline, with the batch's
        counters in locals. The first line that is anything else (blank, BOM,
        several objects, a piece of a line longer than ``MAX_LINE_BYTES``,
        invalid) hands the rest of the object to ``records.iter_events``.
        Lines are physical lines in both paths, so a resume lands on whole events.
        """
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
                line = line.strip(_WS) + b"\n"
            end = size + len(line)
            if end > limit and events:
                batch.size = size
                batch.events = events
                batch.first_ms, batch.last_ms = _bounds(lo, hi)
                batch.segments[-1].end_line = line_no - 1
                alive = self._flush(batch, alive)
                if not alive:
                    return alive, line_no
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
            parse.events += added
        if handover is None:
            return alive, line_no
        # Blank lines pad the general parser's numbering to the line it takes over.
        rest = itertools.chain(itertools.repeat(b"", line_no - 1), (handover,), pieces)
        tally = _Tally()
        for n, event in _numbered_events(rest, info.key, line_no - 1, parse, tally):
            if batch.is_full_for(len(event.raw) + 1, n):
                batch.segments[-1].end_line = n - 1
                alive = self._flush(batch, alive)
                if not alive:
                    return alive, tally.lines
                batch.begin(info, n)
                mark.reset()
            batch.add(event, n)
        return alive, tally.lines

    def _flush(self, batch: _Batch, alive: list[subscribers.Subscriber]) -> list[subscribers.Subscriber]:
        """Hand the batch to each live subscriber; record progress for those
        whose callback returned. Returns the subscribers still live."""
        if self.lock.lost:
            raise RunAborted("the run lock expired; another run may have started")
        survivors: list[subscribers.Subscriber] = []
        done, partial = batch.done_keys(), batch.partial()
        data = batch.ndjson() if batch.events else ""
        descriptor = batch.descriptor()
        self.report.events += batch.events
        for sub in alive:
            if batch.events:
                try:
                    sub(data, descriptor)
                except Exception as exc:
                    retry_at = self.state.record_failure(
                        sub.name,
                        f"{type(exc).__name__}: {exc}",
                        self.clock(),
                        self.settings.export_retry_base,
                        self.settings.export_retry_max,
                    )
                    self.report.failures[sub.name] = f"{type(exc).__name__}: {exc}"
                    when = dt.datetime.fromtimestamp(retry_at, dt.UTC).isoformat(timespec="seconds")
                    log(
                        f"Subscriber {sub.name} failed on a batch of {batch.events} events "
                        f"({', '.join(descriptor['keys'])}): {type(exc).__name__}: {exc}. "
                        f"It will be retried from there after {when}; other subscribers are not affected.",
                        E_USER_ERROR,
                    )
                    continue
                self.report.batches += 1
            if self.lock.lost:
                raise RunAborted("the run lock expired; another run may have started")
            self.state.record_success(sub.name, done, partial, self.clock())
            self.report.delivered.setdefault(sub.name, []).extend(done)
            if self.mode == "reconcile":
                for key in done:
                    self.report.late.append(key)
                    log(f"Late object {key} delivered to {sub.name} by reconciliation.", E_USER_WARNING)
            survivors.append(sub)
        batch.clear()
        return survivors

    def _read_failed(self, key: str, exc: SourceError) -> None:
        """An object could not be read: retried next run, never skipped; a
        corrupt one is quarantined after ``CORRUPT_ATTEMPTS`` runs."""
        self.failed_reads.add(key)
        self.report.read_errors[key] = str(exc)
        if isinstance(exc, CorruptObjectError):
            attempts = self.state.count_corrupt(key)
            if attempts >= CORRUPT_ATTEMPTS:
                self.state.quarantine(key, str(exc), self.now)
                self.state.clear_unread(key)
                self.report.quarantined.append(key)
                log(
                    f"Quarantined {key}: unreadable {attempts} times ({exc}). Fix the object, then run "
                    f"'flask --app wsgi export requeue {key}' to deliver it.",
                    E_USER_ERROR,
                )
                return
            self.state.note_unread(key, str(exc))
            log(f"Could not read {key} (attempt {attempts} of {CORRUPT_ATTEMPTS}): {exc}", E_USER_ERROR)
            return
        count = self.state.note_unread(key, str(exc))
        log(f"Could not read {key} (failure {count}): {exc}. It will be retried on the next run.", E_USER_ERROR)

    def _summarise(self, had_work: bool) -> None:
        """The original's log messages: success with the count, no files, empty
        data. Its "longer interval" advice only for the scheduled run that
        found nothing ``EMPTY_RUNS_BEFORE_WARNING`` times in a row: a run by
        hand or a replay that finds nothing new says so, without advice."""
        r = self.report
        if self.mode == "run" and self.trigger == "schedule" and (had_work or r.read_errors):
            self.state.reset_empty_runs()
        if self.mode == "run" and not had_work and not r.read_errors:
            if r.waiting or self.trigger == "replay":
                return
            if self.trigger == "manual":
                log("No new files found to export.", E_USER_NOTICE)
            elif self.state.count_empty_run() == EMPTY_RUNS_BEFORE_WARNING:
                log(
                    f"No new files found to export in {EMPTY_RUNS_BEFORE_WARNING} scheduled runs in a row. "
                    f"If this keeps happening, use a longer interval with the {filters.CRON_FREQUENCY} filter.",
                    E_USER_WARNING,
                )
            return
        if r.objects and not r.events:
            log(f"No events found in {r.objects} file(s): the data was empty.", E_USER_WARNING)
        elif r.events:
            log(
                f"Exported {r.events} events from {r.objects} file(s) in {r.batches} batch deliveries.",
                E_USER_NOTICE,
            )


def lookback_prefix(st: SubscriberState, late_hours: int) -> str:
    """Where a run lists from for ``st``: ``late_hours`` before its position
    (Firehose writes late objects under earlier hours), never before its start."""
    hour = layout.hour_of_key(st.position) if st.position else None
    if hour is None:
        return st.since
    try:
        earlier = hour - dt.timedelta(hours=late_hours)
    except OverflowError:  # a position in the calendar's first hours (replay --since 0001-01-01)
        return st.since
    return max(st.since, layout.hour_prefix(earlier))


class _Tally:
    """Physical lines read from the object being streamed."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines = 0


class _Mark:
    """Where the object being streamed began in the current batch, so a read
    that fails halfway takes its events (the batch tail) out again."""

    __slots__ = ("events", "first_ms", "last_ms", "start")

    def __init__(self, batch: _Batch) -> None:
        self.start = batch.size
        self.events = batch.events
        self.first_ms = batch.first_ms
        self.last_ms = batch.last_ms

    def reset(self) -> None:
        """The batch was handed over: the object now starts it."""
        self.start = self.events = 0
        self.first_ms = self.last_ms = None

    def drop(self, batch: _Batch) -> None:
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
    lines: t.Iterable[bytes], key: str, skip: int, parse: records.ParseReport, tally: _Tally
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

    for event in records.iter_events(counted(), key, parse):
        yield tally.lines, event


def requeue(settings: config.Settings, key: str, *, redis: redis_lib.Redis | None = None) -> RunReport:
    """Take ``key`` out of quarantine and deliver it now to every subscriber
    that has not received it."""
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    if not state.unquarantine(key):
        raise LookupError(f"{key} is not quarantined; 'export status' lists the quarantined objects")
    return run_export(settings, mode="keys", keys=[key], redis=redis, check_enabled=False)


def prepare_replay(
    settings: config.Settings,
    since: dt.datetime,
    names: t.Sequence[str] | None = None,
    *,
    redis: redis_lib.Redis | None = None,
    clock: t.Callable[[], float] = time.time,
) -> tuple[list[str], int]:
    """Rewind the named subscribers (all when None) to the hour of ``since``:
    everything from there becomes deliverable to them again. Returns them and
    how many objects there are to deliver (for a progress bar)."""
    current = {s.name for s in subscribers.current()}
    if not current:
        raise UnknownSubscriberError(f"nothing is hooked on {filters.DATA_PROCESS}: check ANALYTICS_INTEGRATIONS")
    targets = list(dict.fromkeys(names)) if names else sorted(current)
    for name in targets:
        if name not in current:
            raise UnknownSubscriberError(f"unknown subscriber {name!r}: expected one of {', '.join(sorted(current))}")
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    prefix = layout.hour_prefix(since)
    quarantined = set(state.quarantined())
    source = open_source(filters.source_location(settings))
    total = sum(1 for o in source.list(start_after=prefix) if layout.hour_of_key(o.key) and o.key not in quarantined)
    for name in targets:
        state.ensure(name, settings.export_start, clock())
        state.rewind(name, prefix)
    return targets, total


def replay(
    settings: config.Settings,
    targets: t.Sequence[str],
    *,
    redis: redis_lib.Redis | None = None,
    progress: t.Callable[[int], None] | None = None,
    clock: t.Callable[[], float] = time.time,
) -> RunReport:
    """Runs for ``targets`` only, repeated until nothing is left to deliver
    (or a subscriber fails); ``progress`` gets the objects each run completed."""
    combined = RunReport()
    while True:
        report = run_export(settings, only=targets, redis=redis, clock=clock, check_enabled=False, trigger="replay")
        delivered = {k for keys in report.delivered.values() for k in keys}
        combined.objects += report.objects
        combined.events += report.events
        combined.batches += report.batches
        combined.invalid_lines += report.invalid_lines
        combined.failures.update(report.failures)
        combined.read_errors.update(report.read_errors)
        combined.quarantined.extend(report.quarantined)
        for name, keys in report.delivered.items():
            combined.delivered.setdefault(name, []).extend(keys)
        if progress is not None and delivered:
            progress(len(delivered))
        if report.skipped == "locked":
            time.sleep(0.5)
            continue
        if not delivered or report.skipped or report.failures:
            return combined


def report_json(report: RunReport) -> bytes:
    return orjson.dumps(dataclasses.asdict(report))
