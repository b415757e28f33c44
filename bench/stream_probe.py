"""Micro-benchmark of the events route's body, in-process, against the floor.

Times, side by side and several times over on the same files: the floor of
``bench/baselines.py`` (read, ``orjson.loads``, filter, write to /dev/null),
the body generator of the route for JSON, NDJSON+gzip and CSV on a warm day,
and the time to first byte of a cold CSV day (summaries deleted first) and of
a warm one. Prints medians and each one's ratio to the floor of the same run:
the machine is shared, so only ratios are comparable between runs.

Usage (from the repository root):
    .venv/bin/python bench/stream_probe.py --events 200000 --reps 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import baselines  # noqa: E402

DAY = dt.date(2024, 3, 5)
BLOG = 1
LATE_HOURS = 2
PREFIX = "streamprobe:"


def data_dir(base: Path, events: int) -> Path:
    """A generated day of ``events`` events over sites 1-3, made once and reused."""
    import demo

    path = base / f"{events}-seed1"
    if not (path / ".done").exists():
        demo.generate(path, DAY, 1, events, sites=(1, 2, 3), seed=1)
        (path / ".done").write_text("ok")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--base", type=Path, default=Path("/tmp/streamprobe"))
    parser.add_argument("--redis", default=os.environ.get("PROBE_REDIS_URL", "redis://127.0.0.1:6379/4"))
    parser.add_argument("--only", default="json,ndjson-gz,csv,cold,warm", help="comma-separated measures")
    parser.add_argument("--app-gc", action="store_true", help="apply wsgi's GC settings first, as a worker would")
    args = parser.parse_args()
    root = data_dir(args.base, args.events)

    import redis as redis_lib

    from config import SourceLocation
    from events import catalog
    from events.sources import open_source
    from wpjson import _stream

    if args.app_gc:
        import wsgi

        getattr(wsgi, "tune_gc", lambda: None)()
    redis = redis_lib.Redis.from_url(args.redis)
    source = open_source(SourceLocation(kind="local", path=root))
    keys = baselines.day_keys(root, DAY, LATE_HOURS)
    bounds = baselines.day_bounds_ms(DAY)

    def clear() -> None:
        for key in redis.scan_iter(match=PREFIX + "*", count=1000):
            redis.delete(key)

    def summary() -> catalog.DaySummary:
        return catalog.day_summary(source, redis, PREFIX, DAY, BLOG, LATE_HOURS)

    def pieces(fmt: str, gz: bool) -> t.Iterator[bytes]:
        return _stream.day_body(source, summary(), DAY, BLOG, fmt, 3000, gz)

    def full(fmt: str, gz: bool) -> float:
        started = time.perf_counter()
        size = 0
        for piece in pieces(fmt, gz):
            size += len(piece)
        return time.perf_counter() - started

    def ttfb(cold: bool) -> float:
        if cold:
            clear()
        started = time.perf_counter()
        body = pieces("csv", False)
        next(body)
        took = time.perf_counter() - started
        t.cast(t.Generator[bytes, None, None], body).close()
        return took

    def floor() -> float:
        started = time.perf_counter()
        baselines.floor(root, keys, bounds, str(BLOG))
        return time.perf_counter() - started

    clear()
    count = summary().count
    measures: dict[str, t.Callable[[], float]] = {
        "json": lambda: full("json", False),
        "ndjson-gz": lambda: full("ndjson", True),
        "csv": lambda: full("csv", False),
        "cold": lambda: ttfb(True),
        "warm": lambda: ttfb(False),
    }
    wanted = [m for m in args.only.split(",") if m]
    times: dict[str, list[float]] = {"floor": []}
    ratios: dict[str, list[float]] = {m: [] for m in wanted}
    for _ in range(args.reps):
        base = floor()
        times["floor"].append(base)
        for name in wanted:
            if name != "cold":
                summary()  # warm
            gc.collect()
            took = measures[name]()
            times.setdefault(name, []).append(took)
            # events/s ratio for downloads (floor time / our time); time ratio for TTFB (ours / floor)
            ratios[name].append(took / base if name in ("cold", "warm") else base / took)
    print(f"{args.events} events generated, blog {BLOG}'s day: {count} events in {len(keys)} objects, reps={args.reps}")
    print(f"floor: median {statistics.median(times['floor']):.3f} s")
    for name in wanted:
        kind = "x floor time" if name in ("cold", "warm") else "x floor events/s"
        print(
            f"{name:10s} median {statistics.median(times[name]):.3f} s  "
            f"ratio median {statistics.median(ratios[name]):.2f} {kind}  "
            f"(ratios {', '.join(f'{r:.2f}' for r in ratios[name])})"
        )
    clear()


if __name__ == "__main__":
    main()
