"""The functions periodic jobs call on an RQ worker.

They take no arguments: the worker reads its settings from the environment
(``config.get_settings``) and loads the integrations itself, so a plain
``rq worker`` runs them as well as ``flask --app wsgi worker``. Each returns
a small summary that RQ keeps as the job's result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t

import config
from events.catalog import warm_days
from integrations import load_integrations

from . import export_hooks, replay
from .export import RunReport, SkipReason, run_export
from .fanout import enqueue_deliveries

if t.TYPE_CHECKING:
    from .plan import Mode

logger = logging.getLogger(__name__)


def _settings() -> config.Settings:
    settings = config.get_settings()
    load_integrations(settings.integrations)
    return settings


def export_job() -> dict[str, t.Any]:
    """One scheduled export: a delivery job per subscriber (``jobs.fanout``).
    Returns ``{"skipped", "enqueued", "already"}`` (subscriber names)."""
    return _fan_out("run")


def reconcile_job() -> dict[str, t.Any]:
    """The reconciliation pass, a job per subscriber: objects of the last
    ANALYTICS_RECONCILE_DAYS days that runs missed are delivered and logged as late."""
    return _fan_out("reconcile")


def deliver_job(name: str, mode: Mode = "run") -> dict[str, t.Any]:
    """One subscriber's scheduled run (``mode`` ``run``) or reconciliation
    (``reconcile``), under its own lock; what ``export_job`` enqueues. A
    subscriber no longer hooked is skipped (``no subscribers``)."""
    return _summary(run_export(_settings(), mode=mode, only=[name], trigger="schedule"))


def _fan_out(mode: Mode) -> dict[str, t.Any]:
    settings = _settings()
    if not export_hooks.enabled():
        logger.info("export disabled by %s", export_hooks.CRON_ENABLED)
        return {"skipped": str(SkipReason.DISABLED), "enqueued": [], "already": []}
    fan_out = enqueue_deliveries(settings, config.redis_connection(settings.redis_url), mode)
    if not fan_out.enqueued and not fan_out.already:
        return {"skipped": str(SkipReason.NO_SUBSCRIBERS), "enqueued": [], "already": []}
    return {"skipped": "", **dataclasses.asdict(fan_out)}


def catalog_warm_job() -> int:
    """Summarise today's and yesterday's objects (UTC) so that day requests
    find their catalog warm. Returns how many objects were read."""
    settings = _settings()
    today = dt.datetime.now(dt.UTC).date()
    return warm_days(settings, [today - dt.timedelta(days=1), today])


def _summary(report: RunReport) -> dict[str, t.Any]:
    data = dataclasses.asdict(report)
    data["skipped"] = str(report.skipped or "")  # the job result keeps plain text
    data.pop("delivered", None)
    data["delivered_objects"] = sum(len(v) for v in report.delivered.values())
    return data


def replay_job(since: str, names: list[str] | None = None) -> dict[str, t.Any]:
    """``export replay`` on a worker (the admin dashboard's replay form):
    rewinds ``names`` (all subscribers when None) to the UTC hour ``since``
    (ISO 8601, e.g. ``2026-11-20T06:00:00+00:00``) and delivers until nothing
    is left. Progress is kept in the RQ job's meta as ``{"done", "total"}``
    (objects), saved after each run, for whoever polls the job."""
    from rq import get_current_job

    settings = _settings()
    job = get_current_job()
    start = dt.datetime.fromisoformat(since)
    targets, total = replay.prepare_replay(settings, start, names)
    progress: dict[str, t.Any] = {"done": 0, "total": total, "subscribers": targets}

    def save() -> None:
        if job is not None:
            job.meta.update(progress)
            job.save_meta()  # type: ignore[no-untyped-call]

    def advance(objects: int) -> None:
        progress["done"] = min(total, int(progress["done"]) + objects)
        save()

    save()
    report = replay.replay(settings, targets, progress=advance)
    summary = _summary(report)
    if not report.failures and not report.read_errors:
        # Finished with nothing left to deliver: complete, even if the count made
        # before the run differs (an object quarantined or delivered meanwhile).
        advance(total)
    return {**summary, **progress}
