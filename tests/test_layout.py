"""The Firehose key layout: keys to UTC hours, UTC days to the hour prefixes
that can hold their events."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from events.layout import day_bounds_ms, day_prefixes, hour_of_key, hour_prefix, key_for, listing_prefixes

UTC = dt.UTC


@pytest.mark.parametrize(
    ("key", "hour"),
    [
        ("2026/11/25/13/firehose-1-2026-11-25-13-05-00-uuid", dt.datetime(2026, 11, 25, 13, tzinfo=UTC)),
        ("2024/02/29/00/x", dt.datetime(2024, 2, 29, 0, tzinfo=UTC)),
        ("1999/12/31/23/deep/er/name.gz", dt.datetime(1999, 12, 31, 23, tzinfo=UTC)),
    ],
)
def test_hour_of_a_valid_key(key: str, hour: dt.datetime) -> None:
    assert hour_of_key(key) == hour
    assert hour_of_key(key).tzinfo is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "key",
    [
        "2026/13/01/00/x",  # month 13
        "2026/00/01/00/x",  # month 0
        "2025/02/29/00/x",  # not a leap year
        "2026/04/31/00/x",  # April has 30 days
        "2026/11/25/24/x",  # hour 24
        "2026/11/2a/13/x",  # non-digit
        "2026/11/-1/13/x",
        "2026-11-25-13/x",  # wrong separators
        "2026/11/25/13",  # too short
        "2026/11/25",
        "",
        "26/11/25/13/x",
        "0000/01/01/00/x",  # year 0
        "2026/1/25/13/xx",
        "\uff12\uff10\uff12\uff16/11/25/13/x",  # full-width digits
        "2026/1²/25/13/x",
        "firehose/2026/11/25/13/x",  # a prefix is not stripped here
    ],
)
def test_hour_of_an_invalid_key_is_none(key: str) -> None:
    assert hour_of_key(key) is None


def test_hour_prefix_of_aware_and_naive_times() -> None:
    assert hour_prefix(dt.datetime(2026, 1, 2, 3, 59, 59, tzinfo=UTC)) == "2026/01/02/03/"
    assert hour_prefix(dt.datetime(2026, 1, 2, 3, 15)) == "2026/01/02/03/"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert hour_prefix(dt.datetime(2026, 1, 1, 1, 30, tzinfo=plus_two)) == "2025/12/31/23/"


def test_hour_prefix_is_utc_whatever_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Firehose names folders in UTC; a worker whose local zone is New York's
    (UTC-5 in January) must not file 13:00 UTC under 08."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        plus_two = dt.timezone(dt.timedelta(hours=2))
        assert hour_prefix(dt.datetime(2026, 1, 2, 15, tzinfo=plus_two)) == "2026/01/02/13/"
        assert day_prefixes(dt.date(2026, 1, 2), 0)[:2] == ["2026/01/01/23/", "2026/01/02/00/"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_bare_hour_folder_key_is_of_its_hour() -> None:
    """Exactly ``YYYY/MM/DD/HH/`` (an S3 console's folder marker) starts with a valid prefix."""
    assert hour_of_key("2026/11/25/13/") == dt.datetime(2026, 11, 25, 13, tzinfo=UTC)
    assert hour_of_key("2026/11/25/13") is None


def test_key_for_round_trips_with_hour_of_key() -> None:
    hour = dt.datetime(2026, 7, 4, 9, tzinfo=UTC)
    key = key_for(hour, "stream-1-2026-07-04-09-00-00-abc")
    assert key == "2026/07/04/09/stream-1-2026-07-04-09-00-00-abc"
    assert hour_of_key(key) == hour
    with pytest.raises(ValueError, match="object name 'a/b' must be non-empty and hold no '/'"):
        key_for(hour, "a/b")
    with pytest.raises(ValueError, match="object name '' must be non-empty"):
        key_for(hour, "")


@pytest.mark.parametrize("late_hours", [0, 2, 5, 48])
def test_day_prefixes_cover_the_hour_before_the_day_and_late_hours(late_hours: int) -> None:
    day = dt.date(2026, 6, 15)
    prefixes = day_prefixes(day, late_hours)
    assert len(prefixes) == 1 + 24 + late_hours
    assert prefixes == sorted(prefixes)
    assert len(set(prefixes)) == len(prefixes)
    assert prefixes[0] == "2026/06/14/23/"
    assert prefixes[1:25] == [f"2026/06/15/{h:02d}/" for h in range(24)]
    hours = [hour_of_key(p + "x") for p in prefixes]
    assert all(b - a == dt.timedelta(hours=1) for a, b in itertools.pairwise(hours))


def test_day_prefixes_across_a_year_end() -> None:
    first = day_prefixes(dt.date(2027, 1, 1), 2)
    assert first[:2] == ["2026/12/31/23/", "2027/01/01/00/"]
    last = day_prefixes(dt.date(2026, 12, 31), 3)
    assert last[-4:] == ["2026/12/31/23/", "2027/01/01/00/", "2027/01/01/01/", "2027/01/01/02/"]


def test_day_prefixes_across_month_ends() -> None:
    assert day_prefixes(dt.date(2024, 3, 1), 0)[0] == "2024/02/29/23/"
    assert day_prefixes(dt.date(2026, 2, 28), 1)[-1] == "2026/03/01/00/"
    assert day_prefixes(dt.date(2026, 4, 30), 2)[-2:] == ["2026/05/01/00/", "2026/05/01/01/"]


def test_negative_late_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="late_hours must be >= 0, not -1"):
        day_prefixes(dt.date(2026, 1, 1), -1)


def test_day_bounds_in_milliseconds() -> None:
    start, end = day_bounds_ms(dt.date(2022, 2, 1))
    assert start == int(dt.datetime(2022, 2, 1, tzinfo=UTC).timestamp()) * 1000 == 1643673600000
    assert end - start == 86_400_000
    assert day_bounds_ms(dt.date(1970, 1, 1)) == (0, 86_400_000)
    # The reference events (2022-02-01 00:05 UTC) fall inside that day.
    assert start <= 1643673911400 < end


def test_day_prefixes_at_the_ends_of_the_calendar_skip_hours_that_cannot_exist() -> None:
    first = day_prefixes(dt.date(1, 1, 1), 2)
    assert first[0] == "0001/01/01/00/" and len(first) == 24 + 2
    last = day_prefixes(dt.date(9999, 12, 31), 2)
    assert last[0] == "9999/12/30/23/" and last[-1] == "9999/12/31/23/" and len(last) == 1 + 24


def test_a_whole_day_is_listed_once_and_a_partial_day_hour_by_hour() -> None:
    # The day of 2026-11-25 with 2 late hours: the hour before (2026/11/24/23/), its 24 hours, then
    # 2026/11/26/00/ and 01/. Read by hand: one listing for the complete date, one per other hour.
    assert listing_prefixes(day_prefixes(dt.date(2026, 11, 25), 2)) == [
        "2026/11/24/23/",
        "2026/11/25/",
        "2026/11/26/00/",
        "2026/11/26/01/",
    ]


def test_listing_prefixes_are_ascending_and_unique_whatever_the_order_given() -> None:
    hours = [f"2026/01/02/{hour:02d}/" for hour in range(24)]
    given = ["2026/01/03/05/", *reversed(hours), "2026/01/01/23/", "2026/01/03/05/", hours[3]]
    assert listing_prefixes(given) == ["2026/01/01/23/", "2026/01/02/", "2026/01/03/05/"]
    assert listing_prefixes(hours[:23]) == hours[:23]  # 23 of 24 hours: no date listing
    assert listing_prefixes([]) == []
