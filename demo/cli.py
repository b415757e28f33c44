"""``flask --app wsgi demo-data``: write demo events in Firehose layout and
print what was written (``format_table``)."""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from pathlib import Path

import click

from app_settings import APP_CONFIG_KEY
from cli_errors import OneLineCommand

from ._generator import DemoSummary, generate

if t.TYPE_CHECKING:
    import config


def _parse_start(ctx: click.Context, param: click.Parameter, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: expected YYYY-MM-DD, e.g. 2026-11-20") from None


def _at_least_one(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value < 1:
        raise click.BadParameter(f"{value} is too small: expected a whole number of at least 1")
    return value


def _parse_sites(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise click.BadParameter(f"{value!r} is not a list of blog ids: expected e.g. 1,2,3")
    ids = tuple(int(p) for p in parts)
    if len(set(ids)) != len(ids):
        raise click.BadParameter(f"{value!r} names a blog id twice: expected distinct ids, e.g. 1,2,3")
    return ids


def _default_out() -> Path:
    """The configured local source directory; S3 needs an explicit ``--out``."""
    from flask import current_app
    from flask.cli import ScriptInfo

    app = current_app._get_current_object() if current_app else None  # type: ignore[attr-defined]
    if app is None:
        app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    settings: config.Settings = app.config[APP_CONFIG_KEY]
    source = settings.source
    if source.kind != "local" or source.path is None:
        raise click.ClickException(
            f"the configured source is {source.describe()}: demo-data writes local files, give --out DIR "
            "(and copy them to the bucket, e.g. aws s3 sync DIR s3://bucket/prefix)"
        )
    return source.path


@click.command("demo-data", cls=OneLineCommand)
@click.option(
    "--out",
    type=click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path),
    default=None,
    help="Directory to write into (default: the configured local ANALYTICS_SOURCE).",
)
@click.option("--start", required=True, metavar="YYYY-MM-DD", callback=_parse_start, help="First UTC day, YYYY-MM-DD.")
@click.option("--days", type=int, default=1, show_default=True, callback=_at_least_one, help="Number of days.")
@click.option(
    "--events-per-day", type=int, required=True, callback=_at_least_one, help="Events generated for each day."
)
@click.option(
    "--sites", default="1,2,3", show_default=True, metavar="IDS", callback=_parse_sites, help="Blog ids, e.g. 1,2."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same files.")
def demo_data_command(
    out: Path | None, start: dt.date, days: int, events_per_day: int, sites: tuple[int, ...], seed: int
) -> None:
    """Write realistic Pinpoint events in Firehose layout (some gzipped, some
    late, some dated the day before their folder) and print what was written.
    Days reaching the present stop at the current time: nothing in the future."""
    out_dir = out if out is not None else _default_out()
    began = time.perf_counter()
    try:
        summary = generate(out_dir, start, days, events_per_day, sites, seed, until=dt.datetime.now(dt.UTC))
    except OSError as exc:
        raise click.ClickException(f"cannot write demo data to {out_dir}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - began
    click.echo(format_table(summary))
    click.echo(
        f"wrote {summary.events} events in {summary.objects} objects ({summary.gzipped} gzipped, "
        f"{summary.late} under an earlier hour than written) to {out_dir} in {seconds:.1f}s"
    )


def format_table(summary: DemoSummary) -> str:
    """Events per site and UTC day of ``event_timestamp``, then per site and in all."""
    rows = [("site", "UTC day", "events")]
    per_site: dict[int, int] = {}
    for (blog, day), n in sorted(summary.counts.items()):
        rows.append((str(blog), day.isoformat(), str(n)))
        per_site[blog] = per_site.get(blog, 0) + n
    for blog, n in per_site.items():
        rows.append((str(blog), "all days", str(n)))
    rows.append(("all", "all days", str(summary.events)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows)
