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

from . import replay
from .export import RunReport, run_export

logger = logging.getLogger(__name__)


def _settings() -> config.Settings:
    settings = config.get_settings()
    load_integrations(settings.integrations)
    return settings


def export_job() -> dict[str, t.Any]:
    """One scheduled export run."""
    return _summary(run_export(_settings(), trigger="schedule"))


def reconcile_job() -> dict[str, t.Any]:
    """The reconciliation pass: objects of the last ANALYTICS_RECONCILE_DAYS
    days that runs missed are delivered and logged as late."""
    return _summary(run_export(_settings(), mode="reconcile"))


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
