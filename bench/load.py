"""``bench/load``: the events endpoint under load, served the way ``scripts/run``
serves it (gunicorn with the checkout's ``gunicorn.conf.py``), issue 12.

Two scenarios on a small and a large demo day (generated once into
``bench/data/``, served from a local directory):

1. **Stalled readers.** ``--stalled-probe`` clients (50) ask for the large day
   and never read a byte. Once the server has filled their sockets and gone
   quiet, another client downloads the warm small day ``--probes`` times:
   its time to first byte must stay under 1 s.
2. **Mixed load.** ``--clients`` clients (50) download for ``--seconds`` (60):
   small and large days, JSON, CSV and NDJSON, gzip or not, half of them
   hanging up mid-stream; plus ``--stalled`` (8) that never read. Checked: no
   error answer (a 429 would be allowed), every complete download holds
   exactly ``X-WP-Total`` events, every worker's peak RSS <= 200 MB, and once
   the clients are gone the workers' file descriptors are back to their count
   before the load and their threads within the thread pool's size.

Peak RSS is measured twice per worker: its start-up peak (importing the app,
which hashes a dummy Argon2 password in 64 MiB, ``accounts.passwords``), then,
with the peak reset once the server is up (``reset_peaks``), its peak under
the warm-up and both scenarios. Both must stay under 200 MB; the second is the
load's own figure, which the start-up peak would otherwise hide at a small size.

Prints the figures, exits non-zero when a check fails, and with ``--out FILE``
writes them as the "Load (bench/load)" section of that Markdown file
(``BENCHMARKS.md``; ``bench/run`` keeps the section when it rewrites the file).
``--quick`` is the small size ``tests/test_load.py`` runs in a few seconds.
Redis: ``BENCH_REDIS_URL`` (default DB 7), keys under ``analytics-bench:load:``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import socket
import sys
import threading
import time
import typing as t
from pathlib import Path

import harness
import orjson
import psutil

SMALL_DAY = dt.date(2024, 3, 4)
LARGE_DAY = dt.date(2024, 3, 5)
PREFIX = harness.REDIS_PREFIX + "load:"
RSS_LIMIT_MB = 200.0
#: Descriptors a worker may open once, lazily, during the load and keep: the
#: connection to multiprocessing's forkserver that the catalog starts on the
#: worker's first cold object (events/catalog.py), Prometheus's sample files. A leak grows with the requests (dozens
#: here, half of them hung up on purpose), so it still shows.
FDS_PER_WORKER = 4
TTFB_LIMIT_S = 1.0
HEADING = "## Load (bench/load)"
FULL = {"clients": 50, "stalled": 8, "stalled_probe": 50, "seconds": 60.0, "probes": 30, "small": 3000, "large": 30000}
QUICK = {"clients": 6, "stalled": 3, "stalled_probe": 12, "seconds": 3.0, "probes": 5, "small": 600, "large": 12000}


# --------------------------------------------------------------------------- data and server


def ensure_days(small: int, large: int) -> Path:
    """A small and a large demo day (three sites) in one directory, generated once."""
    sources = sorted((harness.ROOT / "demo").glob("*.py"))
    version = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:8]
    path = harness.BENCH / "data" / f"load-{small}-{large}-seed{harness.SEED}-{version}"
    if (path / ".bench.json").exists():
        return path
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for day, events in ((SMALL_DAY, small), (LARGE_DAY, large)):
        argv = [str(harness.VENV_BIN / "flask"), "--app", "wsgi", "demo-data", "--out", str(tmp)]
        argv += ["--start", day.isoformat(), "--events-per-day", str(events), "--sites", "1,2,3"]
        argv += ["--seed", str(harness.SEED)]
        done = harness.run(argv, env=harness.service_env(tmp, PREFIX + "gen:"), record=False, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"bench/load: demo-data failed: {harness.last_line(done.stderr)}")
    (tmp / ".bench.json").write_text(json.dumps({"small": small, "large": large}))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return path


class Server(harness.Server):
    """gunicorn as ``scripts/run`` starts it: its settings from ``gunicorn.conf.py``."""

    def __init__(self, data: harness.DataSet, send_timeout: int, threads: int | None) -> None:
        super().__init__(data, PREFIX)
        self.env["ANALYTICS_SEND_TIMEOUT"] = str(send_timeout)
        if threads:
            self.env["WEB_THREADS"] = str(threads)
        self.threads = threads or 32

    def argv(self) -> list[str]:
        gunicorn = str(harness.VENV_BIN / "gunicorn")
        return [gunicorn, "--bind", f"127.0.0.1:{self.port}", "--no-control-socket", "wsgi:app"]

    def path(self, day: dt.date, fmt: str) -> str:
        return f"/wp-json/analytics/v1/events/{day.isoformat()}?format={fmt}"

    def auth(self) -> dict[str, str]:
        import base64

        return {"Authorization": "Basic " + base64.b64encode(f"{harness.USER}:{self.password}".encode()).decode()}


# --------------------------------------------------------------------------- clients


@dataclasses.dataclass
class Result:
    status: int
    ttfb: float
    seconds: float
    size: int
    complete: bool  # read to the end (not hung up on purpose)
    exact: bool | None = None  # events counted == X-WP-Total (complete downloads)
    error: str = ""


def count_events(fmt: str, body: bytes) -> int:
    """Events in a whole body, read as a client would (not with the service's code)."""
    if fmt == "json":
        return len(orjson.loads(body))
    if fmt == "ndjson":
        return sum(1 for line in body.split(b"\n") if line.strip())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    return max(0, len(rows) - 1)


def fetch(server: Server, day: dt.date, fmt: str, compressed: bool, hang_up_after: int | None) -> Result:
    """One download; ``hang_up_after`` bytes read, then the connection is closed (None: read it all)."""
    headers = server.auth() | ({"Accept-Encoding": "gzip"} if compressed else {})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    started = time.perf_counter()
    try:
        conn.request("GET", server.path(day, fmt), headers=headers)
        response = conn.getresponse()
        ttfb = time.perf_counter() - started
        if hang_up_after is not None:
            size = len(response.read(hang_up_after))
            return Result(response.status, ttfb, time.perf_counter() - started, size, False)
        body = response.read()
        seconds = time.perf_counter() - started
        result = Result(response.status, ttfb, seconds, len(body), True)
        if response.status == 200:
            raw = gzip.decompress(body) if response.getheader("Content-Encoding") == "gzip" else body
            result.exact = count_events(fmt, raw) == int(response.getheader("X-WP-Total") or -1)
        return result
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Result(0, 0.0, time.perf_counter() - started, 0, False, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def stalled_clients(server: Server, n: int) -> list[socket.socket]:
    """``n`` connections that ask for the large day and never read."""
    request = (
        f"GET {server.path(LARGE_DAY, 'json')} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {server.auth()['Authorization']}\r\n\r\n"
    ).encode()
    socks = []
    for _ in range(n):
        sock = socket.socket()
        # A small receive buffer, as a phone's: the server stalls after a few hundred KB, not megabytes.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(request)
        socks.append(sock)
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def _wchan(pid: int) -> str:
    """What the process's main thread is blocked in ("0" when running, "" when gone)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""


def booted(server: Server, seconds: float = 120.0) -> bool:
    """Wait until every worker has loaded the app and waits for connections:
    its main thread blocked in gthread's poller (``/proc/PID/wchan``
    ``do_epoll_wait``). gunicorn's socket accepts before then (the master
    listens), so a served request does not show that every worker is up.
    False after ``seconds``, or after 5 s where the kernel hides ``wchan``
    (it reads "0" for every process, the master sleeping in its loop too)."""
    started = time.monotonic()
    shown = False  # a process of the server seen blocked: the kernel shows wchan
    while time.monotonic() - started < seconds:
        pids = server.workers()
        states = [_wchan(pid) for pid in pids]
        if len(pids) >= harness.GUNICORN_WORKERS and all(state == "do_epoll_wait" for state in states):
            return True
        shown = shown or any(state not in ("", "0") for state in states)
        shown = shown or (server.proc is not None and _wchan(server.proc.pid) not in ("", "0"))
        if not shown and time.monotonic() - started > 5:
            return False
        time.sleep(0.1)
    return False


def reset_peaks(server: Server) -> float | None:
    """The largest start-up peak RSS (VmHWM) of the workers, in MB, after which
    each worker's peak is reset to its current RSS (``/proc/PID/clear_refs``
    "5", Linux 4.0+), so ``server.peak_rss_mb()`` then measures what follows.
    None when the workers could not be seen booted or a peak could not be
    reset: the later peak then includes start-up."""
    if not booted(server):
        return None
    before = server.peak_rss_mb()
    try:
        for pid in server.workers():
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return None
    return before


def workers(server: Server) -> list[psutil.Process]:
    return [psutil.Process(pid) for pid in server.workers()]


def open_files(procs: list[psutil.Process]) -> int:
    """The workers' file descriptors, not counting their Redis connections (the
    Redis client's pool keeps a connection per thread that needed one at once)
    nor pipes and Unix sockets: those are the process pool's (events/processes.py,
    started by a worker's first big CSV download and kept for its life); what
    a download could leak is a client's TCP socket or an event file."""
    port = int(harness.redis_url().rsplit(":", 1)[1].split("/")[0])
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            redis = sum(1 for c in proc.net_connections("tcp") if c.raddr and c.raddr.port == port)
            pool = sum(1 for c in proc.net_connections("unix"))
            fd_dir = Path(f"/proc/{proc.pid}/fd")
            pipes = 0
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    pipes += os.readlink(fd).startswith("pipe:")
            total += proc.num_fds() - redis - pool - pipes
    return total


def connections_per_worker(server: Server) -> list[int]:
    """Each worker's open client connections, busiest first: how the workers
    shared the stalled readers (a worker takes at most ``threads``, gunicorn.conf.py)."""
    counts = []
    for proc in workers(server):
        with contextlib.suppress(psutil.Error):
            conns = proc.net_connections("tcp")
            counts.append(sum(1 for c in conns if c.laddr.port == server.port and c.status == psutil.CONN_ESTABLISHED))
    return sorted(counts, reverse=True)


def wait_quiet(server: Server, seconds: float = 30.0) -> float:
    """Wait until the workers use under 5 % of a core for half a second; returns the wait."""
    started = time.monotonic()
    procs = workers(server)

    def cpu() -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in procs)

    while time.monotonic() - started < seconds:
        before = cpu()
        time.sleep(0.5)
        if cpu() - before < 0.025:
            break
    return time.monotonic() - started


def quantile(xs: t.Sequence[float], q: float) -> float:
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- scenarios


@dataclasses.dataclass
class Report:
    settings: dict[str, t.Any]
    stalled_ttfb: list[float] = dataclasses.field(default_factory=list)
    stalled_settle_s: float = 0.0
    stalled_spread: list[int] = dataclasses.field(default_factory=list)  # per worker, busiest first
    results: list[Result] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # since reset_peaks (or since start, when start_rss_mb is None)
    start_rss_mb: float | None = None
    fds: tuple[int, int] = (0, 0)  # before, after
    threads: tuple[int, int, int] = (0, 0, 0)  # before, peak, after
    failures: list[str] = dataclasses.field(default_factory=list)


def stalled_scenario(server: Server, report: Report, n: int, probes: int, limit: float) -> None:
    socks = stalled_clients(server, n)
    try:
        report.stalled_settle_s = wait_quiet(server)
        report.stalled_spread = connections_per_worker(server)
        for _ in range(probes):
            result = fetch(server, SMALL_DAY, "json", False, None)
            if result.status != 200 or not result.exact:
                report.failures.append(f"probe under stalled readers: {result}")
            report.stalled_ttfb.append(result.ttfb)
    finally:
        close_all(socks)
    worst = max(report.stalled_ttfb, default=float("inf"))
    if worst >= limit:
        report.failures.append(f"warm-day TTFB with {n} stalled readers reached {worst:.2f} s (limit {limit} s)")


def mixed_scenario(server: Server, report: Report, clients: int, stalled: int, seconds: float, seed: int) -> None:
    procs = workers(server)
    wait_quiet(server)
    fds_before = open_files(procs)
    threads_before = sum(p.num_threads() for p in procs)
    stop = threading.Event()
    lock = threading.Lock()
    peak_threads = [threads_before]

    def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        while not stop.is_set():
            day = rng.choice((SMALL_DAY, LARGE_DAY))
            fmt = rng.choice(("json", "csv", "ndjson"))
            hang_up = rng.randint(16_384, 1 << 20) if i % 2 else None  # half the clients hang up mid-stream
            result = fetch(server, day, fmt, rng.random() < 0.3, hang_up)
            with lock:
                report.results.append(result)

    def sample() -> None:
        while not stop.wait(0.25):
            with contextlib.suppress(psutil.Error):
                peak_threads[0] = max(peak_threads[0], sum(p.num_threads() for p in procs))

    socks = stalled_clients(server, stalled)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=sample, daemon=True))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(180)
    report.seconds = time.monotonic() - started
    close_all(socks)

    deadline = time.monotonic() + 30  # the dropped clients' sockets close as their threads notice
    while time.monotonic() < deadline and open_files(procs) > fds_before:
        time.sleep(0.2)
    report.fds = (fds_before, open_files(procs))
    report.threads = (threads_before, peak_threads[0], sum(p.num_threads() for p in procs))
    report.peak_rss_mb = server.peak_rss_mb()

    errors = [r for r in report.results if r.status not in (200, 429) and not (r.status == 0 and not r.complete)]
    broken = [r for r in report.results if r.complete and r.exact is False]
    if errors:
        report.failures.append(f"{len(errors)} error answers, e.g. {errors[0]}")
    if broken:
        report.failures.append(f"{len(broken)} complete downloads without X-WP-Total events, e.g. {broken[0]}")
    if report.peak_rss_mb > RSS_LIMIT_MB:
        report.failures.append(f"a worker's peak RSS reached {report.peak_rss_mb:.0f} MB (limit {RSS_LIMIT_MB:.0f})")
    if report.start_rss_mb is not None and report.start_rss_mb > RSS_LIMIT_MB:
        report.failures.append(
            f"a worker's start-up peak RSS reached {report.start_rss_mb:.0f} MB (limit {RSS_LIMIT_MB:.0f})"
        )
    if report.fds[1] > report.fds[0] + FDS_PER_WORKER * len(procs):
        report.failures.append(
            f"file descriptors {report.fds[0]} before, {report.fds[1]} after "
            f"(allowed {FDS_PER_WORKER} more per worker)"
        )
    pool = len(procs) * server.threads
    if report.threads[2] > report.threads[0] + pool:
        report.failures.append(f"threads {report.threads[0]} before, {report.threads[2]} after (pool {pool})")


# --------------------------------------------------------------------------- report


def summary_lines(report: Report) -> list[str]:
    s = report.settings
    done = [r for r in report.results if r.complete and r.status == 200]
    hung = [r for r in report.results if not r.complete]
    ttfb = [r.ttfb for r in report.results if r.status == 200]
    mb = sum(r.size for r in report.results) / 1e6
    lines = [
        HEADING,
        "",
        f"Issue 12's load, measured by `bench/load{' --quick' if s['quick'] else ''}` on {s['when']} "
        f"(commit {s['commit']}, {s['cpus']} CPUs shared with other work): gunicorn as `scripts/run` serves "
        f"(`gunicorn.conf.py`: gthread, {s['workers']} workers x {s['threads']} threads, "
        f"ANALYTICS_SEND_TIMEOUT={s['send_timeout']}), a small day ({s['small']} events, three sites) "
        f"and a large one ({s['large']}), blog 1, served from a local directory.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| warm small-day TTFB with {s['stalled_probe']} clients that never read: p50 / p99 / max | "
        f"{quantile(report.stalled_ttfb, 0.5):.3f} / {quantile(report.stalled_ttfb, 0.99):.3f} / "
        f"{max(report.stalled_ttfb, default=float('nan')):.3f} s ({len(report.stalled_ttfb)} downloads) | "
        f"< {TTFB_LIMIT_S:.0f} s |",
        f"| the {s['stalled_probe']} clients that never read, per worker (busiest first) | "
        f"{' / '.join(map(str, report.stalled_spread))} | <= threads ({s['threads']}) |",
        f"| mixed load: {s['clients']} clients for {s['seconds']:.0f} s + {s['stalled']} that never read: "
        f"requests (complete / hung up on purpose) | {len(report.results)} ({len(done)} / {len(hung)}) | |",
        f"| TTFB under mixed load: p50 / p99 | {quantile(ttfb, 0.5):.3f} / {quantile(ttfb, 0.99):.3f} s | |",
        f"| throughput | {mb / report.seconds:.1f} MB/s, {len(done) / report.seconds:.1f} complete downloads/s | |",
        f"| error answers (other than 429) | "
        f"{sum(1 for r in report.results if r.status not in (200, 429) and r.complete)} | 0 |",
        f"| complete downloads with exactly X-WP-Total events | {sum(1 for r in done if r.exact)} of {len(done)} "
        f"| all |",
        f"| worker peak RSS under the load (largest) | {report.peak_rss_mb:.0f} MB"
        f"{'' if report.start_rss_mb is not None else ' (not reset: includes start-up)'} | "
        f"<= {RSS_LIMIT_MB:.0f} MB |",
        f"| worker peak RSS of start-up, before the load (largest) | "
        f"{'?' if report.start_rss_mb is None else f'{report.start_rss_mb:.0f} MB'} | <= {RSS_LIMIT_MB:.0f} MB |",
        f"| workers' file descriptors before / after (not counting pooled Redis connections) | "
        f"{report.fds[0]} / {report.fds[1]} | back (+{FDS_PER_WORKER} a worker) |",
        f"| workers' threads before / peak / after | {report.threads[0]} / {report.threads[1]} / {report.threads[2]} "
        f"| after <= before + pool ({s['workers'] * s['threads']}) |",
        "",
        f"Verdict: {'PASS' if not report.failures else 'MISS: ' + '; '.join(report.failures)}",
        "",
        "A stalled reader holds a thread until ANALYTICS_SEND_TIMEOUT drops it; gunicorn's thread pool keeps "
        "the threads it started (up to `threads` per worker), hence the threads check. The client runs on the "
        "same machine, so its own work (parsing every complete download to count events) competes with the server.",
        f"Command: `{s['command']}`",
        "",
    ]
    return lines


def write_section(out: Path, lines: list[str]) -> None:
    """Replace (or append) the "Load (bench/load)" section of ``out``."""
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    start = text.find(HEADING)
    if start >= 0:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start].rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    out.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small size (a few seconds; scripts/test)")
    for name, default in FULL.items():
        kind = float if isinstance(default, float) else int
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=f"default {default}")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads per worker (WEB_THREADS)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (WEB_WORKERS)")
    parser.add_argument("--send-timeout", type=int, default=60, help="ANALYTICS_SEND_TIMEOUT of the server")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--ttfb-limit",
        type=float,
        default=TTFB_LIMIT_S,
        help="seconds the probe's TTFB must stay under (issue 12: 1; tests/test_load.py: a starvation check)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the section into this Markdown file")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    size = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in defaults.items()}
    if args.workers:
        os.environ["WEB_WORKERS"] = str(args.workers)
    workers_n = int(os.environ.get("WEB_WORKERS") or 2 * (os.cpu_count() or 1))
    harness.GUNICORN_WORKERS = workers_n  # what harness.Server.start waits for
    path = ensure_days(size["small"], size["large"])
    data = harness.DataSet(path.name, path, size["small"] + size["large"], 0, "demo-data")
    server = Server(data, args.send_timeout, args.threads)
    began = time.monotonic()

    def phase(name: str) -> None:
        print(f"bench/load: {name} done at {time.monotonic() - began:.1f} s", file=sys.stderr)

    why = server.start()
    phase("server start")
    if why:
        print(f"bench/load: the server did not start: {why}", file=sys.stderr)
        return 1
    settings = {
        **size,
        "quick": args.quick,
        "workers": workers_n,
        "threads": server.threads,
        "send_timeout": args.send_timeout,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": harness.machine().get("commit", "?"),
        "cpus": os.cpu_count(),
        "command": "bench/load " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    report = Report(settings)
    report.start_rss_mb = reset_peaks(server)
    try:
        for day in (SMALL_DAY, LARGE_DAY):  # warm both days' summaries (one per object, every format) first
            warm = fetch(server, day, "ndjson", False, None)
            if warm.status != 200 or not warm.exact:
                report.failures.append(f"warm-up download of {day}: {warm}")
        phase("warm-up")
        stalled_scenario(server, report, size["stalled_probe"], size["probes"], args.ttfb_limit)
        phase("stalled readers")
        mixed_scenario(server, report, size["clients"], size["stalled"], size["seconds"], args.seed)
        phase("mixed load")
    finally:
        server.stop()
    lines = summary_lines(report)
    print("\n".join(lines))
    if args.out is not None:
        write_section(args.out, lines)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
