"""The periodic jobs, declared as data, and their sync into rq-scheduler.

``periodic_jobs`` is the one list of what runs periodically; ``sync`` makes
rq-scheduler's schedule match it when a scheduler process starts:

- each job has a stable id (``<prefix>periodic-<name>``), so several
  schedulers starting at once never create duplicates (and ``sync`` holds a
  Redis lock while it compares and writes);
- an unchanged job keeps its next run time (restarting the scheduler does
  not reschedule everything);
- a changed one (interval from the frequency filter, timeout, function) is
  replaced and runs now;
- a job no longer declared (the export disabled by ``cron.enabled``) is
  removed.

Periodic jobs get a ``result_ttl`` longer than their interval: rq-scheduler
re-enqueues the same job hash, which must still exist at the next run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import typing as t

from rq_scheduler import Scheduler

from . import export_hooks

if t.TYPE_CHECKING:
    import redis as redis_lib

    import config

logger = logging.getLogger(__name__)

SYNC_LOCK = "{prefix}scheduler:sync-lock"
#: How long one export run may take on a worker before RQ stops it. Much longer
#: than a run needs for max.files objects; a stopped run loses nothing.
EXPORT_TIMEOUT = 3600
CATALOG_WARM_INTERVAL = 600
RECONCILE_INTERVAL = 86400


@dataclasses.dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str  # dotted path of an argument-less function in jobs.tasks
    interval: int
    timeout: int
    description: str

    @property
    def result_ttl(self) -> int:
        return self.interval * 2 + 60

    def signature(self) -> str:
        """What must match for a scheduled job to be kept as it is."""
        return f"{self.func}|{self.interval}|{self.timeout}|{self.result_ttl}"


def periodic_jobs() -> list[PeriodicJob]:
    """Every periodic job, given the hooks registered in this process: the
    export (every ``cron.frequency``) and its daily reconciliation while
    ``cron.enabled`` is true, and the catalog warm-up (today and yesterday,
    every 10 minutes) always."""
    declared = [
        PeriodicJob(
            "catalog-warm",
            "jobs.tasks.catalog_warm_job",
            CATALOG_WARM_INTERVAL,
            CATALOG_WARM_INTERVAL,
            "warm the event catalog for today and yesterday (UTC)",
        )
    ]
    if export_hooks.enabled():
        frequency = export_hooks.frequency()
        declared.append(
            PeriodicJob(
                "export",
                "jobs.tasks.export_job",
                frequency.interval,
                EXPORT_TIMEOUT,
                f"scheduled export ({frequency.name}, every {frequency.interval} s)",
            )
        )
        declared.append(
            PeriodicJob(
                "reconcile",
                "jobs.tasks.reconcile_job",
                RECONCILE_INTERVAL,
                EXPORT_TIMEOUT,
                "export reconciliation: deliver objects written late",
            )
        )
    return declared


def job_id(settings: config.Settings, name: str) -> str:
    """RQ job ids allow letters, digits, '_' and '-': the prefix is folded in."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", settings.redis_prefix) + "periodic-" + name


def scheduler_for(settings: config.Settings, redis: redis_lib.Redis, poll_interval: int = 60) -> Scheduler:
    return Scheduler(queue_name=settings.queue_name, connection=redis, interval=poll_interval)


@dataclasses.dataclass
class SyncResult:
    kept: list[str] = dataclasses.field(default_factory=list)
    created: list[str] = dataclasses.field(default_factory=list)
    replaced: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)


def sync(settings: config.Settings, redis: redis_lib.Redis) -> SyncResult:
    """Make rq-scheduler's schedule match ``periodic_jobs()`` (see module doc)."""
    declared = periodic_jobs()
    ours = job_id(settings, "")
    result = SyncResult()
    scheduler = scheduler_for(settings, redis)
    with redis.lock(SYNC_LOCK.format(prefix=settings.redis_prefix), timeout=60, blocking_timeout=60):
        existing = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(ours)}
        for periodic in declared:
            jid = job_id(settings, periodic.name)
            job = existing.pop(jid, None)
            if job is not None:
                if job.meta.get("declared") == periodic.signature() and job.origin == settings.queue_name:
                    result.kept.append(periodic.name)
                    continue
                scheduler.cancel(job)
                result.replaced.append(periodic.name)
            else:
                result.created.append(periodic.name)
            scheduler.schedule(
                scheduled_time=dt.datetime.now(dt.UTC).replace(tzinfo=None),  # rq-scheduler: naive UTC
                func=periodic.func,
                interval=periodic.interval,
                timeout=periodic.timeout,
                result_ttl=periodic.result_ttl,
                id=jid,
                description=periodic.description,
                queue_name=settings.queue_name,
                meta={"declared": periodic.signature()},
            )
        for jid, job in sorted(existing.items()):
            scheduler.cancel(job)
            result.removed.append(jid[len(ours) :])
    logger.info(
        "periodic jobs synced: kept %s, created %s, replaced %s, removed %s",
        result.kept,
        result.created,
        result.replaced,
        result.removed,
    )
    return result


def next_runs(settings: config.Settings, redis: redis_lib.Redis) -> dict[str, dt.datetime]:
    """Periodic job name -> next run time (aware UTC), as scheduled now."""
    ours = job_id(settings, "")
    out: dict[str, dt.datetime] = {}
    for job, when in scheduler_for(settings, redis).get_jobs(with_times=True):
        if job.id.startswith(ours):
            out[job.id[len(ours) :]] = when.replace(tzinfo=dt.UTC)
    return out
