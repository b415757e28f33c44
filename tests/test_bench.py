"""The benchmark harness keeps working: ``bench/run --quick`` really starts
gunicorn, downloads, runs the baselines and the export, and writes a report
with a number in every row of issue 5's table. Targets are not asserted here:
they are what the report is for, so the days are a quarter of ``--quick``'s
(10,000 / 1,000 events, still two samples each): every code path of the
harness runs, in about half the time (it was the suite's slowest test)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent

#: The first cell of each row of the table, as issue 5 names the measures.
MEASURES = (
    "JSON download of the big day",
    "CSV download of the big day, vs pandas",
    "CSV download of the big day, vs DuckDB",
    "CSV download vs NDJSON download (plain)",  # issue 15
    "NDJSON + gzip download",
    "time to first byte, warm day",
    "time to first byte, cold CSV day",
    "server peak RSS, big day vs small day",
    "server peak RSS, big day |",
    "8 concurrent downloads of the big day",
    "export run, 100 objects, no-op subscriber",
    "export worker peak RSS vs the original algorithm",
    "Segment formatting (format + prepare), 100 objects",
    "cost growth: big day time / small day time (JSON)",
    "cost growth: big day time / small day time (CSV)",
    "export into S3, ndjson.gz",  # issue 11's destinations (bench/destinations.py)
    "export into PostgreSQL",
)


def test_quick_bench_writes_every_measure_with_numbers(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    env = {**os.environ, "BENCH_REDIS_URL": TEST_REDIS_URL}
    # Its own process group: on a time-out every server and worker the bench
    # started is stopped too, so none keeps writing to the suite's Redis.
    bench = subprocess.Popen(
        ["bash", str(ROOT / "bench" / "run"), "--quick", "--events", "10000", "--small", "1000", "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # This size takes under a minute (54 s at load 4 on 2 cores); CI machines are shared and noisy.
        stdout, stderr = bench.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGKILL)
        bench.communicate()
        raise
    done = subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text()
    results = report.split("## Results", 1)[1].split("\n## ", 1)[0]  # not the findings' before/after table
    rows = [line for line in results.splitlines() if line.startswith("| ") and not line.startswith("| measure")]
    for measure in MEASURES:
        matching = [row for row in rows if row.startswith(f"| {measure}")]
        assert len(matching) == 1, f"no single row for {measure!r} in:\n{report[:3000]}"
        cells = [cell.strip() for cell in matching[0].strip("|").split("|")]
        assert re.match(r"^[\d,.]+ (events/s|s|ms|MB)", cells[1]), f"{measure}: no number in {cells[1]!r}"
        assert cells[5] in ("**PASS**", "**MISS**"), f"{measure}: verdict {cells[5]!r}"
    # The report carries what makes it reproducible.
    for needed in ("commit:", "machine:", "CPython", "## Exact commands", "gunicorn --bind", "curl -sS"):
        assert needed in report
    # Every download counted what the floor counted (the harness notes a mismatch).
    assert "differs from the floor" not in report
    # The bench cleaned its keys out of Redis.
    import redis as redis_lib

    client = redis_lib.Redis.from_url(TEST_REDIS_URL)
    assert not list(client.scan_iter(match="analytics-bench:*", count=1000))
