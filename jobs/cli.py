"""``flask --app wsgi export ...``, ``flask --app wsgi worker`` and
``flask --app wsgi scheduler``.

Every failure is one line on stderr and a non-zero exit (bad date, unknown
subscriber, Redis unreachable), never a traceback. The integrations are
already loaded by ``wsgi.create_app``; the worker and scheduler load them
again (a no-op) so that the hooks they fire are the web app's.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import typing as t

import click
import orjson
import redis as redis_lib

import config
from app_settings import app_settings
from cli_errors import OneLineCommand, OneLineGroup, one_line_errors
from events.sources import SourceError
from integrations import load_integrations

from . import pause, replay, schedule
from .export import RunReport, SkipReason, run_export
from .status import export_status, format_duration

if t.TYPE_CHECKING:
    from flask import Flask

export_cli = OneLineGroup("export", help="Run, inspect and steer the scheduled export.")


def register_cli(app: Flask) -> None:
    """Add ``export``, ``worker`` and ``scheduler`` to ``app``'s CLI."""
    app.cli.add_command(export_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)


#: Every command's expected failures, as one line (``cli_errors``).
_one_line_errors = one_line_errors(prefixes={SourceError: "the event source failed"})


def _settings() -> config.Settings:
    return app_settings()


def _redis() -> redis_lib.Redis:
    return config.redis_connection(_settings().redis_url)


def _describe(report: RunReport) -> str:
    if report.skipped is SkipReason.DISABLED:
        return "The export is disabled (altis.analytics.export.cron.enabled returned false); nothing done."
    if report.skipped is SkipReason.NO_SUBSCRIBERS:
        return "Nothing is hooked on altis.analytics.export.data.process (see ANALYTICS_INTEGRATIONS); nothing done."
    if report.skipped is SkipReason.LOCKED:
        return "Another export run is in progress; nothing done."
    busy = [f"  {name}: another run is in progress for it; left to that run" for name in report.busy]
    if not (report.objects or report.delivered or report.waiting or report.failures or report.read_errors):
        return "\n".join(["Nothing new to export.", *busy])
    lines = [f"{report.events} events from {report.objects} object(s) in {report.batches} batch deliveries."]
    for name, keys in sorted(report.delivered.items()):
        lines.append(f"  {name}: {len(keys)} object(s) completed")
    for name in report.waiting:
        lines.append(f"  {name}: waiting for its retry time, or paused (see 'export status')")
    lines += busy
    if report.late:
        lines.append(f"Late objects delivered: {len(report.late)}")
    if report.invalid_lines:
        lines.append(f"Invalid lines skipped: {report.invalid_lines}")
    return "\n".join(lines)


def _finish(report: RunReport) -> None:
    click.echo(_describe(report))
    problems = [f"{name} failed: {error}" for name, error in sorted(report.failures.items())]
    problems += [f"could not read {key or 'the listing'}: {error}" for key, error in report.read_errors.items()]
    if problems:
        raise click.ClickException("; ".join(problems) + " (retried on the next run)")


@export_cli.command("run")
@_one_line_errors
def run_command() -> None:
    """Run the export once now, synchronously (same code as the scheduled job)."""
    _finish(run_export(_settings(), redis=_redis()))


@export_cli.command("reconcile")
@_one_line_errors
def reconcile_command() -> None:
    """Deliver objects of the last ANALYTICS_RECONCILE_DAYS days that runs missed."""
    _finish(run_export(_settings(), mode="reconcile", redis=_redis()))


@export_cli.command("requeue")
@click.argument("key")
@_one_line_errors
def requeue_command(key: str) -> None:
    """Take KEY out of quarantine and deliver it now."""
    try:
        report = replay.requeue(_settings(), key, redis=_redis())
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    _finish(report)


@export_cli.command("resume")
@click.argument("name")
@_one_line_errors
def resume_command(name: str) -> None:
    """Resume subscriber NAME, paused after ANALYTICS_EXPORT_PAUSE_AFTER failures in a row."""
    try:
        pause.resume(_settings(), name, redis=_redis())
    except (LookupError, replay.UnknownSubscriberError) as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(f"Resumed {name}: the next run delivers everything from its position.")


class SinceType(click.ParamType[dt.datetime, t.Any]):
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (UTC)."""

    name = "YYYY-MM-DD[THH]"

    def convert(self, value: t.Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip()
        match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}))?", text)
        try:
            if not match:
                raise ValueError
            day = dt.date.fromisoformat(match.group(1))
            hour = int(match.group(2) or 0)
            return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
        except ValueError:
            self.fail(f"{text!r} is not a UTC date or hour: expected YYYY-MM-DD or YYYY-MM-DDTHH", param, ctx)


@export_cli.command("replay")
@click.option("--since", "since", type=SinceType(), required=True, help="First UTC day or hour to redeliver.")
@click.option("--subscriber", "names", multiple=True, help="Callback name (as in 'export status'); default all.")
@_one_line_errors
def replay_command(since: dt.datetime, names: tuple[str, ...]) -> None:
    """Redeliver history from --since to one or all subscribers (a backfill)."""
    settings = _settings()
    redis = _redis()
    try:
        targets, total = replay.prepare_replay(settings, since, names or None, redis=redis)
    except replay.UnknownSubscriberError as exc:
        raise click.ClickException(str(exc)) from None
    label = f"Replaying {total} object(s) since {since:%Y-%m-%dT%H}:00Z to {', '.join(targets)}"
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        report = replay.replay(settings, targets, redis=redis, progress=bar.update)
    _finish(report)


@export_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_one_line_errors
def status_command(as_json: bool) -> None:
    """Is the export on, when does it run next, where is each subscriber."""
    data = export_status(_settings(), _redis())
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    freq = data["frequency"]
    click.echo(f"enabled:     {'yes' if data['enabled'] else 'no'}")
    click.echo(f"frequency:   {freq['name']} (every {freq['interval']} s)")
    click.echo(f"next run:    {data['next_run'] or '-'}")
    click.echo(f"source:      {data['source']}")
    if not data["subscribers"]:
        click.echo("subscribers: none hooked on altis.analytics.export.data.process")
    for sub in data["subscribers"]:
        click.echo(f"subscriber {sub['name']}{'' if sub['hooked'] else ' (no longer hooked)'}")
        click.echo(f"  position:      {sub['position'] or '-'} (since {sub['since']})")
        click.echo(f"  pending:       {sub['pending']} object(s), lag {format_duration(sub['lag_seconds'])}")
        click.echo(f"  last success:  {sub['last_success'] or '-'}")
        if sub["delivering"]:
            click.echo("  delivering:    now (a run holds its lock)")
        if sub["last_error"]:
            click.echo(f"  last error:    {sub['last_error_at']} {sub['last_error']}")
        if sub["retry_at"]:
            click.echo(f"  retry at:      {sub['retry_at']}")
        if sub["paused"]:
            click.echo(f"  PAUSED:        since {sub['paused_at']}: {sub['paused_reason']}")
            click.echo(f"                 resume with: flask --app wsgi export resume {sub['name']}")
    for item in data["unreadable"]:
        click.echo(f"unreadable {item['key']}: {item['count']} failed read(s), last: {item['error']}")
    click.echo(f"quarantined: {len(data['quarantined'])}")
    for item in data["quarantined"]:
        click.echo(f"  {item['key']} ({item['at']}): {item['reason']}")


@click.command("worker", cls=OneLineCommand)
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@_one_line_errors
def worker_command(burst: bool) -> None:
    """Run an RQ worker on ANALYTICS_QUEUE, with the integrations loaded."""
    from rq import Queue, Worker

    settings = _settings()
    load_integrations(settings.integrations)
    _redis().ping()
    redis = rq_connection(settings.redis_url)
    queue = Queue(settings.queue_name, connection=redis)
    Worker([queue], connection=redis).work(burst=burst, with_scheduler=False, logging_level="INFO")


def rq_connection(url: str) -> redis_lib.Redis:
    """A client of RQ's own for the worker. RQ raises its connection's socket
    time-out above its blocking dequeue's (about 7 minutes); on the shared
    client (``config.redis_connection``) that would also make the jobs' own
    commands wait that long on a frozen Redis instead of
    ``config.REDIS_SOCKET_TIMEOUT``."""
    return redis_lib.Redis.from_url(url, socket_connect_timeout=config.REDIS_CONNECT_TIMEOUT)


@click.command("scheduler", cls=OneLineCommand)
@click.option("--poll-interval", default=10, show_default=True, type=click.IntRange(1, 3600), help="Seconds.")
@click.option("--burst", is_flag=True, help="Sync, enqueue what is due once, and exit.")
@_one_line_errors
def scheduler_command(poll_interval: int, burst: bool) -> None:
    """Sync the periodic jobs into rq-scheduler, then run rq-scheduler."""
    settings = _settings()
    load_integrations(settings.integrations)
    redis = _redis()
    schedule.sync(settings, redis)  # logs what it kept, created, replaced and removed
    schedule.scheduler_for(settings, redis, poll_interval).run(burst=burst)
