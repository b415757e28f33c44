"""CONTRACT STUB — to be implemented. The Firehose key layout and UTC days."""

from __future__ import annotations

import datetime as dt


def hour_of_key(key: str) -> dt.datetime | None:
    """UTC start of the hour folder a key sits in (``2026/11/25/13/x`` ->
    2026-11-25 13:00 UTC), or None when the key does not start with a valid
    ``YYYY/MM/DD/HH/``."""
    raise NotImplementedError


def hour_prefix(hour: dt.datetime) -> str:
    """``YYYY/MM/DD/HH/`` for an aware or naive-UTC datetime."""
    raise NotImplementedError


def day_prefixes(day: dt.date, late_hours: int) -> list[str]:
    """Hour prefixes that can hold events of ``day``: the hour before it, its
    24 hours, and ``late_hours`` hours after it, ascending."""
    raise NotImplementedError


def day_bounds_ms(day: dt.date) -> tuple[int, int]:
    """[start, end) of the UTC day in integer milliseconds."""
    raise NotImplementedError
