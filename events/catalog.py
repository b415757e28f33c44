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

The catalog also keeps, per site, the set of every field name its events had
on any day summarized (``site_columns``), updated whenever a summary is
stored: the CSV header is that set, so a BI tool sees the same columns every
day, as the original's header came from its index's mappings of all days.

Counting follows ``records.event_in`` exactly, so a summary's count is the
number of events the endpoint streams for that day and site. An object whose
gzip stream is corrupt counts the events read before the damage; the stream
stops at the same place, so totals still agree.

Why one module of over 400 lines: a summary's stored format, how it is built,
stored and read back, and the per-site column set it feeds change together
(``FORMAT_VERSION``); split, each half would need the other's private format.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import json
import logging
import typing as t
import zlib

import orjson

from events import processes
from events.field_kinds import FieldKinds
from events.layout import DAY_MS, EPOCH_DAY, day_prefixes, hour_prefix_of_key, listing_prefixes
from events.records import ParseReport, blog_text, iter_indexed_events, loads, timestamp_ms
from events.sources import CorruptObjectError, ObjectInfo, open_source

if t.TYPE_CHECKING:
    import redis as redis_lib

    from config import Settings, SourceLocation
    from events.sources import Source

logger = logging.getLogger(__name__)

#: One orjson blob per object: ``{v, etag, size, complete, lines, invalid: [line number, ...],
#: invalid_count, fields: [[name, ...], ...], groups: [[day ISO, blog text, count, index into fields,
#: line bitmap or null, histogram (JSON text), raw bytes, number fields, float fields], ...]}``
#: (see ``GroupDetail``).
SUMMARY_KEY = "{prefix}catalog:object:{key}"
#: Per site (blog id): a Redis set of the flattened field names of its events
#: on every day summarized, UTF-8 (a lone surrogate kept with ``surrogatepass``).
#: No expiry: it outlives the summaries it was built from, as the original's
#: index mappings outlived old days.
COLUMNS_KEY = "{prefix}catalog:columns:{blog}"
#: Version of that blob: a blob of another version is recomputed (v2 added line bitmaps; v3 counts
#: events holding a lone surrogate escape, which v2 dropped; v4 added per-minute and per-event-type
#: counts and sizes, the fields holding only numbers, and the invalid lines' numbers).
FORMAT_VERSION = 4
#: Summaries expire after this many seconds (an expired one is recomputed when needed).
SUMMARY_TTL = 90 * 86_400
#: How many summaries one ``MGET`` fetches.
MGET_BATCH = 500
#: Fewer missing objects than this are summarized in this process: a pool's start costs more.
PARALLEL_MIN_OBJECTS = 3

#: Day indexes (days since 1970-01-01) a ``datetime.date`` can hold, years 1 to 9999: an event
#: timestamp outside them belongs to no day, like one without a timestamp (no request can ask for it).
_FIRST_DAY = dt.date.min.toordinal() - EPOCH_DAY.toordinal()
_LAST_DAY = dt.date.max.toordinal() - EPOCH_DAY.toordinal()
_MINUTE_MS = 60_000
#: Minutes in a UTC day: a histogram's minutes are 0 (00:00) to 1439 (23:59).
DAY_MINUTES = 1440
#: Line selectors (one byte 0/1 per line) to and from ASCII '0'/'1', to pack them as the bits of an int in C.
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_FROM_DIGITS = bytes.maketrans(b"01", b"\x00\x01")


def pack_lines(indexes: t.Sequence[int], lines: int) -> bytes:
    """A compact bitmap of the line positions ``indexes`` among ``lines`` lines
    (bit i = line i, zlib-compressed: a group of a neighbouring day is mostly zeros)."""
    selector = bytearray(lines)
    for index in indexes:
        selector[index] = 1
    bits = int(selector.translate(_TO_DIGITS)[::-1] or b"0", 2)
    return zlib.compress(bits.to_bytes((lines + 7) // 8, "little"))


def line_selector(packed: bytes, lines: int) -> bytes:
    """The inverse of ``pack_lines``: one byte per line, 1 where the line is
    selected, ready for ``itertools.compress`` over the object's lines."""
    bits = int.from_bytes(zlib.decompress(packed), "little")
    return format(bits, "b").zfill(lines)[::-1].encode().translate(_FROM_DIGITS)


class GroupDetail(t.NamedTuple):
    """What a summary knows of one (day, site) group beyond its count and field names.

    ``histogram`` rows are ``[minute of the UTC day (0-1439), event_type (None
    when not a string), events, bytes of their raw JSON text]``: exact counts
    (and body sizes) for any filter on event types and minutes of the day.
    They are kept as compact text (``histogram_text``: ``minute,type,events,bytes``
    rows joined by ``;``, the type an index into ``types``, -1 for None), read
    only by a request that filters or asks for the manifest: a warm download
    fetches every summary of its day, and parsing thousands of small lists
    (or quoted strings) would slow its first byte. ``size`` is the
    total of the bytes column. ``numbers`` are the fields whose every value
    was a JSON number (an integer within INT64 or a float), ``floats`` those
    of them that held a float."""

    histogram_text: str
    size: int
    numbers: list[str]
    floats: list[str]
    #: The group's field names (the summary's ``groups`` entry; not stored twice).
    fields: frozenset[str] = frozenset()
    #: The object's event types, which ``histogram_text`` indexes (stored once per object).
    types: t.Sequence[str] = ()

    @property
    def histogram(self) -> list[list[t.Any]]:
        rows: list[list[t.Any]] = []
        types = self.types
        for row in self.histogram_text.split(";") if self.histogram_text else ():
            minute, kind, count, size = map(int, row.split(","))
            rows.append([minute, types[kind] if kind >= 0 else None, count, size])
        return rows


@dataclasses.dataclass
class ObjectSummary:
    """What one object holds: per (UTC day ISO, blog id text), the event count
    and the flattened field names. ``complete`` is False for a corrupt object
    read up to its damage.

    ``lines`` is the number of lines the bitmaps cover (through the last line
    holding an event), and ``selections``
    maps each group to the bitmap (``pack_lines``) of the lines that hold its
    events, each line one event exactly as stored: streaming those lines
    stripped gives the same bytes as parsing and filtering, without parsing.
    It is empty when the object needs the parse path (a repaired line: BOM,
    concatenated objects, a line too long for one piece, an invalid line; or
    a corrupt object). ``details`` holds each group's ``GroupDetail``;
    ``invalid_lines`` the 1-based numbers of the lines skipped as invalid (the
    first ``records.MAX_INVALID_LINE_NUMBERS``), ``invalid_count`` all of them."""

    etag: str
    size: int
    groups: dict[tuple[str, str], tuple[int, frozenset[str]]]
    complete: bool = True
    lines: int = 0
    selections: dict[tuple[str, str], bytes] = dataclasses.field(default_factory=dict)
    details: dict[tuple[str, str], GroupDetail] = dataclasses.field(default_factory=dict)
    invalid_lines: list[int] = dataclasses.field(default_factory=list)
    invalid_count: int = 0

    def to_bytes(self) -> bytes:
        """Compact form: field sets shared between groups are stored once."""
        field_sets: list[list[str]] = []
        index_of: dict[frozenset[str], int] = {}
        groups = []
        for (day, blog), (count, fields) in sorted(self.groups.items()):
            if fields not in index_of:
                index_of[fields] = len(field_sets)
                field_sets.append(sorted(fields))
            packed = self.selections.get((day, blog))
            bitmap = base64.b64encode(packed).decode() if packed is not None else None
            detail = self.details.get((day, blog), _NO_DETAIL)
            groups.append(
                [day, blog, count, index_of[fields], bitmap, detail.histogram_text, detail.size, *detail[2:4]]
            )
        blob = {
            "v": FORMAT_VERSION,
            "etag": self.etag,
            "size": self.size,
            "complete": self.complete,
            "lines": self.lines,
            "invalid": self.invalid_lines,
            "invalid_count": self.invalid_count,
            "types": list(next((d.types for d in self.details.values()), ())),
            "fields": field_sets,
            "groups": groups,
        }
        try:
            return orjson.dumps(blob)
        except orjson.JSONEncodeError:  # a field name holding a lone surrogate: JSON escapes it
            return json.dumps(blob, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ObjectSummary | None:
        """The summary, or None for a blob of another format version (to be recomputed)."""
        data = loads(raw)
        if data.get("v") != FORMAT_VERSION:
            return None
        field_sets = [_field_set(tuple(names)) for names in data["fields"]]
        groups = {}
        selections = {}
        details = {}
        types = tuple(data["types"])
        for day, blog, count, index, bitmap, histogram, size, numbers, floats in data["groups"]:
            groups[(day, blog)] = (int(count), field_sets[index])
            if bitmap is not None:
                selections[(day, blog)] = base64.b64decode(bitmap)
            details[(day, blog)] = GroupDetail(histogram, int(size), numbers, floats, field_sets[index], types)
        return cls(
            etag=data["etag"],
            size=int(data["size"]),
            groups=groups,
            complete=bool(data["complete"]),
            lines=int(data["lines"]),
            selections=selections,
            details=details,
            invalid_lines=[int(n) for n in data["invalid"]],
            invalid_count=int(data["invalid_count"]),
        )


_NO_DETAIL = GroupDetail("", 0, [], [])


@functools.lru_cache(maxsize=4096)
def _field_set(names: tuple[str, ...]) -> frozenset[str]:
    """One frozenset per distinct list of field names, shared by every decoded
    summary holding it. A request decodes every object summary of its day; the
    10 M-event day of ``bench/run --scale`` has 2,662 objects but 188 distinct
    lists, and a copy per object cost 136 MB of a 151 MB decode (bench/FINDINGS.md)."""
    return frozenset(names)


class EventFilter(t.NamedTuple):
    """Which of a day's events a request wants: event types (None: any) and
    the minutes of the UTC day, half-open ``[start_minute, end_minute)``."""

    types: frozenset[str] | None = None
    start_minute: int = 0
    end_minute: int = DAY_MINUTES

    @property
    def everything(self) -> bool:
        return self.types is None and self.start_minute == 0 and self.end_minute == DAY_MINUTES

    def wants(self, event_type: object, minute: int) -> bool:
        """Whether an event of ``event_type`` at ``minute`` of the day is wanted
        (an event whose ``event_type`` is not a string matches no type)."""
        if not self.start_minute <= minute < self.end_minute:
            return False
        return self.types is None or (type(event_type) is str and event_type in self.types)


class ListedObject(t.NamedTuple):
    """What the manifest and its digest keep of one object read for a day
    (``DaySummary.listed``): the version summarized (ETag, size), the events
    of the day and site in it, whether it was read whole, and its invalid
    lines (how many, the first numbers). Not the whole ``ObjectSummary``:
    that holds every site's bitmaps and histograms, 12-25 KB an object, and a
    day of 2,662 objects held them all at once (bench/FINDINGS.md, the 10 M day)."""

    info: ObjectInfo
    etag: str
    size: int
    events: int
    complete: bool
    invalid_count: int
    invalid_lines: list[int]


@dataclasses.dataclass(frozen=True)
class DaySummary:
    """One site's day: how many events, their sorted field names, the objects
    holding at least one of them (ascending keys), and per object key its
    packed line bitmap, line count and the ETag of the version summarized,
    where the object can be streamed without parsing (absent: parse and filter it).
    ``columns`` is the CSV header: the sorted union of ``fields`` and the
    site's field names of every other day summarized (``site_columns``).
    ``details`` has each object's ``GroupDetail`` of the day and site (by key),
    and ``listed`` every object that can hold events of the day (``ListedObject``),
    events of the site or not (the manifest's objects read)."""

    count: int
    fields: tuple[str, ...]
    objects: list[ObjectInfo]
    selectors: t.Mapping[str, tuple[bytes, int, str]] = dataclasses.field(default_factory=dict)
    columns: tuple[str, ...] = ()
    details: t.Mapping[str, GroupDetail] = dataclasses.field(default_factory=dict)
    listed: tuple[ListedObject, ...] = ()
    #: Per object of ``objects``: the ETag of the version summarized (whose events were counted).
    versions: t.Mapping[str, str] = dataclasses.field(default_factory=dict)

    def selector(self, key: str) -> bytes | None:
        """One byte per line of the object, 1 where the line is one of the
        day's events of the site; None when the object must be parsed."""
        selection = self.selection(key)
        return None if selection is None else selection[0]

    def selection(self, key: str) -> tuple[bytes, str] | None:
        """``(selector, etag)``: the selector is only true of the version
        ``etag``, so a reader must open the object with it
        (``Source.open_lines(key, etag)``) and parse and filter any other."""
        found = self.selectors.get(key)
        return None if found is None else (line_selector(found[0], found[1]), found[2])

    def matching(self, wanted: EventFilter) -> tuple[int, int]:
        """``(events, bytes)`` of the day's events of the site that ``wanted``
        keeps: their number and the total length of their raw JSON texts."""
        if wanted.everything:
            return self.count, sum(detail.size for detail in self.details.values())
        events = size = 0
        types, start, end = wanted
        for detail in self.details.values():
            for minute, event_type, count, length in detail.histogram:
                if start <= minute < end and (types is None or event_type in types):
                    events += count
                    size += length
        return events, size

    def number_kinds(self) -> dict[str, str]:
        """The fields whose every value this day was a JSON number: ``"int"``
        (all integers within INT64) or ``"float"`` (some float)."""
        numbers: set[str] = set()
        floats: set[str] = set()
        others: set[str] = set()
        for detail in self.details.values():
            numbers.update(detail.numbers)
            floats.update(detail.floats)
            others.update(detail.fields.difference(detail.numbers))
        return {name: "float" if name in floats else "int" for name in numbers - others}


class SummaryBuilder:
    """Accumulates the summary of one object from its events' parsed data and line positions."""

    def __init__(self) -> None:
        # (day number, blog) -> [line indexes, field kinds, histogram]
        self._groups: dict[tuple[int, str], _Group] = {}

    def add(self, data: dict[str, t.Any], index: int = -1, size: int = 0) -> None:
        """Count one event under its UTC day and blog id (as ``records.event_in``
        would match it), at line ``index``, ``size`` bytes of raw JSON text;
        events without a usable timestamp or blog id, or with a timestamp outside
        the calendar (years 1 to 9999), count nowhere."""
        ts = data.get("event_timestamp")
        if type(ts) is not int:
            ts = timestamp_ms(data)
            if ts is None:
                return
        day = ts // DAY_MS
        if not _FIRST_DAY <= day <= _LAST_DAY:
            return
        blog = blog_text(data)
        if blog is None:
            return
        group = self._groups.get((day, blog))
        if group is None:
            group = self._groups[(day, blog)] = _Group([], FieldKinds(), {})
        group.indexes.append(index)
        event_type = data.get("event_type")
        bucket = ((ts % DAY_MS) // _MINUTE_MS, event_type if type(event_type) is str else None)
        counts = group.histogram.get(bucket)
        if counts is None:
            group.histogram[bucket] = [1, size]
        else:
            counts[0] += 1
            counts[1] += size
        group.kinds.add(data)

    def build(
        self, etag: str, size: int, complete: bool = True, clean: bool = False, report: ParseReport | None = None
    ) -> ObjectSummary:
        """The summary of the version ``etag`` (``size`` bytes); when ``clean``
        (every event came from a line of its own, as ``iter_indexed_events``
        reports) also each group's line bitmap. ``report`` gives the invalid lines."""
        groups = {}
        selections = {}
        details = {}
        # The bitmaps end at the last line holding an event: streaming stops reading there.
        lines = 1 + max((group.indexes[-1] for group in self._groups.values()), default=-1) if clean else 0
        types = tuple(
            sorted({kind for group in self._groups.values() for _m, kind in group.histogram if kind is not None})
        )
        type_index = {kind: index for index, kind in enumerate(types)}
        for (day, blog), group in self._groups.items():
            name = ((EPOCH_DAY + dt.timedelta(days=day)).isoformat(), blog)
            all_numbers, others, floats = group.kinds.sets()
            groups[name] = (len(group.indexes), frozenset(all_numbers | others))
            numbers = all_numbers - others
            rows = sorted(group.histogram.items(), key=lambda row: (row[0][0], row[0][1] or ""))
            text = ";".join(f"{m},{-1 if k is None else type_index[k]},{c},{b}" for (m, k), (c, b) in rows)
            raw_size = sum(size for _bucket, (_count, size) in rows)
            details[name] = GroupDetail(
                text, raw_size, sorted(numbers), sorted(numbers & floats), groups[name][1], types
            )
            if clean:
                selections[name] = pack_lines(group.indexes, lines)
        return ObjectSummary(
            etag=etag,
            size=size,
            groups=groups,
            complete=complete,
            lines=lines,
            selections=selections,
            details=details,
            invalid_lines=list(report.invalid_lines) if report is not None else [],
            invalid_count=report.invalid_count if report is not None else 0,
        )


class _Group(t.NamedTuple):
    indexes: list[int]
    kinds: FieldKinds
    histogram: dict[tuple[int, str | None], list[int]]


def summarize_object(source: Source, info: ObjectInfo) -> ObjectSummary:
    """Read one object completely and summarize it. A corrupt object is
    summarized up to its damage (logged); other SourceErrors propagate.

    The summary carries the ETag and size of the version read, which is newer
    than ``info``'s when the object was replaced since it was listed: it then
    no longer matches the listing and is made again next time, and is never
    applied to bytes it did not count."""
    builder = SummaryBuilder()
    complete = True
    report = ParseReport()
    etag, size = info.etag, info.size
    try:
        with source.open_object(info.key) as opened:
            etag, size = opened.etag, opened.size
            add = builder.add
            for index, data, length in iter_indexed_events(opened.lines, info.key, report):
                add(data, index, length)
    except CorruptObjectError as exc:
        logger.warning("summary of %s covers only the events before its damage: %s", info.key, exc)
        complete = False
    return builder.build(etag, size, complete, clean=complete and not report.repaired, report=report)


def _summarize_in_worker(location: SourceLocation, info: ObjectInfo) -> bytes:
    return summarize_object(processes.worker_source(location), info).to_bytes()


def summarize_objects(source: Source, infos: t.Sequence[ObjectInfo]) -> t.Iterator[ObjectSummary]:
    """``summarize_object`` of each of ``infos``, in order. Summarizing is
    CPU-bound Python (parsing, names), so several objects are summarized in a
    pool of processes, one per CPU this process may run on
    (``processes.cores``: its affinity, so a worker held to one CPU starts
    none), made for this call and shut down after it (``processes.executor``:
    from a forkserver, never forked from this process); if the pool fails,
    the rest is summarized here. A few objects are summarized here anyway: a
    pool's start costs more."""
    workers = min(processes.cores(), len(infos))
    if workers < 2 or len(infos) < PARALLEL_MIN_OBJECTS:
        for info in infos:
            yield summarize_object(source, info)
        return
    done = 0
    try:
        with processes.executor(workers) as pool:
            try:
                for raw in pool.map(_summarize_in_worker, [source.location] * len(infos), infos):
                    summary = ObjectSummary.from_bytes(raw)
                    assert summary is not None
                    yield summary
                    done += 1
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    except (concurrent.futures.process.BrokenProcessPool, OSError) as exc:
        # A pool cannot run where the main module is not import-safe (no
        # ``if __name__ == "__main__"``) or processes cannot be made: be slower, not wrong.
        logger.warning("catalog: summarizing in this process, the process pool failed: %s", exc)
        for info in infos[done:]:
            yield summarize_object(source, info)


def summary_key(prefix: str, key: str) -> str:
    return SUMMARY_KEY.format(prefix=prefix, key=key)


def load_summaries(redis: redis_lib.Redis, prefix: str, infos: t.Sequence[ObjectInfo]) -> list[ObjectSummary | None]:
    """The stored summary of each object, or None where there is none, it was
    computed from another ETag or size, or it has another format version."""
    found: list[ObjectSummary | None] = []
    for start in range(0, len(infos), MGET_BATCH):
        batch = infos[start : start + MGET_BATCH]
        replies = t.cast("list[bytes | None]", redis.mget([summary_key(prefix, i.key) for i in batch]))
        for info, raw in zip(batch, replies, strict=True):
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


def summaries_of(
    source: Source,
    redis: redis_lib.Redis,
    prefix: str,
    infos: t.Sequence[ObjectInfo],
    *,
    on_read: t.Callable[[ObjectInfo], None] | None = None,
) -> list[ObjectSummary]:
    """The valid summary of each of ``infos``, in order: the stored one, or
    else the object is read, summarized (``summarize_objects``) and stored
    (``store_summary``), and ``on_read`` is called with it. Raises SourceError
    when an object cannot be read, and redis errors when Redis is unreachable."""
    summaries = load_summaries(redis, prefix, infos)
    missing = [index for index, summary in enumerate(summaries) if summary is None]
    for index, summary in zip(missing, summarize_objects(source, [infos[i] for i in missing]), strict=True):
        store_summary(redis, prefix, infos[index].key, summary)
        summaries[index] = summary
        if on_read is not None:
            on_read(infos[index])
    return [summary for summary in summaries if summary is not None]  # all of them, now


def columns_key(prefix: str, blog: str) -> str:
    return COLUMNS_KEY.format(prefix=prefix, blog=blog)


def _is_blog_id(blog: str) -> bool:
    """Whether ``blog`` is how a site's blog id is written (``str(int)``): only
    those can ever be asked for, so no other text gets a column set."""
    return blog.isascii() and blog.isdigit() and str(int(blog)) == blog


def store_summary(redis: redis_lib.Redis, prefix: str, key: str, summary: ObjectSummary) -> None:
    """Store an object's summary (expiring after ``SUMMARY_TTL``) and add its
    field names to each of its sites' column sets, in one round trip."""
    names: dict[str, set[str]] = {}
    for (_day, blog), (_count, fields) in summary.groups.items():
        if _is_blog_id(blog):
            names.setdefault(blog, set()).update(fields)
    pipe = redis.pipeline(transaction=False)
    pipe.set(summary_key(prefix, key), summary.to_bytes(), ex=SUMMARY_TTL)
    for blog, blog_names in names.items():
        if blog_names:
            pipe.sadd(columns_key(prefix, blog), *(name.encode("utf-8", "surrogatepass") for name in blog_names))
    pipe.execute()


def site_columns(redis: redis_lib.Redis, prefix: str, blog_id: int) -> frozenset[str]:
    """The flattened field names of the site's events on every day summarized
    so far (empty for a site with no event summarized)."""
    members = t.cast("set[bytes]", redis.smembers(columns_key(prefix, str(blog_id))))
    return frozenset(name.decode("utf-8", "surrogatepass") for name in members)


def list_day_objects(source: Source, day: dt.date, late_hours: int) -> list[ObjectInfo]:
    """Objects under the hour folders that can hold events of ``day``
    (``layout.day_prefixes``), ascending. A date whose 24 hours are all wanted
    is listed with one ``YYYY/MM/DD/`` call instead of 24."""
    return list_objects(source, day_prefixes(day, late_hours))


def list_objects(source: Source, hour_prefixes: t.Iterable[str]) -> list[ObjectInfo]:
    """Objects under the hour folders ``hour_prefixes``, ascending, listed
    with ``layout.listing_prefixes``. Raises SourceError when listing fails."""
    wanted = set(hour_prefixes)
    objects: list[ObjectInfo] = []
    for prefix in listing_prefixes(wanted):
        objects.extend(info for info in source.list(prefix) if hour_prefix_of_key(info.key) in wanted)
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
    """Count, fields, line selections and CSV columns of one site's day, from
    the stored summaries and the site's column set; objects without a valid
    summary are read and summarized first (``summarize_objects``; ``on_read``
    is called for each). Raises SourceError when the store cannot be listed or
    an object cannot be read, and redis errors when Redis is unreachable."""
    infos = list_day_objects(source, day, late_hours)
    wanted = (day.isoformat(), str(blog_id))
    count = 0
    fields: set[str] = set()
    objects: list[ObjectInfo] = []
    selectors: dict[str, tuple[bytes, int, str]] = {}
    details: dict[str, GroupDetail] = {}
    versions: dict[str, str] = {}
    listed: list[ListedObject] = []
    # Batch by batch: only one batch's object summaries (every site's bitmaps and histograms) are
    # held at once, so memory does not grow with the number of objects of the day.
    for start in range(0, len(infos), MGET_BATCH):
        batch = infos[start : start + MGET_BATCH]
        for info, summary in zip(batch, summaries_of(source, redis, prefix, batch, on_read=on_read), strict=True):
            group = summary.groups.get(wanted)
            listed.append(
                ListedObject(
                    info,
                    summary.etag,
                    summary.size,
                    group[0] if group else 0,
                    summary.complete,
                    summary.invalid_count,
                    summary.invalid_lines,
                )
            )
            if group:
                count += group[0]
                fields.update(group[1])
                objects.append(info)
                versions[info.key] = summary.etag
                details[info.key] = summary.details.get(wanted, _NO_DETAIL)
                packed = summary.selections.get(wanted)
                if packed is not None:
                    selectors[info.key] = (packed, summary.lines, summary.etag)
    columns = tuple(sorted(site_columns(redis, prefix, blog_id).union(fields)))
    return DaySummary(count, tuple(sorted(fields)), objects, selectors, columns, details, tuple(listed), versions)


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
    read: list[ObjectInfo] = []
    summaries_of(source, redis, settings.redis_prefix, list_objects(source, prefixes), on_read=read.append)
    if read:
        logger.info("catalog: summarized %s object(s) for %s day(s)", len(read), len(days))
    return len(read)
