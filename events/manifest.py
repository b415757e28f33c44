"""A day's completeness manifest: what one site's UTC day holds and where it came from.

Built from the catalog's summaries (``catalog.day_summary``), so it costs what
a warm ``X-WP-Total`` costs and agrees with it by construction: the same
summaries count both. A BI user compares it with what they loaded.

Shape (JSON)::

    {"day": "YYYY-MM-DD", "site": <blog id>, "total": <events>,
     "hours": {"00": n, ..., "23": n},            # by event_timestamp, UTC
     "event_types": {"pageView": n, ...},          # events whose event_type is text
     "events_without_event_type": n,               # the others: hours and types both sum to total
     "objects": [{"key", "etag", "size", "events", "complete",
                  "invalid_lines": n, "invalid_line_numbers": [1-based, ...]}, ...],
     "late_objects": [{"key", "events"}, ...],     # under an hour folder after the day's last hour
     "filters": {"event_type": [...] | null, "from": "HH:MM", "to": "HH:MM"},
     "digest": "sha256:<hex>"}

With the events route's filters (``event_type``, ``hour``, ``from``/``to``:
an ``EventFilter``), every count is of the wanted events only (``total``,
``hours``, ``event_types``, each object's and late object's ``events``), so
``total`` equals the ``X-WP-Total`` of the same filtered request; ``filters``
says which applied (``hour=7`` is ``from`` 07:00 ``to`` 08:00; none is
``null``, 00:00, 24:00). Objects, invalid lines and ``digest`` stay the day's:
they prove what was read, whatever was kept of it.

``objects`` lists every object read for the day (the hour before it, its 24
hours and the late hours after it), with the events of this day and site it
holds (0 for many) and the lines it skipped as invalid: an invalid line has no
readable site, so it is reported wherever it is. ``invalid_line_numbers``
keeps the first ``records.MAX_INVALID_LINE_NUMBERS``; ``invalid_lines`` counts
them all. ``complete`` is false for an object whose compressed stream is
damaged: its events up to the damage are counted and served.

``digest`` covers the day, the site and every object read (key, ETag, size):
any object added, removed or replaced changes it. The events endpoint's
``ETag`` starts with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import typing as t

from events.catalog import EventFilter
from events.layout import hour_of_key

if t.TYPE_CHECKING:
    from events.catalog import DaySummary


def digest(day: dt.date, blog_id: int, summary: DaySummary) -> str:
    """``sha256:<hex>`` of the day, the site and each object read (key, ETag
    and size of the version summarized), in key order."""
    hasher = hashlib.sha256(f"{day.isoformat()}\n{blog_id}\n".encode())
    for listed in summary.listed:
        hasher.update(f"{listed.info.key}\t{listed.etag}\t{listed.size}\n".encode("utf-8", "surrogatepass"))
    return "sha256:" + hasher.hexdigest()


#: No filter: every event of the day counts.
EVERYTHING = EventFilter()


def build(day: dt.date, blog_id: int, summary: DaySummary, wanted: EventFilter = EVERYTHING) -> dict[str, t.Any]:
    """The manifest of one site's day, counting only the events ``wanted``
    keeps (shape in the module's docstring)."""
    hours = [0] * 24
    types: dict[str, int] = {}
    untyped = 0
    per_object: dict[str, int] = {}
    for key, detail in summary.details.items():
        kept = 0
        for minute, event_type, count, _size in detail.histogram:
            if not wanted.wants(event_type, minute):
                continue
            kept += count
            hours[minute // 60] += count
            if event_type is None:
                untyped += count
            else:
                types[event_type] = types.get(event_type, 0) + count
        per_object[key] = kept
    last_hour = dt.datetime(day.year, day.month, day.day, 23, tzinfo=dt.UTC)
    objects = []
    late = []
    for listed in summary.listed:
        key = listed.info.key
        events = listed.events if wanted.everything else per_object.get(key, 0)
        objects.append({
            "key": key,
            "etag": listed.etag,
            "size": listed.size,
            "events": events,
            "complete": listed.complete,
            "invalid_lines": listed.invalid_count,
            "invalid_line_numbers": listed.invalid_lines,
        })  # fmt: skip
        folder = hour_of_key(key)
        if events and folder is not None and folder > last_hour:
            late.append({"key": key, "events": events})
    return {
        "day": day.isoformat(),
        "site": blog_id,
        "total": summary.matching(wanted)[0],
        "hours": {f"{hour:02d}": count for hour, count in enumerate(hours)},
        "event_types": dict(sorted(types.items())),
        "events_without_event_type": untyped,
        "objects": objects,
        "late_objects": late,
        "filters": {
            "event_type": None if wanted.types is None else sorted(wanted.types),
            "from": _clock(wanted.start_minute),
            "to": _clock(wanted.end_minute),
        },
        "digest": digest(day, blog_id, summary),
    }


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
