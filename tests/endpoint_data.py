"""Small Firehose-layout fixtures for the endpoint and catalog tests, and an
independent reader that says what the endpoint must answer.

The reader shares no code with ``events``: it gunzips by magic bytes, splits
lines, parses with orjson, filters by timestamp and blog id, and flattens
fields with its own few lines, so a bug in the service cannot hide in both.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import os
import typing as t
import zlib
from pathlib import Path

import orjson

REFERENCE = Path("/work/shared/reference/pinpoint-events.ndjson")
DAY = dt.date(2026, 11, 25)
_DAY_START_MS = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)
HOUR_MS = 3_600_000


@functools.cache
def templates() -> list[dict[str, t.Any]]:
    """The valid events of the reference file (its malformed third line skipped)."""
    found = []
    for line in REFERENCE.read_bytes().splitlines():
        try:
            found.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return found


def event(n: int, ts: int, blog: int | str, extra: dict[str, t.Any] | None = None) -> bytes:
    """One event line shaped like the reference, distinct by ``n``."""
    base = templates()[n % 2]
    data = orjson.loads(orjson.dumps(base))
    data["event_timestamp"] = ts
    data["arrival_timestamp"] = ts + 1000
    data["attributes"]["blogId"] = str(blog)
    data["attributes"]["title"] = f'Title "{n}", with, commas'
    data["session"]["session_id"] = f"session-{n}"
    if extra:
        data["attributes"].update(extra)
    return orjson.dumps(data)


def day_files() -> dict[str, bytes]:
    """Objects around DAY for blogs 1, 2 and 3: a previous-day folder holding
    events of DAY, plain and gzipped objects, a late object written under an
    earlier hour, a folder after midnight within the late window, a malformed
    line, blank lines, a CRLF line and events of other days and sites. Blog 1
    has an event at each bound of DAY (00:00:00.000 and 23:59:59.999, both
    in) and one millisecond outside each (both out), in clean objects (served
    from the catalog's line bitmaps) and in one with a broken line (parsed),
    so an off-by-one on either bound, on either path, changes every body."""
    n = iter(range(10_000))
    s = _DAY_START_MS

    def lines(*events: bytes) -> bytes:
        return b"\n".join(events) + b"\n"

    return {
        # Previous day's 23h folder: client clock ahead -> events of DAY.
        "2026/11/24/23/analytics-1-2026-11-24-23-50-00-aaaa": lines(
            event(next(n), s - 5 * 60_000, 1),
            event(next(n), s + 2 * 60_000, 1),
            event(next(n), s + 3 * 60_000, 2),
            event(900, s - 1, 1),  # 2026-11-24T23:59:59.999Z: the day before
            event(901, s, 1),  # 2026-11-25T00:00:00.000Z: the first instant of DAY
        ),
        "2026/11/25/00/analytics-1-2026-11-25-00-10-00-bbbb": lines(
            event(next(n), s + 10 * 60_000, 1, {"campaign": "autumn"}),
            b'{"event_type":"broken" "no colon"}',
            event(next(n), s + 11 * 60_000, 3),
            b"",
            event(next(n), s + 12 * 60_000, 1) + b"\r",
            # The bounds again in an object that is parsed, not copied (its broken line):
            event(904, s - 1, 1),
            event(905, s, 1),
            event(906, s + 24 * HOUR_MS - 1, 1),
            event(907, s + 24 * HOUR_MS, 1),
        ),
        "2026/11/25/13/analytics-1-2026-11-25-13-05-00-cccc": gzip.compress(
            lines(*(event(next(n), s + 13 * HOUR_MS + i * 1000, 1 + i % 2) for i in range(12))), mtime=0
        ),
        # Written 20 minutes after objects of 13h but named after 12h: late.
        "2026/11/25/12/analytics-1-2026-11-25-13-25-00-dddd": lines(
            event(next(n), s + 12 * HOUR_MS + 59 * 60_000, 1, {"flag": True}),
            event(next(n), s + 12 * HOUR_MS + 58 * 60_000, 2),
        ),
        # After midnight, within ANALYTICS_LATE_HOURS=2: late events of DAY and events of the next day.
        "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee": lines(
            event(next(n), s + 23 * HOUR_MS + 59 * 60_000, 1),
            event(next(n), s + 24 * HOUR_MS + 60_000, 1),
            event(next(n), s + 23 * HOUR_MS + 30 * 60_000, 2, {"campaign": "winter"}),
            event(902, s + 24 * HOUR_MS - 1, 1),  # 2026-11-25T23:59:59.999Z: the last instant of DAY
            event(903, s + 24 * HOUR_MS, 1),  # 2026-11-26T00:00:00.000Z: the day after
        ),
    }


def write_local(root: Path, files: t.Mapping[str, bytes]) -> None:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def upload(bucket: t.Any, prefix: str, files: t.Mapping[str, bytes]) -> None:
    for key, data in files.items():
        bucket.put_object(Key=prefix + key, Body=data)


# --------------------------------------------------------------------- the independent reader


def expected_events(files: t.Mapping[str, bytes], day: dt.date, blog: int) -> list[bytes]:
    """The raw events the endpoint must return, in key then line order."""
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    found = []
    for key in sorted(files):
        data = files[key]
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for line in data.split(b"\n"):
            line = line.strip()
            if not line:
                continue
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            ts = parsed.get("event_timestamp")
            in_day = isinstance(ts, int) and start <= ts < start + 86_400_000
            if in_day and str(parsed.get("attributes", {}).get("blogId")) == str(blog):
                found.append(line)
    return found


def _flat(prefix: str, value: t.Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _flat(f"{prefix}.{name}" if prefix else name, inner, out)
    elif isinstance(value, list):
        out[prefix] = ";".join(_cell(v) for v in value)
    elif value is not None:
        out[prefix] = _cell(value)


def _cell(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return orjson.dumps(value).decode()
    return str(value)


def expected_csv(raw_events: list[bytes], header: t.Sequence[str] | None = None) -> list[list[str]]:
    """Header (``header``, by default the sorted union of the events' dotted
    field names) and one row per event."""
    flats = []
    for raw in raw_events:
        out: dict[str, str] = {}
        _flat("", orjson.loads(raw), out)
        flats.append(out)
    names = list(header) if header is not None else sorted({name for flat in flats for name in flat})
    if not names:
        return []
    return [names, *([flat.get(name, "") for name in names] for flat in flats)]


def expected_columns(files: t.Mapping[str, bytes], blog: int) -> list[str]:
    """The sorted dotted field names of every event of ``blog`` in ``files``,
    whatever its day: the CSV header once all these objects were summarized."""
    names: set[str] = set()
    for data in files.values():
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for line in data.split(b"\n"):
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict) and str(parsed.get("attributes", {}).get("blogId")) == str(blog):
                out: dict[str, str] = {}
                _flat("", parsed, out)
                names.update(out)
    return sorted(names)


def parse_csv(body: bytes) -> list[list[str]]:
    """Rows of an RFC 4180 body, checking every record ends with CRLF."""
    text = body.decode("utf-8")
    assert not text or text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


def json_body(raw_events: list[bytes]) -> bytes:
    return b"[" + b",".join(raw_events) + b"]"


def ndjson_body(raw_events: list[bytes]) -> bytes:
    return b"".join(raw + b"\n" for raw in raw_events)


def keep_mtime_replace(path: Path, data: bytes) -> None:
    """Replace a file's bytes keeping its size and mtime (so its local ETag)."""
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def replace_like_rsync(path: Path, content: bytes) -> None:
    """What ``rsync -a`` does: write a temporary file, give it the old mtime,
    rename it over the object. Same size, same mtime: only the inode differs."""
    st = path.stat()
    temporary = path.with_name("." + path.name + ".tmp")
    temporary.write_bytes(content)
    os.utime(temporary, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(temporary, path)


#: An object of 400 gzipped events of blog 1 at 10:00-10:06 of DAY whose bytes were cut in half.
DAMAGED = "2026/11/25/10/analytics-1-2026-11-25-10-20-00-trnc"


def damaged_object() -> tuple[bytes, bytes]:
    """DAMAGED's cut bytes, and what a reader independent of the service
    finds in them: ``zlib.decompressobj`` on the cut bytes, complete lines
    only (the events up to the damage; README's ``complete: false``)."""
    whole = b"".join(event(2000 + i, _DAY_START_MS + 10 * HOUR_MS + i * 1000, 1) + b"\n" for i in range(400))
    compressed = gzip.compress(whole, mtime=0)
    cut = compressed[: len(compressed) // 2]
    text = zlib.decompressobj(wbits=31).decompress(cut)
    return cut, text[: text.rindex(b"\n") + 1]
