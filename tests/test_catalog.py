"""The per-object catalog: counts and field names per (UTC day, blog id), kept
in Redis under the prefix, valid for one ETag and size."""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import os
import sys
import typing as t
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from events import catalog
from events.sources import open_source
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX

if t.TYPE_CHECKING:
    import redis as redis_lib

    import config
    from events.sources import ObjectInfo, Source


def _expected(files: t.Mapping[str, bytes], day: dt.date, blog: int) -> tuple[int, tuple[str, ...]]:
    raw = data.expected_events(files, day, blog)
    rows = data.expected_csv(raw)
    return len(raw), tuple(rows[0]) if rows else ()


@pytest.mark.parametrize("blog", [1, 2, 3, 4])
def test_day_summary_matches_an_independent_reading(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path, blog: int
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    settings = make_settings()
    summary = catalog.day_summary(open_source(settings.source), redis, TEST_PREFIX, data.DAY, blog, 2)
    count, fields = _expected(files, data.DAY, blog)
    assert (summary.count, summary.fields) == (count, fields)
    assert bool(summary.objects) == (count > 0)
    # Only objects holding events of that site and day are streamed later.
    assert all(data.expected_events({o.key: files[o.key]}, data.DAY, blog) for o in summary.objects)


def test_summaries_are_stored_per_object_under_the_prefix_and_reused(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    read: list[str] = []
    first = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2, on_read=lambda i: read.append(i.key))
    assert sorted(read) == sorted(files)
    keys = sorted(k.decode() for k in redis.keys("*"))
    columns = [catalog.columns_key(TEST_PREFIX, str(blog)) for blog in (1, 2, 3)]  # the sites' CSV columns
    assert keys == sorted([*columns, *(catalog.summary_key(TEST_PREFIX, key) for key in files)])
    read.clear()
    again = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2, on_read=lambda i: read.append(i.key))
    assert read == []
    assert again == first


def test_a_summary_is_read_from_redis_not_recomputed(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """Proof by contradiction: an object whose bytes change but keep size and
    mtime (so its ETag) still counts as summarized; a changed size does not."""
    files = data.day_files()
    root = tmp_path / "events"
    data.write_local(root, files)
    source = open_source(make_settings().source)
    before = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    key = "2026/11/24/23/analytics-1-2026-11-24-23-50-00-aaaa"
    blank = b" " * len(files[key])  # same size, no events any more
    data.keep_mtime_replace(root / key, blank)
    assert catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2).count == before.count
    (root / key).write_bytes(b"\n")  # new size and mtime -> new ETag -> read again
    after = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    assert after.count == before.count - len(data.expected_events({key: files[key]}, data.DAY, 1))


def test_warm_days_reads_each_object_once(
    make_settings: t.Callable[..., config.Settings],
    redis: redis_lib.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="events.catalog")
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    settings = make_settings()
    days = [data.DAY - dt.timedelta(days=1), data.DAY]
    assert catalog.warm_days(settings, days) == len(files)
    assert f"catalog: summarized {len(files)} object(s) for 2 day(s)" in caplog.messages
    assert catalog.warm_days(settings, days) == 0
    read: list[str] = []
    summary = catalog.day_summary(
        open_source(settings.source), redis, TEST_PREFIX, data.DAY, 2, 2, on_read=lambda i: read.append(i.key)
    )
    assert read == []
    assert summary.count == len(data.expected_events(files, data.DAY, 2))


def test_late_hours_bound_the_folders_read(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    with_late = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    without = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 0)
    late_key = "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee"
    assert with_late.count - without.count == len(data.expected_events({late_key: files[late_key]}, data.DAY, 1))
    assert late_key not in [o.key for o in without.objects]


def test_a_corrupt_gzip_object_counts_the_events_before_its_damage(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    start = int(dt.datetime(2026, 11, 25, 5, tzinfo=dt.UTC).timestamp() * 1000)
    good = b"".join(data.event(i, start + i, 1) + b"\n" for i in range(2000))
    packed = gzip.compress(good, mtime=0)
    root = tmp_path / "events"
    data.write_local(root, {"2026/11/25/05/broken": packed[: len(packed) // 2]})
    summary = catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    assert 0 < summary.count < 2000
    stored = orjson.loads(redis.get(catalog.summary_key(TEST_PREFIX, "2026/11/25/05/broken")))
    assert stored["complete"] is False


def test_s3_objects_are_summarized_by_etag(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, s3_bucket: t.Any
) -> None:
    files = data.day_files()
    data.upload(s3_bucket, "fh/", files)
    settings = make_settings(ANALYTICS_SOURCE=f"s3://{s3_bucket.name}/fh")
    source = open_source(settings.source)
    summary = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    assert (summary.count, summary.fields) == _expected(files, data.DAY, 1)
    assert catalog.warm_days(settings, [data.DAY]) == 0
    key = "2026/11/25/00/analytics-1-2026-11-25-00-10-00-bbbb"
    s3_bucket.put_object(Key="fh/" + key, Body=b"\n")  # new ETag
    assert catalog.warm_days(settings, [data.DAY]) == 1


def test_list_objects_uses_one_call_per_full_date_and_keeps_key_order(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """DAY with ANALYTICS_LATE_HOURS=2 needs the hour before it, its 24 hours
    and the 2 after (README "Events returned"): 4 listings, the full date in
    one, in this order; keys outside those hours are not returned."""
    files = {**data.day_files(), "2026/11/25/not-an-hour": b"", "2026/11/26/05/too-late": b""}
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    calls: list[str] = []
    real_list = source.list

    def counted(prefix: str = "", start_after: str = "", limit: int | None = None) -> t.Iterator[t.Any]:
        calls.append(prefix)
        return real_list(prefix, start_after, limit)

    source.list = counted  # type: ignore[method-assign]  # observe the calls, keep the real listing
    keys = [info.key for info in catalog.list_day_objects(source, data.DAY, 2)]
    assert calls == ["2026/11/24/23/", "2026/11/25/", "2026/11/26/00/", "2026/11/26/01/"]
    assert keys == sorted(k for k in data.day_files())


# ------------------------------------------------------------------ format v2: line bitmaps, versions, parallel


def test_a_summary_of_an_older_format_version_is_recomputed(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    first = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    key = "2026/11/25/13/analytics-1-2026-11-25-13-05-00-cccc"
    stored = orjson.loads(redis.get(catalog.summary_key(TEST_PREFIX, key)))
    assert stored["v"] == catalog.FORMAT_VERSION
    # A v1 blob (no version, no bitmaps) with a wrong count: it must not be trusted.
    old = {k: stored[k] for k in ("etag", "size", "complete", "fields")}
    old["groups"] = [[day, blog, 999, index] for day, blog, _count, index, *_rest in stored["groups"]]
    redis.set(catalog.summary_key(TEST_PREFIX, key), orjson.dumps(old))
    read: list[str] = []
    again = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2, on_read=lambda i: read.append(i.key))
    assert read == [key]
    assert again == first
    assert orjson.loads(redis.get(catalog.summary_key(TEST_PREFIX, key)))["v"] == catalog.FORMAT_VERSION


def _messy_files() -> dict[str, bytes]:
    """Clean objects, plus one with a BOM line, two events concatenated on one
    line, an invalid line and blank lines among clean ones."""
    files = data.day_files()
    s = int(dt.datetime(2026, 11, 25, 6, tzinfo=dt.UTC).timestamp() * 1000)
    files["2026/11/25/06/analytics-1-2026-11-25-06-00-00-ffff"] = b"\n".join(
        [
            data.event(500, s, 1),
            b"\xef\xbb\xbf" + data.event(501, s + 1, 1),
            data.event(502, s + 2, 2) + data.event(503, s + 3, 1),
            b'{"broken": ',
            b"",
            data.event(504, s + 4, 1),
        ]
    )
    return files


#: The objects of ``_messy_files`` that need the parse path.
_MESSY_KEYS = {
    "2026/11/25/06/analytics-1-2026-11-25-06-00-00-ffff",
    "2026/11/25/00/analytics-1-2026-11-25-00-10-00-bbbb",
}


def test_only_objects_of_clean_lines_get_line_bitmaps(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    files = _messy_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    infos = catalog.list_day_objects(source, data.DAY, 2)
    for info in infos:
        summary = catalog.summarize_object(source, info)
        if info.key in _MESSY_KEYS:  # a BOM, concatenated objects, an invalid line
            assert summary.selections == {}
            continue
        assert set(summary.selections) == set(summary.groups)
        lines = (gzip.decompress(files[info.key]) if files[info.key][:2] == b"\x1f\x8b" else files[info.key]).split(
            b"\n"
        )
        for (day, blog), packed in summary.selections.items():
            selector = catalog.line_selector(packed, summary.lines)
            chosen = [line.strip() for line, take in zip(lines, selector, strict=False) if take]
            assert chosen == data.expected_events({info.key: files[info.key]}, dt.date.fromisoformat(day), int(blog))


def test_parallel_summaries_equal_serial_ones(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = _messy_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    infos = catalog.list_day_objects(source, data.DAY, 2)
    assert len(infos) >= catalog.PARALLEL_MIN_OBJECTS
    serial = [catalog.summarize_object(source, info) for info in infos]
    assert list(catalog.summarize_objects(source, infos)) == serial
    assert "process pool failed" not in caplog.text  # really summarized in the pool
    assert (
        sum(s.groups.get((data.DAY.isoformat(), "1"), (0,))[0] for s in serial)
        == len(data.expected_events(files, data.DAY, 1)) + 2
    )  # the BOM line and the second of the concatenated events, which the independent reader skips


@pytest.mark.parametrize("timestamp", [9_000_000_000_000_000_000, -9_000_000_000_000_000_000, 1e300, "9" * 30])
def test_an_event_timestamp_beyond_the_calendar_belongs_to_no_day(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path, timestamp: object
) -> None:
    """A timestamp no ``datetime.date`` can hold (year > 9999 or < 1) is like a
    missing one: the event counts on no day, and its neighbours still count
    (before the fix the day's summary raised OverflowError: a 500 for the whole day)."""
    start = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)
    far = orjson.loads(data.event(99, start, 1))
    far["event_timestamp"] = timestamp
    key = "2026/11/25/10/analytics-1-2026-11-25-10-00-00-far"
    lines = [data.event(1, start + 1000, 1), orjson.dumps(far), data.event(2, start + 2000, 1)]
    data.write_local(tmp_path / "events", {key: b"\n".join(lines) + b"\n"})
    summary = catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    assert summary.count == 2  # the two events of the day, read by hand above


def test_a_day_summary_selects_the_lines_of_its_day_and_site_in_each_clean_object(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """What the endpoint streams without parsing: per object, the lines of the
    site's events of the day (read independently), for the version summarized."""
    files = _messy_files()
    data.write_local(tmp_path / "events", files)
    summary = catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    assert {info.key for info in summary.objects} & _MESSY_KEYS, "the fixture has objects of both kinds"
    for info in summary.objects:
        selection = summary.selection(info.key)
        if info.key in _MESSY_KEYS:
            assert selection is None and summary.selector(info.key) is None
            continue
        assert selection is not None
        selector, etag = selection
        assert etag == info.etag
        assert summary.selector(info.key) == selector
        raw = files[info.key]
        lines = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).split(b"\n")
        chosen = [line.strip() for line, take in zip(lines, selector, strict=False) if take]
        assert chosen == data.expected_events({info.key: raw}, data.DAY, 1)


def test_summaries_expire_after_90_days_and_column_sets_never(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    ttl = redis.ttl(f"{TEST_PREFIX}catalog:object:{next(iter(files))}")
    assert 89 * 86_400 < ttl <= 90 * 86_400
    assert redis.ttl(f"{TEST_PREFIX}catalog:columns:1") == -1  # no expiry


def test_an_unreadable_or_mismatched_stored_summary_is_made_again(
    make_settings: t.Callable[..., config.Settings],
    redis: redis_lib.Redis,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    first = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    garbled, resized = sorted(files)[:2]
    redis.set(f"{TEST_PREFIX}catalog:object:{garbled}", b"not a summary")
    blob = orjson.loads(redis.get(f"{TEST_PREFIX}catalog:object:{resized}"))
    blob["size"] += 1  # the same ETag, another size: not the version listed
    redis.set(f"{TEST_PREFIX}catalog:object:{resized}", orjson.dumps(blob))

    read: list[str] = []
    again = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2, on_read=lambda i: read.append(i.key))

    assert sorted(read) == [garbled, resized]
    assert f"ignoring an unreadable catalog entry for {garbled}" in caplog.messages
    assert again == first


def test_a_field_name_with_a_lone_surrogate_is_stored_and_read_back(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """A name orjson cannot write (RFC 8259 allows the escape): kept in the
    stored summary and in the site's column set."""
    start = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)
    line = data.event(1, start + 1000, 1).replace(b'"attributes":{', b'"attributes":{"ti\\ud83dtle":"x",', 1)
    assert b"ti\\ud83dtle" in line
    key = "2026/11/25/10/analytics-1-2026-11-25-10-00-00-lone"
    data.write_local(tmp_path / "events", {key: line + b"\n"})
    source = open_source(make_settings().source)

    first = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    read: list[str] = []
    again = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2, on_read=lambda i: read.append(i.key))

    assert "attributes.ti\ud83dtle" in first.fields
    assert read == [] and again == first
    assert "attributes.ti\ud83dtle" in catalog.site_columns(redis, TEST_PREFIX, 1)


def test_only_a_blog_id_as_a_site_writes_it_gets_a_column_set(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """Sites are asked for by number (``/events/<day>?site=1``, ``str(int)``):
    '01', 'x' or a non-ASCII digit can never be asked for."""
    start = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)
    blogs = ["1", "01", "x", "\u0663"]
    lines = [data.event(n, start + 1000 * n, blog) for n, blog in enumerate(blogs)]
    data.write_local(tmp_path / "events", {"2026/11/25/10/analytics-1-2026-11-25-10-00-00-ids": b"\n".join(lines)})
    catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    column_sets = sorted(k.decode() for k in redis.keys(f"{TEST_PREFIX}catalog:columns:*"))
    assert column_sets == [f"{TEST_PREFIX}catalog:columns:1"]


@pytest.mark.parametrize("blog", [1, 2, 3, 4])
def test_a_day_summary_lists_each_object_read_with_its_events_size_and_invalid_lines(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path, blog: int
) -> None:
    """What the manifest shows of the objects read for a site's day: every
    object that can hold events of the day, with its stored size, its events of
    the day and site (none in an object of other sites only: blog 2 has none in
    the 00h object, blog 3 in four of the five, blog 4 in any), whether it was
    read whole, its invalid lines (the broken second line of the 00h object,
    whichever site is asked) and the version counted."""
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    summary = catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, blog, 2)
    # The day's folders from 23h the day before (a clock ahead) to 01h after (ANALYTICS_LATE_HOURS=2).
    assert {listed.info.key for listed in summary.listed} == set(files)
    broken = "2026/11/25/00/analytics-1-2026-11-25-00-10-00-bbbb"
    for listed in summary.listed:
        key = listed.info.key
        events = data.expected_events({key: files[key]}, data.DAY, blog)
        invalid = [2] if key == broken else []
        assert (listed.size, listed.events, listed.complete) == (len(files[key]), len(events), True), key
        assert (listed.invalid_count, listed.invalid_lines) == (len(invalid), invalid), key
        assert listed.etag, key
        if events:
            assert summary.versions[key] == listed.etag, key
            assert summary.details[key].size == sum(len(e) for e in events), key
        else:
            assert key not in summary.details, key
    assert summary.versions.keys() == {o.key for o in summary.objects}
    assert any(listed.events == 0 for listed in summary.listed) == (blog != 1)


def test_a_day_summary_counts_the_events_and_bytes_a_filter_keeps(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """``matching``: the events of blog 1's day within the minutes and types
    asked, and the length of their raw JSON texts, counted from the files."""
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    summary = catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    day_start = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)
    raw = data.expected_events(files, data.DAY, 1)
    kinds = sorted({orjson.loads(e)["event_type"] for e in raw})

    def expected(types: frozenset[str] | None, start: int, end: int) -> tuple[int, int]:
        kept = [
            e
            for e in raw
            if start <= (orjson.loads(e)["event_timestamp"] - day_start) // 60_000 < end
            and (types is None or orjson.loads(e)["event_type"] in types)
        ]
        return len(kept), sum(len(e) for e in kept)

    for types, start, end in [
        (None, 0, 1440),
        (None, 0, 780),  # before 13:00
        (None, 780, 1440),
        (frozenset(kinds[:1]), 0, 1440),
        (frozenset(kinds[1:]), 1, 1439),  # the first and last minute left out
        (frozenset({"no such type"}), 0, 1440),
    ]:
        wanted = catalog.EventFilter(types, start, end)
        assert summary.matching(wanted) == expected(types, start, end), (types, start, end)
    assert expected(None, 780, 1440)[0] > 0 and expected(frozenset(kinds[1:]), 1, 1439)[0] > 0


def test_an_event_filter_wants_the_minutes_from_its_start_up_to_its_end_and_its_types() -> None:
    """``EventFilter`` (the manifest's filter of ``from``/``to``/``hour`` and
    ``event_type``): minutes of the day half-open, ``[start, end)``, and an
    event type among those asked; one whose ``event_type`` is not a string (a
    number, a list, none) matches no type, even one spelled the same."""
    wanted = catalog.EventFilter(frozenset({"pageView", "7"}), 60, 120)  # 01:00 to 01:59
    minutes = (0, 59, 60, 119, 120, 1439)
    assert [wanted.wants("pageView", minute) for minute in minutes] == [False, False, True, True, False, False]
    assert not wanted.wants("click", 90)
    assert not wanted.wants(7, 90)
    assert not wanted.wants(["pageView"], 90)
    assert not wanted.wants(None, 90)
    any_type = catalog.EventFilter(None, 60, 120)
    assert any_type.wants("click", 60) and any_type.wants(7, 119) and any_type.wants(None, 90)
    assert not any_type.wants("click", 59) and not any_type.wants("click", 120)


def _custom_event(ts: int, blog: str, attributes: dict[str, t.Any], **top: t.Any) -> bytes:
    return orjson.dumps(
        {"event_type": "custom", "event_timestamp": ts, "attributes": {"blogId": blog, **attributes}, **top}
    )


def test_a_day_summary_names_the_fields_whose_every_value_of_the_day_is_a_number(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """``number_kinds``, the Parquet column types (README, ``format=parquet``):
    ``int`` (INT64) for a field whose every value of the site's day is a JSON
    integer, ``float`` (DOUBLE) when every value is a number and some is a
    float; not a field with a text value in any object of the day, a boolean,
    or an integer beyond INT64. Values of another site or day do not count."""
    at = int(dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC).timestamp() * 1000)
    files = {
        "2026/11/25/10/analytics-1-2026-11-25-10-00-00-nums": b"\n".join(
            [
                _custom_event(
                    at,
                    "1",
                    {"count": 1, "ratio": 2, "mixed": 3, "flag": True, "huge": 2**63, "nested": {"depth": 3}},
                    metrics={"ms": 1.5},
                ),
                _custom_event(at + 1, "1", {"count": 2, "ratio": 0.5, "huge": 1, "nested": {"depth": -(2**63)}}),
            ]
        ),
        "2026/11/25/11/analytics-1-2026-11-25-11-00-00-text": b"\n".join(
            [
                _custom_event(at + 3_600_000, "1", {"count": 3, "mixed": "3"}),
                _custom_event(at + 3_600_001, "2", {"count": "three", "ratio": "half"}),  # another site
                _custom_event(at - 86_400_000, "1", {"count": "the day before"}),  # another day
            ]
        ),
    }
    data.write_local(tmp_path / "events", files)
    summary = catalog.day_summary(open_source(make_settings().source), redis, TEST_PREFIX, data.DAY, 1, 2)
    assert summary.count == 3
    assert summary.number_kinds() == {
        "event_timestamp": "int",
        "attributes.count": "int",
        "attributes.ratio": "float",
        "attributes.nested.depth": "int",
        "metrics.ms": "float",
    }


def test_a_pool_worker_sends_back_the_summary_of_the_object_it_read(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """What each process of the summarizing pool runs (``_summarize_in_worker``):
    given where the objects are (a location, which crosses to the process) and
    one object, the stored form of its summary: its version, and its events
    and field names per day and site."""
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    key = "2026/11/25/13/analytics-1-2026-11-25-13-05-00-cccc"
    info = next(i for i in catalog.list_day_objects(source, data.DAY, 2) if i.key == key)
    summary = catalog.ObjectSummary.from_bytes(catalog._summarize_in_worker(source.location, info))
    assert summary is not None
    assert (summary.etag, summary.size) == (info.etag, len(files[key]))
    groups = {
        blog: (count, sorted(fields)) for (day, blog), (count, fields) in summary.groups.items() if day == "2026-11-25"
    }
    expected = {}
    for blog in (1, 2, 3, 4):
        count, fields = _expected({key: files[key]}, data.DAY, blog)
        if count:
            expected[str(blog)] = (count, list(fields))
    assert groups == expected and len(expected) == 2


def _day_under_a_main_workers_cannot_import(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, bytes], Source, list[ObjectInfo]]:
    """The test day's files in the local store, its source and objects (enough
    for a pool), under a ``__main__`` that raises when imported, as a script
    without ``if __name__ == "__main__"`` would: a pool's workers import it first."""
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    source = open_source(make_settings().source)
    infos = catalog.list_day_objects(source, data.DAY, 2)
    assert len(infos) >= catalog.PARALLEL_MIN_OBJECTS
    script = tmp_path / "not_import_safe.py"
    script.write_text('raise RuntimeError("this script runs its work when imported")\n')
    main = ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    return files, source, infos


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_a_process_held_to_one_cpu_summarizes_without_a_pool(
    make_settings: t.Callable[..., config.Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker held to one CPU (``taskset``, a container's cpuset) starts no
    pool of processes however many the machine has: they would only take
    turns on that CPU. Under a main module that a pool's workers cannot
    import, a pool would fail with a warning; here none is tried."""
    _files, source, infos = _day_under_a_main_workers_cannot_import(make_settings, tmp_path, monkeypatch)
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        summaries = list(catalog.summarize_objects(source, infos))
    finally:
        os.sched_setaffinity(0, allowed)
    assert not [m for m in caplog.messages if "process pool failed" in m], caplog.messages
    assert [s.etag for s in summaries] == [i.etag for i in infos]


def test_objects_are_summarized_here_when_the_process_pool_fails(
    make_settings: t.Callable[..., config.Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Where a pool cannot run, as under a main module that is not import-safe
    (each worker imports it first: this one raises), the objects are summarized
    in this process, with the same counts, and a warning says why. On a machine
    of two CPUs, the fewest that get a pool, with more objects than
    ``PARALLEL_MIN_OBJECTS``."""
    files, source, infos = _day_under_a_main_workers_cannot_import(make_settings, tmp_path, monkeypatch)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})

    summaries = list(catalog.summarize_objects(source, infos))

    failed = "catalog: summarizing in this process, the process pool failed: "
    assert [m for m in caplog.messages if m.startswith(failed)], caplog.messages
    assert [s.etag for s in summaries] == [i.etag for i in infos]
    for info, summary in zip(infos, summaries, strict=True):
        for blog in (1, 2, 3):
            count = len(data.expected_events({info.key: files[info.key]}, data.DAY, blog))
            assert summary.groups.get(("2026-11-25", str(blog)), (0,))[0] == count, (info.key, blog)
