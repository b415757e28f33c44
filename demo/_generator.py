"""Demo sessions: who visits which site when, the events of each session, and
``generate``, which writes them through ``_firehose`` (see the package docstring)."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import heapq
import logging
import random
import typing as t
from pathlib import Path

import orjson

from events.layout import DAY_MS, HOUR_MS

from ._firehose import MINUTE_MS, Firehose
from ._vocabulary import (
    APP_ID,
    CITIES,
    DEVICE_WEIGHTS,
    DEVICES,
    EV_CLICK,
    EV_PAGE,
    EV_SCROLL,
    EV_START,
    EV_STOP,
    EXPERIMENTS,
    HOUR_WEIGHTS,
    INTERESTS,
    LINE,
    LOCALE_WEIGHTS,
    LOCALES,
    POOL_ID,
    REFERERS,
    UTM,
    Site,
    attr_fragments,
    cumulative,
    iso_ms,
    js,
    split_budget,
    uuid4,
)

logger = logging.getLogger(__name__)


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
        self.sites = [Site.build(b, seed, w) for b, w in zip(blog_ids, weights, strict=True)]
        self.site_cum = cumulative(weights)
        self.device_cum = cumulative(DEVICE_WEIGHTS)
        self.locale_cum = cumulative(LOCALE_WEIGHTS)
        self.devices = [self._device_fragments(d, loc) for d in DEVICES for loc in LOCALES]
        self.firehose = Firehose(out_dir, seed, until_ms)
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
                key, values = rng.choice(EXPERIMENTS)
                self.today.append(b"|".join([js(key), *(js(v) for v in values)]))
            else:
                self.today.append(b"")
        day_metrics = b',"month":%d,"year":%d,"day":%d' % (date.month, date.year, (date.weekday() + 1) % 7)
        first = True
        for hour, budget in enumerate(split_budget(events_per_day, HOUR_WEIGHTS)):
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
        device, demographic, device_attrs = self.devices[dev_i * len(LOCALES) + loc_i]
        country = LOCALES[loc_i][1] if rng.random() < 0.9 else rng.choice(LOCALES)[1]

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

        session_id = uuid4(rng)
        client_id = uuid4(rng)
        returning = rng.random() < 0.55
        sessions = rng.randint(2, 60) if returning else 1
        page_views = rng.randint(sessions, sessions * 4) if returning else 0
        created_ms = start_ms - rng.randint(DAY_MS, 400 * DAY_MS) if returning else start_ms
        logged_in = rng.random() < 0.15

        head = (
            b'"event_version":"3.1","application":{"app_id":"%s","cognito_identity_pool_id":"%s","sdk":{},'
            b'"version_name":""},"client":{"client_id":"%s","cognito_id":"%s"},%s,'
            b'"session":{"session_id":"%s","start_timestamp":%d'
        ) % (APP_ID.encode(), POOL_ID.encode(), client_id, uuid4(rng), device, session_id, start_ms - skew)

        attrs = [("session", session_id.decode()), ("loggedIn", "true" if logged_in else "false")]
        ep_attrs = [("lastSession", [session_id.decode()])]
        if rng.random() < 0.2:
            source, medium, campaign = rng.choice(UTM)
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
            ep_attrs.append(("interests", rng.sample(INTERESTS, rng.randint(1, 2))))
        for name, choices, share in site.extra:
            if rng.random() < share:
                attrs.append((name, rng.choice(choices)))
        session_attrs = attr_fragments(attrs)[1:]
        experiment = self.today[site_i]
        if experiment and rng.random() < 0.5:
            variant_name, *variants = experiment.split(b"|")
            session_attrs += b',"%s":"%s"' % (variant_name, rng.choice(variants))

        location = b'{"Country":"%s"}' % country.encode()
        if country in CITIES and rng.random() < 0.4:
            location = b'{"Country":"%s","City":"%s"}' % (country.encode(), CITIES[country].encode())
        ep_a = (
            b'"EndpointStatus":"ACTIVE","OptOut":"ALL","RequestId":"%s","Location":%s,%s,"EffectiveDate":"%s",'
            b'"Attributes":{%s,%s,"lastPageSession":["'
        ) % (uuid4(rng), location, demographic, iso_ms(start_ms), device_attrs, orjson.dumps(dict(ep_attrs))[1:-1])
        ep_b = b'"]},"Metrics":{"sessions":%d.0,"pageViews":' % sessions
        ep_c = b'.0},"ApplicationId":"%s","Id":"%s","CohortId":"%d","CreationDate":"%s"%s' % (
            APP_ID.encode(),
            client_id,
            rng.randint(0, 99),
            iso_ms(created_ms),
            user,
        )

        # Walk the session: true times advance; the client stamps them with
        # its own clock (skew); arrival follows the true time.
        pages, n_pages = site.pages, len(site.pages)
        external = rng.choice(REFERERS).encode()
        referer = external
        page, url = pages[int(n_pages * rng.random() ** 2)]
        page_session = uuid4(rng)
        page_ms = now = start_ms
        depth = 0
        seen_page = False
        base_ms, counts, blog, until = self.base_ms, self.counts, site.blog_id, self.until_ms
        heap, push, random_ = self.heap, heapq.heappush, rng.random  # random_() beats randint() in this loop
        for i, kind in enumerate(kinds):
            extra_attrs = extra_metrics = stop = b""
            if kind == "S":
                now += 1 + int(random_() * 10)
                event, elapsed = EV_START, now - page_ms
            elif kind == "P":
                if seen_page:
                    now += min(int(rng.expovariate(1 / 40_000)) + 3000, 300_000)
                    referer = url
                    page, url = pages[int(n_pages * random_() ** 2)]
                    page_session = uuid4(rng)
                    page_views += 1
                else:
                    now += 5 + int(random_() * 36)
                    page_views += 1
                seen_page = True
                page_ms, depth = now, 0
                event, elapsed = EV_PAGE, 1 + int(random_() * 40)
            elif kind == "R":
                now += 1000 + int(random_() * 29_000)
                depth = min(100, depth + 10 + int(random_() * 50))
                event, elapsed = EV_SCROLL, now - page_ms
                extra_metrics = b',"scrollVelocity":%.2f' % (random_() * 4)
            elif kind == "C":
                now += 1000 + int(random_() * 29_000)
                event, elapsed = EV_CLICK, now - page_ms
                extra_attrs = b',"elementId":"cta-%d","linkUrl":"%s"' % (1 + int(random_() * 9), pages[0][1])
                extra_metrics = b',"clickX":%d,"clickY":%d' % (int(random_() * 1400), int(random_() * 3000))
            else:
                now += 500 + int(random_() * 59_500)
                event, elapsed = EV_STOP, now - page_ms
                stop = b',"stop_timestamp":%d' % (now - skew)
                extra_metrics = b',"engagedTime":%.1f' % ((now - start_ms) / 1000 * random_())
            ts = now - skew
            arrival = now + 40 + int(2500 * random_() ** 3)
            if upload_ms and arrival < upload_ms:
                arrival = upload_ms + 7 * i
            elif random_() < 0.003:  # one request stuck in a retry loop
                arrival += MINUTE_MS + int(random_() * 89 * MINUTE_MS)
            line = LINE % (
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
