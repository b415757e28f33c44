"""The Firehose key layout (``YYYY/MM/DD/HH/<name>``) and UTC days.

Firehose names an object's hour folder after the UTC arrival time of the oldest
record in its buffer, so a key alone tells the hour; the events inside can
belong to the previous or next UTC day (client clocks, late flushes), which is
why a day is read from the hour before it to ``late_hours`` after it.
"""

from __future__ import annotations

import datetime as dt
import typing as t

_UTC = dt.UTC
#: The UTC day of epoch millisecond 0: event timestamps count from its midnight.
EPOCH_DAY = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = EPOCH_DAY.toordinal()
#: A UTC day and hour in milliseconds (``event_timestamp`` units; UTC has no leap seconds here, as in POSIX time).
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
#: ``YYYY/MM/DD/HH/``: 14 characters, slashes at these offsets.
_PREFIX_LEN = 14
#: ``YYYY/MM/DD/``: the date folder, the first 11 characters of an hour prefix.
_DATE_PREFIX_LEN = 11
_SLASHES = (4, 7, 10, 13)
_DIGIT_SPANS = ((0, 4), (5, 7), (8, 10), (11, 13))


def hour_of_key(key: str) -> dt.datetime | None:
    """UTC start of the hour folder a key sits in (``2026/11/25/13/x`` ->
    2026-11-25 13:00 UTC), or None when the key does not start with a valid
    ``YYYY/MM/DD/HH/``."""
    if len(key) < _PREFIX_LEN:
        return None
    for i in _SLASHES:
        if key[i] != "/":
            return None
    parts = []
    for a, b in _DIGIT_SPANS:
        text = key[a:b]
        # isdigit() alone accepts other scripts' digits ('٣', '²'); keys are ASCII.
        if not (text.isascii() and text.isdigit()):
            return None
        parts.append(int(text))
    year, month, day, hour = parts
    if hour > 23:
        return None
    try:
        return dt.datetime(year, month, day, hour, tzinfo=_UTC)
    except ValueError:  # month 13, February 30, year 0
        return None


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """Aware datetimes converted to UTC; naive ones taken as UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(_UTC)


def hour_prefix(hour: dt.datetime) -> str:
    """``YYYY/MM/DD/HH/`` for an aware or naive-UTC datetime."""
    h = _as_utc(hour)
    return f"{h.year:04d}/{h.month:02d}/{h.day:02d}/{h.hour:02d}/"


def key_for(hour: dt.datetime, name: str) -> str:
    """The key of an object called ``name`` in the folder of ``hour``."""
    if not name or "/" in name:
        raise ValueError(f"object name {name!r} must be non-empty and hold no '/'")
    return hour_prefix(hour) + name


def hour_prefix_of_key(key: str) -> str:
    """The ``YYYY/MM/DD/HH/`` folder part of a key (its first 14 characters,
    whether or not they name a valid hour: see ``hour_of_key``)."""
    return key[:_PREFIX_LEN]


def listing_prefixes(hour_prefixes: t.Iterable[str]) -> list[str]:
    """The fewest prefixes to list to see every key under ``hour_prefixes``,
    ascending, each once: a date whose 24 hours are all wanted is one
    ``YYYY/MM/DD/`` listing instead of 24. Such a listing may also return
    keys that are in no hour folder (``2026/11/25/notes.txt``), so callers
    keep only keys whose ``hour_prefix_of_key`` they want."""
    by_date: dict[str, list[str]] = {}
    for hour in set(hour_prefixes):
        by_date.setdefault(hour[:_DATE_PREFIX_LEN], []).append(hour)
    calls = sorted(date if len(hours) == 24 else hour for date, hours in by_date.items() for hour in hours)
    return list(dict.fromkeys(calls))


def day_prefixes(day: dt.date, late_hours: int) -> list[str]:
    """Hour prefixes that can hold events of ``day``: the hour before it, its
    24 hours, and ``late_hours`` hours after it, ascending."""
    if late_hours < 0:
        raise ValueError(f"late_hours must be >= 0, not {late_hours}")
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=_UTC)
    prefixes = []
    for offset in range(-1, 24 + late_hours):
        try:
            prefixes.append(hour_prefix(midnight + dt.timedelta(hours=offset)))
        except OverflowError:  # before 0001-01-01 or after 9999-12-31: no such folder
            continue
    return prefixes


def day_bounds_ms(day: dt.date) -> tuple[int, int]:
    """[start, end) of the UTC day in integer milliseconds."""
    start = (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS
    return start, start + DAY_MS
