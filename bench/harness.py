"""The benchmark harness behind ``bench/run``: every measure of issue 5 against
its baseline, side by side in one run, written to ``BENCHMARKS.md``.

Why ratios: these machines are noisy, so a target is a ratio to a baseline
measured in the same invocation on the same files, never an absolute number
from another day (except time to first byte and the RSS cap).

Order of work: data (generated once per size and cached in ``bench/data/``),
baselines, then one fresh gunicorn per day size (small, then big; a fresh
server makes each size's peak RSS its own), then the export. A piece of the
service that has not landed yet turns its rows into "not yet measurable: why"
instead of stopping the run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable

#: The UTC day every data set holds (any fixed past day works; fixed keeps the cache valid).
BENCH_DAY = dt.date(2024, 3, 5)
SITES = (1, 2, 3)
SEED = 1
#: The site whose day is downloaded (with ANALYTICS_SITES empty every host is blog 1).
BLOG = 1
LATE_HOURS = 2
#: Every Redis key of the benchmark starts with this.
REDIS_PREFIX = "analytics-bench:"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
#: gunicorn as scripts/run serves: two processes per core with two threads each
#: (the work is CPU-bound Python, one GIL per process; measured 4 x 2 at 1.58x
#: one download for 8 concurrent ones, 2 x 4 at 1.03x), so the 8 concurrent
#: downloads are all in flight at once instead of queued.
GUNICORN_WORKERS = 2 * (os.cpu_count() or 1)
GUNICORN_THREADS = 2
CONCURRENT = 8
USER = "admin"

DEFAULTS = {"events": 500_000, "small": 50_000, "repeat": 3}
QUICK = {"events": 40_000, "small": 4_000, "repeat": 2}
#: The ``_fields`` of the five-column CSV row (issue 14).
FIELDS_5 = "event_type,event_timestamp,attributes.url,attributes.title,session.session_id"


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class Row:
    """One line of the issue's table: our samples, the baseline's, and the verdict."""

    key: str
    measure: str
    target: str
    unit: str = "s"
    ours: list[float] = dataclasses.field(default_factory=list)
    base_label: str = ""
    base: list[float] = dataclasses.field(default_factory=list)
    ratio: float | None = None
    ratio_label: str = ""
    passed: bool | None = None
    why_not: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)

    def unmeasurable(self, why: str) -> None:
        if not self.why_not:
            self.why_not = why


def _rows() -> dict[str, Row]:
    rows = [
        Row(
            "json",
            "JSON download of the big day (curl over loopback, full body)",
            "≥ 0.7x the floor's events/s",
            "events/s",
        ),
        Row("csv_pandas", "CSV download of the big day, vs pandas", "faster than pandas (ratio of times < 1)"),
        Row("csv_duckdb", "CSV download of the big day, vs DuckDB", "≤ 0.5x DuckDB's time (issue 15; issue 5: ≤ 2x)"),
        Row("csv_ndjson", "CSV download vs NDJSON download (plain), big day", "≤ 3x NDJSON's time (issue 15)"),
        Row("ndjson_gzip", "NDJSON + gzip download", "≥ 0.6x the floor's events/s", "events/s"),
        Row("ttfb_warm", "time to first byte, warm day", "≤ 100 ms median", "ms"),
        Row(
            "ttfb_cold",
            "time to first byte, cold CSV day (summaries not yet built)",
            "≤ 0.5x one full read of the day (issue 15; issue 5: ≤ 1.2x)",
        ),
        Row("rss_ratio", "server peak RSS, big day vs small day", "≤ 1.2x (flat)", "MB"),
        Row("rss_cap", "server peak RSS, big day", "≤ 200 MB", "MB"),
        Row(
            "concurrent",
            f"{CONCURRENT} concurrent downloads of the big day",
            "total events/s ≥ 1.9x one download (issue 15; issue 5: ≥ 1.5x)",
            "events/s",
        ),
        Row(
            "export",
            "export run, 100 objects, no-op subscriber",
            "≥ 1.0x the floor's events/s (issue 15; issue 5: 0.8x)",
            "events/s",
        ),
        Row("export_rss", "export worker peak RSS vs the original algorithm", "≤ 0.2x", "MB"),
        Row(
            "segment",
            "Segment formatting (format + prepare), 100 objects",
            "≥ 0.5x the no-op export's events/s",
            "events/s",
        ),
        Row("growth_json", "cost growth: big day time / small day time (JSON)", "≤ 1.1x the event ratio"),
        Row("growth_csv", "cost growth: big day time / small day time (CSV)", "≤ 1.1x the event ratio"),
        # Issue 14's rows.
        Row("parquet", "Parquet download of the big day, vs CSV", "≤ 1.5x CSV's time, RSS flat"),
        Row(
            "csv_fields",
            f"CSV of {len(FIELDS_5.split(','))} columns (_fields) vs full CSV",
            "≥ 2x full CSV's events/s",
            "events/s",
        ),
    ]
    import destinations  # issue 11's rows: bench/destinations.py

    rows += [Row(key, measure, target, "events/s") for key, (measure, target, _, _) in destinations.ROWS.items()]
    return {row.key: row for row in rows}


def median(xs: t.Sequence[float]) -> float:
    return statistics.median(xs)


# --------------------------------------------------------------------------- commands


class Log:
    """Progress on stderr and the exact commands for the report."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def command(self, argv: t.Sequence[str] | str, env: dict[str, str] | None = None) -> None:
        text = argv if isinstance(argv, str) else shlex.join(argv)
        if env:
            text = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + text
        text = text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")
        if text not in self.commands:
            self.commands.append(text)


LOG = Log()


def run(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    record: bool = True,
    shown_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    if record:
        LOG.command(argv, shown_env)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def run_with_rusage(argv: list[str], env: dict[str, str], timeout: float = 600) -> tuple[int, str, str, float, int]:
    """Run a child; return (exit code, stdout, stderr, wall seconds, peak RSS in KiB from wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), wall, usage.ru_maxrss


# --------------------------------------------------------------------------- data


@dataclasses.dataclass
class DataSet:
    name: str
    path: Path
    events: int  # generated over all sites and the whole day
    objects: int
    generator: str


def ensure_data(events: int, root: Path = BENCH / "data") -> DataSet:
    """The day of ``events`` events over three sites, generated once into
    ``<root>/<events>-seed<seed>-<generator version>/`` (``root``: ``bench/data``
    unless ``--scale`` names a cache outside the repo) and reused while its
    arguments match."""
    generator = "demo-data"
    # The generator's own source is part of the cache key: a changed generator makes new data.
    sources = sorted((ROOT / "demo").glob("*.py"))
    version = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:8]
    path = root / f"{events}-seed{SEED}-{version}"
    meta = path / ".bench.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        return DataSet(path.name, path, info["events"], info["objects"], info["generator"])
    LOG.say(f"generating {events} events into {_shown(path)}")
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    argv = [
        str(VENV_BIN / "flask"),
        "--app",
        "wsgi",
        "demo-data",
        "--out",
        str(tmp),
        "--start",
        BENCH_DAY.isoformat(),
        "--days",
        "1",
        "--events-per-day",
        str(events),
        "--sites",
        ",".join(map(str, SITES)),
        "--seed",
        str(SEED),
    ]
    # About 20,000 events/s on a busy 2-core machine: 900 s covers the default days, --scale needs more.
    done = run(argv, env=service_env(tmp, REDIS_PREFIX + "gen:"), record=False, timeout=max(900, events / 2000))
    LOG.command(["flask", *argv[1:5], "--out", _shown(path), *argv[7:]])
    if done.returncode != 0:
        raise SystemExit(f"bench: demo-data failed: {last_line(done.stderr) or last_line(done.stdout)}")
    import baselines

    objects = len(baselines.list_keys(tmp))
    (tmp / ".bench.json").write_text(json.dumps({"events": events, "objects": objects, "generator": generator}))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return DataSet(path.name, path, events, objects, generator)


def _shown(path: Path) -> str:
    """A data path as the report shows it: relative to the repo when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --------------------------------------------------------------------------- environment


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)


def service_env(source: Path, prefix: str, **extra: str) -> dict[str, str]:
    """The service's environment over ``source`` with Redis keys under ``prefix``
    and an empty export checkpoint of its own (``fresh_checkpoint``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(
        ANALYTICS_SOURCE=str(source),
        REDIS_URL=redis_url(),
        ANALYTICS_REDIS_PREFIX=prefix,
        ANALYTICS_SECRET_KEY="bench-secret",
        ANALYTICS_SITES="",
        ANALYTICS_LATE_HOURS=str(LATE_HOURS),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(BENCH)]),
        **extra,
    )
    return fresh_checkpoint(env)


def fresh_checkpoint(env: dict[str, str]) -> dict[str, str]:
    """``env`` with a new, empty ``ANALYTICS_EXPORT_CHECKPOINT`` directory: a run
    measured "from the beginning" must not find the position an earlier run
    (of this invocation, or of an earlier one over the cached demo data) kept
    beside the raw events, and restore it (jobs/checkpoint.py)."""
    return {**env, "ANALYTICS_EXPORT_CHECKPOINT": tempfile.mkdtemp(prefix="bench-checkpoint-")}


def redis_client() -> t.Any:
    import redis

    return redis.Redis.from_url(redis_url())


def delete_keys(pattern: str) -> int:
    client = redis_client()
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- server


class Server:
    """A fresh gunicorn for one data set, with a user and an application password."""

    def __init__(self, data: DataSet, prefix: str) -> None:
        self.data = data
        self.prefix = prefix
        self.port = free_port()
        self.env = service_env(data.path, prefix)
        self.password = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115

    def argv(self) -> list[str]:
        return [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            "gthread",
            "--workers",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--timeout",
            "0",
            "--no-control-socket",
            "wsgi:app",
        ]

    def start(self) -> str | None:
        """Start; None when serving, else why not."""
        delete_keys(self.prefix + "*")
        for argv in (
            [
                str(VENV_BIN / "flask"),
                "--app",
                "wsgi",
                "users",
                "create",
                USER,
                "--email",
                "admin@example.com",
                "--role",
                "administrator",
            ],
            [str(VENV_BIN / "flask"), "--app", "wsgi", "app-passwords", "create", USER, "bench"],
        ):
            done = run(argv, env=self.env, shown_env={"ANALYTICS_REDIS_PREFIX": self.prefix}, timeout=60)
            if done.returncode != 0:
                return f"`{' '.join(argv[3:6])}` failed: {last_line(done.stderr) or last_line(done.stdout)}"
            self.password = last_line(done.stdout)
        LOG.command(self.argv(), {"ANALYTICS_SOURCE": f"bench/data/{self.data.name}", "ANALYTICS_SITES": ""})
        self.proc = subprocess.Popen(self.argv(), cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"gunicorn exited with {self.proc.returncode}: {self.log_tail()}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                if len(self.workers()) >= GUNICORN_WORKERS:
                    return None
            time.sleep(0.1)
        return "gunicorn did not start listening within 30 s"

    def log_tail(self) -> str:
        try:
            return last_line(Path(self.log.name).read_text(errors="replace"))
        except OSError:
            return ""

    def workers(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        try:
            return [child.pid for child in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def peak_rss_mb(self) -> float:
        """The largest VmHWM (peak resident set) of the workers, in MB."""
        peaks = []
        for pid in self.workers():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        return max(peaks, default=0.0)

    def url(self, fmt: str, extra: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/wp-json/analytics/v1/events/{BENCH_DAY.isoformat()}?format={fmt}{extra}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)
        delete_keys(self.prefix + "*")


@dataclasses.dataclass
class Download:
    status: int
    total: int | None  # X-WP-Total
    ttfb: float
    seconds: float
    size: int
    body_head: str = ""

    @property
    def events_per_s(self) -> float:
        return (self.total or 0) / self.seconds if self.seconds else 0.0


_WRITE_OUT = "%{http_code} %{time_starttransfer} %{time_total} %{size_download}"


def curl_argv(
    server: Server,
    fmt: str,
    *,
    compressed: bool = False,
    headers: str = "",
    body: str = "/dev/null",
    shown: bool = False,
    extra: str = "",
) -> list[str]:
    auth = f"{USER}:{'$PASSWORD' if shown else server.password}"
    argv = ["curl", "-sS", "-u", auth, "-o", body, "-w", _WRITE_OUT]
    if headers:
        argv += ["-D", headers]
    if compressed:
        argv.append("--compressed")
    return [*argv, server.url(fmt, extra)]


def download(server: Server, fmt: str, *, compressed: bool = False, extra: str = "", timeout: float = 600) -> Download:
    """One full download with curl; body discarded, headers kept for X-WP-Total."""
    with tempfile.TemporaryDirectory() as tmp:
        headers = os.path.join(tmp, "h")
        body = os.path.join(tmp, "b") if fmt == "error" else "/dev/null"
        LOG.command(curl_argv(server, fmt, compressed=compressed, shown=True, extra=extra))
        argv = curl_argv(server, fmt, compressed=compressed, headers=headers, body=body, extra=extra)
        done = run(argv, record=False, timeout=timeout)
        return _parse_download(done.stdout, headers, done.stderr)


def _parse_download(write_out: str, headers_path: str, stderr: str = "") -> Download:
    try:
        code, ttfb, total, size = write_out.split()
    except ValueError:
        return Download(0, None, 0.0, 0.0, 0, stderr.strip()[:200])
    total_events = None
    with contextlib.suppress(OSError):
        for line in Path(headers_path).read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "x-wp-total" and value.strip().isdigit():
                total_events = int(value.strip())
    return Download(int(code), total_events, float(ttfb), float(total), int(float(size)))


def error_body(server: Server, fmt: str) -> str:
    argv = ["curl", "-sS", "-u", f"{USER}:{server.password}", server.url(fmt)]
    done = run(argv, record=False, timeout=120)
    return (done.stdout or done.stderr).strip()[:300]


def first_byte(server: Server, fmt: str, timeout: float = 60) -> float | None:
    """Seconds to the first response byte (curl's time_starttransfer), then the
    transfer is cut: a TTFB sample must not cost a whole download."""
    argv = [
        "curl",
        "-sS",
        "-N",
        "-u",
        f"{USER}:{server.password}",
        "-o",
        "-",
        "-w",
        "%{stderr}TTFB %{http_code} %{time_starttransfer}\\n",
        server.url(fmt),
    ]
    LOG.command(shlex.join([*argv[:4], f"{USER}:$PASSWORD", *argv[5:]]) + " | head -c 1")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace")
    proc.wait(timeout=timeout)
    for line in err.splitlines():
        if line.startswith("TTFB "):
            _, code, ttfb = line.split()
            return float(ttfb) if code == "200" else None
    return None


def concurrent(server: Server, fmt: str, n: int) -> tuple[float, int]:
    """``n`` downloads started together; (wall seconds until all finished, events)."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        started = time.perf_counter()
        for i in range(n):
            headers = os.path.join(tmp, f"h{i}")
            procs.append(
                (
                    subprocess.Popen(
                        curl_argv(server, fmt, headers=headers),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                    headers,
                )
            )
        results = []
        for proc, headers in procs:
            out, err = proc.communicate(timeout=600)
            results.append(_parse_download(out, headers, err))
        wall = time.perf_counter() - started
    LOG.command(f"{n} x `{shlex.join(curl_argv(server, fmt, shown=True))}` started together")
    if any(r.status != 200 for r in results):
        raise RuntimeError(f"a concurrent download failed with HTTP {[r.status for r in results]}")
    return wall, sum(r.total or 0 for r in results)


def clear_catalog(prefix: str) -> int:
    """Make every day cold: delete the per-object summaries under ``prefix``."""
    try:
        from events.catalog import SUMMARY_KEY
    except ImportError:
        pattern = prefix + "catalog:*"
    else:
        pattern = SUMMARY_KEY.format(prefix=prefix, key="*")
    return delete_keys(pattern)


# --------------------------------------------------------------------------- baselines


def baseline(mode: str, data: DataSet, *, keys_file: Path | None = None) -> dict[str, t.Any]:
    argv = [PYTHON, str(BENCH / "baselines.py"), mode, "--root", str(data.path)]
    shown = ["bench/baselines.py", mode, "--root", f"bench/data/{data.name}"]
    if keys_file is None:
        extra = ["--day", BENCH_DAY.isoformat(), "--blog", str(BLOG), "--late-hours", str(LATE_HOURS)]
    else:
        extra = ["--keys-file", str(keys_file)]
    LOG.command(["python", *shown, *(extra if keys_file is None else ["--keys-file", "<first 100 keys>"])])
    done = run([*argv, *extra], record=False)
    if done.returncode != 0:
        raise RuntimeError(f"baseline {mode} failed: {last_line(done.stderr)}")
    return json.loads(last_line(done.stdout))


@dataclasses.dataclass
class Baselines:
    floor_s: list[float] = dataclasses.field(default_factory=list)
    floor_events: int = 0
    floor_rss_mb: float = 0.0
    duckdb_s: list[float] = dataclasses.field(default_factory=list)
    duckdb_events: int = 0
    pandas_s: list[float] = dataclasses.field(default_factory=list)
    pandas_events: int = 0
    objects: int = 0


def baseline_round(result: Baselines, data: DataSet, csv_tools: bool, pandas: bool = True) -> None:
    """One sample of each day baseline (floor; DuckDB and pandas on the big day;
    pandas, the slowest by far, only while ``pandas`` is true)."""
    floor = baseline("floor", data)
    result.floor_s.append(floor["seconds"])
    result.floor_events = floor["events"]
    result.objects = floor["objects"]
    result.floor_rss_mb = floor["maxrss_kb"] / 1024
    if csv_tools:
        duck = baseline("duckdb", data)
        result.duckdb_s.append(duck["seconds"])
        result.duckdb_events = duck["events"]
    if csv_tools and pandas:
        frame = baseline("pandas", data)
        result.pandas_s.append(frame["seconds"])
        result.pandas_events = frame["events"]


# --------------------------------------------------------------------------- endpoint


@dataclasses.dataclass
class SizeRun:
    """What one fresh server measured on one day size."""

    json: list[Download] = dataclasses.field(default_factory=list)
    csv: list[Download] = dataclasses.field(default_factory=list)
    ndjson: list[Download] = dataclasses.field(default_factory=list)
    #: Plain (not compressed) NDJSON downloads: the baseline of CSV's time (issue 15).
    ndjson_plain: list[Download] = dataclasses.field(default_factory=list)
    parquet: list[Download] = dataclasses.field(default_factory=list)
    csv_fields: list[Download] = dataclasses.field(default_factory=list)
    #: Full CSV downloads alternating with the Parquet and ``_fields`` ones (their baseline).
    csv_again: list[Download] = dataclasses.field(default_factory=list)
    parquet_rss_mb: float = 0.0
    ttfb_warm: list[float] = dataclasses.field(default_factory=list)
    ttfb_cold: list[float] = dataclasses.field(default_factory=list)
    peak_rss_mb: float = 0.0
    concurrent: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    concurrent_rss_mb: float = 0.0
    why_not: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)


def warm_parquet(server: Server, most: int = 4 * GUNICORN_WORKERS) -> int:
    """Five-column ``_fields`` Parquet downloads (about a second each) until
    every web process has served one (pyarrow's libraries mapped in it; its
    pool's workers loaded them too), at most ``most``. The Parquet row then
    compares warm processes with warm ones, as the CSV it is measured against
    was downloaded by the processes many times before; a process's first
    Parquet download costs about 0.65 s more (bench/FINDINGS.md, issue 14's
    last round). Returns how many web processes are still cold."""

    def cold() -> list[int]:
        left = []
        for pid in server.workers():
            with contextlib.suppress(OSError):
                if "libparquet" not in Path(f"/proc/{pid}/maps").read_text():
                    left.append(pid)
        return left

    for _ in range(most):
        if not cold():
            break
        download(server, "parquet", extra="&_fields=" + FIELDS_5)
    return len(cold())


def _check(d: Download, what: str) -> None:
    if d.status != 200:
        raise RuntimeError(f"{what} answered HTTP {d.status} {d.body_head}".strip())


def measure_size(data: DataSet, repeat: int, big: bool, concurrent_repeat: int) -> tuple[Baselines, SizeRun]:
    """Baselines and endpoint measures of one day size on a fresh server.

    Baseline and download samples alternate (floor, DuckDB, pandas, JSON, CSV,
    NDJSON, then again), so load from elsewhere on the machine falls on both
    sides of a ratio instead of on whichever ran during it."""
    base = Baselines()
    result = SizeRun()
    prefix = f"{REDIS_PREFIX}{data.events}:"
    server = Server(data, prefix)
    serving = False
    try:
        why = server.start()
        if why:
            result.why_not = why
        else:
            LOG.say(f"gunicorn on port {server.port} serving {data.name}")
            probe = download(server, "json")
            if probe.status != 200:
                result.why_not = f"GET events/{BENCH_DAY} answered HTTP {probe.status}: {error_body(server, 'json')}"
            else:
                serving = True
        if serving and big:
            for _ in range(repeat):
                clear_catalog(prefix)
                ttfb = first_byte(server, "csv")
                if ttfb is None:
                    result.notes.append("cold CSV first byte: request failed")
                    break
                result.ttfb_cold.append(ttfb)
            clear_catalog(prefix)
            _check(download(server, "json"), "warming request")  # summaries rebuilt: later requests are warm
        for _ in range(repeat):
            baseline_round(base, data, big, pandas=len(base.pandas_s) < 2)
            if not serving:
                continue
            for fmt, into, compressed, extra in (
                ("json", result.json, False, ""),
                ("csv", result.csv, False, ""),
                ("ndjson", result.ndjson, True, ""),
                ("ndjson", result.ndjson_plain, False, ""),
            ):
                d = download(server, fmt, compressed=compressed, extra=extra)
                if d.status != 200:
                    result.notes.append(f"{fmt}: HTTP {d.status}: {error_body(server, fmt)}")
                    continue
                into.append(d)
        if serving:
            for _ in range(max(repeat, 5)):
                ttfb = first_byte(server, "json")
                if ttfb is not None:
                    result.ttfb_warm.append(ttfb)
            result.peak_rss_mb = server.peak_rss_mb()
            # Issue 14's downloads after that peak: Parquet loads pyarrow's libraries into the worker.
            cold = warm_parquet(server)
            if cold:
                result.notes.append(f"parquet: {cold} web process(es) had served no Parquet before the timed ones")
            for _ in range(repeat):
                for fmt, into, extra in (
                    ("csv", result.csv_fields, "&_fields=" + FIELDS_5),
                    ("parquet", result.parquet, ""),
                    ("csv", result.csv_again, ""),
                ):
                    d = download(server, fmt, extra=extra)
                    if d.status != 200:
                        result.notes.append(f"{fmt}{extra}: HTTP {d.status}: {error_body(server, fmt)}")
                        continue
                    into.append(d)
            result.parquet_rss_mb = server.peak_rss_mb()
            if big:
                for _ in range(concurrent_repeat):
                    result.concurrent.append(concurrent(server, "json", CONCURRENT))
                result.concurrent_rss_mb = server.peak_rss_mb()
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        result.notes.append(f"stopped early: {exc}")
    finally:
        server.stop()
    return base, result


# --------------------------------------------------------------------------- export


@dataclasses.dataclass
class ExportRun:
    seconds: list[float] = dataclasses.field(default_factory=list)
    events: int = 0
    rss_mb: list[float] = dataclasses.field(default_factory=list)
    cli_rss_mb: list[float] = dataclasses.field(default_factory=list)
    cli_seconds: list[float] = dataclasses.field(default_factory=list)
    floor_s: list[float] = dataclasses.field(default_factory=list)
    floor_events: int = 0
    original_s: list[float] = dataclasses.field(default_factory=list)
    original_rss_mb: list[float] = dataclasses.field(default_factory=list)
    original_bytes: int = 0
    objects: int = 0
    why_not: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)
    segment_s: list[float] = dataclasses.field(default_factory=list)
    segment_events: int = 0
    segment_calls: int = 0
    segment_why_not: str = ""


def measure_export(data: DataSet, repeat: int) -> ExportRun:
    import baselines

    result = ExportRun()
    keys = baselines.list_keys(data.path)[:100]
    result.objects = len(keys)
    result.original_bytes = sum((data.path / k).stat().st_size for k in keys)
    with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
        f.write("\n".join(keys) + "\n")
        keys_file = Path(f.name)
    why = _export_missing()
    if why:
        result.why_not = why
    try:
        for i in range(repeat):  # floor, original and ours alternate, as in measure_size
            floor = baseline("floor", data, keys_file=keys_file)
            result.floor_s.append(floor["seconds"])
            result.floor_events = floor["events"]
            original = baseline("original", data, keys_file=keys_file)
            result.original_s.append(original["seconds"])
            result.original_rss_mb.append(original["maxrss_kb"] / 1024)
            if not result.why_not:
                _export_round(result, data, i)
            _segment_round(result, data, keys_file)
    finally:
        keys_file.unlink()
    return result


def _segment_round(result: ExportRun, data: DataSet, keys_file: Path) -> None:
    """Segment's format + prepare over the export's 100 objects, in batches
    of the export's default size (bench/segment_probe.py)."""
    if result.segment_why_not:
        return
    if not (ROOT / "integrations" / "segment.py").exists():
        result.segment_why_not = "integrations/segment.py has not landed"
        return
    LOG.command(
        ["python", "bench/segment_probe.py", "--root", f"bench/data/{data.name}", "--keys-file", "<first 100 keys>"]
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{BENCH}", "SEGMENT_API_WRITE_KEY": "bench-not-sent"}
    done = run(
        [PYTHON, str(BENCH / "segment_probe.py"), "--root", str(data.path), "--keys-file", str(keys_file)],
        env=env,
        record=False,
    )
    if done.returncode != 0:
        result.segment_why_not = f"segment probe failed: {last_line(done.stderr)}"
        return
    probe = json.loads(last_line(done.stdout))
    result.segment_s.append(probe["seconds"])
    result.segment_events, result.segment_calls = probe["events"], probe["calls"]


def _export_round(result: ExportRun, data: DataSet, i: int) -> None:
    """One sample of our export, each run on a fresh Redis prefix so that it
    starts from the beginning: the probe times ``run_export`` in-process (as
    the floor is timed), then the real CLI gives the worker's peak RSS."""
    prefix = f"{REDIS_PREFIX}export-{i}:"
    env = service_env(
        data.path, prefix, ANALYTICS_INTEGRATIONS="bench_noop_subscriber", ANALYTICS_EXPORT_START="beginning"
    )
    shown = {
        "PYTHONPATH": ".:bench",
        "ANALYTICS_INTEGRATIONS": "bench_noop_subscriber",
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_SOURCE": f"bench/data/{data.name}",
    }
    delete_keys(prefix + "*")
    LOG.command(["python", "bench/export_probe.py"], shown)
    code, out, err, _wall, rss = run_with_rusage([PYTHON, str(BENCH / "export_probe.py")], env)
    delete_keys(prefix + "*")
    if code != 0:
        result.why_not = f"export probe failed: {last_line(err) or last_line(out)}"
        return
    probe = json.loads(last_line(out))
    result.seconds.append(probe["seconds"])
    result.events = probe["events"]
    result.rss_mb.append(rss / 1024)
    LOG.command(["flask", "--app", "wsgi", "export", "run"], shown)
    env = fresh_checkpoint(env)  # from the beginning again, as the probe's run
    code, out, err, wall, rss = run_with_rusage([str(VENV_BIN / "flask"), "--app", "wsgi", "export", "run"], env)
    delete_keys(prefix + "*")
    if code != 0:
        result.notes.append(f"`flask --app wsgi export run` failed: {last_line(err) or last_line(out)}")
        return
    result.cli_seconds.append(wall)
    result.cli_rss_mb.append(rss / 1024)


def _export_missing() -> str:
    try:
        import jobs.export  # noqa: F401
    except ImportError as exc:
        return f"jobs/export.py has not landed ({exc})"
    done = run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "export", "run", "--help"],
        env=service_env(ROOT / "data", REDIS_PREFIX + "probe:"),
        record=False,
    )
    if done.returncode != 0:
        return f"`flask --app wsgi export run` is not available: {last_line(done.stderr)}"
    return ""


def measure_destinations(data: DataSet, repeat: int) -> t.Any:
    """The export into each destination of issue 11 (bench/destinations.py),
    over the same objects as the no-op export, each sample on a fresh prefix."""
    import destinations

    shown_base = {
        "PYTHONPATH": ".:bench",
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_SOURCE": f"bench/data/{data.name}",
    }

    def env_for(suffix: str, **extra: str) -> dict[str, str]:
        prefix = f"{REDIS_PREFIX}{suffix}"
        delete_keys(prefix + "*")
        return service_env(data.path, prefix, ANALYTICS_EXPORT_START="beginning", **extra)

    def run_probe(key: str, env: dict[str, str], shown: dict[str, str]) -> dict[str, t.Any] | str:
        LOG.command(["python", "bench/destination_probe.py"], {**shown_base, **shown})
        code, out, err, _wall, _rss = run_with_rusage([PYTHON, str(BENCH / "destination_probe.py")], env)
        delete_keys(env["ANALYTICS_REDIS_PREFIX"] + "*")
        if code != 0:
            return f"destination probe failed: {last_line(err) or last_line(out)}"
        return t.cast(dict[str, t.Any], json.loads(last_line(out)))

    try:
        return destinations.measure(repeat, env_for, run_probe)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return destinations.Result(why_not={key: f"stopped: {exc}" for key in destinations.ROWS})


def judge_destinations(rows: dict[str, Row], dest: t.Any, export: ExportRun) -> None:
    import destinations

    noop = [export.events / s for s in export.seconds]
    for key, (_measure, _target, min_ratio, min_rate) in destinations.ROWS.items():
        row = rows[key]
        if key in dest.why_not or not dest.rates.get(key):
            row.unmeasurable(dest.why_not.get(key, "no sample"))
            continue
        row.ours = dest.rates[key]
        if noop:
            row.base, row.base_label = noop, "no-op subscriber, same objects"
            row.ratio, row.ratio_label = median(row.ours) / median(noop), "ours / no-op"
        if min_ratio is not None and row.ratio is not None:
            row.passed = row.ratio >= min_ratio
        elif min_rate is not None:
            row.passed = median(row.ours) >= min_rate
        row.notes.append(
            f"{dest.events} events per run, timed inside the process around `run_export` (bench/destination_probe.py)"
        )
    for key, (floor_key, floor_name) in destinations.FLOORS.items():
        floor, row = rows[floor_key], rows[key]
        if floor.ours and row.ours:
            row.notes.append(f"against {floor_name}: {median(row.ours) / median(floor.ours):.2f}x")


# --------------------------------------------------------------------------- verdicts


def judge(
    rows: dict[str, Row],
    base: dict[str, Baselines],
    ends: dict[str, SizeRun],
    export: ExportRun,
    data: dict[str, DataSet],
) -> None:
    big, small, floor = ends["big"], ends["small"], base["big"]
    floor_eps = [floor.floor_events / s for s in floor.floor_s]
    if big.why_not:
        for key in (
            "json",
            "csv_pandas",
            "csv_duckdb",
            "csv_ndjson",
            "ndjson_gzip",
            "ttfb_warm",
            "ttfb_cold",
            "rss_ratio",
            "rss_cap",
            "concurrent",
            "growth_json",
            "growth_csv",
        ):
            rows[key].unmeasurable(f"endpoint: {big.why_not}")
    for note in big.notes:
        rows["json"].notes.append(f"big day: {note}")
    for note in small.notes:
        rows["json"].notes.append(f"small day: {note}")

    def per_s(downloads: list[Download]) -> list[float]:
        return [d.events_per_s for d in downloads]

    def set_rate(key: str, downloads: list[Download], factor: float, base_label: str) -> None:
        row = rows[key]
        if not downloads:
            row.unmeasurable("no successful download")
            return
        row.ours = per_s(downloads)
        row.base_label = base_label
        row.base = floor_eps
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "ours / floor"
        row.passed = row.ratio >= factor
        totals = {d.total for d in downloads}
        if totals != {floor.floor_events}:
            row.notes.append(f"X-WP-Total {sorted(totals)} differs from the floor's {floor.floor_events} events")

    set_rate("json", big.json, 0.7, "floor events/s")
    set_rate("ndjson_gzip", big.ndjson, 0.6, "floor events/s")
    if big.ndjson:
        rows["ndjson_gzip"].notes.append(
            f"compressed body {big.ndjson[0].size / 1e6:.1f} MB for {big.ndjson[0].total} events"
        )

    if big.csv:
        csv_s = [d.seconds for d in big.csv]
        for key, samples, label, limit in (
            ("csv_pandas", floor.pandas_s, "pandas json_normalize + to_csv", 1.0),
            ("csv_duckdb", floor.duckdb_s, "DuckDB read_ndjson + COPY", 0.5),
        ):
            row = rows[key]
            row.ours, row.base, row.base_label = csv_s, samples, label
            row.ratio = median(csv_s) / median(samples)
            row.ratio_label = "our time / theirs"
            row.passed = row.ratio < limit if key == "csv_pandas" else row.ratio <= limit
        if floor.duckdb_events != floor.floor_events:
            rows["csv_duckdb"].notes.append(f"DuckDB wrote {floor.duckdb_events} rows, the floor {floor.floor_events}")
    else:
        rows["csv_pandas"].unmeasurable("no successful CSV download")
        rows["csv_duckdb"].unmeasurable("no successful CSV download")
    row = rows["csv_ndjson"]
    if big.csv and big.ndjson_plain:
        row.ours, row.base = [d.seconds for d in big.csv], [d.seconds for d in big.ndjson_plain]
        row.base_label = "NDJSON download (not compressed) of the same day"
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "CSV time / NDJSON time"
        row.passed = row.ratio <= 3
    else:
        row.unmeasurable("no successful CSV or plain NDJSON download")

    row = rows["ttfb_warm"]
    if big.ttfb_warm:
        row.ours = [s * 1000 for s in big.ttfb_warm]
        row.passed = median(row.ours) <= 100
        row.notes.append("format=json, day summarized; curl's time_starttransfer, transfer cut after the first byte")
    else:
        row.unmeasurable("no successful request")

    row = rows["ttfb_cold"]
    if big.ttfb_cold:
        row.ours, row.base, row.base_label = big.ttfb_cold, floor.floor_s, "floor: one full read of the day"
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "ours / floor"
        row.passed = row.ratio <= 0.5
        row.notes.append("the day's summaries deleted from Redis before each sample")
    else:
        row.unmeasurable("no successful cold request")

    row = rows["rss_ratio"]
    if big.peak_rss_mb and small.peak_rss_mb:
        row.ours, row.base, row.base_label = [big.peak_rss_mb], [small.peak_rss_mb], "small day's peak"
        row.ratio = big.peak_rss_mb / small.peak_rss_mb
        row.ratio_label = "big / small"
        row.passed = row.ratio <= 1.2
        row.notes.append(
            "VmHWM of the busiest gunicorn worker after every single-download measure of that size "
            "(cold and warm CSV, JSON, NDJSON+gzip), each size on a fresh server"
        )
        cap = rows["rss_cap"]
        cap.ours = [big.peak_rss_mb]
        cap.passed = big.peak_rss_mb <= 200
        if big.concurrent_rss_mb:
            cap.notes.append(
                f"after the {CONCURRENT} concurrent downloads the busiest worker's peak was "
                f"{big.concurrent_rss_mb:.0f} MB (not part of the target: single downloads)"
            )
    elif not rows["rss_ratio"].why_not:
        row.unmeasurable(small.why_not or "no peak RSS read")
        rows["rss_cap"].unmeasurable(small.why_not or "no peak RSS read")

    row = rows["concurrent"]
    if big.concurrent and big.json:
        row.ours = [events / wall for wall, events in big.concurrent]
        row.base, row.base_label = per_s(big.json), "one download's events/s"
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "total / one"
        row.passed = row.ratio >= 1.9
    else:
        row.unmeasurable("no concurrent run")

    judge_pull_api(rows, big, small)

    for key, attr in (("growth_json", "json"), ("growth_csv", "csv")):
        row = rows[key]
        b, s = getattr(big, attr), getattr(small, attr)
        if small.why_not:
            row.unmeasurable(f"small day: {small.why_not}")
        if not b or not s:
            row.unmeasurable("missing downloads")
            continue
        row.ours = [d.seconds for d in b]
        row.base, row.base_label = [d.seconds for d in s], "small day's time"
        event_ratio = (b[0].total or 0) / max(s[0].total or 1, 1)
        time_ratio = median(row.ours) / median(row.base)
        row.ratio = time_ratio / event_ratio
        row.ratio_label = "time ratio / event ratio"
        row.passed = row.ratio <= 1.1
        row.notes.append(f"events {b[0].total} vs {s[0].total} (x{event_ratio:.2f}); time x{time_ratio:.2f}")

    row = rows["export"]
    if export.why_not:
        row.unmeasurable(export.why_not)
        rows["export_rss"].unmeasurable(export.why_not)
    elif export.seconds:
        row.ours = [export.events / s for s in export.seconds]
        row.base = [export.floor_events / s for s in export.floor_s]
        row.base_label = f"floor over the same {export.objects} objects"
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "ours / floor"
        row.passed = row.ratio >= 1.0
        row.notes.append(
            f"{export.events} events delivered; the floor parsed {export.floor_events}; timed inside "
            "the process around `run_export` (bench/export_probe.py)"
        )
        if export.events != export.floor_events:
            row.notes.append(
                f"MISMATCH: the export delivered {export.events} events, the floor read {export.floor_events} "
                "lines of the same objects"
            )
        if export.cli_seconds:
            row.notes.append(
                f"`flask --app wsgi export run` wall time incl. start-up: {_fmt(median(export.cli_seconds))} s"
            )
        rss = rows["export_rss"]
        samples = export.cli_rss_mb or export.rss_mb
        rss.ours = samples
        rss.base, rss.base_label = export.original_rss_mb, "original algorithm's peak RSS"
        rss.ratio = median(samples) / median(export.original_rss_mb)
        rss.ratio_label = "ours / original"
        rss.passed = rss.ratio <= 0.2
        rss.notes.append(
            f"peak RSS (wait4 ru_maxrss) of `flask --app wsgi export run` over {export.objects} objects "
            f"({export.original_bytes / 1e6:.1f} MB stored); the original concatenates them "
            "(gunzipped) into one string"
        )
    if export.notes:
        rows["export"].notes.extend(export.notes)
    seg = rows["segment"]
    if export.segment_why_not or export.why_not:
        seg.unmeasurable(export.segment_why_not or export.why_not)
    elif export.segment_s and export.seconds:
        seg.ours = [export.segment_events / s for s in export.segment_s]
        seg.base, seg.base_label = rows["export"].ours, "export run, no-op subscriber, same objects"
        seg.ratio = median(seg.ours) / median(seg.base)
        seg.ratio_label = "Segment / export"
        seg.passed = seg.ratio >= 0.5
        seg.notes.append(
            f"{export.segment_events} events -> {export.segment_calls} calls, in batches of the export's 8 MiB, "
            "timed in-process around format() + prepare() (bench/segment_probe.py); sending is not timed"
        )


# --------------------------------------------------------------------------- report


def judge_pull_api(rows: dict[str, Row], big: SizeRun, small: SizeRun) -> None:
    """Issue 14's rows: Parquet against CSV (time, and flat memory), five ``_fields`` columns against all."""
    row = rows["parquet"]
    if big.parquet and big.csv_again:
        row.ours, row.base = [d.seconds for d in big.parquet], [d.seconds for d in big.csv_again]
        row.base_label = "full CSV download of the same day"
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "Parquet time / CSV time"
        big_rss, small_rss = big.parquet_rss_mb, small.parquet_rss_mb
        flat = bool(big_rss and small_rss) and big_rss / small_rss <= 1.2
        row.passed = row.ratio <= 1.5 and flat
        row.notes.append(
            f"server peak RSS after the Parquet downloads: big day {big_rss:.0f} MB, small day {small_rss:.0f} MB "
            f"({'flat' if flat else 'NOT flat'}; pyarrow's libraries, loaded on the first Parquet answer, are "
            f"about 100 MB of it); body {big.parquet[0].size / 1e6:.1f} MB vs CSV {big.csv_again[0].size / 1e6:.1f} MB"
        )
    else:
        row.unmeasurable("no successful Parquet or CSV download")
    row = rows["csv_fields"]
    if big.csv_fields and big.csv_again:
        row.ours = [d.events_per_s for d in big.csv_fields]
        row.base, row.base_label = [d.events_per_s for d in big.csv_again], "full CSV events/s"
        row.ratio = median(row.ours) / median(row.base)
        row.ratio_label = "ours / full CSV"
        row.passed = row.ratio >= 2.0
        row.notes.append(f"_fields={FIELDS_5}")
    else:
        row.unmeasurable("no successful _fields CSV download")


def _fmt(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}"


def _stat(xs: list[float], unit: str) -> str:
    if not xs:
        return "-"
    text = f"{_fmt(median(xs))} {unit}"
    if len(xs) > 1:
        text += f" ({_fmt(min(xs))}-{_fmt(max(xs))})"
    return text


def _verdict(row: Row) -> str:
    if row.why_not:
        return f"not yet measurable: {row.why_not}"
    if row.passed is None:
        return "-"
    return "**PASS**" if row.passed else "**MISS**"


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(
        # The report being rewritten is not a change to what is measured.
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)BENCHMARKS.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    curl = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    versions = {}
    for name in ("gunicorn", "orjson", "duckdb", "pandas", "flask"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.strip() + (" (with uncommitted changes)" if dirty else ""),
        "cpus": f"{os.cpu_count()} ({cpu})",
        "memory": mem,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "curl": curl,
        "libraries": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def write_report(
    out: Path,
    args: argparse.Namespace,
    rows: dict[str, Row],
    data: dict[str, DataSet],
    base: dict[str, Baselines],
    ends: dict[str, SizeRun],
    export: ExportRun,
    seconds: float,
) -> None:
    m = machine()
    big, small = data["big"], data["small"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/run` (see bench/harness.py); do not edit by hand. Every target is a ratio to a",
        "baseline measured in this same run on the same files, except time to first byte and the RSS cap.",
        "",
        f"- date: {m['date']}; commit: {m['commit']}; total bench time {seconds:.0f} s",
        f"- machine: {m['cpus']}, {m['memory']} memory; {m['os']}",
        f"- {m['python']}; {m['libraries']}; {m['curl']}",
        f"- invocation: `{shlex.join(['bench/run', *sys.argv[1:]])}` (repeat {args.repeat})",
        f"- big day: {big.events:,} events over sites {','.join(map(str, SITES))}, {big.objects} objects "
        f"(`bench/data/{big.name}`, {big.generator}); small day: {small.events:,} events, {small.objects} objects",
        f"- the endpoint serves blog {BLOG}'s share of {BENCH_DAY}: {base['big'].floor_events:,} events (big), "
        f"{base['small'].floor_events:,} (small); the floor reads the same {base['big'].objects} objects "
        f"(hour before the day, its 24 hours, {LATE_HOURS} late hours)",
        f"- server: gunicorn gthread, {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (default, as "
        "scripts/run: two processes per core with two threads each, because the work is CPU-bound Python with one "
        f"GIL per process, and so that the {CONCURRENT} concurrent downloads are all in flight rather than queued; "
        "`--workers`/`--threads` try another); curl over loopback; a concurrent sample is 8 whole downloads, "
        "so it is taken max(1, repeat // 2) times, and pandas (the slowest baseline) at most twice",
        "",
        "## Results",
        "",
        "Median of the samples, (min-max) spread; the baseline's median comes from the same run.",
        "",
        "| measure | ours | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        ratio = f"{row.ratio:.2f} ({row.ratio_label})" if row.ratio is not None else "-"
        base_text = f"{_stat(row.base, row.unit)} {row.base_label}".strip() if row.base else "-"
        lines.append(
            f"| {row.measure} | {_stat(row.ours, row.unit)} | {base_text} | {ratio} | {row.target} | {_verdict(row)} |"
        )
    lines += ["", "## Details per measure", ""]
    for row in rows.values():
        lines.append(f"### {row.measure}")
        lines.append("")
        lines.append(f"- target: {row.target}; result: {_verdict(row)}")
        if row.ours:
            lines.append(f"- ours ({row.unit}): " + ", ".join(_fmt(x) for x in row.ours))
        if row.base:
            lines.append(f"- {row.base_label} ({row.unit}): " + ", ".join(_fmt(x) for x in row.base))
        if row.ratio is not None:
            lines.append(f"- ratio {row.ratio_label}: {row.ratio:.3f}")
        lines.extend(f"- note: {note}" for note in row.notes)
        lines.append("")
    b = base["big"]
    e = ends["big"]
    lines += ["## Raw timings", ""]
    lines.append(
        f"- floor, big day: {', '.join(_fmt(s) for s in b.floor_s)} s for {b.floor_events:,} events "
        f"(peak RSS {b.floor_rss_mb:.0f} MB)"
    )
    lines.append(
        f"- floor, small day: {', '.join(_fmt(s) for s in base['small'].floor_s)} s for "
        f"{base['small'].floor_events:,} events"
    )
    lines.append(
        f"- DuckDB: {', '.join(_fmt(s) for s in b.duckdb_s)} s ({b.duckdb_events:,} rows); "
        f"pandas: {', '.join(_fmt(s) for s in b.pandas_s)} s ({b.pandas_events:,} rows)"
    )
    for size, run_ in (("big", e), ("small", ends["small"])):
        for fmt in ("json", "csv", "ndjson"):
            ds = getattr(run_, fmt)
            if ds:
                lines.append(
                    f"- {size} day {fmt}: "
                    + ", ".join(f"{_fmt(d.seconds)} s" for d in ds)
                    + f" ({ds[0].total} events, {ds[0].size / 1e6:.1f} MB body)"
                )
    if export.original_s:
        lines.append(
            f"- original export algorithm over {export.objects} objects: "
            f"{', '.join(_fmt(s) for s in export.original_s)} s, peak RSS "
            f"{', '.join(_fmt(x) for x in export.original_rss_mb)} MB"
        )
    if export.rss_mb:
        lines.append(
            f"- export probe peak RSS (same process as its timing): {', '.join(_fmt(x) for x in export.rss_mb)} MB"
        )
    lines += ["", "## What the baselines are", ""]
    lines += [
        "- **floor**: bench/baselines.py `floor`: for each object of the day, open it (gunzip when the first two "
        "bytes are the gzip magic, `gzip.GzipFile` under a 256 KiB `io.BufferedReader`), `orjson.loads` every "
        "line, keep the events whose `event_timestamp` is in the day and whose `attributes.blogId` is the site, "
        "write their raw lines to /dev/null. Timed inside its own process, interpreter start excluded.",
        "- **DuckDB**: `read_ndjson(..., union_by_name=true, ignore_errors=true)` with the same filter in SQL, "
        "`COPY ... TO '/dev/null' (FORMAT CSV, HEADER)`. DuckDB's `compression='auto_detect'` goes by file "
        "extension and Firehose objects have none, so the gzipped objects (found by magic bytes) are read with "
        "`compression='gzip'` and the others with `'none'`, `UNION ALL BY NAME`. Nested fields are written as "
        "DuckDB's struct text, not flattened (a data engineer's first query). DuckDB uses both cores.",
        "- **pandas**: the floor's read and filter, then `pd.json_normalize(records).to_csv('/dev/null')` "
        "(lists stay Python reprs).",
        "- **original algorithm**: the first 100 objects in key order, each read whole and gunzipped, appended "
        "to one `str` (`$data .= $content`), handed to a callback that does nothing; peak RSS is the process's "
        "`ru_maxrss`.",
        "",
        *_findings(),
        "## Exact commands",
        "",
        "`$PASSWORD` is the application password the harness creates; Redis is "
        f"`{redis_url()}` with keys under `{REDIS_PREFIX}`.",
        "",
        "```",
        *LOG.commands,
        "```",
        "",
    ]
    out.write_text("\n".join(lines) + _kept_sections(out))


def _kept_sections(out: Path) -> str:
    """Sections other tools write into the same file (``bench/load``'s, ``bench/run --scale``'s),
    kept when this one rewrites it."""
    if not out.exists():
        return ""
    text = out.read_text()
    starts = [i for i in (text.find("\n## Load (bench/load)"), text.find("\n## Scale (bench/run --scale)")) if i >= 0]
    return "\n" + text[min(starts) :].strip("\n") + "\n" if starts else ""


def _findings() -> list[str]:
    """The hand-written profile findings (bench/FINDINGS.md), carried into the
    generated report so that numbers and their explanation travel together."""
    path = BENCH / "FINDINGS.md"
    if not path.exists():
        return []
    return [*path.read_text().rstrip().splitlines(), ""]


# --------------------------------------------------------------------------- main


def _configure_gunicorn(workers: int, threads: int) -> None:
    global GUNICORN_WORKERS, GUNICORN_THREADS
    GUNICORN_WORKERS, GUNICORN_THREADS = workers, threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description="Benchmarks of issue 5; writes BENCHMARKS.md.")
    parser.add_argument("--events", type=int, help="events of the big day over 3 sites (default 500,000)")
    parser.add_argument("--small", type=int, help="events of the small day over 3 sites (default 50,000)")
    parser.add_argument("--repeat", type=int, help="samples of each measure (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="40,000 / 4,000 events, 2 samples (< 2 minutes); --events, --small and --repeat still apply",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only the scale rows (bench/scale.py): 10,000,000 / 50,000 events, 2 samples; about 16 GB of data",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=BENCH / "data", help="cache of generated days (default bench/data)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--workers", type=int, default=GUNICORN_WORKERS, help="gunicorn workers (to try a config)")
    parser.add_argument("--threads", type=int, default=GUNICORN_THREADS, help="gunicorn threads per worker")
    args = parser.parse_args(argv)
    _configure_gunicorn(args.workers, args.threads)
    if args.quick and args.scale:
        parser.error("--quick and --scale are different runs")
    import scale

    defaults = QUICK if args.quick else scale.DEFAULTS if args.scale else DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.events <= args.small or args.small < 1000 or args.repeat < 1:
        parser.error("need --events > --small >= 1000 and --repeat >= 1")
    if args.scale:
        scale.main(args.events, args.small, args.repeat, args.data_dir, args.out)
        return
    started = time.monotonic()
    data = {"big": ensure_data(args.events, args.data_dir), "small": ensure_data(args.small, args.data_dir)}
    base: dict[str, Baselines] = {}
    ends: dict[str, SizeRun] = {}
    for size in ("small", "big"):
        LOG.say(f"baselines and endpoint, {size} day")
        base[size], ends[size] = measure_size(data[size], args.repeat, size == "big", max(1, args.repeat // 2))
    LOG.say("export")
    export = measure_export(data["big"], args.repeat)
    LOG.say("destinations")
    dest = measure_destinations(data["big"], args.repeat)
    rows = _rows()
    judge(rows, base, ends, export, data)
    judge_destinations(rows, dest, export)
    write_report(args.out, args, rows, data, base, ends, export, time.monotonic() - started)
    LOG.say(f"wrote {args.out}")
    for row in rows.values():
        print(f"{_verdict(row):<12.60} {row.measure}")


if __name__ == "__main__":
    main()
