"""Side-by-side probe of the export run against the floor (issue 5): speed
and peak RSS, each run in a fresh interpreter (imports and set-up not timed),
several repetitions, medians of the ratios measured in the same invocation
(the machine is shared and noisy).

- floor: a minimal Python loop over the same objects (gunzip by magic,
  ``orjson.loads`` each line, lines to /dev/null), ``baselines.floor``;
- export: ``jobs.export.run_export`` with a no-op subscriber on
  ``altis.analytics.export.data.process``, ``ANALYTICS_EXPORT_START=beginning``,
  a fresh Redis prefix each repetition;
- original: concatenate up to 100 objects into one string, hand it to a no-op
  callback (``baselines.original``), for the RSS comparison only.

Usage (repository root): ``.venv/bin/python bench/export_speed_probe.py [--reps 5]
[--events 250000] [--redis redis://127.0.0.1:6379/3]``. Data is generated once
under /tmp/exportprobe.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

CACHE = Path("/tmp/exportprobe")
DAY = dt.date(2024, 3, 5)
DATA_PROCESS = "altis.analytics.export.data.process"


def data_dir(events: int) -> Path:
    """The probe's objects, generated once per size."""
    out = CACHE / f"{events}-seed1"
    if not (out / ".done").exists():
        import demo

        demo.generate(out, DAY, 1, events, sites=(1, 2, 3), seed=1)
        (out / ".done").write_text("ok")
    return out


def keys_of(root: Path) -> list[str]:
    import baselines

    return baselines.list_keys(root)[:100]


def env_for(root: Path, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        "ANALYTICS_SOURCE": str(root),
        "REDIS_URL": redis_url,
        "ANALYTICS_REDIS_PREFIX": prefix,
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_INTEGRATIONS": "",
        "ANALYTICS_LOG_LEVEL": "WARNING",
    }


def run_floor(root: Path) -> tuple[float, int]:
    import baselines

    keys = keys_of(root)
    started = time.perf_counter()
    events = baselines.floor(root, keys, None, "")
    return time.perf_counter() - started, events


def run_export_once(root: Path, redis_url: str, module: str = "jobs.export") -> tuple[float, int]:
    """One export run on a fresh prefix (imports and set-up not timed); the
    prefix is deleted afterwards."""
    import importlib

    import config
    import hooks

    export = importlib.import_module(module)
    prefix = f"probe:{uuid.uuid4().hex[:8]}:"
    settings = config.Settings.from_env(env_for(root, redis_url, prefix))
    hooks.reset()
    calls = [0]

    def noop(data: str) -> None:
        calls[0] += 1

    hooks.add_action(DATA_PROCESS, noop)
    redis = config.redis_connection(redis_url)
    redis.ping()
    try:
        started = time.perf_counter()
        report = export.run_export(settings, redis=redis)
        seconds = time.perf_counter() - started
    finally:
        for key in redis.scan_iter(match=prefix + "*", count=1000):
            redis.delete(key)
    if report.objects != len(keys_of(root)):
        raise SystemExit(f"export read {report.objects} objects, expected {len(keys_of(root))}: {report}")
    return seconds, report.events


def child(mode: str, root: Path, redis_url: str) -> None:
    """Run one mode in this fresh process; print its time, events and peak RSS."""
    seconds, events = 0.0, 0
    if mode == "floor":
        seconds, events = run_floor(root)
    elif mode == "original":
        import baselines

        baselines.original(root, keys_of(root), None, "")
    else:
        seconds, events = run_export_once(root, redis_url, mode)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "events": events, "maxrss_kb": rss}))


def in_child(mode: str, root: Path, redis_url: str) -> dict[str, float]:
    """``child`` in a fresh interpreter, as an RQ work horse runs a job: the
    allocator starts cold (in one long process, later runs reuse memory an
    earlier run left, which flatters them)."""
    argv = [sys.executable, __file__, "--child", mode, "--data", str(root), "--redis", redis_url]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_of(mode: str, root: Path, redis_url: str) -> int:
    """Peak RSS (KiB) of one child running ``mode``, as RUSAGE_CHILDREN sees it
    (a fresh grandchild per measurement, so earlier children do not count)."""
    code = (
        "import resource, subprocess, sys; "
        f"subprocess.run([sys.executable, {__file__!r}, '--child', {mode!r}, '--data', {str(root)!r}, "
        f"'--redis', {redis_url!r}], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--events", type=int, default=250_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument(
        "--modules", default="jobs.export", help="comma-separated export modules to compare (e.g. an older copy)"
    )
    parser.add_argument("--child", help="internal: floor, original or an export module")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.redis)
        return
    root = data_dir(args.events)
    nkeys = len(keys_of(root))
    run_floor(root)  # warm the page cache
    modules = args.modules.split(",")
    floors: list[float] = []
    exports: dict[str, list[float]] = {m: [] for m in modules}
    ratios: dict[str, list[float]] = {m: [] for m in modules}
    rss: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(args.reps):
        f = in_child("floor", root, args.redis)
        floor_rate = f["events"] / f["seconds"]
        floors.append(floor_rate)
        line = f"floor {f['events']} ev {f['seconds']:.3f}s {floor_rate:,.0f}/s"
        for module in modules:
            e = in_child(module, root, args.redis)
            rate = e["events"] / e["seconds"]
            exports[module].append(rate)
            ratios[module].append(rate / floor_rate)
            rss[module].append(e["maxrss_kb"])
            line += f" | {module} {e['events']} ev {e['seconds']:.3f}s {rate:,.0f}/s ratio {ratios[module][-1]:.3f}"
        print(line, flush=True)
    print(f"{nkeys} objects; median floor {statistics.median(floors):,.0f} ev/s")
    for module in modules:
        r = ratios[module]
        print(
            f"  {module}: median {statistics.median(exports[module]):,.0f} ev/s, ratio to the floor: median "
            f"{statistics.median(r):.3f} (min {min(r):.3f}, max {max(r):.3f}); "
            f"peak RSS median {statistics.median(rss[module]) / 1024:.1f} MiB"
        )
    if not args.no_rss:
        exp = [rss_of(modules[0], root, args.redis) for _ in range(3)]
        orig = [rss_of("original", root, args.redis) for _ in range(3)]
        e, o = statistics.median(exp), statistics.median(orig)
        print(
            f"peak RSS ({modules[0]}, RUSAGE_CHILDREN): export {e / 1024:.1f} MiB, original {o / 1024:.1f} MiB, "
            f"ratio {e / o:.3f}"
        )


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
