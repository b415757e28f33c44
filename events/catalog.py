"""Per-object summaries of raw event files, cached in Redis.

A day's total (``X-WP-Total``) and its CSV columns depend on every object that
can hold events of that day. Reading all of them again for each request would
double the cost of every download, so each object is summarized once: for
every (UTC day, blog id) it holds events of, the number of events and the set
of their flattened field names. A summary is keyed by the object's key and is
valid only for the ETag and size it was computed from: an object that changed
is summarized again.

Summaries are filled by whichever path reads an object first: a request whose
day is not summarized yet (the "cold" cost: one extra read before headers), or
``warm_days``, which the scheduler runs periodically so that a day is usually
warm before anyone asks. A warm day costs one listing and one ``MGET``.

Counting follows ``records.event_in`` exactly, so a summary's count is the
number of events the endpoint streams for that day and site. An object whose
gzip stream is corrupt counts the events read before the damage; the stream
stops at the same place, so totals still agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t

import orjson

from events.layout import day_prefixes
from events.records import blog_text, flatten, iter_events, timestamp_ms
from events.sources import CorruptObjectError, ObjectInfo, open_source

if t.TYPE_CHECKING:
    import redis as redis_lib

    from config import Settings
    from events.sources import Source

logger = logging.getLogger(__name__)

#: One orjson blob per object: ``{etag, size, complete, fields: [[name, ...], ...],
#: groups: [[day ISO, blog text, count, index into fields], ...]}``.
SUMMARY_KEY = "{prefix}catalog:object:{key}"
#: Summaries expire after this many seconds (an expired one is recomputed when needed).
SUMMARY_TTL = 90 * 86_400
#: How many summaries one ``MGET`` fetches.
MGET_BATCH = 500

_DAY_MS = 86_400_000
_EPOCH = dt.date(1970, 1, 1)


@dataclasses.dataclass
class ObjectSummary:
    """What one object holds: per (UTC day ISO, blog id text), the event count
    and the flattened field names. ``complete`` is False for a corrupt object
    read up to its damage."""

    etag: str
    size: int
    groups: dict[tuple[str, str], tuple[int, frozenset[str]]]
    complete: bool = True

    def to_bytes(self) -> bytes:
        """Compact form: field sets shared between groups are stored once."""
        field_sets: list[list[str]] = []
        index_of: dict[frozenset[str], int] = {}
        groups = []
        for (day, blog), (count, fields) in sorted(self.groups.items()):
            if fields not in index_of:
                index_of[fields] = len(field_sets)
                field_sets.append(sorted(fields))
            groups.append([day, blog, count, index_of[fields]])
        return orjson.dumps(
            {"etag": self.etag, "size": self.size, "complete": self.complete, "fields": field_sets, "groups": groups}
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> ObjectSummary:
        data = orjson.loads(raw)
        field_sets = [frozenset(names) for names in data["fields"]]
        groups = {(day, blog): (int(count), field_sets[index]) for day, blog, count, index in data["groups"]}
        return cls(etag=data["etag"], size=int(data["size"]), groups=groups, complete=bool(data["complete"]))


class DaySummary(t.NamedTuple):
    """One site's day: how many events, their sorted field names, and the
    objects holding at least one of them (ascending keys)."""

    count: int
    fields: tuple[str, ...]
    objects: list[ObjectInfo]


class SummaryBuilder:
    """Accumulates the summary of one object from its events' parsed data."""

    def __init__(self) -> None:
        self._groups: dict[tuple[int, str], tuple[list[int], set[str]]] = {}

    def add(self, data: dict[str, t.Any]) -> None:
        """Count one event under its UTC day and blog id (as ``records.event_in``
        would match it); events without a usable timestamp or blog id count nowhere."""
        ts = timestamp_ms(data)
        if ts is None:
            return
        blog = blog_text(data)
        if blog is None:
            return
        group = self._groups.get((ts // _DAY_MS, blog))
        if group is None:
            group = self._groups[(ts // _DAY_MS, blog)] = ([0], set())
        group[0][0] += 1
        group[1].update(flatten(data))

    def build(self, info: ObjectInfo, complete: bool = True) -> ObjectSummary:
        groups = {
            ((_EPOCH + dt.timedelta(days=day)).isoformat(), blog): (counter[0], frozenset(fields))
            for (day, blog), (counter, fields) in self._groups.items()
        }
        return ObjectSummary(etag=info.etag, size=info.size, groups=groups, complete=complete)


def summarize_object(source: Source, info: ObjectInfo) -> ObjectSummary:
    """Read one object completely and summarize it. A corrupt object is
    summarized up to its damage (logged); other SourceErrors propagate."""
    builder = SummaryBuilder()
    complete = True
    try:
        with source.open_lines(info.key) as lines:
            for event in iter_events(lines, info.key):
                builder.add(event.data)
    except CorruptObjectError as exc:
        logger.warning("summary of %s covers only the events before its damage: %s", info.key, exc)
        complete = False
    return builder.build(info, complete)


def summary_key(prefix: str, key: str) -> str:
    return SUMMARY_KEY.format(prefix=prefix, key=key)


def load_summaries(redis: redis_lib.Redis, prefix: str, infos: t.Sequence[ObjectInfo]) -> list[ObjectSummary | None]:
    """The stored summary of each object, or None where there is none or it was
    computed from another ETag or size."""
    found: list[ObjectSummary | None] = []
    for start in range(0, len(infos), MGET_BATCH):
        batch = infos[start : start + MGET_BATCH]
        for info, raw in zip(batch, redis.mget([summary_key(prefix, i.key) for i in batch]), strict=True):
            summary = None
            if raw is not None:
                try:
                    summary = ObjectSummary.from_bytes(raw)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    logger.warning("ignoring an unreadable catalog entry for %s", info.key)
            if summary is not None and (summary.etag != info.etag or summary.size != info.size):
                summary = None
            found.append(summary)
    return found


def store_summary(redis: redis_lib.Redis, prefix: str, key: str, summary: ObjectSummary) -> None:
    redis.set(summary_key(prefix, key), summary.to_bytes(), ex=SUMMARY_TTL)


def list_day_objects(source: Source, day: dt.date, late_hours: int) -> list[ObjectInfo]:
    """Objects under the hour folders that can hold events of ``day``
    (``layout.day_prefixes``), ascending. A date whose 24 hours are all wanted
    is listed with one ``YYYY/MM/DD/`` call instead of 24."""
    return list_objects(source, day_prefixes(day, late_hours))


def list_objects(source: Source, hour_prefixes: t.Iterable[str]) -> list[ObjectInfo]:
    wanted = set(hour_prefixes)
    by_date: dict[str, list[str]] = {}
    for hour in wanted:
        by_date.setdefault(hour[:11], []).append(hour)
    calls = sorted(date if len(hours) == 24 else hour for date, hours in by_date.items() for hour in hours)
    objects: list[ObjectInfo] = []
    for prefix in dict.fromkeys(calls):  # ascending, each once
        objects.extend(info for info in source.list(prefix) if info.key[:14] in wanted)
    return objects


def day_summary(
    source: Source,
    redis: redis_lib.Redis,
    prefix: str,
    day: dt.date,
    blog_id: int,
    late_hours: int,
    *,
    on_read: t.Callable[[ObjectInfo], None] | None = None,
) -> DaySummary:
    """Count and fields of one site's day, from the stored summaries; objects
    without a valid summary are read and summarized first (``on_read`` is
    called for each). Raises SourceError when the store cannot be listed or an
    object cannot be read, and redis errors when Redis is unreachable."""
    infos = list_day_objects(source, day, late_hours)
    wanted = (day.isoformat(), str(blog_id))
    count = 0
    fields: set[str] = set()
    objects: list[ObjectInfo] = []
    for info, summary in zip(infos, load_summaries(redis, prefix, infos), strict=True):
        if summary is None:
            summary = summarize_object(source, info)
            store_summary(redis, prefix, info.key, summary)
            if on_read is not None:
                on_read(info)
        group = summary.groups.get(wanted)
        if group:
            count += group[0]
            fields.update(group[1])
            objects.append(info)
    return DaySummary(count, tuple(sorted(fields)), objects)


def warm_days(settings: Settings, days: list[dt.date]) -> int:
    """Summarize every object that can hold events of ``days`` and has no valid
    summary yet; returns how many objects it read. The scheduler runs this
    periodically so that requests find their day warm."""
    import config

    source = open_source(settings.source)
    redis = config.redis_connection(settings.redis_url)
    prefixes: set[str] = set()
    for day in days:
        prefixes.update(day_prefixes(day, settings.late_hours))
    infos = list_objects(source, prefixes)
    read = 0
    for info, summary in zip(infos, load_summaries(redis, settings.redis_prefix, infos), strict=True):
        if summary is None:
            store_summary(redis, settings.redis_prefix, info.key, summarize_object(source, info))
            read += 1
    if read:
        logger.info("catalog: summarized %s object(s) for %s day(s)", read, len(days))
    return read
