"""Issue 15's CSV rows alone, over HTTP, without the whole ``bench/run``.

On one fresh gunicorn (as ``bench/run`` starts it) over the big day, each round
takes, back to back: the floor (one full read of the day), DuckDB
``read_ndjson`` + ``COPY``, an NDJSON download (plain), a CSV download, and a
cold CSV time to first byte (summaries deleted first). It prints each
sample and the ratios of the medians: CSV / DuckDB, CSV / NDJSON, cold first
byte / floor, and the CPU seconds each download cost the server (gunicorn and
every descendant: the CSV pool's workers), which load on a shared machine
changes far less than wall time. Compare ratios of one run only.

``--issue14``: issue 14's rows instead, each round a five-column ``_fields``
CSV, a Parquet and a full CSV download (warm, the order of ``bench/run``);
ratios Parquet time / CSV time and ``_fields`` events/s / full CSV events/s,
and the server's peak RSS, and each download's CPU seconds (gunicorn's, its pools').

``--concurrent``: instead, each round one CSV download then 8 started together
(as ``bench/run``'s concurrency row, but CSV): their wall time over one's (8 x the
work: 8 would be no gain from the server's processes, 4 is both cores used),
plus the CPU seconds of the server and its children (the pool's workers) and
the server's peak RSS.

Usage (from the repository root, Redis at BENCH_REDIS_URL):
    PYTHONPATH=.:bench .venv/bin/python bench/csv_probe.py --rounds 3 [--issue14 | --concurrent]
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
    parser.add_argument("--issue14", action="store_true", help="issue 14's rows: _fields CSV, Parquet, CSV")
    parser.add_argument("--concurrent", action="store_true", help="8 CSV downloads together vs one")
    args = parser.parse_args()
    if args.issue14:
        issue14(args.events, args.rounds)
        return
    if args.concurrent:
        concurrent(args.events, args.rounds)
        return
    data = harness.ensure_data(args.events)
    prefix = f"{harness.REDIS_PREFIX}csvprobe:"
    server = harness.Server(data, prefix)
    samples: dict[str, list[float]] = {
        "floor": [],
        "duckdb": [],
        "ndjson": [],
        "csv": [],
        "cold_ttfb": [],
        "ndjson_cpu": [],
        "csv_cpu": [],
        "ndjson_gunicorn_cpu": [],
        "csv_gunicorn_cpu": [],
        "ndjson_curl_cpu": [],
        "csv_curl_cpu": [],
    }
    try:
        why = server.start()
        if why:
            raise SystemExit(f"csv_probe: the server did not start: {why}")
        for round_no in range(args.rounds):
            harness.clear_catalog(prefix)
            cold = harness.first_byte(server, "csv")
            if cold is not None:
                samples["cold_ttfb"].append(cold)
            harness.clear_catalog(prefix)
            harness.download(server, "json")  # warm again: the downloads below are warm
            samples["floor"].append(harness.baseline("floor", data)["seconds"])
            samples["duckdb"].append(harness.baseline("duckdb", data)["seconds"])
            for fmt in ("ndjson", "csv"):
                cpu, gunicorn, curl = _server_cpu(server), _server_cpu(server, pools=False), _children_cpu()
                got = harness.download(server, fmt)
                if got.status != 200:
                    raise SystemExit(f"csv_probe: {fmt} answered HTTP {got.status}")
                samples[fmt].append(got.seconds)
                samples[fmt + "_cpu"].append(_server_cpu(server) - cpu)
                samples[fmt + "_gunicorn_cpu"].append(_server_cpu(server, pools=False) - gunicorn)
                samples[fmt + "_curl_cpu"].append(_children_cpu() - curl)
            print(
                f"round {round_no + 1}: load {os.getloadavg()[0]:.1f}; "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in samples.items() if values),
                flush=True,
            )
    finally:
        server.stop()
        harness.delete_keys(prefix + "*")
    median = {name: statistics.median(values) for name, values in samples.items() if values}
    print(f"CSV / DuckDB {median['csv'] / median['duckdb']:.2f} (target <= 0.5)")
    print(f"CSV / NDJSON {median['csv'] / median['ndjson']:.2f} (target <= 3)")
    print(f"server CPU s (with its pools' workers): NDJSON {median['ndjson_cpu']:.2f}, CSV {median['csv_cpu']:.2f}")
    for fmt in ("ndjson", "csv"):
        pools = median[fmt + "_cpu"] - median[fmt + "_gunicorn_cpu"]
        print(
            f"{fmt} CPU s: gunicorn's processes {median[fmt + '_gunicorn_cpu']:.2f}, pool workers {pools:.2f},"
            f" curl {median[fmt + '_curl_cpu']:.2f}; wall {median[fmt]:.2f}"
        )
    if "cold_ttfb" in median:
        print(f"cold CSV first byte / floor {median['cold_ttfb'] / median['floor']:.2f} (target <= 0.5)")


def issue14(events: int, rounds: int) -> None:
    data = harness.ensure_data(events)
    prefix = f"{harness.REDIS_PREFIX}csvprobe14:"
    server = harness.Server(data, prefix)
    samples: dict[str, list[float]] = {"fields": [], "parquet": [], "csv": []}
    downloads = (("fields", "csv", "&_fields=" + harness.FIELDS_5), ("parquet", "parquet", ""), ("csv", "csv", ""))
    cpus: dict[str, list[tuple[float, float]]] = {}  # per download: (gunicorn's CPU s, with its pools)
    try:
        why = server.start()
        if why:
            raise SystemExit(f"csv_probe: the server did not start: {why}")
        harness.clear_catalog(prefix)
        harness.download(server, "json")  # warm: the downloads below are warm
        print(f"web processes that served no Parquet yet: {harness.warm_parquet(server)}", flush=True)
        for round_no in range(rounds):
            for name, fmt, extra in downloads:
                cpu, web_cpu = _server_cpu(server), _server_cpu(server, pools=False)
                got = harness.download(server, fmt, extra=extra)
                if got.status != 200:
                    raise SystemExit(f"csv_probe: {name} answered HTTP {got.status}")
                samples[name].append(got.seconds)
                cpus.setdefault(name, []).append(
                    (_server_cpu(server, pools=False) - web_cpu, _server_cpu(server) - cpu)
                )
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
    print(f"Parquet / CSV time {median['parquet'] / median['csv']:.2f} (target <= 1.5)")
    # The same events in both CSV downloads: the events/s ratio is the inverse of the time ratio.
    print(f"_fields CSV / full CSV events/s {median['csv'] / median['fields']:.2f} (target >= 2)")
    print(f"server peak RSS {rss:.0f} MB")
    for name, pairs in cpus.items():
        web = statistics.median(pair[0] for pair in pairs)
        pools = statistics.median(pair[1] - pair[0] for pair in pairs)
        print(f"{name} CPU s: gunicorn's processes {web:.2f}, pool workers {pools:.2f}; wall {median[name]:.2f}")


def _children_cpu() -> float:
    """CPU seconds of this probe's finished children (curl, and the baselines' processes)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(server: harness.Server, *, pools: bool = True) -> float:
    """CPU seconds so far of gunicorn's processes and all their descendants (the pools' workers);
    without ``pools``, of gunicorn's master and workers only."""
    import psutil

    if server.proc is None:
        return 0.0
    root = psutil.Process(server.proc.pid)
    total = 0.0
    for process in [root, *root.children(recursive=pools)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def concurrent(events: int, rounds: int) -> None:
    data = harness.ensure_data(events)
    prefix = f"{harness.REDIS_PREFIX}csvprobe8:"
    server = harness.Server(data, prefix)
    samples: dict[str, list[float]] = {"one": [], "eight": [], "one_cpu": [], "eight_cpu": []}
    try:
        why = server.start()
        if why:
            raise SystemExit(f"csv_probe: the server did not start: {why}")
        harness.clear_catalog(prefix)
        harness.download(server, "json")  # warm
        for round_no in range(rounds):
            cpu = _server_cpu(server)
            got = harness.download(server, "csv")
            if got.status != 200:
                raise SystemExit(f"csv_probe: csv answered HTTP {got.status}")
            samples["one"].append(got.seconds)
            samples["one_cpu"].append(_server_cpu(server) - cpu)
            cpu = _server_cpu(server)
            wall, _events = harness.concurrent(server, "csv", harness.CONCURRENT)
            samples["eight"].append(wall)
            samples["eight_cpu"].append(_server_cpu(server) - cpu)
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
    print(f"8 CSV together / one CSV, time {median['eight'] / median['one']:.2f} (8 x the work)")
    print(f"server CPU s: one {median['one_cpu']:.1f}, eight {median['eight_cpu']:.1f}")
    print(f"server peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
