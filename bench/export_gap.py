"""What the export does per event that the floor does not (issue 15's "export
run, no-op subscriber, vs floor" row), piece by piece, in one process.

The row compares ``bench/export_probe.py`` (``run_export`` with the no-op
subscriber over the first 100 objects) with ``bench/baselines.py floor`` over
the same objects (read, gunzip, ``orjson.loads`` every line, write to
/dev/null). Here each mode does one slice of that work over the same objects:

- ``floor``: the floor itself (``baselines.floor``, no day filter, as the row);
- ``export``: ``run_export`` as ``export_probe.py`` times it (Redis: a fresh
  prefix under BENCH_REDIS_URL, deleted afterwards);
- ``read-floor`` / ``read-export``: only the lines, through the floor's reader
  (``gzip.GzipFile`` + ``BufferedReader``) and through the service's
  (``LocalSource.open_lines``);
- ``loads``: the service's reader plus ``orjson.loads`` of every line;
- ``loop``: the export's loop without Redis, planning or subscribers
  (``BatchWriter`` with a hand-over that does nothing);
- ``loop-decode``: the same with the batch decoded to ``str`` and its descriptor
  built, as the export hands both to the no-op subscriber (``bench_noop_subscriber``).

``--fresh N`` instead runs the row's own two programs, each in a fresh process
as ``bench/run`` does, alternating N times, and prints each one's wall and CPU
seconds over its timed span: CPU equal but wall apart means the export waits
(Redis, the disk), not that it computes more.

``--rounds N`` runs the modes in turn N times and prints each one's CPU seconds
(``time.process_time``, min and median) and µs per event; ``--mode M --once``
runs one mode once, for ``valgrind --tool=callgrind`` (instruction counts are
stable on a shared machine; subtract a ``none`` run for start-up).

Usage (from the repository root):
    PYTHONPATH=.:bench .venv/bin/python bench/export_gap.py --rounds 5
"""

from __future__ import annotations

import argparse
import gzip  # noqa: F401 - imported by every mode alike, so a callgrind "none" run subtracts it
import os
import statistics
import sys
import time
import typing as t
from pathlib import Path

import baselines
import harness
import orjson

Mode = t.Callable[[Path, list[str]], int]


def _source(root: Path) -> t.Any:
    import config
    from events.sources import open_source

    return open_source(config.parse_source(str(root)))


def floor(root: Path, keys: list[str]) -> int:
    return baselines.floor(root, keys, None, "1")


def read_floor(root: Path, keys: list[str]) -> int:
    n = 0
    for key in keys:
        with baselines.open_lines(root / key) as lines:
            for _line in lines:
                n += 1
    return n


def read_export(root: Path, keys: list[str]) -> int:
    source = _source(root)
    n = 0
    for key in keys:
        with source.open_lines(key) as lines:
            for _line in lines:
                n += 1
    return n


def loads(root: Path, keys: list[str]) -> int:
    source = _source(root)
    parse = orjson.loads
    n = 0
    for key in keys:
        with source.open_lines(key) as lines:
            for line in lines:
                parse(line)
                n += 1
    return n


def _loop(root: Path, keys: list[str], decode: bool) -> int:
    from events import records
    from jobs.batch import Batch, BatchWriter

    source = _source(root)
    infos = {info.key: info for info in source.list("")}
    events = 0

    def hand_over(batch: Batch) -> bool:
        nonlocal events
        events += batch.events
        if decode and batch.events:
            data = batch.ndjson()
            len(data)  # what bench_noop_subscriber does with it, besides reading the descriptor
            batch.descriptor()
        return True

    writer = BatchWriter(8 * 1024 * 1024, hand_over)
    for key in keys:
        writer.write_object(infos[key], 0, source.open_lines, records.ParseReport())
    writer.finish()
    return events


def loop(root: Path, keys: list[str]) -> int:
    return _loop(root, keys, decode=False)


def loop_decode(root: Path, keys: list[str]) -> int:
    return _loop(root, keys, decode=True)


def export(root: Path, keys: list[str]) -> int:
    """``run_export`` over the source's first ``len(keys)`` objects (max.files 100), a fresh Redis prefix."""
    import config
    import integrations
    import jobs.export

    prefix = f"{harness.REDIS_PREFIX}exportgap-{os.getpid()}-{time.monotonic_ns()}:"
    env = harness.service_env(
        root, prefix, ANALYTICS_INTEGRATIONS="bench_noop_subscriber", ANALYTICS_EXPORT_START="beginning"
    )
    os.environ.update(env)
    config.reset_settings()
    settings = config.get_settings()
    integrations.load_integrations(settings.integrations)
    import bench_noop_subscriber as sink

    import hooks
    from jobs.export_hooks import MAX_FILES

    hooks.add_filter(MAX_FILES, lambda _default: len(keys))  # the first len(keys) objects, as the other modes
    before = sink.events
    try:
        jobs.export.run_export(settings)
    finally:
        harness.delete_keys(prefix + "*")
    return sink.events - before


def none(root: Path, keys: list[str]) -> int:
    return 0


def export_setup(root: Path, keys: list[str]) -> int:
    """What ``export`` does besides ``run_export`` (imports, settings, integrations): its callgrind count is
    subtracted from ``export``'s, as ``export_probe.py`` times ``run_export`` alone."""
    import config
    import integrations
    import jobs.export  # noqa: F401

    env = harness.service_env(
        root,
        f"{harness.REDIS_PREFIX}exportgap-setup:",
        ANALYTICS_INTEGRATIONS="bench_noop_subscriber",
        ANALYTICS_EXPORT_START="beginning",
    )
    os.environ.update(env)
    config.reset_settings()
    integrations.load_integrations(config.get_settings().integrations)
    return 0


MODES: dict[str, Mode] = {
    "none": none,
    "export-setup": export_setup,
    "read-floor": read_floor,
    "read-export": read_export,
    "loads": loads,
    "floor": floor,
    "loop": loop,
    "loop-decode": loop_decode,
    "export": export,
}


def fresh(data: harness.DataSet, keys: list[str], rounds: int) -> None:
    """The row's export probe and floor, alternating in fresh processes: wall and CPU of each timed span."""
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
        f.write("\n".join(keys) + "\n")
        keys_file = Path(f.name)
    samples: dict[str, list[tuple[float, float, int]]] = {"floor": [], "export": []}
    blocked: dict[str, list[float]] = {"floor": [], "export": []}
    try:
        for i in range(rounds):
            floor = harness.baseline("floor", data, keys_file=keys_file)
            samples["floor"].append((floor["seconds"], floor["cpu_seconds"], floor["events"]))
            blocked["floor"].append(floor["seconds"] - floor["cpu_seconds"] - floor["runqueue_seconds"])
            prefix = f"{harness.REDIS_PREFIX}exportgap-fresh-{i}:"
            env = harness.service_env(
                data.path, prefix, ANALYTICS_INTEGRATIONS="bench_noop_subscriber", ANALYTICS_EXPORT_START="beginning"
            )
            harness.delete_keys(prefix + "*")
            code, out, err, _wall, _rss = harness.run_with_rusage(
                [harness.PYTHON, str(harness.BENCH / "export_probe.py")], env
            )
            harness.delete_keys(prefix + "*")
            if code != 0:
                raise SystemExit(f"export probe failed: {harness.last_line(err) or harness.last_line(out)}")
            probe = json.loads(harness.last_line(out))
            samples["export"].append((probe["seconds"], probe["cpu_seconds"], probe["events"]))
            blocked["export"].append(probe["seconds"] - probe["cpu_seconds"] - probe["runqueue_seconds"])
            f_wall, f_cpu, events = samples["floor"][-1]
            e_wall, e_cpu, _events = samples["export"][-1]
            print(
                f"round {i + 1}, load {os.getloadavg()[0]:.1f}: floor wall {f_wall:.3f} s CPU {f_cpu:.3f} s; "
                f"export wall {e_wall:.3f} s CPU {e_cpu:.3f} s; export / floor events/s {f_wall / e_wall:.2f} "
                f"(wall), {f_cpu / e_cpu:.2f} (CPU); blocked (wall - CPU - waiting for a CPU): floor "
                f"{blocked['floor'][-1]:.3f} s, export {blocked['export'][-1]:.3f} s; {events:,} events"
            )
    finally:
        keys_file.unlink()
    med = {name: [statistics.median(x[j] for x in rows) for j in (0, 1)] for name, rows in samples.items()}
    idle = (med["floor"][1] + statistics.median(blocked["floor"])) / (
        med["export"][1] + statistics.median(blocked["export"])
    )
    print(
        f"medians: export / floor events/s {med['floor'][0] / med['export'][0]:.2f} (wall), "
        f"{med['floor'][1] / med['export'][1]:.2f} (CPU); blocked: floor {statistics.median(blocked['floor']):.3f} s, "
        f"export {statistics.median(blocked['export']):.3f} s; the wall ratio an idle machine would give "
        f"(CPU + blocked): {idle:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000, help="the bench day (bench/data)")
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=sorted(MODES), action="append", help="only these modes")
    parser.add_argument("--fresh", type=int, default=0, help="N rounds of the row's two programs, fresh processes")
    parser.add_argument("--once", action="store_true", help="one run of one --mode, nothing printed but its count")
    args = parser.parse_args()
    data = harness.ensure_data(args.events)
    keys = baselines.list_keys(data.path)[: args.objects]
    modes = args.mode or [m for m in MODES if m not in ("none", "export-setup")]
    if args.fresh:
        fresh(data, keys, args.fresh)
        return
    if args.once:
        print(MODES[modes[0]](data.path, keys))
        return
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    counts: dict[str, int] = {}
    for round_no in range(args.rounds):
        for mode in modes:
            started = time.process_time()
            counts[mode] = MODES[mode](data.path, keys)
            cpu[mode].append(time.process_time() - started)
        print(f"round {round_no + 1} done, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    lines = max(counts.get("read-export", 0), counts.get("floor", 0)) or 1
    print(f"{len(keys)} objects, {lines:,} lines; CPU seconds (min, median of {args.rounds}); µs per line (min)")
    for mode in modes:
        best = min(cpu[mode])
        print(
            f"  {mode:<12} {best:7.3f} {statistics.median(cpu[mode]):7.3f}  {best / lines * 1e6:6.2f} µs"
            f"  (count {counts[mode]:,})"
        )


if __name__ == "__main__":
    main()
