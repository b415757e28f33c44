"""One RQ job per subscriber: what the scheduled export enqueues.

The periodic export job does not deliver anything itself: it enqueues one
``jobs.tasks.deliver_job`` per subscriber hooked on ``data.process``, so
several workers (on several hosts) serve several subscribers at once, and a
slow or failing one never delays another. Each job serves its subscriber
under that subscriber's own lock (``jobs.lock``) and progress
(``jobs.state``), exactly as ``export run`` would for that subscriber alone.

A subscriber never has two jobs queued or running: its job has a stable id
(``<prefix>deliver-<mode>-<digest of its name>``, RQ ids allow only letters,
digits, ``-`` and ``_``), and a subscriber whose job is still queued, or
started and holding its lock, is not enqueued again. A job a worker killed
with SIGKILL left "started" no longer holds the lock (it expired after
``ANALYTICS_EXPORT_LOCK_TTL``) and is replaced.

Each job lists the source for itself, from its own subscriber's lookback
point, rather than being handed a listing made here: a subscriber whose job
is still running when the next one is planned would get a stale plan, and
the listing is a small part of a job's work (README, "Running at scale",
has the figures).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import time
import typing as t

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from . import subscribers
from .lock import is_locked
from .schedule import EXPORT_TIMEOUT

if t.TYPE_CHECKING:
    import redis as redis_lib

    import config

    from .plan import Mode

DELIVER_TASK = "jobs.tasks.deliver_job"
#: Held while jobs are looked up and enqueued, so two fan-outs at once never
#: enqueue a subscriber twice.
FANOUT_LOCK = "{prefix}export:fanout-lock"
#: Seconds a finished delivery job's result is kept (``rq`` ``result_ttl``).
RESULT_TTL = 3600
#: Seconds a failed one is kept in RQ's failed registry (``failure_ttl``).
FAILURE_TTL = 86400
#: Job states in which a subscriber's job is still to run.
_PENDING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


@dataclasses.dataclass
class FanOut:
    """What one fan-out did: subscriber names, each in one list."""

    enqueued: list[str] = dataclasses.field(default_factory=list)
    already: list[str] = dataclasses.field(default_factory=list)  # a job of theirs is queued or running


def delivery_job_id(settings: config.Settings, mode: Mode, name: str) -> str:
    """The stable RQ job id of ``name``'s delivery in ``mode``."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return re.sub(r"[^A-Za-z0-9_-]", "-", settings.redis_prefix) + f"deliver-{mode}-{digest}"


def _still_active(job: Job, settings: config.Settings, redis: redis_lib.Redis, name: str, now: float) -> bool:
    status = job.get_status(refresh=False)
    if status in _PENDING:
        return True
    if status != JobStatus.STARTED:
        return False
    if is_locked(redis, settings.redis_prefix, name):
        return True
    # Started but without the lock: either just starting (not locked yet) or
    # its worker died and the lock expired.
    started = job.started_at.replace(tzinfo=dt.UTC).timestamp() if job.started_at else 0.0
    return now - started < settings.export_lock_ttl


def enqueue_deliveries(
    settings: config.Settings,
    redis: redis_lib.Redis,
    mode: Mode = "run",
    clock: t.Callable[[], float] = time.time,
) -> FanOut:
    """Enqueue a delivery job for every hooked subscriber that has none
    queued or running (see module doc). Nothing when nobody is hooked."""
    result = FanOut()
    queue = Queue(settings.queue_name, connection=redis)
    with redis.lock(FANOUT_LOCK.format(prefix=settings.redis_prefix), timeout=60, blocking_timeout=60):
        for sub in subscribers.current():
            jid = delivery_job_id(settings, mode, sub.name)
            try:
                job = Job.fetch(jid, connection=redis)
            except NoSuchJobError:
                job = None
            if job is not None and _still_active(job, settings, redis, sub.name, clock()):
                result.already.append(sub.name)
                continue
            queue.enqueue(
                DELIVER_TASK,
                sub.name,
                mode,
                job_id=jid,
                job_timeout=EXPORT_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                description=f"export ({mode}) to {sub.name}",
            )
            result.enqueued.append(sub.name)
    return result
