"""What demo events are made of: devices, locales, referrers, campaigns,
sites and their pages, and the one-line template of an event, as pre-built
byte fragments (see the package docstring: one ``%``-format per event)."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import random
import typing as t

import orjson

#: Relative traffic per UTC hour: quiet nights, busy days.
HOUR_WEIGHTS: tuple[float, ...] = (
    2.0, 1.5, 1.2, 1.0, 1.0, 1.3, 2.0, 3.5, 5.0, 6.0, 6.5, 7.0,
    7.0, 7.0, 6.8, 6.5, 6.2, 6.0, 5.8, 5.5, 5.0, 4.5, 3.5, 2.5,
)  # fmt: skip

_AWS_ACCOUNT = "123456789012"
APP_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
POOL_ID = "eu-west-1:5d1c8a3e-7f2b-4c6d-9e0a-1b2c3d4e5f60"

# (make, model, model version, platform, platform version, device model, device type, device make)
DEVICES: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
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
DEVICE_WEIGHTS = (14, 6, 18, 8, 12, 5, 6, 7, 5, 3)
# (locale code, country, language)
LOCALES: tuple[tuple[str, str, str], ...] = (
    ("en_gb", "GB", "en"),
    ("en_us", "US", "en"),
    ("de_de", "DE", "de"),
    ("fr_fr", "FR", "fr"),
    ("es_es", "ES", "es"),
    ("en_au", "AU", "en"),
    ("ro_ro", "RO", "ro"),
)
LOCALE_WEIGHTS = (30, 35, 10, 8, 7, 6, 4)
CITIES = {"GB": "London", "US": "New York", "DE": "Berlin", "FR": "Paris", "ES": "Madrid", "AU": "Sydney"}
REFERERS = (
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
UTM = (
    ("newsletter", "email", "weekly-digest"),
    ("newsletter", "email", "breaking-news"),
    ("twitter", "social", "launch"),
    ("facebook", "social", "winter-sale"),
    ("google", "cpc", "brand-search"),
)
INTERESTS = ("sport", "tech", "travel", "food", "finance", "culture")
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
SITE_ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sector_17", ("office", "retail", "industrial")),
    ("IsExclusive", ("true", "false")),
    ("edition", ("uk", "us", "intl")),
    ("paywall", ("metered", "free", "hard")),
    ("contentGroup", ("news", "reviews", "guides")),
    ("theme", ("light", "dark")),
)
#: Experiments that run on some days only, so a column exists on some days only.
EXPERIMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ab_homepage_hero", ("A", "B")),
    ("ab_paywall_copy", ("control", "variant")),
    ("ab_newsletter_modal", ("off", "on")),
)

EV_START = b"_session.start"
EV_PAGE = b"pageView"
EV_CLICK = b"click"
EV_SCROLL = b"scroll"
EV_STOP = b"_session.stop"

#: One event line. Session-constant parts arrive pre-joined; see _Session.
LINE = (
    b'{"event_type":"%s","event_timestamp":%d,"arrival_timestamp":%d,%s%s},'
    b'"attributes":{%s,"referer":"%s","pageSession":"%s",%s%s},'
    b'"metrics":{"elapsed":%d,"scrollDepthNow":%d,"scrollDepthMax":%d,"hour":%d%s%s},'
    b'"endpoint":{%s%s%s%d%s},"awsAccountId":"' + _AWS_ACCOUNT.encode() + b'"}\n'
)


# --------------------------------------------------------------------------- helpers


def uuid4(rng: random.Random) -> bytes:
    """A version-4 UUID drawn from ``rng`` (never the OS), as ASCII bytes."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF << 76) | (0x4 << 76)) & ~(0x3 << 62) | (0x2 << 62)
    h = b"%032x" % n
    return b"%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def iso_ms(ms: int) -> bytes:
    """``2022-02-01T00:05:11.400Z``, as Pinpoint writes endpoint dates."""
    d = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return b"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (d.year, d.month, d.day, d.hour, d.minute, d.second, ms % 1000)


def js(value: str) -> bytes:
    """A JSON string's inside (no quotes); fragments are built from these."""
    return orjson.dumps(value)[1:-1]


def attr_fragments(pairs: t.Iterable[tuple[str, str]]) -> bytes:
    """``"k":"v","k2":"v2"`` for string attributes (leading comma if any)."""
    return b"".join(b',"%s":"%s"' % (js(k), js(v)) for k, v in pairs)


def cumulative(weights: t.Sequence[float]) -> list[float]:
    total = float(sum(weights))
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc / total)
    out[-1] = 1.0
    return out


def split_budget(total: int, weights: t.Sequence[float]) -> list[int]:
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
class Site:
    """One blog: its pages as ready attribute fragments and its own attributes."""

    blog_id: int
    host: str
    #: (attribute fragment without leading comma, url bytes)
    pages: list[tuple[bytes, bytes]]
    #: (key, values, share of sessions carrying it)
    extra: list[tuple[str, tuple[str, ...], float]]
    weight: float

    @classmethod
    def build(cls, blog_id: int, seed: int, weight: float) -> Site:
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
        post_cum = cumulative([w for _, w in _POST_TYPES])
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
        keys = rng.sample(range(len(SITE_ATTRIBUTES)), rng.randint(1, 3))
        extra = [(*SITE_ATTRIBUTES[k], rng.choice((0.3, 0.6, 1.0))) for k in sorted(keys)]
        return cls(blog_id, host, pages, extra, weight)

    @staticmethod
    def _page(
        common: list[tuple[str, str]], fields: list[tuple[str, str]], search: str, hash_: str
    ) -> tuple[bytes, bytes]:
        url = dict(fields)["url"]
        frag = attr_fragments([*common, *fields, ("search", search), ("hash", hash_)])[1:]
        return frag, js(url)
