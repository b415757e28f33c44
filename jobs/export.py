"""The export run: new raw-event objects, streamed as NDJSON batches to every
subscriber of ``altis.analytics.export.data.process``, losing nothing.

One module (over 400 lines) because a run's steps (plan, stream, hand over,
record, summarise, alert) share one run's state and locks; planning
(``jobs.plan``), batches (``jobs.batch``) and replay (``jobs.replay``) are apart.

A run is a function of the source, the delivery state in Redis and the hooks
(``run_export``); the scheduled job, ``export run``, ``reconcile``, ``requeue``
and ``replay`` (``jobs.replay``) all call it. It plans (``jobs.plan``), then
hands each group of subscribers the batches ``jobs.batch`` fills. How it
avoids the original's seven defects:

1. Progress moves only after a subscriber's callback returns.
2. An object that fails to read stays pending (remembered in ``unread``) and is
   retried by every later run, and the first successful read owes it to every
   subscriber that has not delivered it yet (``DeliveryState.settle_failures``);
   a corrupt one is retried ``CORRUPT_ATTEMPTS`` times, then quarantined
   (status, E_USER_ERROR, ``export requeue``).
3. No single cursor: each subscriber has a ledger of delivered objects and
   each run lists from ``ANALYTICS_LATE_HOURS`` hours before its position, so
   an object Firehose writes late under an earlier hour is still delivered,
   once; the reconciliation pass covers ``ANALYTICS_RECONCILE_DAYS`` days
   (``jobs.plan``).
4. Objects are streamed line by line into batches of at most
   ``ANALYTICS_EXPORT_BATCH_BYTES`` (whole lines; an object larger than a batch
   spans several): memory is bounded by the batch size (``jobs.batch``).
5. Progress is stored as keys and line offsets, never as a ``[Bucket, Key]``.
6. Each subscriber has its own progress, error, and backoff; one that raises
   is skipped until its retry time while the others go on.
7. ``max.files`` is coerced and validated (``export_hooks.max_files``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import time
import typing as t

import config
import metrics
from events import records
from events.sources import CorruptObjectError, SourceError, open_source

from . import alerts, checkpoint, export_hooks, subscribers
from .batch import Batch, BatchWriter
from .export_hooks import E_USER_ERROR, E_USER_NOTICE, E_USER_WARNING, log
from .lock import RunLock
from .plan import Group, Mode, Plan, Planner
from .state import DeliveryState

if t.TYPE_CHECKING:
    import redis as redis_lib

    from events.sources import Source

logger = logging.getLogger(__name__)

#: Reads of one object that fail as corrupt before it is quarantined.
CORRUPT_ATTEMPTS = 3

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
    """A subscriber's lock was lost (Redis unreachable for longer than its TTL)."""


class SkipReason(enum.StrEnum):
    """Why a run did nothing (its value is the text logs and results show)."""

    DISABLED = "disabled"  # altis.analytics.export.cron.enabled returned false
    NO_SUBSCRIBERS = "no subscribers"  # nothing hooked on data.process
    LOCKED = "locked"  # other runs hold the lock of every subscriber asked for


@dataclasses.dataclass
class RunReport:
    """What one run did; ``skipped`` says why it did nothing (None: it ran)."""

    skipped: SkipReason | None = None
    objects: int = 0  # objects read to the end
    events: int = 0  # events read (each delivered to every subscriber that needed it)
    batches: int = 0  # successful callback calls
    delivered: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # subscriber -> keys completed
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # subscriber -> error
    waiting: list[str] = dataclasses.field(default_factory=list)  # subscribers in backoff
    busy: list[str] = dataclasses.field(default_factory=list)  # subscribers another run is delivering to
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
    or nobody is hooked on ``data.process``. Serves only the subscribers whose
    lock (``jobs.lock``) it gets: the others are being served by another run
    (``busy``); nothing when that is all of them (``LOCKED``).
    """
    report = RunReport()
    if check_enabled and not export_hooks.enabled():
        report.skipped = SkipReason.DISABLED
        logger.info("export disabled by %s", export_hooks.CRON_ENABLED)
        return report
    hooked = subscribers.current()
    everyone = [s.name for s in hooked]
    if only is not None:
        hooked = [s for s in hooked if s.name in only]
    if not hooked:
        report.skipped = SkipReason.NO_SUBSCRIBERS
        logger.info("nothing hooked on %s: export skipped", export_hooks.DATA_PROCESS)
        return report
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    lock = RunLock(redis, settings.redis_prefix, settings.export_lock_ttl, [s.name for s in hooked])
    with lock as held:
        if not held:
            report.skipped = SkipReason.LOCKED
            log("Another export run is in progress; this one is skipped.", E_USER_NOTICE)
            return report
        report.busy = [s.name for s in hooked if s.name not in held]
        hooked = [s for s in hooked if s.name in held]
        started = clock()
        if source is None:
            source = open_source(export_hooks.source_location(settings))
        where = checkpoint.location(settings, source.location)
        run = _Run(settings, state, source, lock, clock, report, mode, trigger, everyone)
        try:
            if _restore_lost(settings, state, hooked, where, started, report):
                run.execute(hooked, keys)
                _save_checkpoint(settings, state, where, clock())
        except RunAborted as exc:
            log(f"Export run aborted: {exc}", E_USER_ERROR)
        metrics.RUNS.labels(mode).inc()
        metrics.RUN_DURATION.labels(mode).observe(max(0.0, clock() - started))
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
                "subscribers": held,
            }
        )
    return report


def _restore_lost(
    settings: config.Settings,
    state: DeliveryState,
    hooked: list[subscribers.Subscriber],
    where: checkpoint.Where,
    now: float,
    report: RunReport,
) -> bool:
    """Put back, from the checkpoint, hooked subscribers that Redis lost.
    False (the run must not go on) when one is missing and the checkpoint
    cannot be read: starting it afresh could skip events."""
    missing = [s.name for s in hooked if state.get(s.name) is None]
    if not missing:
        return True
    try:
        saved = checkpoint.read(where) or {}
    except checkpoint.CheckpointError as exc:
        report.read_errors["checkpoint"] = str(exc)
        log(
            f"Redis has no export state for {', '.join(missing)} and {exc}; not starting "
            "them afresh (that could skip events). Retrying on the next run.",
            E_USER_ERROR,
        )
        return False
    for name in missing:
        if name in saved:
            since = checkpoint.restore(state, saved[name], name, now)
            log(
                f"Redis had lost the export state of {name} (an empty Redis: production Redis needs AOF "
                f"persistence); restored from the checkpoint {where.describe()} at position "
                f"{saved[name]['position'] or '(none)'}, history from {since or 'the beginning'}. Objects delivered "
                "after that checkpoint was written are delivered again.",
                E_USER_WARNING,
            )
    return True


def _save_checkpoint(settings: config.Settings, state: DeliveryState, where: checkpoint.Where, now: float) -> None:
    """Write every subscriber Redis knows to the checkpoint, keeping the
    checkpoint's others (not hooked in this process, or lost by Redis)."""
    try:
        saved = checkpoint.read(where) or {}
        saved.update(checkpoint.snapshot(state, state.known(), settings.late_hours))
        checkpoint.write(where, saved, now)
    except checkpoint.CheckpointError as exc:
        log(f"{exc}. Set ANALYTICS_EXPORT_CHECKPOINT to a writable place.", E_USER_WARNING)


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
        everyone: t.Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.state = state
        self.source = source
        self.lock = lock
        self.clock = clock
        self.report = report
        self.mode = mode
        self.trigger = trigger
        #: Every current subscriber (not only this run's): clearing a read
        #: failure owes the object to each that has not delivered it.
        self.everyone = everyone
        self.now = clock()
        self.failed_reads: set[str] = set()
        self.failing: set[str] = set()  # keys with a read failure on record when the run began
        self.alive: list[subscribers.Subscriber] = []  # the group being delivered to, less who failed
        self.was_failing: set[str] = set()  # planned with failures on record: a success is a recovery

    def execute(self, hooked: list[subscribers.Subscriber], keys: t.Sequence[str]) -> None:
        limit = export_hooks.max_files() if self.mode == "run" else None
        planner = Planner(self.settings, self.state, self.source, self.mode, self.now)
        # What failed before this run is all a successful read may have to
        # clear, so most objects cost no round trip. A failure another
        # subscriber's run notes meanwhile stays on record until a later read
        # clears it: its object is planned once more, never skipped.
        self.failing = self.state.failing()
        try:
            plan = planner.plan(hooked, limit, keys, self._read_failed)
        except SourceError as exc:
            self.report.waiting.extend(planner.waiting)
            self.report.read_errors[""] = str(exc)
            log(f"Could not list {self.source.location.describe()}: {exc}. Retrying on the next run.", E_USER_ERROR)
            return
        self.report.waiting.extend(plan.waiting)
        # "Its last call failed" (also true right after ``export resume``, which resets the count).
        self.was_failing = {
            p.name
            for p in plan.planned
            if p.failures or (p.last_error_at is not None and p.last_error_at > (p.last_success or 0.0))
        }
        for group in plan.groups:
            self._deliver(group)
        self._summarise(bool(plan.groups), ",".join(s.name for s in hooked))
        if self.mode == "run":
            self._check_lag(plan, limit)
        if self.mode == "reconcile" and self.report.late:
            late = sorted(set(self.report.late))
            alerts.alert(
                alerts.LATE_OBJECTS,
                f"Reconciliation delivered {len(late)} late object(s) that runs had missed.",
                details={"keys": late[:100], "count": len(late)},
            )
        if self.mode == "run":
            for progress in plan.planned:
                self.state.prune(progress.name, planner.keep_from(progress))

    # -- delivery -----------------------------------------------------------
    def _deliver(self, group: Group) -> None:
        self.alive = list(group.subscribers)
        writer = BatchWriter(self.settings.export_batch_bytes, self._hand_over)
        for info in group.objects:
            if info.key in self.failed_reads:
                continue
            parse_report = records.ParseReport()
            try:
                if not writer.write_object(info, group.offsets.get(info.key, 0), self.source.open_lines, parse_report):
                    return
            except SourceError as exc:
                self._read_failed(info.key, exc)
                continue
            self.report.objects += 1
            if info.key in self.failing:
                self.state.settle_failures(info.key, self.everyone)
            if parse_report.invalid_count:
                self.report.invalid_lines += parse_report.invalid_count
                where = "; ".join(f"line {i.line_no}: {i.reason}" for i in parse_report.invalid[:5])
                log(f"Skipped {parse_report.invalid_count} invalid line(s) in {info.key} ({where}).", E_USER_WARNING)
        writer.finish()

    def _hand_over(self, batch: Batch) -> bool:
        """Hand the batch to each live subscriber; record progress for those
        whose callback returned. Returns whether any is still live."""
        if self.lock.lost:
            raise RunAborted("a subscriber's lock expired; another run may have started")
        survivors: list[subscribers.Subscriber] = []
        done, partial = batch.done_keys(), batch.partial()
        data = batch.ndjson() if batch.events else ""
        descriptor = batch.descriptor()
        self.report.events += batch.events
        for sub in self.alive:
            if batch.events:
                try:
                    sub(data, descriptor)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    retry_at = self.state.record_failure(
                        sub.name, error, self.clock(), self.settings.export_retry_base, self.settings.export_retry_max
                    )
                    self.report.failures[sub.name] = error
                    when = dt.datetime.fromtimestamp(retry_at, dt.UTC).isoformat(timespec="seconds")
                    keys = descriptor["keys"]
                    # A batch may span up to max.files objects; the log action often feeds email or chat.
                    named = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
                    log(
                        f"Subscriber {sub.name} failed on a batch of {batch.events} events "
                        f"({named}): {error}. "
                        f"It will be retried from there after {when}; other subscribers are not affected.",
                        E_USER_ERROR,
                    )
                    self._failed(sub.name, error, retry_at)
                    continue
                self.report.batches += 1
                metrics.DELIVERED_BATCHES.labels(sub.name).inc()
                metrics.DELIVERED_EVENTS.labels(sub.name).inc(batch.events)
            if self.lock.lost:
                raise RunAborted("a subscriber's lock expired; another run may have started")
            self.state.record_success(sub.name, done, partial, self.clock())
            if sub.name in self.was_failing:
                self._recovered(sub.name)
            self.report.delivered.setdefault(sub.name, []).extend(done)
            if self.mode == "reconcile":
                for key in done:
                    self.report.late.append(key)
                    log(f"Late object {key} delivered to {sub.name} by reconciliation.", E_USER_WARNING)
            survivors.append(sub)
        self.alive = survivors
        return bool(survivors)

    def _read_failed(self, key: str, exc: SourceError) -> None:
        """An object could not be read: retried next run, never skipped; a
        corrupt one is quarantined after ``CORRUPT_ATTEMPTS`` runs."""
        self.failed_reads.add(key)
        self.report.read_errors[key] = str(exc)
        if isinstance(exc, CorruptObjectError):
            attempts = self.state.count_corrupt(key)
            if attempts >= CORRUPT_ATTEMPTS:
                self.state.quarantine(key, str(exc), self.now)
                self.report.quarantined.append(key)
                message = (
                    f"Quarantined {key}: unreadable {attempts} times ({exc}). Fix the object, then run "
                    f"'flask --app wsgi export requeue {key}' to deliver it."
                )
                log(message, E_USER_ERROR)
                metrics.QUARANTINED.inc()
                alerts.alert(alerts.QUARANTINED, message, details={"key": key, "error": str(exc)}, logged=True)
                return
            self.state.note_unread(key, str(exc))
            log(f"Could not read {key} (attempt {attempts} of {CORRUPT_ATTEMPTS}): {exc}", E_USER_ERROR)
            return
        count = self.state.note_unread(key, str(exc))
        log(f"Could not read {key} (failure {count}): {exc}. It will be retried on the next run.", E_USER_ERROR)

    # -- operations: metrics, alerts, auto-pause ------------------------------
    def _failed(self, name: str, error: str, retry_at: float) -> None:
        """After ``record_failure``: the first failure in a row alerts, the
        ``ANALYTICS_EXPORT_PAUSE_AFTER``-th pauses the subscriber (and alerts once)."""
        failures = self.state.consecutive_failures(name)
        metrics.DELIVERY_FAILURES.labels(name).inc()
        metrics.CONSECUTIVE_FAILURES.labels(name).set(failures)
        metrics.RETRY_AT.labels(name).set(retry_at)
        details = {"error": error, "failures": failures}
        if failures == 1:
            alerts.alert(alerts.FAILING, f"Subscriber {name} started failing: {error}", name, details, logged=True)
        pause_after = self.settings.export_pause_after
        if pause_after and failures >= pause_after:
            reason = f"{failures} failures in a row; last: {error}"
            if self.state.pause(name, reason, self.clock()):
                metrics.PAUSED.labels(name).set(1)
                alerts.alert(
                    alerts.PAUSED,
                    f"Subscriber {name} is paused after {failures} failures in a row (last: {error}). "
                    f"Nothing is lost: fix it, then run 'flask --app wsgi export resume {name}'.",
                    name,
                    details,
                )
        self.was_failing.add(name)

    def _recovered(self, name: str) -> None:
        self.was_failing.discard(name)
        metrics.CONSECUTIVE_FAILURES.labels(name).set(0)
        metrics.RETRY_AT.labels(name).set(0)
        alerts.alert(alerts.RECOVERED, f"Subscriber {name} recovered: a batch was delivered.", name)

    def _check_lag(self, plan: Plan, limit: int | None) -> None:
        """Each planned subscriber's lag -- the age of the oldest object it was
        planned but did not get -- to the gauge, and the lag alert raised or
        cleared when it crosses ``ANALYTICS_ALERT_LAG``. A subscriber that got
        a full selection (``limit`` objects) may have more waiting: unknown, unchanged."""
        selected: dict[str, Group] = {sub.name: group for group in plan.groups for sub in group.subscribers}
        now = self.clock()
        for progress in plan.planned:
            name = progress.name
            group = selected.get(name)
            done = set(self.report.delivered.get(name, ()))
            left = [info for info in group.objects if info.key not in done] if group else []
            if not left and group is not None and limit is not None and len(group.objects) >= limit:
                continue
            lag = max(0, int(now - min(info.last_modified.timestamp() for info in left))) if left else 0
            metrics.LAG.labels(name).set(lag)
            lagging = lag > self.settings.alert_lag
            if lagging == progress.lagging:
                continue
            self.state.set_lagging(name, lagging)
            details = {"lag_seconds": lag, "threshold_seconds": self.settings.alert_lag}
            if lagging:
                oldest = min(left).key
                message = f"Subscriber {name} is {lag} s behind (oldest undelivered object {oldest})."
                alerts.alert(alerts.LAGGING, message, name, {**details, "oldest": oldest})
            else:
                alerts.alert(alerts.LAG_CLEARED, f"Subscriber {name} caught up: lag {lag} s.", name, details)

    def _summarise(self, had_work: bool, served: str) -> None:
        """The original's log messages: success with the count, no files, empty
        data. Its "longer interval" advice only for the scheduled run that
        found nothing ``EMPTY_RUNS_BEFORE_WARNING`` times in a row (a streak
        per ``served``: a scheduled run serves one subscriber): a run by hand
        or a replay that finds nothing new says so, without advice."""
        report = self.report
        if self.mode == "run" and self.trigger == "schedule" and (had_work or report.read_errors):
            self.state.reset_empty_runs(served)
        if self.mode == "run" and not had_work and not report.read_errors:
            if report.waiting or self.trigger == "replay":
                return
            if self.trigger == "manual":
                log("No new files found to export.", E_USER_NOTICE)
            elif self.state.count_empty_run(served) == EMPTY_RUNS_BEFORE_WARNING:
                log(
                    f"No new files found to export in {EMPTY_RUNS_BEFORE_WARNING} scheduled runs in a row. "
                    f"If this keeps happening, use a longer interval with the {export_hooks.CRON_FREQUENCY} filter.",
                    E_USER_WARNING,
                )
            return
        if report.objects and not report.events:
            log(f"No events found in {report.objects} file(s): the data was empty.", E_USER_WARNING)
        elif report.batches:
            # Each subscriber's job logs its own run, so the message names who was served.
            log(
                f"Exported {report.events} events from {report.objects} file(s) in {report.batches} batch deliveries"
                f" to {served.replace(',', ', ')}.",
                E_USER_NOTICE,
            )
