"""Realistic demo data: AWS Pinpoint web events in Kinesis Firehose layout.

``generate()`` writes what the real pipeline leaves in its bucket, with the
awkward parts that the exporter must handle: objects named after the arrival
hour of their *oldest* record (so a buffer that flushes after the hour ends is
written "late" under an earlier folder), some objects gzipped without a
``.gz`` name, events whose client timestamp falls on the previous UTC day of
their folder (clocks that are behind, phones that upload a backlog after
midnight), and attribute sets that differ between sites and days.

The same arguments and seed give byte-identical files and the same mtimes:
every random choice comes from seeded ``random.Random`` instances, gzip
headers carry ``mtime=0`` and nothing reads the clock. Nothing is written at or
after ``until`` (the CLI passes the time it runs): no event dated or arrived
later, no object written later, so no future hour folder either. A subscriber
starting "now" would otherwise jump to a future folder and leave the current
hour behind its listing window.

Speed matters (a million events must take seconds, not minutes), so lines are
assembled from pre-built byte fragments with one ``%``-format per event
instead of building and serialising a dict per event. The test suite parses
every line with orjson to keep the fragments honest.

Importable without Flask; the ``demo-data`` CLI command loads Flask lazily.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import gzip
import heapq
import logging
import os
import random
import time
import typing as t
from pathlib import Path

import click
import orjson

import config
from cli_errors import OneLineCommand

logger = logging.getLogger(__name__)

#: Firehose stream name and its numeric suffix in object names.
STREAM_NAME = "analytics-1"
#: Share of objects written gzip-compressed (by content; the name has no suffix).
GZIP_SHARE = 0.25
#: Share of objects whose write is delayed well past their hour (Firehose backlog).
DELAYED_OBJECT_SHARE = 0.04
#: Events per object: Firehose flushes when the buffer reaches this many ...
OBJECT_EVENTS = (1500, 6000)
#: ... or when this many milliseconds have passed since its oldest record.
OBJECT_INTERVAL_MS = (300_000, 900_000)
#: gzip level: 1 is several times faster than 9 and still shrinks NDJSON ~10x.
GZIP_LEVEL = 1

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

#: Relative traffic per UTC hour: quiet nights, busy days.
HOUR_WEIGHTS: tuple[float, ...] = (
    2.0, 1.5, 1.2, 1.0, 1.0, 1.3, 2.0, 3.5, 5.0, 6.0, 6.5, 7.0,
    7.0, 7.0, 6.8, 6.5, 6.2, 6.0, 5.8, 5.5, 5.0, 4.5, 3.5, 2.5,
)  # fmt: skip

_AWS_ACCOUNT = "123456789012"
_APP_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
_POOL_ID = "eu-west-1:5d1c8a3e-7f2b-4c6d-9e0a-1b2c3d4e5f60"

# (make, model, model version, platform, platform version, device model, device type, device make)
_DEVICES: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("WebKit", "Mobile Safari", "17.1", "ios", "17.1.2", "iPhone", "mobile", "Apple"),
    ("WebKit", "Mobile Safari", "16.6", "ios", "16.7.2", "iPhone", "mobile", "Apple"),
    ("Blink", "Chrome", "120.0.6099.109", "windows", "10", "", "desktop", ""),
    ("Blink", "Chrome", "119.0.6045.199", "macos", "10.15.7", "", "desktop", ""),
    ("Blink", "Chrome Mobile", "120.0.6099.43", "android", "14", "Pixel 7", "mobile", "Google"),
    ("Blink", "Samsung Internet", "23.0", "android", "13", "SM-S911B", "mobile", "Samsung"),
    ("Gecko", "Firefox", "121.0", "windows", "11", "", "desktop", ""),
    ("WebKit", "Safari", "17.1", "macos", "14.1.1", "", "desktop", ""),
    ("Blink", "Edge", "120.0.2210.61", "windows", "11", "", "desktop", ""),
    ("WebKit", "Mobile Safari", "17.1", "ios", "17.1.1", "iPad", "tablet", "Apple"),
)
_DEVICE_WEIGHTS = (14, 6, 18, 8, 12, 5, 6, 7, 5, 3)
# (locale code, country, language)
_LOCALES: tuple[tuple[str, str, str], ...] = (
    ("en_gb", "GB", "en"),
    ("en_us", "US", "en"),
    ("de_de", "DE", "de"),
    ("fr_fr", "FR", "fr"),
    ("es_es", "ES", "es"),
    ("en_au", "AU", "en"),
    ("ro_ro", "RO", "ro"),
)
_LOCALE_WEIGHTS = (30, 35, 10, 8, 7, 6, 4)
_CITIES = {"GB": "London", "US": "New York", "DE": "Berlin", "FR": "Paris", "ES": "Madrid", "AU": "Sydney"}
_REFERERS = (
    "",
    "",
    "",
    "https://www.google.com/",
    "https://www.google.co.uk/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://t.co/",
    "https://www.facebook.com/",
    "android-app://com.google.android.gm/",
)
_UTM = (
    ("newsletter", "email", "weekly-digest"),
    ("newsletter", "email", "breaking-news"),
    ("twitter", "social", "launch"),
    ("facebook", "social", "winter-sale"),
    ("google", "cpc", "brand-search"),
)
_INTERESTS = ("sport", "tech", "travel", "food", "finance", "culture")
_AUTHORS = (
    ("Ada Byron", "3"),
    ("Grace Hopper", "7"),
    ("Alan Kay", "12"),
    ("Zoë Müller", "15"),
    ("Jean Dupont", "21"),
    ("María García", "28"),
)
_ADJECTIVES = ("best", "cheapest", "quietest", "oldest", "newest", "strangest", "greenest", "fastest")
_NOUNS = ("coffee shops", "bike routes", "laptops", "cafés", "gardens", "podcasts", "hiking trails", "bakeries")
_PLACES = ("in town", "in Zürich", "for students", "this winter", "near the station", "on a budget")
_POST_TYPES = (("post", 60), ("article", 20), ("page", 8), ("deal", 7), ("product", 5))
_SEARCH_TERMS = ("coffee", "bike", "black friday", "opening hours", "recipes")
_HASHES = ("#comments", "#top", "#newsletter")
#: Site-specific attributes: each site picks a few; sessions carry them sometimes.
_SITE_ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sector_17", ("office", "retail", "industrial")),
    ("IsExclusive", ("true", "false")),
    ("edition", ("uk", "us", "intl")),
    ("paywall", ("metered", "free", "hard")),
    ("contentGroup", ("news", "reviews", "guides")),
    ("theme", ("light", "dark")),
)
#: Experiments that run on some days only, so a column exists on some days only.
_EXPERIMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ab_homepage_hero", ("A", "B")),
    ("ab_paywall_copy", ("control", "variant")),
    ("ab_newsletter_modal", ("off", "on")),
)

_EV_START = b"_session.start"
_EV_PAGE = b"pageView"
_EV_CLICK = b"click"
_EV_SCROLL = b"scroll"
_EV_STOP = b"_session.stop"

#: One event line. Session-constant parts arrive pre-joined; see _Session.
_LINE = (
    b'{"event_type":"%s","event_timestamp":%d,"arrival_timestamp":%d,%s%s},'
    b'"attributes":{%s,"referer":"%s","pageSession":"%s",%s%s},'
    b'"metrics":{"elapsed":%d,"scrollDepthNow":%d,"scrollDepthMax":%d,"hour":%d%s%s},'
    b'"endpoint":{%s%s%s%d%s},"awsAccountId":"' + _AWS_ACCOUNT.encode() + b'"}\n'
)


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    """What ``generate()`` wrote."""

    #: Events per (blog id, UTC day of ``event_timestamp``): days before or after
    #: the requested range appear when clocks are off or sessions cross midnight.
    counts: dict[tuple[int, dt.date], int]
    objects: int
    events: int
    #: Objects written gzip-compressed.
    gzipped: int = 0
    #: Objects whose hour folder is earlier than the hour they were written in.
    late: int = 0


#: The range of days demo data can be written for: events fall up to a day
#: either side of the days asked for, in epoch milliseconds and Firehose folders.
_FIRST_START = dt.date(1970, 1, 2)
_LAST_END = dt.date(9999, 12, 30)


def generate(
    out_dir: Path,
    start: dt.date,
    days: int,
    events_per_day: int,
    sites: t.Sequence[int] = (1, 2, 3),
    seed: int = 1,
    until: dt.datetime | None = None,
) -> DemoSummary:
    """Write ``days * events_per_day`` events for ``sites`` into ``out_dir`` in
    Firehose layout and return what was written.

    Each generated day holds exactly ``events_per_day`` events by session
    time; ``counts`` reports them by the UTC day of their ``event_timestamp``.
    With ``until`` (aware), the data stops there: every event's
    ``event_timestamp`` and ``arrival_timestamp`` and every object's mtime is
    at or before it (an object still buffering at ``until`` is written then),
    so a day that reaches ``until`` holds fewer events. Files that already
    exist under the same names are replaced.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    if events_per_day < 1:
        raise ValueError(f"events_per_day must be at least 1, not {events_per_day}")
    if start < _FIRST_START or start.toordinal() + days > _LAST_END.toordinal():
        raise ValueError(
            f"the days from {start} must lie between {_FIRST_START} and {_LAST_END} "
            "(events spill into the neighbouring days)"
        )
    if until is not None and dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC) > until:
        raise ValueError(f"the days from {start} are in the future: demo data stops at {until:%Y-%m-%dT%H:%M}Z")
    blog_ids = tuple(sites)
    if not blog_ids or any(b < 1 for b in blog_ids) or len(set(blog_ids)) != len(blog_ids):
        raise ValueError(f"sites must be distinct positive blog ids, not {blog_ids!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    until_ms = None if until is None else int(until.timestamp() * 1000)
    return _Generator(out_dir, start, blog_ids, seed, until_ms).run(days, events_per_day)


# --------------------------------------------------------------------------- helpers


def _uuid4(rng: random.Random) -> bytes:
    """A version-4 UUID drawn from ``rng`` (never the OS), as ASCII bytes."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF << 76) | (0x4 << 76)) & ~(0x3 << 62) | (0x2 << 62)
    h = b"%032x" % n
    return b"%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _iso_ms(ms: int) -> bytes:
    """``2022-02-01T00:05:11.400Z``, as Pinpoint writes endpoint dates."""
    d = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return b"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (d.year, d.month, d.day, d.hour, d.minute, d.second, ms % 1000)


def _js(value: str) -> bytes:
    """A JSON string's inside (no quotes); fragments are built from these."""
    return orjson.dumps(value)[1:-1]


def _attrs(pairs: t.Iterable[tuple[str, str]]) -> bytes:
    """``"k":"v","k2":"v2"`` for string attributes (leading comma if any)."""
    return b"".join(b',"%s":"%s"' % (_js(k), _js(v)) for k, v in pairs)


def _cumulative(weights: t.Sequence[float]) -> list[float]:
    total = float(sum(weights))
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc / total)
    out[-1] = 1.0
    return out


def _split_budget(total: int, weights: t.Sequence[float]) -> list[int]:
    """``total`` split by ``weights`` exactly (largest remainder)."""
    wsum = float(sum(weights))
    raw = [total * w / wsum for w in weights]
    parts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


# --------------------------------------------------------------------------- sites


@dataclasses.dataclass
class _Site:
    """One blog: its pages as ready attribute fragments and its own attributes."""

    blog_id: int
    host: str
    #: (attribute fragment without leading comma, url bytes)
    pages: list[tuple[bytes, bytes]]
    #: (key, values, share of sessions carrying it)
    extra: list[tuple[str, tuple[str, ...], float]]
    weight: float

    @classmethod
    def build(cls, blog_id: int, seed: int, weight: float) -> _Site:
        # A string seed is hashed with SHA-512: stable across runs and
        # independent of which other sites are requested.
        rng = random.Random(f"demo:{seed}:site:{blog_id}")
        host = "example.com" if blog_id == 1 else f"site{blog_id}.example.com"
        base = f"https://{host}"
        common = [
            ("blog", base),
            ("network", "https://example.com/"),
            ("networkId", "1"),
            ("host", host),
            ("blogId", str(blog_id)),
        ]
        post_types = [p for p, _ in _POST_TYPES]
        post_cum = _cumulative([w for _, w in _POST_TYPES])
        pages: list[tuple[bytes, bytes]] = []
        home = [("url", base + "/"), ("title", f"Site {blog_id} home"), ("postType", ""), ("postId", "")]
        pages.append(cls._page(common, home, "", ""))
        for _ in range(rng.randint(120, 260)):
            title = f"The {rng.randint(3, 12)} {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_PLACES)}"
            post_id = rng.randint(100, 99_999)
            slug = "-".join(title.lower().split()[1:4]).replace("é", "e").replace("ü", "u")
            post_type = post_types[bisect.bisect_left(post_cum, rng.random())]
            author, author_id = rng.choice(_AUTHORS)
            published = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randint(0, 1_000_000))
            tz = rng.choice(("+00:00", "+01:00"))
            fields = [
                ("url", f"{base}/{post_type}/{post_id}/{slug}/"),
                ("title", title.capitalize()),
                ("postType", post_type),
                ("postId", str(post_id)),
                ("author", author),
                ("authorId", author_id),
                ("date", published.strftime("%Y-%m-%dT%H:%M:00") + tz),
            ]
            pages.append(cls._page(common, fields, "", rng.choice(_HASHES) if rng.random() < 0.05 else ""))
        for term in _SEARCH_TERMS:
            fields = [("url", f"{base}/?s={term.replace(' ', '+')}"), ("title", f"Search: {term}"), ("postType", "")]
            pages.append(cls._page(common, fields, "s=" + term.replace(" ", "+"), ""))
        keys = rng.sample(range(len(_SITE_ATTRIBUTES)), rng.randint(1, 3))
        extra = [(*_SITE_ATTRIBUTES[k], rng.choice((0.3, 0.6, 1.0))) for k in sorted(keys)]
        return cls(blog_id, host, pages, extra, weight)

    @staticmethod
    def _page(
        common: list[tuple[str, str]], fields: list[tuple[str, str]], search: str, hash_: str
    ) -> tuple[bytes, bytes]:
        url = dict(fields)["url"]
        frag = _attrs([*common, *fields, ("search", search), ("hash", hash_)])[1:]
        return frag, _js(url)


# --------------------------------------------------------------------------- firehose


class _Firehose:
    """Buffers events in arrival order and flushes objects the way Firehose
    does: when the buffer is full or its oldest record is old enough."""

    def __init__(self, out_dir: Path, seed: int, until_ms: int | None = None) -> None:
        self.out_dir = out_dir
        self.until_ms = until_ms
        self.rng = random.Random(f"demo:{seed}:firehose")
        self.buf: list[bytes] = []
        self.open_ms = 0
        self.last_ms = 0
        self.target = 0
        self.interval = 0
        self.objects = 0
        self.gzipped = 0
        self.late = 0
        self._dirs: set[Path] = set()

    def add(self, arrival_ms: int, line: bytes) -> None:
        if self.buf and arrival_ms - self.open_ms >= self.interval:
            self.flush(self.open_ms + self.interval)
        if not self.buf:
            self.open_ms = arrival_ms
            self.target = self.rng.randint(*OBJECT_EVENTS)
            self.interval = self.rng.randint(*OBJECT_INTERVAL_MS)
        self.buf.append(line)
        self.last_ms = arrival_ms
        if len(self.buf) >= self.target:
            self.flush(arrival_ms)

    def flush(self, due_ms: int | None = None) -> None:
        """Write the buffer as one object, atomically (temp file, rename)."""
        if not self.buf:
            return
        rng = self.rng
        write_ms = (self.last_ms if due_ms is None else due_ms) + rng.randint(200, 20_000)
        if rng.random() < DELAYED_OBJECT_SHARE:
            write_ms += rng.randint(20 * MINUTE_MS, 150 * MINUTE_MS)
        if self.until_ms is not None:  # still buffering at ``until``: written then, not in the future
            write_ms = min(write_ms, self.until_ms)
        opened = dt.datetime.fromtimestamp(self.open_ms // 1000, dt.UTC)
        folder = self.out_dir / opened.strftime("%Y/%m/%d/%H")
        name = f"{STREAM_NAME}-{opened.strftime('%Y-%m-%d-%H-%M-%S')}-{_uuid4(rng).decode()}"
        data = b"".join(self.buf)
        if rng.random() < GZIP_SHARE:
            data = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
            self.gzipped += 1
        if folder not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)
        path = folder / name
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        write_ns = write_ms * 1_000_000
        os.utime(path, ns=(write_ns, write_ns))
        self.objects += 1
        if write_ms // HOUR_MS > self.open_ms // HOUR_MS:
            self.late += 1
        self.buf = []


# --------------------------------------------------------------------------- sessions


class _Generator:
    def __init__(
        self, out_dir: Path, start: dt.date, blog_ids: tuple[int, ...], seed: int, until_ms: int | None = None
    ) -> None:
        self.rng = random.Random(f"demo:{seed}:sessions")
        #: Nothing dated, arrived or written after this (epoch ms); far future when unset.
        self.until_ms = until_ms if until_ms is not None else 1 << 62
        self.seed = seed
        self.start = start
        self.base_ms = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()) * 1000
        # The first site is the busiest, like a network's main blog.
        weights = [1.0 / (i + 1) for i in range(len(blog_ids))]
        self.sites = [_Site.build(b, seed, w) for b, w in zip(blog_ids, weights, strict=True)]
        self.site_cum = _cumulative(weights)
        self.device_cum = _cumulative(_DEVICE_WEIGHTS)
        self.locale_cum = _cumulative(_LOCALE_WEIGHTS)
        self.devices = [self._device_fragments(d, loc) for d in _DEVICES for loc in _LOCALES]
        self.firehose = _Firehose(out_dir, seed, until_ms)
        self.heap: list[tuple[int, int, bytes]] = []
        self.seq = 0
        self.counts: dict[tuple[int, int], int] = {}
        self.events = 0
        #: Per site, the experiment attribute running today (or none).
        self.today: list[bytes] = []

    @staticmethod
    def _device_fragments(
        device: tuple[str, str, str, str, str, str, str, str], locale: tuple[str, str, str]
    ) -> tuple[bytes, bytes, bytes]:
        """(``"device":{...}``, ``"Demographic":{...}``, endpoint device attributes)."""
        make, model, model_version, platform, platform_version, dev_model, dev_type, dev_make = device
        code, country, language = locale
        dev = orjson.dumps(
            {
                "locale": {"code": code, "country": country, "language": language},
                "make": make,
                "model": model,
                "platform": {"name": platform, "version": platform_version},
            }
        )
        demo = orjson.dumps(
            {
                "Make": make,
                "Model": model,
                "ModelVersion": model_version,
                "Locale": code,
                "AppVersion": "",
                "Platform": platform,
                "PlatformVersion": platform_version,
            }
        )
        attrs = {"DeviceType": [dev_type]}
        if dev_model:
            attrs.update(DeviceModel=[dev_model], DeviceMake=[dev_make])
        return b'"device":' + dev, b'"Demographic":' + demo, orjson.dumps(attrs)[1:-1]

    def run(self, days: int, events_per_day: int) -> DemoSummary:
        for day in range(days):
            self._day(day, events_per_day)
        for arrival, _, line in sorted(self.heap):
            self.firehose.add(arrival, line)
        self.heap = []
        self.firehose.flush()
        counts = {(blog, self.start + dt.timedelta(days=day)): n for (blog, day), n in sorted(self.counts.items())}
        fh = self.firehose
        logger.info("demo data: %s events in %s objects under %s", self.events, fh.objects, fh.out_dir)
        return DemoSummary(counts, fh.objects, self.events, fh.gzipped, fh.late)

    def _day(self, day: int, events_per_day: int) -> None:
        rng = self.rng
        day_ms = self.base_ms + day * DAY_MS
        date = self.start + dt.timedelta(days=day)
        # Some days run an A/B test on a site: a column that exists on those days only.
        self.today = []
        for _site in self.sites:
            if rng.random() < 0.5:
                key, values = rng.choice(_EXPERIMENTS)
                self.today.append(b"|".join([_js(key), *(_js(v) for v in values)]))
            else:
                self.today.append(b"")
        day_metrics = b',"month":%d,"year":%d,"day":%d' % (date.month, date.year, (date.weekday() + 1) % 7)
        first = True
        for hour, budget in enumerate(_split_budget(events_per_day, HOUR_WEIGHTS)):
            plans: list[tuple[int, str]] = []
            while budget > 0:
                kinds = self._plan_kinds()[:budget]
                budget -= len(kinds)
                plans.append((day_ms + hour * HOUR_MS + int(rng.random() * HOUR_MS), kinds))
            plans.sort()
            for start_ms, kinds in plans:
                if start_ms > self.until_ms:
                    return  # later sessions have not happened yet
                # Future sessions' events all arrive at or after this bound, so
                # everything that arrived before it can go to Firehose now.
                self._drain(start_ms)
                self._session(start_ms, kinds, day_ms, day_metrics, backlog=first)
                first = False

    def _plan_kinds(self) -> str:
        """Event kinds of one session: S start, P page view, C click, R scroll, X stop."""
        rng = self.rng
        kinds = ["S"]
        for _ in range(1 + min(int(rng.expovariate(0.4)), 11)):
            kinds.append("P")
            r = rng.random()
            if r < 0.15:
                kinds.append("R")
            elif r < 0.25:
                kinds.append("C")
        if rng.random() < 0.9:  # the rest closed the tab before the stop was sent
            kinds.append("X")
        return "".join(kinds)

    def _drain(self, bound_ms: int) -> None:
        heap, add = self.heap, self.firehose.add
        while heap and heap[0][0] < bound_ms:
            arrival, _, line = heapq.heappop(heap)
            add(arrival, line)

    def _session(self, start_ms: int, kinds: str, day_ms: int, day_metrics: bytes, backlog: bool) -> None:
        rng = self.rng
        site_i = bisect.bisect_left(self.site_cum, rng.random())
        site = self.sites[site_i]
        dev_i = bisect.bisect_left(self.device_cum, rng.random())
        loc_i = bisect.bisect_left(self.locale_cum, rng.random())
        device, demographic, device_attrs = self.devices[dev_i * len(_LOCALES) + loc_i]
        country = _LOCALES[loc_i][1] if rng.random() < 0.9 else rng.choice(_LOCALES)[1]

        # Clocks and connectivity: most clients are right and online.
        skew = 0
        upload_ms = 0
        r = rng.random()
        if r < 0.02:
            skew = rng.randint(MINUTE_MS, 3 * HOUR_MS)  # clock behind
        elif r < 0.03:
            skew = -rng.randint(1000, 2 * MINUTE_MS)  # clock a little ahead
        elif r < 0.04:
            upload_ms = start_ms + rng.randint(5 * MINUTE_MS, 2 * HOUR_MS)  # offline, uploads later
        if backlog:
            # The day's first session is a phone that went offline before
            # midnight and uploads its queue after: dated the previous day.
            upload_ms = start_ms + rng.randint(1000, 10 * MINUTE_MS)
            start_ms = day_ms - rng.randint(2 * MINUTE_MS, 40 * MINUTE_MS)

        session_id = _uuid4(rng)
        client_id = _uuid4(rng)
        returning = rng.random() < 0.55
        sessions = rng.randint(2, 60) if returning else 1
        page_views = rng.randint(sessions, sessions * 4) if returning else 0
        created_ms = start_ms - rng.randint(DAY_MS, 400 * DAY_MS) if returning else start_ms
        logged_in = rng.random() < 0.15

        head = (
            b'"event_version":"3.1","application":{"app_id":"%s","cognito_identity_pool_id":"%s","sdk":{},'
            b'"version_name":""},"client":{"client_id":"%s","cognito_id":"%s"},%s,'
            b'"session":{"session_id":"%s","start_timestamp":%d'
        ) % (_APP_ID.encode(), _POOL_ID.encode(), client_id, _uuid4(rng), device, session_id, start_ms - skew)

        attrs = [("session", session_id.decode()), ("loggedIn", "true" if logged_in else "false")]
        ep_attrs = [("lastSession", [session_id.decode()])]
        if rng.random() < 0.2:
            source, medium, campaign = rng.choice(_UTM)
            attrs += [("qv_utm_source", source), ("qv_utm_medium", medium)]
            if rng.random() < 0.7:
                attrs.append(("qv_utm_campaign", campaign))
            ep_attrs += [("utm_source", [source]), ("utm_medium", [medium]), ("utm_campaign", [campaign])]
        user = b""
        if logged_in:
            user_id = rng.randint(1, 50_000)
            attrs += [
                ("Email", f"reader{user_id}@example.com"),
                ("UserSubscriptionLevel", rng.choice(("Standard", "Premium"))),
            ]
            user = b',"User":{"UserId":"%d"}' % user_id
            ep_attrs.append(("interests", rng.sample(_INTERESTS, rng.randint(1, 2))))
        for name, choices, share in site.extra:
            if rng.random() < share:
                attrs.append((name, rng.choice(choices)))
        session_attrs = _attrs(attrs)[1:]
        experiment = self.today[site_i]
        if experiment and rng.random() < 0.5:
            variant_name, *variants = experiment.split(b"|")
            session_attrs += b',"%s":"%s"' % (variant_name, rng.choice(variants))

        location = b'{"Country":"%s"}' % country.encode()
        if country in _CITIES and rng.random() < 0.4:
            location = b'{"Country":"%s","City":"%s"}' % (country.encode(), _CITIES[country].encode())
        ep_a = (
            b'"EndpointStatus":"ACTIVE","OptOut":"ALL","RequestId":"%s","Location":%s,%s,"EffectiveDate":"%s",'
            b'"Attributes":{%s,%s,"lastPageSession":["'
        ) % (_uuid4(rng), location, demographic, _iso_ms(start_ms), device_attrs, orjson.dumps(dict(ep_attrs))[1:-1])
        ep_b = b'"]},"Metrics":{"sessions":%d.0,"pageViews":' % sessions
        ep_c = b'.0},"ApplicationId":"%s","Id":"%s","CohortId":"%d","CreationDate":"%s"%s' % (
            _APP_ID.encode(),
            client_id,
            rng.randint(0, 99),
            _iso_ms(created_ms),
            user,
        )

        # Walk the session: true times advance; the client stamps them with
        # its own clock (skew); arrival follows the true time.
        pages, n_pages = site.pages, len(site.pages)
        external = rng.choice(_REFERERS).encode()
        referer = external
        page, url = pages[int(n_pages * rng.random() ** 2)]
        page_session = _uuid4(rng)
        page_ms = now = start_ms
        depth = 0
        seen_page = False
        base_ms, counts, blog, until = self.base_ms, self.counts, site.blog_id, self.until_ms
        heap, push, random_ = self.heap, heapq.heappush, rng.random  # random_() beats randint() in this loop
        for i, kind in enumerate(kinds):
            extra_attrs = extra_metrics = stop = b""
            if kind == "S":
                now += 1 + int(random_() * 10)
                event, elapsed = _EV_START, now - page_ms
            elif kind == "P":
                if seen_page:
                    now += min(int(rng.expovariate(1 / 40_000)) + 3000, 300_000)
                    referer = url
                    page, url = pages[int(n_pages * random_() ** 2)]
                    page_session = _uuid4(rng)
                    page_views += 1
                else:
                    now += 5 + int(random_() * 36)
                    page_views += 1
                seen_page = True
                page_ms, depth = now, 0
                event, elapsed = _EV_PAGE, 1 + int(random_() * 40)
            elif kind == "R":
                now += 1000 + int(random_() * 29_000)
                depth = min(100, depth + 10 + int(random_() * 50))
                event, elapsed = _EV_SCROLL, now - page_ms
                extra_metrics = b',"scrollVelocity":%.2f' % (random_() * 4)
            elif kind == "C":
                now += 1000 + int(random_() * 29_000)
                event, elapsed = _EV_CLICK, now - page_ms
                extra_attrs = b',"elementId":"cta-%d","linkUrl":"%s"' % (1 + int(random_() * 9), pages[0][1])
                extra_metrics = b',"clickX":%d,"clickY":%d' % (int(random_() * 1400), int(random_() * 3000))
            else:
                now += 500 + int(random_() * 59_500)
                event, elapsed = _EV_STOP, now - page_ms
                stop = b',"stop_timestamp":%d' % (now - skew)
                extra_metrics = b',"engagedTime":%.1f' % ((now - start_ms) / 1000 * random_())
            ts = now - skew
            arrival = now + 40 + int(2500 * random_() ** 3)
            if upload_ms and arrival < upload_ms:
                arrival = upload_ms + 7 * i
            elif random_() < 0.003:  # one request stuck in a retry loop
                arrival += MINUTE_MS + int(random_() * 89 * MINUTE_MS)
            line = _LINE % (
                event,
                ts,
                arrival,
                head,
                stop,
                page,
                referer,
                page_session,
                session_attrs,
                extra_attrs,
                elapsed,
                depth,
                depth,
                (ts // HOUR_MS) % 24,
                extra_metrics,
                day_metrics,
                ep_a,
                page_session,
                ep_b,
                page_views,
                ep_c,
            )
            if ts > until or arrival > until:
                continue  # not sent yet, or not arrived yet
            site_day = (blog, (ts - base_ms) // DAY_MS)
            counts[site_day] = counts.get(site_day, 0) + 1
            self.seq += 1
            self.events += 1
            push(heap, (arrival, self.seq, line))


# --------------------------------------------------------------------------- CLI


def _parse_start(ctx: click.Context, param: click.Parameter, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: expected YYYY-MM-DD, e.g. 2026-11-20") from None


def _at_least_one(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value < 1:
        raise click.BadParameter(f"{value} is too small: expected a whole number of at least 1")
    return value


def _parse_sites(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise click.BadParameter(f"{value!r} is not a list of blog ids: expected e.g. 1,2,3")
    ids = tuple(int(p) for p in parts)
    if len(set(ids)) != len(ids):
        raise click.BadParameter(f"{value!r} names a blog id twice: expected distinct ids, e.g. 1,2,3")
    return ids


def _default_out() -> Path:
    """The configured local source directory; S3 needs an explicit ``--out``."""
    from flask import current_app
    from flask.cli import ScriptInfo

    app = current_app._get_current_object() if current_app else None  # type: ignore[attr-defined]
    if app is None:
        app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    settings: config.Settings = app.config[config.APP_CONFIG_KEY]
    source = settings.source
    if source.kind != "local" or source.path is None:
        raise click.ClickException(
            f"the configured source is {source.describe()}: demo-data writes local files, give --out DIR "
            "(and copy them to the bucket, e.g. aws s3 sync DIR s3://bucket/prefix)"
        )
    return source.path


@click.command("demo-data", cls=OneLineCommand)
@click.option(
    "--out",
    type=click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path),
    default=None,
    help="Directory to write into (default: the configured local ANALYTICS_SOURCE).",
)
@click.option("--start", required=True, metavar="YYYY-MM-DD", callback=_parse_start, help="First UTC day, YYYY-MM-DD.")
@click.option("--days", type=int, default=1, show_default=True, callback=_at_least_one, help="Number of days.")
@click.option(
    "--events-per-day", type=int, required=True, callback=_at_least_one, help="Events generated for each day."
)
@click.option(
    "--sites", default="1,2,3", show_default=True, metavar="IDS", callback=_parse_sites, help="Blog ids, e.g. 1,2."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same files.")
def demo_data_command(
    out: Path | None, start: dt.date, days: int, events_per_day: int, sites: tuple[int, ...], seed: int
) -> None:
    """Write realistic Pinpoint events in Firehose layout (some gzipped, some
    late, some dated the day before their folder) and print what was written.
    Days reaching the present stop at the current time: nothing in the future."""
    out_dir = out if out is not None else _default_out()
    began = time.perf_counter()
    try:
        summary = generate(out_dir, start, days, events_per_day, sites, seed, until=dt.datetime.now(dt.UTC))
    except OSError as exc:
        raise click.ClickException(f"cannot write demo data to {out_dir}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - began
    click.echo(format_table(summary))
    click.echo(
        f"wrote {summary.events} events in {summary.objects} objects ({summary.gzipped} gzipped, "
        f"{summary.late} under an earlier hour than written) to {out_dir} in {seconds:.1f}s"
    )


def format_table(summary: DemoSummary) -> str:
    """Events per site and UTC day of ``event_timestamp``, then per site and in all."""
    rows = [("site", "UTC day", "events")]
    per_site: dict[int, int] = {}
    for (blog, day), n in sorted(summary.counts.items()):
        rows.append((str(blog), day.isoformat(), str(n)))
        per_site[blog] = per_site.get(blog, 0) + n
    for blog, n in per_site.items():
        rows.append((str(blog), "all days", str(n)))
    rows.append(("all", "all days", str(summary.events)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows)
