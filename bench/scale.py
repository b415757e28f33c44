"""``bench/run --scale``: the issue 15 rows that need a very large day.

One big day (10 million events over three sites by default, about 16 GB of
demo data: pass ``--data-dir`` outside the repository) and one small day
(50,000 events), each on a fresh gunicorn as ``bench/run`` starts it. On each:
the day's summaries are deleted, the first byte of a JSON download is timed
(the cold path: every object of the day is summarised), then JSON,
NDJSON + gzip and CSV downloads ``repeat`` times, then the busiest worker's peak
RSS. Rows (issue 15):

- server peak RSS, big day: <= 200 MB and <= 1.2x the small day's;
- time growth small -> big day: (big time / small time) / (big events /
  small events) <= 1.1 for each format (1.0 is linear).

Writes the section ``## Scale (bench/run --scale)`` of BENCHMARKS.md, keeping
the rest of the file (``bench/run`` keeps this section in turn). Not part of
``scripts/test``: the big day takes tens of minutes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import time
from pathlib import Path

import harness
from harness import LOG, Row, _fmt, _stat, _verdict, median

SECTION = "## Scale (bench/run --scale)"
#: (format, compressed) in the order each round downloads them.
FORMATS = (("json", False), ("ndjson", True), ("csv", False))
DEFAULTS = {"events": 10_000_000, "small": 50_000, "repeat": 2}


@dataclasses.dataclass
class SizeResult:
    """What one fresh server measured on one day."""

    data: harness.DataSet
    served: int = 0  # X-WP-Total: the events of the downloaded site and day
    cold_ttfb: float | None = None
    seconds: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    peak_rss_mb: float = 0.0
    load: list[float] = dataclasses.field(default_factory=list)  # 1-minute load average, before and after
    wall: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)


def measure(data: harness.DataSet, repeat: int) -> SizeResult:
    """Cold first byte, then ``repeat`` rounds of downloads, then peak RSS, on a fresh server."""
    result = SizeResult(data)
    prefix = f"{harness.REDIS_PREFIX}scale-{data.events}:"
    # A download of the big day may take minutes on a busy machine: time-outs grow with the day.
    timeout = max(600.0, data.events / 5_000)
    server = harness.Server(data, prefix)
    started = time.monotonic()
    result.load.append(os.getloadavg()[0])
    try:
        why = server.start()
        if why:
            result.notes.append(f"server: {why}")
            return result
        harness.clear_catalog(prefix)
        result.cold_ttfb = harness.first_byte(server, "json", timeout=timeout)
        for _ in range(repeat):
            for fmt, compressed in FORMATS:
                d = harness.download(server, fmt, compressed=compressed, timeout=timeout)
                if d.status != 200:
                    result.notes.append(f"{fmt}: HTTP {d.status} {d.body_head}".strip())
                    continue
                result.seconds.setdefault(fmt, []).append(d.seconds)
                result.served = d.total or 0
        result.peak_rss_mb = server.peak_rss_mb()
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        result.notes.append(f"stopped early: {exc}")
    finally:
        server.stop()
        result.load.append(os.getloadavg()[0])
        result.wall = time.monotonic() - started
    return result


def judge(big: SizeResult, small: SizeResult) -> list[Row]:
    rows = [
        Row("scale_rss_cap", "server peak RSS, big day", "≤ 200 MB", "MB"),
        Row("scale_rss_ratio", "server peak RSS, big / small day", "≤ 1.2x", "MB"),
        *(
            Row(f"scale_growth_{fmt}", f"time growth small → big day, {fmt}", "≤ 1.1x linear")
            for fmt, _compressed in FORMATS
        ),
    ]
    cap, ratio, *growth = rows
    if big.peak_rss_mb:
        cap.ours = [big.peak_rss_mb]
        cap.passed = big.peak_rss_mb <= 200
    else:
        cap.unmeasurable("; ".join(big.notes) or "no peak RSS read")
    if big.peak_rss_mb and small.peak_rss_mb:
        ratio.ours, ratio.base, ratio.base_label = [big.peak_rss_mb], [small.peak_rss_mb], "small day's peak"
        ratio.ratio, ratio.ratio_label = big.peak_rss_mb / small.peak_rss_mb, "big / small"
        ratio.passed = ratio.ratio <= 1.2
    else:
        ratio.unmeasurable("; ".join(small.notes + big.notes) or "no peak RSS read")
    for row, (fmt, _compressed) in zip(growth, FORMATS, strict=True):
        b, s = big.seconds.get(fmt), small.seconds.get(fmt)
        if not b or not s or not big.served or not small.served:
            row.unmeasurable("; ".join(big.notes + small.notes) or "missing downloads")
            continue
        row.ours, row.base, row.base_label = b, s, "small day's time"
        events = big.served / small.served
        time_ratio = median(b) / median(s)
        row.ratio, row.ratio_label = time_ratio / events, "time ratio / event ratio"
        row.passed = row.ratio <= 1.1
        row.notes.append(
            f"events {big.served:,} vs {small.served:,} (x{events:.1f}); time x{time_ratio:.1f}; "
            f"big day {_fmt(big.served / median(b))} events/s, small day {_fmt(small.served / median(s))} events/s"
        )
    return rows


def section(big: SizeResult, small: SizeResult, rows: list[Row], repeat: int, seconds: float) -> str:
    m = harness.machine()
    lines = [
        SECTION,
        "",
        "Generated by `bench/run --scale` (bench/scale.py); not part of `scripts/test`. Each day on a fresh "
        f"gunicorn ({harness.GUNICORN_WORKERS} workers x {harness.GUNICORN_THREADS} threads): the day's summaries "
        f"deleted, a cold JSON first byte, {repeat} round(s) of JSON, NDJSON + gzip and CSV downloads, then the "
        "busiest worker's VmHWM. The small day's times include the fixed cost of a request (start-up of curl, "
        "authentication, listing), which flatters the growth ratio a little; a ratio above 1 means the cost "
        "per event grows with the day.",
        "",
        f"- date: {m['date']}; commit: {m['commit']}; total {seconds:.0f} s; machine: {m['cpus']}, {m['memory']}",
    ]
    for name, r in (("big", big), ("small", small)):
        size = _data_size(r.data.path)
        lines.append(
            f"- {name} day: {r.data.events:,} events over 3 sites, {r.data.objects:,} objects, {size / 1e9:.1f} GB "
            f"(`{harness._shown(r.data.path)}`); served {r.served:,} events of blog {harness.BLOG}; "
            f"cold JSON first byte {_fmt(r.cold_ttfb) + ' s' if r.cold_ttfb is not None else '-'}; "
            f"{r.wall:.0f} s on its server; load average {' -> '.join(f'{x:.1f}' for x in r.load)}"
        )
        for fmt, samples in r.seconds.items():
            lines.append(f"  - {fmt}: " + ", ".join(f"{_fmt(s)} s" for s in samples))
        lines.extend(f"  - note: {note}" for note in r.notes)
    lines += ["", "| measure | ours | baseline | ratio | target | result |", "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = f"{row.ratio:.2f} ({row.ratio_label})" if row.ratio is not None else "-"
        base_text = f"{_stat(row.base, row.unit)} {row.base_label}".strip() if row.base else "-"
        lines.append(
            f"| {row.measure} | {_stat(row.ours, row.unit)} | {base_text} | {ratio} | {row.target} | {_verdict(row)} |"
        )
    for row in rows:
        lines.extend(f"- {row.measure}: {note}" for note in row.notes)
    return "\n".join(lines) + "\n"


def _data_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def write_section(out: Path, text: str) -> None:
    """Put ``text`` in place of the file's scale section (or at its end), keeping every other section."""
    old = out.read_text() if out.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"\n{re.escape(SECTION)}\n.*?(?=\n## (?!#)|\Z)", re.S)
    kept = pattern.sub("", old).rstrip("\n")
    out.write_text(kept + "\n\n" + text)


def main(events: int, small_events: int, repeat: int, data_dir: Path, out: Path) -> None:
    started = time.monotonic()
    big_data, small_data = harness.ensure_data(events, data_dir), harness.ensure_data(small_events, data_dir)
    results: dict[str, SizeResult] = {}
    for name, data in (("small", small_data), ("big", big_data)):
        LOG.say(f"scale: {name} day, {data.events:,} events")
        results[name] = measure(data, repeat)
    rows = judge(results["big"], results["small"])
    write_section(out, section(results["big"], results["small"], rows, repeat, time.monotonic() - started))
    LOG.say(f"wrote the scale section of {out}")
    for row in rows:
        print(f"{_verdict(row):<12.60} {row.measure}")
