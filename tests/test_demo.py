"""Demo data: realistic, deterministic, and as awkward as the real bucket.

Files are read back independently (gzip detected by magic bytes, lines parsed
with orjson) rather than through ``events.sources``, so these tests check the
generator against the format, not against another module's reading of it.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import os
import re
import typing as t
from pathlib import Path

import orjson
import pytest

import demo
from wsgi import create_app

START = dt.date(2026, 11, 20)
KEY = re.compile(r"^(\d{4})/(\d{2})/(\d{2})/(\d{2})/analytics-1-(\d{4}-\d{2}-\d{2}-\d{2})-\d{2}-\d{2}-[0-9a-f-]{36}$")
GZIP_MAGIC = b"\x1f\x8b"


class Obj(t.NamedTuple):
    key: str
    raw: bytes
    events: list[dict[str, t.Any]]
    mtime: dt.datetime


def read_objects(root: Path) -> list[Obj]:
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        text = gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw
        events = [orjson.loads(line) for line in text.splitlines()]
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime_ns // 1_000_000_000, dt.UTC)
        out.append(Obj(path.relative_to(root).as_posix(), raw, events, mtime))
    return out


def utc_day(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()


def folder_hour(key: str) -> dt.datetime:
    y, m, d, h = (int(x) for x in key.split("/")[:4])
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC)


def count_by_site_day(objects: list[Obj]) -> dict[tuple[int, dt.date], int]:
    counts: collections.Counter[tuple[int, dt.date]] = collections.Counter()
    for obj in objects:
        for event in obj.events:
            counts[(int(event["attributes"]["blogId"]), utc_day(event["event_timestamp"]))] += 1
    return dict(counts)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[demo.DemoSummary, list[Obj]]:
    """Two days of three sites, read back once for the tests that only look."""
    root = tmp_path_factory.mktemp("demo")
    summary = demo.generate(root, START, days=2, events_per_day=2500, sites=(1, 2, 3), seed=11)
    return summary, read_objects(root)


def test_same_seed_gives_identical_files_and_another_seed_different_ones(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, tuple[bytes, int]]:
        return {
            p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in root.rglob("*")
            if p.is_file()
        }

    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        demo.generate(tmp_path / name, START, days=1, events_per_day=1500, sites=(1, 2), seed=seed)
    first, again, other = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert first and first == again
    assert set(other) != set(first)
    assert [v[0] for _, v in sorted(other.items())] != [v[0] for _, v in sorted(first.items())]


def test_returned_counts_match_an_independent_read(written: tuple[demo.DemoSummary, list[Obj]]) -> None:
    summary, objects = written
    assert summary.counts == count_by_site_day(objects)
    assert summary.events == sum(len(o.events) for o in objects) == 2 * 2500
    assert summary.objects == len(objects)
    assert {site for site, _ in summary.counts} == {1, 2, 3}
    # Most events are dated inside the requested days; the edges come from clocks and midnight.
    inside = sum(n for (_, day), n in summary.counts.items() if day in (START, START + dt.timedelta(days=1)))
    assert inside > 0.97 * summary.events


def test_keys_follow_firehose_layout_named_after_the_oldest_arrival(
    written: tuple[demo.DemoSummary, list[Obj]],
) -> None:
    _, objects = written
    for obj in objects:
        match = KEY.match(obj.key)
        assert match, obj.key
        y, m, d, h, stamp = match.groups()
        assert stamp == f"{y}-{m}-{d}-{h}"
        oldest = min(e["arrival_timestamp"] for e in obj.events)
        assert dt.datetime.fromtimestamp(oldest // 1000, dt.UTC).replace(minute=0, second=0) == folder_hour(obj.key)
        arrivals = [e["arrival_timestamp"] for e in obj.events]
        assert arrivals == sorted(arrivals), "records sit in arrival order, as Firehose buffers them"
    assert not any(Path(o.key).name.startswith(".") for o in objects), "no temp file left behind"
    assert len(objects) > 24, "several objects per hour"


def test_some_objects_are_gzipped_by_content_only(written: tuple[demo.DemoSummary, list[Obj]]) -> None:
    summary, objects = written
    gzipped = [o for o in objects if o.raw[:2] == GZIP_MAGIC]
    assert 0 < len(gzipped) < len(objects)
    assert summary.gzipped == len(gzipped)
    assert not any(o.key.endswith(".gz") for o in objects)


def test_some_events_are_dated_the_day_before_their_folder(written: tuple[demo.DemoSummary, list[Obj]]) -> None:
    _, objects = written
    earlier = [
        (o.key, e["event_timestamp"])
        for o in objects
        for e in o.events
        if utc_day(e["event_timestamp"]) < folder_hour(o.key).date()
    ]
    assert earlier
    assert any(key.startswith(START.strftime("%Y/%m/%d/00/")) for key, _ in earlier)


def test_some_objects_are_written_after_the_hour_of_their_folder(
    written: tuple[demo.DemoSummary, list[Obj]],
) -> None:
    summary, objects = written
    late = [o for o in objects if o.mtime.replace(minute=0, second=0) > folder_hour(o.key)]
    assert late
    assert summary.late == len(late)
    assert all(o.mtime >= folder_hour(o.key) for o in objects)


def test_every_event_has_the_pinpoint_shape(written: tuple[demo.DemoSummary, list[Obj]]) -> None:
    _, objects = written
    events = [e for o in objects for e in o.events]
    types = collections.Counter(e["event_type"] for e in events)
    assert {"_session.start", "pageView", "_session.stop", "click", "scroll"} <= set(types)
    assert types["pageView"] > types["_session.start"]
    float_metrics = two_item_lists = users = 0
    for e in events:
        assert isinstance(e["event_timestamp"], int) and isinstance(e["arrival_timestamp"], int)
        assert e["event_version"] == "3.1" and e["awsAccountId"]
        assert e["application"]["app_id"] and e["client"]["client_id"] and e["device"]["platform"]["name"]
        session = e["session"]
        assert session["session_id"] and isinstance(session["start_timestamp"], int)
        assert ("stop_timestamp" in session) == (e["event_type"] == "_session.stop")
        attributes = e["attributes"]
        assert all(isinstance(v, str) for v in attributes.values())
        for field in ("blogId", "blog", "host", "url", "title", "referer", "search", "hash", "loggedIn"):
            assert field in attributes, field
        assert attributes["blogId"] in {"1", "2", "3"}
        assert attributes["host"] in attributes["url"]
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in e["metrics"].values())
        float_metrics += any(isinstance(v, float) for v in e["metrics"].values())
        endpoint = e["endpoint"]
        for field in ("EndpointStatus", "OptOut", "Location", "Demographic", "Attributes", "Metrics", "Id"):
            assert field in endpoint, field
        for values in endpoint["Attributes"].values():
            assert isinstance(values, list) and all(isinstance(v, str) for v in values)
        two_item_lists += any(len(v) == 2 for v in endpoint["Attributes"].values())
        assert all(isinstance(v, float) for v in endpoint["Metrics"].values())
        users += "User" in endpoint and bool(endpoint["User"]["UserId"])
    assert float_metrics and two_item_lists and users
    assert any("qv_utm_source" in e["attributes"] for e in events)


def test_field_sets_vary_between_sites_and_days(written: tuple[demo.DemoSummary, list[Obj]]) -> None:
    _, objects = written
    fields: dict[tuple[str, dt.date], set[str]] = collections.defaultdict(set)
    for o in objects:
        for e in o.events:
            fields[(e["attributes"]["blogId"], utc_day(e["event_timestamp"]))].update(e["attributes"])
    days = (START, START + dt.timedelta(days=1))
    per_site = [frozenset(fields[(s, d)]) for s in ("1", "2", "3") for d in days]
    assert len(set(per_site)) > 1
    assert any(fields[(s, days[0])] != fields[(s, days[1])] for s in ("1", "2", "3"))


def test_sessions_start_view_pages_and_mostly_stop(written: tuple[demo.DemoSummary, list[Obj]]) -> None:
    _, objects = written
    sessions: dict[str, list[dict[str, t.Any]]] = collections.defaultdict(list)
    for o in objects:
        for e in o.events:
            sessions[e["session"]["session_id"]].append(e)
    assert len(sessions) > 100
    stopped = 0
    for events in sessions.values():
        events.sort(key=lambda e: e["event_timestamp"])
        assert events[0]["event_type"] == "_session.start"
        assert len({e["attributes"]["blogId"] for e in events}) == 1
        stopped += events[-1]["event_type"] == "_session.stop"
    assert stopped > len(sessions) / 2


def test_only_the_requested_sites_are_written(tmp_path: Path) -> None:
    summary = demo.generate(tmp_path, START, days=1, events_per_day=300, sites=(4, 7), seed=2)
    objects = read_objects(tmp_path)
    assert {site for site, _ in count_by_site_day(objects)} == {4, 7}
    assert summary.counts == count_by_site_day(objects)


def test_generate_rejects_bad_arguments(tmp_path: Path) -> None:
    for kwargs in ({"days": 0}, {"events_per_day": 0}, {"sites": ()}, {"sites": (1, 1)}, {"sites": (0,)}):
        args: dict[str, t.Any] = {"days": 1, "events_per_day": 10, **kwargs}
        with pytest.raises(ValueError):
            demo.generate(tmp_path, START, **args)
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- the command


def parse_table(output: str) -> dict[tuple[int, dt.date], int]:
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit() and re.fullmatch(r"\d{4}-\d{2}-\d{2}", parts[1]):
            rows[(int(parts[0]), dt.date.fromisoformat(parts[1]))] = int(parts[2])
    return rows


def test_command_writes_into_the_configured_source_and_prints_the_table(
    make_settings: t.Callable[..., t.Any], tmp_path: Path
) -> None:
    app = create_app(make_settings())
    result = app.test_cli_runner().invoke(
        args=["demo-data", "--start", "2026-11-20", "--days", "2", "--events-per-day", "700", "--sites", "1,2"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["site", "UTC", "day", "events"]
    objects = read_objects(tmp_path / "events")
    printed = parse_table(result.output)
    assert printed == count_by_site_day(objects)
    assert re.search(r"^all\s+all days\s+1400$", result.output, re.M)
    assert f"wrote 1400 events in {len(objects)} objects" in result.output


def test_command_with_out_and_seed_matches_generate(make_settings: t.Callable[..., t.Any], tmp_path: Path) -> None:
    app = create_app(make_settings())
    out = tmp_path / "elsewhere"
    args = ["demo-data", "--out", str(out), "--start", "2026-02-28", "--events-per-day", "400", "--seed", "9"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    expected = demo.generate(tmp_path / "direct", dt.date(2026, 2, 28), 1, 400, (1, 2, 3), 9)
    assert parse_table(result.output) == expected.counts
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == sorted(
        p.relative_to(tmp_path / "direct") for p in (tmp_path / "direct").rglob("*") if p.is_file()
    )
    assert not any((tmp_path / "events").iterdir())


def test_command_without_out_on_an_s3_source_says_so_in_one_line(make_settings: t.Callable[..., t.Any]) -> None:
    app = create_app(make_settings(ANALYTICS_SOURCE="s3://demo-bucket/raw"))
    result = app.test_cli_runner().invoke(args=["demo-data", "--start", "2026-11-20", "--events-per-day", "10"])
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0
    assert "s3://demo-bucket/raw" in result.output and "--out" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--start", "2026-13-01"], "expected YYYY-MM-DD"),
        (["--start", "yesterday"], "expected YYYY-MM-DD"),
        (["--days", "0"], "--days"),
        (["--days", "two"], "--days"),
        (["--events-per-day", "0"], "--events-per-day"),
        (["--events-per-day", "-5"], "--events-per-day"),
        (["--sites", "1,x"], "expected e.g. 1,2,3"),
        (["--sites", ""], "expected e.g. 1,2,3"),
        (["--sites", "0"], "expected e.g. 1,2,3"),
        (["--sites", "2,2"], "twice"),
        (["--seed", "abc"], "--seed"),
        (["--start", "9999-12-31"], "must lie between 1970-01-02 and 9999-12-30"),
        (["--start", "1969-12-31"], "must lie between 1970-01-02 and 9999-12-30"),
    ],
)
def test_command_rejects_bad_options_in_one_line(
    make_settings: t.Callable[..., t.Any], tmp_path: Path, args: list[str], expected: str
) -> None:
    app = create_app(make_settings())
    defaults = {"--start": "2026-11-20", "--events-per-day": "10"}
    for name, value in zip(args[::2], args[1::2], strict=True):
        defaults[name] = value
    argv = ["demo-data", "--out", str(tmp_path / "out")] + [x for kv in defaults.items() for x in kv]
    result = app.test_cli_runner().invoke(args=argv)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_command_reports_an_unwritable_directory_in_one_line(
    make_settings: t.Callable[..., t.Any], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    app = create_app(make_settings())
    for out in (blocker, blocker / "sub"):
        args = ["demo-data", "--out", str(out), "--start", "2026-11-20", "--events-per-day", "10"]
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert str(blocker) in result.output
    assert os.path.isfile(blocker)


def test_the_local_source_reads_what_the_generator_wrote(make_settings: t.Callable[..., t.Any], tmp_path: Path) -> None:
    from events.sources import open_source

    settings = make_settings()
    summary = demo.generate(settings.source.path, START, days=1, events_per_day=800, seed=4)
    source = open_source(settings.source)
    infos = list(source.list())
    assert len(infos) == summary.objects
    total = 0
    for info in infos:
        with source.open_lines(info.key) as lines:
            total += sum(1 for line in lines if line.strip())
    assert total == summary.events
    late = [i for i in infos if i.last_modified.replace(minute=0, second=0, microsecond=0) > folder_hour(i.key)]
    assert len(late) == summary.late > 0


UNTIL = dt.datetime(2026, 11, 21, 13, 25, 7, tzinfo=dt.UTC)


def test_data_stops_at_until_with_nothing_in_the_future(tmp_path: Path) -> None:
    """Two days asked for, the second cut at 13:25:07: no event dated or arrived
    later, no object written later, no folder after 13:00, and the data still
    reaches the hour of ``until`` (a subscriber starting "now" finds it)."""
    summary = demo.generate(tmp_path, START, days=2, events_per_day=3000, sites=(1, 2), seed=5, until=UNTIL)
    objects = read_objects(tmp_path)
    until_ms = int(UNTIL.timestamp() * 1000)
    events = [e for o in objects for e in o.events]
    assert max(e["event_timestamp"] for e in events) <= until_ms
    assert max(e["arrival_timestamp"] for e in events) <= until_ms
    assert max(o.mtime for o in objects) <= UNTIL
    hours = {folder_hour(o.key) for o in objects}
    assert max(hours) == UNTIL.replace(minute=0, second=0)
    assert any(e["event_timestamp"] >= until_ms - 30 * 60_000 for e in events), "data up to the cut"
    assert summary.events == len(events) < 2 * 3000
    assert summary.counts == count_by_site_day(objects)


def test_the_command_writes_nothing_in_the_future(make_settings: t.Callable[..., t.Any], tmp_path: Path) -> None:
    app = create_app(make_settings())
    today = dt.datetime.now(dt.UTC).date()
    args = [
        "demo-data",
        "--start",
        (today - dt.timedelta(days=1)).isoformat(),
        "--days",
        "3",
        "--events-per-day",
        "2000",
    ]
    result = app.test_cli_runner().invoke(args=args)
    after = dt.datetime.now(dt.UTC)
    assert result.exit_code == 0, result.output
    objects = read_objects(tmp_path / "events")
    after_ms = int(after.timestamp() * 1000)
    assert all(
        e["event_timestamp"] <= after_ms and e["arrival_timestamp"] <= after_ms for o in objects for e in o.events
    )
    assert all(o.mtime <= after for o in objects)
    assert max(folder_hour(o.key) for o in objects) <= after.replace(minute=0, second=0, microsecond=0)
    tomorrow = today + dt.timedelta(days=1)
    assert not (tmp_path / "events" / tomorrow.strftime("%Y/%m/%d")).exists()

    future = app.test_cli_runner().invoke(
        args=["demo-data", "--start", tomorrow.isoformat(), "--events-per-day", "10", "--out", str(tmp_path / "f")]
    )
    assert future.exit_code == 1
    lines = future.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: the days from {tomorrow} are in the future"), lines
    assert not (tmp_path / "f").exists()
