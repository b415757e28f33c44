"""The dashboard's chart: events delivered per run over the last day, as
server-rendered SVG geometry (the template draws it; no script, no library).

Time runs left to right over ``WINDOW`` seconds ending now; each run is a bar
at its finish time whose height is its event count, on a scale rounded up to
1, 2 or 5 times a power of ten so the axis labels are round numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import typing as t

WINDOW = 86400
WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 32


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    failed: bool
    label: str


@dataclasses.dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the end labels stay inside the picture


@dataclasses.dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    summary: str


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M")


def run_chart(runs: t.Sequence[t.Mapping[str, t.Any]], now: float) -> Chart:
    """The chart of ``runs`` (``record_run`` summaries: ``finished`` epoch
    seconds, ``events``, ``failures``) that finished in the last ``WINDOW`` seconds."""
    start = now - WINDOW
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    shown = [r for r in runs if start <= float(r.get("finished") or 0) <= now]
    top = nice_ceiling(max((int(r.get("events") or 0) for r in shown), default=0))
    bar_w = max(2.0, plot_w / 144 - 1)  # 144 ten-minute runs fill the day
    bars = []
    for run in shown:
        finished = float(run["finished"])
        events = int(run.get("events") or 0)
        height = plot_h * events / top
        x = LEFT + plot_w * (finished - start) / WINDOW - bar_w / 2
        failed = bool(run.get("failures") or run.get("read_errors"))
        label = f"{_time(finished)} UTC: {events} events" + (" (with failures)" if failed else "")
        bars.append(
            Bar(
                round(max(LEFT, x), 1),
                round(TOP + plot_h - height, 1),
                round(bar_w, 1),
                round(height, 1),
                failed,
                label,
            )
        )
    anchors = ["start", "middle", "middle", "middle", "end"]
    x_ticks = [Tick(round(LEFT + plot_w * i / 4, 1), _time(start + WINDOW * i / 4), anchors[i]) for i in range(5)]
    y_ticks = [Tick(round(TOP + plot_h * (1 - i / 2), 1), f"{top * i // 2:,}") for i in range(3)]
    total = sum(int(r.get("events") or 0) for r in shown)
    failing_runs = sum(1 for bar in bars if bar.failed)
    summary = f"{len(shown)} run{'s' if len(shown) != 1 else ''} in the last 24 hours, {total:,} events in all"
    if shown:
        summary += f", at most {max(int(r.get('events') or 0) for r in shown):,} in one run"
    summary += f"; {failing_runs} with a failure (red)." if failing_runs else "."
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP, TOP + plot_h, bars, x_ticks, y_ticks, summary)
