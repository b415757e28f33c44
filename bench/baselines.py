"""The baselines the service is measured against, each run in its own process.

``python bench/baselines.py MODE ...`` prints one JSON line: ``seconds`` (the
work alone, interpreter start excluded, as the service's numbers exclude its
start), ``cpu_seconds`` (this process's CPU time over the same span),
``runqueue_seconds`` (time it waited for a CPU over the same span, ``run_delay``),
``events`` (rows written), ``maxrss_kb`` (this process's peak RSS).

- ``floor``: the least a Python service must do: read each object (gunzip when
  it starts with the gzip magic), ``orjson.loads`` every line, keep the day's
  events of one site, write their lines to /dev/null.
- ``duckdb``: ``read_ndjson`` over the same objects with the same filter,
  ``COPY`` to CSV.
- ``pandas``: parse and filter as the floor, then ``json_normalize`` and
  ``to_csv``.
- ``original``: the original export: up to 100 objects concatenated into one
  string handed to a callback that does nothing.

The objects of a day are those under the same hour folders the service reads:
the hour before the day, its 24 hours, and ``--late-hours`` after it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import json
import os
import resource
import sys
import time
import typing as t
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


# --------------------------------------------------------------------------- objects


def _is_object_name(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(".tmp")


def list_keys(root: Path, prefix: str = "") -> list[str]:
    """Every object key under ``root`` (or one hour folder), in S3's byte order."""
    base = root / prefix if prefix else root
    keys = []
    for folder, _dirs, files in os.walk(base):
        rel = os.path.relpath(folder, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        keys.extend(rel + name for name in files if _is_object_name(name))
    return sorted(keys)


def day_prefixes(day: dt.date, late_hours: int) -> list[str]:
    start = dt.datetime(day.year, day.month, day.day) - dt.timedelta(hours=1)
    hours = (start + dt.timedelta(hours=i) for i in range(1 + 24 + late_hours))
    return [f"{h:%Y/%m/%d/%H}/" for h in hours]


def day_keys(root: Path, day: dt.date, late_hours: int) -> list[str]:
    """The keys the service reads for ``day``."""
    return [key for prefix in day_prefixes(day, late_hours) for key in list_keys(root, prefix)]


def day_bounds_ms(day: dt.date) -> tuple[int, int]:
    start = (day.toordinal() - _EPOCH_ORDINAL) * 86_400_000
    return start, start + 86_400_000


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_lines(path: Path) -> t.BinaryIO:
    """The object's lines, gunzipped when its first bytes are the gzip magic."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return t.cast(t.BinaryIO, io.BufferedReader(gzip.GzipFile(fileobj=raw), 256 * 1024))
    raw.seek(0)
    return raw


def _filtered(root: Path, keys: list[str], bounds: tuple[int, int] | None, blog: str) -> t.Iterator[tuple[bytes, dict]]:
    import orjson

    loads = orjson.loads
    error = orjson.JSONDecodeError
    for key in keys:
        with open_lines(root / key) as lines:
            for line in lines:
                try:
                    data = loads(line)
                except error:
                    continue  # malformed lines are skipped, as the service does
                if type(data) is not dict:
                    continue
                if bounds is not None:
                    ts = data.get("event_timestamp")
                    if type(ts) is not int or not bounds[0] <= ts < bounds[1]:
                        continue
                    attributes = data.get("attributes")
                    if type(attributes) is not dict or attributes.get("blogId") != blog:
                        continue
                yield line, data


# --------------------------------------------------------------------------- baselines


def run_delay() -> float:
    """Seconds this thread has waited for a CPU while runnable (``/proc/thread-self/schedstat``'s
    second field; 0 where the kernel has no schedstats): wall - CPU - this is time spent blocked
    (disk, Redis), whatever else the machine runs."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def floor(root: Path, keys: list[str], bounds: tuple[int, int] | None, blog: str) -> int:
    events = 0
    with open(os.devnull, "wb") as out:
        write = out.write
        for line, _data in _filtered(root, keys, bounds, blog):
            write(line if line.endswith(b"\n") else line + b"\n")
            events += 1
    return events


def pandas_csv(root: Path, keys: list[str], bounds: tuple[int, int] | None, blog: str) -> int:
    import pandas as pd

    records = [data for _line, data in _filtered(root, keys, bounds, blog)]
    frame = pd.json_normalize(records)
    frame.to_csv(os.devnull, index=False)
    return len(frame)


def duckdb_csv(root: Path, keys: list[str], bounds: tuple[int, int] | None, blog: str) -> int:
    """DuckDB detects compression by file extension only, and Firehose objects
    have none: the gzipped objects (found by their magic bytes) are read with
    ``compression='gzip'`` and the rest with ``'none'``, unioned by name."""
    import duckdb

    paths = [str(root / key) for key in keys]
    gz = [p for p in paths if is_gzip(Path(p))]
    plain = [p for p in paths if p not in set(gz)]
    parts = []
    for files, compression in ((gz, "gzip"), (plain, "none")):
        if files:
            parts.append(
                f"SELECT * FROM read_ndjson({files!r}, compression='{compression}', "
                "union_by_name=true, ignore_errors=true)"
            )
    if not parts:
        return 0
    where = ""
    if bounds is not None:
        where = (
            f"WHERE event_timestamp >= {bounds[0]} AND event_timestamp < {bounds[1]} AND attributes.blogId = '{blog}'"
        )
    query = f"SELECT * FROM ({' UNION ALL BY NAME '.join(parts)}) {where}"
    con = duckdb.connect()
    result = con.execute(f"COPY ({query}) TO '{os.devnull}' (FORMAT CSV, HEADER)").fetchone()
    return int(result[0]) if result else 0


def _noop(data: str) -> None:
    """The subscriber of the original export, doing nothing with the data."""


def original(root: Path, keys: list[str], bounds: tuple[int, int] | None, blog: str) -> int:
    """Concatenate every object into one string, then hand it over (PHP's ``$data .= $content``)."""
    data = ""
    for key in keys[:100]:
        with open_lines(root / key) as stream:
            data += stream.read().decode()
    _noop(data)
    return data.count("\n")


MODES: dict[str, t.Callable[[Path, list[str], tuple[int, int] | None, str], int]] = {
    "floor": floor,
    "duckdb": duckdb_csv,
    "pandas": pandas_csv,
    "original": original,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--root", type=Path, required=True, help="the source directory")
    parser.add_argument("--day", type=dt.date.fromisoformat, help="filter to this UTC day (default: no filter)")
    parser.add_argument("--blog", default="1", help="site id to keep (with --day)")
    parser.add_argument("--late-hours", type=int, default=2)
    parser.add_argument("--keys-file", type=Path, help="read these keys (one a line) instead of the day's")
    args = parser.parse_args(argv)
    if args.keys_file:
        keys = [k for k in args.keys_file.read_text().splitlines() if k]
    elif args.day:
        keys = day_keys(args.root, args.day, args.late_hours)
    else:
        parser.error("give --day or --keys-file")
    bounds = day_bounds_ms(args.day) if args.day else None
    started, cpu_started, waited = time.perf_counter(), time.process_time(), run_delay()
    events = MODES[args.mode](args.root, keys, bounds, args.blog)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    waited = run_delay() - waited
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(
        {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "runqueue_seconds": waited,
            "events": events,
            "objects": len(keys),
            "maxrss_kb": rss,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
