"""Where the CPU of a JSON download goes: the server, curl and the kernel, for
one download and for ``--concurrent`` at once (issue 15's "8 concurrent
downloads vs one" row), without the whole ``bench/run``.

On one fresh gunicorn (as ``bench/run`` starts it; ``--workers``/``--threads``
try another) over the big day, warm, each round takes back to back one JSON
download and ``--concurrent`` JSON downloads started together. For each it
reads CPU seconds (user + system):

- the server: the sum over gunicorn's workers of ``/proc/<pid>/stat`` (psutil),
  before and after;
- curl: ``getrusage(RUSAGE_CHILDREN)`` of this process before and after (the
  curls are its only children reaped in between);
- the machine: ``/proc/stat`` (every process's user, system, irq and softirq
  time, so other work on a shared machine counts too: read it beside the
  load average).

and prints per download: wall seconds, server CPU, curl CPU, cores in use
(server + curl) / wall, and the ceiling this puts on the concurrency ratio on
``os.cpu_count()`` cores: ``cores / cores used by one download``.
``--py-spy SECONDS`` records one worker with py-spy during the first
concurrent set (top functions, ``--native``) when ``py-spy`` is on the PATH.

Usage (from the repository root, Redis at BENCH_REDIS_URL):
    PYTHONPATH=.:bench .venv/bin/python bench/concurrency_probe.py --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import harness


@dataclasses.dataclass
class Sample:
    """CPU seconds and wall seconds of one measured set of downloads."""

    n: int
    wall: float
    events: int
    server_cpu: float
    curl_cpu: float
    machine: dict[str, float]
    server_sys: float = 0.0
    curl_sys: float = 0.0

    @property
    def cores(self) -> float:
        return (self.server_cpu + self.curl_cpu) / self.wall


def server_cpu(server: harness.Server) -> tuple[float, float]:
    """(user + system, system) CPU seconds of gunicorn's workers so far."""
    import psutil

    total = system = 0.0
    for pid in server.workers():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
        system += times.system
    return total, system


def children_cpu() -> tuple[float, float]:
    """(user + system, system) CPU seconds of this process's reaped children (the curls)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


def machine_cpu() -> dict[str, float]:
    """Seconds of every CPU by kind (``/proc/stat``'s first line, USER_HZ ticks)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    hz = os.sysconf("SC_CLK_TCK")
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) / hz for name, value in zip(names, fields, strict=False)}


def measure(server: harness.Server, n: int) -> Sample:
    before = (server_cpu(server), children_cpu(), machine_cpu(), time.perf_counter())
    if n == 1:
        got = harness.download(server, "json")
        if got.status != 200:
            raise SystemExit(f"concurrency_probe: HTTP {got.status}")
        events = got.total or 0
    else:
        _wall, events = harness.concurrent(server, "json", n)
    wall = time.perf_counter() - before[3]
    after_machine, after_server, after_curl = machine_cpu(), server_cpu(server), children_cpu()
    return Sample(
        n,
        wall,
        events,
        after_server[0] - before[0][0],
        after_curl[0] - before[1][0],
        {k: after_machine[k] - before[2][k] for k in after_machine},
        after_server[1] - before[0][1],
        after_curl[1] - before[1][1],
    )


def py_spy(pid: int, seconds: float, out: str) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy")
    if exe is None:
        print("py-spy not on the PATH: no profile")
        return None
    argv = [exe, "record", "--native", "-r", "200", "-f", "raw", "-d", str(max(1, round(seconds)))]
    return subprocess.Popen([*argv, "-o", out, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def perf_record(pids: list[int], out: str) -> subprocess.Popen[bytes] | None:
    """``perf record`` (software clock, so it works in a VM without counters) of ``pids`` until stopped."""
    exe = shutil.which("perf")
    if exe is None:
        print("perf not on the PATH: no profile")
        return None
    argv = [exe, "record", "-e", "cpu-clock", "-F", "499", "-o", out, "-p", ",".join(map(str, pids))]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_stop(proc: subprocess.Popen[bytes], out: str, title: str, count: int = 22) -> None:
    """Stop the recording and print the top symbols (kernel ones marked ``[k]``) and the share of each DSO."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    for sort in ("dso", "dso,sym"):
        report = subprocess.run(
            ["perf", "report", "-i", out, "--stdio", "--sort", sort, "--percent-limit", "0.7"],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in report.stdout.splitlines() if line.strip() and not line.startswith("#")]
        print(f"perf, {title}, by {sort}:")
        for line in lines[:count]:
            print("  " + line.strip())


def top_frames(raw: str, count: int = 25) -> list[tuple[str, float]]:
    """Self time of the innermost frames of a py-spy raw (collapsed) file, as shares."""
    totals: dict[str, int] = {}
    with open(raw) as f:
        for line in f:
            stack, _, hits = line.rstrip("\n").rpartition(" ")
            leaf = stack.rsplit(";", 1)[-1]
            totals[leaf] = totals.get(leaf, 0) + int(hits)
    whole = sum(totals.values()) or 1
    return [(name, hits / whole) for name, hits in sorted(totals.items(), key=lambda kv: -kv[1])[:count]]


def show(s: Sample) -> str:
    busy = sum(v for k, v in s.machine.items() if k not in ("idle", "iowait"))
    return (
        f"{s.n} download(s): wall {s.wall:.2f} s, {s.events / s.wall:,.0f} events/s; per download CPU: "
        f"server {s.server_cpu / s.n:.2f} s (system {s.server_sys / s.n:.2f}), curl {s.curl_cpu / s.n:.2f} s "
        f"(system {s.curl_sys / s.n:.2f}); cores in use {s.cores:.2f} (machine: {busy / s.wall:.2f} busy, "
        f"softirq {s.machine['softirq'] / s.wall:.2f}, steal {s.machine.get('steal', 0.0) / s.wall:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=harness.CONCURRENT)
    parser.add_argument("--workers", type=int, default=harness.GUNICORN_WORKERS)
    parser.add_argument("--threads", type=int, default=harness.GUNICORN_THREADS)
    parser.add_argument("--py-spy", type=float, default=0.0, help="seconds of py-spy on one worker (first round)")
    parser.add_argument("--perf", action="store_true", help="perf record of the workers, one and n downloads (round 1)")
    args = parser.parse_args()
    harness.GUNICORN_WORKERS, harness.GUNICORN_THREADS = args.workers, args.threads
    data = harness.ensure_data(args.events)
    prefix = f"{harness.REDIS_PREFIX}concprobe:"
    server = harness.Server(data, prefix)
    ones: list[Sample] = []
    manys: list[Sample] = []
    cores = os.cpu_count() or 1
    try:
        why = server.start()
        if why:
            raise SystemExit(f"concurrency_probe: the server did not start: {why}")
        harness.download(server, "json")  # warm: summaries built, every worker's imports done
        print(f"gunicorn {args.workers} workers x {args.threads} threads; {cores} cores")
        for round_no in range(args.rounds):
            rec = out_one = None
            if args.perf and round_no == 0:
                out_one = tempfile.mktemp(prefix="perf-one-", suffix=".data")
                rec = perf_record(server.workers(), out_one)
                time.sleep(1)
            ones.append(measure(server, 1))
            if rec is not None and out_one is not None:
                perf_stop(rec, out_one, "one download")
                rec = perf_record(server.workers(), out_one + ".many")
                time.sleep(1)
            spy = None
            if args.py_spy and round_no == 0:
                out = tempfile.mktemp(prefix="pyspy-", suffix=".txt")
                spy = py_spy(server.workers()[0], args.py_spy, out)
            manys.append(measure(server, args.concurrent))
            if rec is not None and out_one is not None:
                perf_stop(rec, out_one + ".many", f"{args.concurrent} downloads")
            if spy is not None:
                _out, err = spy.communicate(timeout=120)
                if spy.returncode == 0:
                    print(f"py-spy of worker, {args.py_spy:.0f} s (self time, top frames):")
                    for name, share in top_frames(out):
                        print(f"  {share:6.1%}  {name}")
                else:
                    print(f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
            print(f"round {round_no + 1}, load {os.getloadavg()[0]:.1f}")
            print("  " + show(ones[-1]))
            print("  " + show(manys[-1]))
    finally:
        server.stop()
    one_rate = statistics.median(s.events / s.wall for s in ones)
    many_rate = statistics.median(s.events / s.wall for s in manys)
    one_cores = statistics.median(s.cores for s in ones)
    # On an idle machine one download's wall time is its server thread's CPU time (curl runs beside it on the
    # other core), and n downloads keep every core busy: ratio = cores x S1 / (S_n + C_n), per download.
    predicted = [
        cores * one.server_cpu / ((many.server_cpu + many.curl_cpu) / many.n)
        for one, many in zip(ones, manys, strict=True)
    ]
    print(
        "from CPU seconds, the ratio an idle machine allows (cores x server CPU of one / (server + curl CPU per "
        f"download of {args.concurrent})): "
        + ", ".join(f"{p:.2f}" for p in predicted)
        + f"; curl / server CPU, one download: {statistics.median(s.curl_cpu / s.server_cpu for s in ones):.3f}; "
        f"server CPU per download, {args.concurrent} at once / one: "
        f"{statistics.median(m.server_cpu / m.n / o.server_cpu for o, m in zip(ones, manys, strict=True)):.3f}"
    )
    print(
        f"ratio {args.concurrent} / one: {many_rate / one_rate:.2f}; one download uses {one_cores:.2f} cores "
        f"(server + curl), so {cores} cores allow at most {cores / one_cores:.2f}x; "
        f"CPU per event: one {statistics.median((s.server_cpu + s.curl_cpu) / s.events for s in ones) * 1e6:.2f} us, "
        f"{args.concurrent} at once "
        f"{statistics.median((s.server_cpu + s.curl_cpu) / s.events for s in manys) * 1e6:.2f} us"
    )


if __name__ == "__main__":
    main()
