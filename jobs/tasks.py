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
