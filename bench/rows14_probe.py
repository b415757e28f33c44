"""Issue 14's rows alone, over HTTP, without the whole ``bench/run``.

On one fresh gunicorn (as ``bench/run`` starts it) over the big day, each round
takes, back to back as ``bench/run`` does: a five-column ``_fields`` CSV
download, a Parquet download and a full CSV download (warm). It prints each
sample and the ratios of the medians: Parquet time / CSV time (target <= 1.5)
and ``_fields`` CSV events/s / full CSV events/s (target >= 2), and the
server's peak RSS. The machine is shared: compare ratios of one run only.

Usage (from the repository root, Redis at BENCH_REDIS_URL):
    PYTHONPATH=.:bench .venv/bin/python bench/rows14_probe.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics

import harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = harness.ensure_data(args.events)
    prefix = f"{harness.REDIS_PREFIX}rows14probe:"
    server = harness.Server(data, prefix)
    samples: dict[str, list[float]] = {"fields": [], "parquet": [], "csv": []}
    try:
        why = server.start()
        if why:
            raise SystemExit(f"rows14_probe: the server did not start: {why}")
        harness.clear_catalog(prefix)
        harness.download(server, "json")  # warm: the downloads below are warm
        for round_no in range(args.rounds):
            for name, fmt, extra in (
                ("fields", "csv", "&_fields=" + harness.FIELDS_5),
                ("parquet", "parquet", ""),
                ("csv", "csv", ""),
            ):
                got = harness.download(server, fmt, extra=extra)
                if got.status != 200:
                    raise SystemExit(f"rows14_probe: {name} answered HTTP {got.status}")
                samples[name].append(got.seconds)
            print(
                f"round {round_no + 1}: load {os.getloadavg()[0]:.1f}; "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in samples.items()),
                flush=True,
            )
        rss = server.peak_rss_mb()
    finally:
        server.stop()
        harness.delete_keys(prefix + "*")
    median = {name: statistics.median(values) for name, values in samples.items()}
    # Same events in both CSV downloads: events/s ratio = inverse time ratio.
    print(f"Parquet / CSV time {median['parquet'] / median['csv']:.2f} (target <= 1.5)")
    print(f"_fields CSV / full CSV events/s {median['csv'] / median['fields']:.2f} (target >= 2)")
    print(f"server peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
