"""Profile where a download or an export spends its time, with pyinstrument.

Runs, in this process, the same functions the events route and the export
call (``catalog.day_summary``, ``wpjson._stream.day_body``;
``jobs.export.run_export``), without HTTP, so the profile shows the service's
own code. For the whole server under load use py-spy on a gunicorn worker
(``py-spy record --pid <worker> --format speedscope``; pip install py-spy).

Usage (from the repository root, after ``bench/run`` made the data):
    PYTHONPATH=.:bench .venv/bin/python bench/profile.py json --data bench/data/500000-seed1
    ... profile.py csv --cold ...     (summaries deleted first: the cold path)
    ... profile.py export ...         (one export run, no-op subscriber, fresh state)
"""

from __future__ import annotations

import argparse
import os
import time
import typing as t
from pathlib import Path

import harness

if t.TYPE_CHECKING:
    import config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["json", "csv", "ndjson", "export"])
    parser.add_argument("--data", type=Path, required=True, help="a data directory made by bench/run")
    parser.add_argument("--cold", action="store_true", help="delete the day's summaries first")
    parser.add_argument("--gzip", action="store_true", help="compress the body as for Accept-Encoding: gzip")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    args = parser.parse_args()
    prefix = f"{harness.REDIS_PREFIX}profile:"
    env = harness.service_env(args.data.resolve(), prefix)
    if args.what == "export":
        env.update(ANALYTICS_INTEGRATIONS="bench_noop_subscriber", ANALYTICS_EXPORT_START="beginning")
    os.environ.update(env)

    from pyinstrument import Profiler

    import config

    settings = config.Settings.from_env()
    harness.delete_keys(prefix + "*")
    work = _export(settings) if args.what == "export" else _download(settings, args, prefix)
    profiler = Profiler(interval=0.001)
    started = time.perf_counter()
    with profiler:
        produced = work()
    print(f"{args.what}: {produced} in {time.perf_counter() - started:.2f} s (profiled)")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        args.html.write_text(profiler.output_html())
    harness.delete_keys(prefix + "*")


def _download(settings: config.Settings, args: argparse.Namespace, prefix: str) -> t.Callable[[], str]:
    import config
    from events import catalog
    from events.sources import open_source
    from wpjson import _stream

    source = open_source(settings.source)
    redis = config.redis_connection(settings.redis_url)
    day = harness.BENCH_DAY
    if not args.cold:
        catalog.day_summary(source, redis, prefix, day, harness.BLOG, settings.late_hours)

    def work() -> str:
        summary = catalog.day_summary(source, redis, prefix, day, harness.BLOG, settings.late_hours)
        size = 0
        for piece in _stream.day_body(source, summary, day, harness.BLOG, args.what, 3000, args.gzip):
            size += len(piece)
        return f"{summary.count} events, {size / 1e6:.1f} MB body"

    return work


def _export(settings: config.Settings) -> t.Callable[[], str]:
    import integrations
    import jobs.export

    integrations.load_integrations(settings.integrations)
    import bench_noop_subscriber as sink

    def work() -> str:
        report = jobs.export.run_export(settings)
        return f"{report.objects} objects, {sink.events} events in {sink.calls} batches"

    return work


if __name__ == "__main__":
    main()
