"""The Segment destination: the original's out-of-the-box integration
(``altis-analytics-destination-segment``), faithful where it worked and fixed
where it lost data. Load it with ``ANALYTICS_INTEGRATIONS=integrations.segment``.

One module (over 400 lines) because its public names are the PHP package's
functions, which integrations call (``process``, ``format``, ``prepare``, ``send``,
``register_segment_group_*``); the mapping, PHP JSON and HTTP parts live in
private modules beside it.

Like the PHP package it hooks ``altis.analytics.export.data.process`` when a
write key is set, and turns each raw event into an ``identify`` call, one
``group`` call per registered group map whose ``groupId`` is non-empty, then
a ``page`` (``event_type`` ``pageView``) or ``track`` call, through the
original's mapping trees (``_segment_map``). Public names are the PHP
functions': ``process``, ``format``, ``prepare``, ``send``, ``log``,
``register_segment_group_map``, ``register_segment_group_field``,
``get_segment_api_write_key``, ``get_segment_call_type_map``, and the map
callbacks ``milliseconds_to_iso8601`` and ``hash_event``.

Deliberate differences from the original (README "Segment"), each pinned by
a test in ``tests/test_segment*.py``:

1. ``register_segment_group_map`` appends to the group list (the original's
   filter returned the map itself, so no group call was ever sent through it).
2. ``messageId`` is unique per call and stable across redeliveries: the
   page/track call keeps the original's md5 of PHP's ``json_encode`` of the
   event (``_segment_php``); identify and group ids are derived from it.
3. ``timestamp``/``receivedAt`` keep milliseconds, in UTC (``...T00:05:11.400Z``).
4. At-least-once: ``process`` raises when a batch is still undelivered after
   the retries, so the export keeps the data and retries later. A 400 is
   logged (size, first call) and not retried, and blocks nothing.
5. Segment's limits hold: a body is at most 500 KB, a call at most 32 KB; a
   larger call is dropped, counted and logged, never sent to fail its batch.
6. Parallel requests over a pooled keep-alive client, time-outs, optional gzip.
7. The endpoint comes from ``SEGMENT_API_URL``.
8. ``context.page.referrer`` reads ``attributes.referer`` (what events carry),
   falling back to ``attributes.referrer`` (all the original read).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import gzip
import hashlib
import logging
import os
import typing as t
import urllib.parse

import httpx
import orjson

import config
from hooks import add_action, add_filter, apply_filters, do_action

from . import _env
from ._segment_codegen import compile_mapper, pure_callback
from ._segment_http import RetryPolicy, Sender, retryable
from ._segment_map import Mapper, MappingError, php_empty
from ._segment_php import md5_hex, php_json_encode

logger = logging.getLogger(__name__)

#: The export's hook (``jobs.export_hooks.DATA_PROCESS``; integrations sit below ``jobs``).
DATA_PROCESS = "altis.analytics.export.data.process"
WRITE_KEY_FILTER = "altis.analytics.segment.api_write_key"
#: The original's spelling (``analytic``), applied after the correct one.
WRITE_KEY_FILTER_ORIGINAL = "altis.analytic.segment.api_write_key"
MAPPING = "altis.analytics.segment.mapping"
FORMATTED_DATA = "altis.analytics.segment.formatted_data"
GROUPS = "altis.analytics.segment.groups"
REQUEST_SUCCESS = "altis.analytics.segment.request_success"
REQUEST_FAILURE = "altis.analytics.segment.request_failure"
AFTER_SEND = "altis.analytics.segment.after_send"

SEGMENT_API_BATCH_URL = "https://api.segment.io/v1/batch"
#: Segment's HTTP API limits: a batch request body, and one call in it.
MAX_BATCH_BYTES = 500 * 1024
MAX_CALL_BYTES = 32 * 1024
_BATCH_HEAD = b'{"batch":['
_BATCH_TAIL = b"]}"
#: Statuses that retrying cannot fix and that the next export run could not
#: fix either: the batch is logged and given up (it is the data's fault).
PERMANENT_STATUSES = frozenset({400, 413})

Call: t.TypeAlias = dict[str, t.Any]


class SegmentDeliveryError(RuntimeError):
    """Some batches were still undelivered after the retries; the export
    keeps its batch and retries later (Segment deduplicates by messageId)."""


# --------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class SegmentSettings:
    """The ``SEGMENT_*`` environment variables, validated (README "Segment")."""

    write_key: str = ""
    api_url: str = SEGMENT_API_BATCH_URL
    gzip: bool = False
    timeout: float = 30.0
    concurrency: int = 4
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)

    @classmethod
    def from_env(cls, environ: t.Mapping[str, str] | None = None) -> SegmentSettings:
        env = os.environ if environ is None else environ
        url = _env.text("SEGMENT_API_URL", SEGMENT_API_BATCH_URL, env) or SEGMENT_API_BATCH_URL
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise config.ConfigError(
                f"SEGMENT_API_URL is {url!r}: expected an http(s) URL, e.g. {SEGMENT_API_BATCH_URL} "
                "(EU workspaces: https://events.eu1.segmentapis.com/v1/batch)"
            )
        base = _env.number("SEGMENT_RETRY_BASE", 1, 0.001, 3600, env)
        cap = _env.number("SEGMENT_RETRY_MAX", 30, 0.001, 86400, env)
        if cap < base:
            raise config.ConfigError(f"SEGMENT_RETRY_MAX ({cap}) must be at least SEGMENT_RETRY_BASE ({base})")
        return cls(
            write_key=_env.text("SEGMENT_API_WRITE_KEY", "", env),
            api_url=url,
            gzip=_env.flag("SEGMENT_GZIP", False, env),
            timeout=_env.number("SEGMENT_TIMEOUT", 30, 0.1, 600, env),
            concurrency=_env.whole("SEGMENT_CONCURRENCY", 4, 1, 32, env),
            retry=RetryPolicy(attempts=_env.whole("SEGMENT_RETRY_ATTEMPTS", 5, 1, 20, env), base=base, cap=cap),
        )


settings = SegmentSettings.from_env()
_sender = Sender(
    settings.api_url,
    {"Content-Type": "application/json"},
    timeout=settings.timeout,
    concurrency=settings.concurrency,
    policy=settings.retry,
)


def get_segment_api_write_key() -> str:
    """``SEGMENT_API_WRITE_KEY`` through ``altis.analytics.segment.api_write_key``
    and then the original's ``altis.analytic.segment.api_write_key``."""
    key = apply_filters(WRITE_KEY_FILTER_ORIGINAL, apply_filters(WRITE_KEY_FILTER, settings.write_key))
    return key if isinstance(key, str) else ""


# --------------------------------------------------------------------------- map callbacks


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pure_callback
def milliseconds_to_iso8601(timestamp: t.Any) -> str | None:
    """Epoch milliseconds as ISO 8601 in UTC with milliseconds:
    ``1643673911400`` -> ``"2022-02-01T00:05:11.400Z"`` (the original's
    ``date('c')`` dropped the milliseconds). Numeric strings and floats are
    read as PHP's ``int`` parameter reads them (truncated); anything else, or a
    date outside years 1-9999, gives ``None`` and the field is left out."""
    if type(timestamp) is int:
        return _iso(timestamp)
    if isinstance(timestamp, bool):
        return None
    try:
        return _iso(int(float(timestamp)) if isinstance(timestamp, (str, float)) else int(timestamp))
    except (TypeError, ValueError, OverflowError):
        return None


@functools.lru_cache(maxsize=8192)  # each event's times are read by two or three calls
def _iso(ms: int) -> str | None:
    # Floor division, as timedelta splits a negative ms (-1 -> 1969-12-31T23:59:59.999Z).
    days, ms_of_day = divmod(ms, 86_400_000)
    day = _iso_day(days)
    if day is None:
        return None
    seconds, milliseconds = divmod(ms_of_day, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milliseconds:03d}Z"


@functools.lru_cache(maxsize=1024)  # an export's events span a few days at most
def _iso_day(days: int) -> str | None:
    """``YYYY-MM-DD`` of a day since the epoch; ``None`` outside years 1000-9999."""
    try:
        when = _EPOCH + dt.timedelta(days=days)
    except OverflowError:
        return None
    return when.strftime("%Y-%m-%d") if when.year >= 1000 else None


_last_hash: tuple[object, str] = (None, "")


@pure_callback
def hash_event(event: t.Any) -> str:
    """md5 of PHP 8's ``json_encode`` of the decoded event: the original's
    ``messageId``, kept for the page/track call (``_segment_php``)."""
    global _last_hash
    last = _last_hash  # one read: another thread may replace it
    if last[0] is event:  # identify, group and track of one event share it
        return last[1]
    digest = md5_hex(event)
    _last_hash = (event, digest)
    return digest


def _derived_id(event: t.Any, *parts: str) -> str:
    return hashlib.md5("-".join((hash_event(event), *parts)).encode()).hexdigest()


@pure_callback
def identify_message_id(event: t.Any) -> str:
    """The identify call's ``messageId``: md5 of ``<hash_event>-identify``,
    distinct from the track/page call's and the same on every redelivery."""
    return _derived_id(event, "identify")


def group_message_id(event: t.Any, index: int, group_id: t.Any) -> str:
    """A group call's ``messageId``: md5 of ``<hash_event>-group-<n>-<groupId as JSON>``."""
    return _derived_id(event, "group", str(index), php_json_encode(group_id))


@pure_callback
def page_referrer(event: t.Any) -> t.Any:
    """``attributes.referer`` (what events carry), else ``attributes.referrer``
    (the only one the original read, so it never sent a referrer)."""
    attributes = event.get("attributes") if type(event) is dict else None
    if type(attributes) is not dict:
        return None
    referer = attributes.get("referer")
    return attributes.get("referrer") if referer is None else referer


# --------------------------------------------------------------------------- mapping


def get_segment_call_type_map(call_type: str) -> dict[str, t.Any]:
    """The mapping tree of one call type (``identify``, ``page``, ``track``,
    ``group``), as the latest original release has it (with the differences
    above), passed through ``altis.analytics.segment.mapping`` (map, type).
    A fresh dict each call: a filter may change it in place."""
    here = __name__
    mapping: dict[str, t.Any] = {
        "type": f"{call_type}|static",
        "anonymousId": "endpoint.Id",
        "timestamp": f"event_timestamp|{here}.milliseconds_to_iso8601",
        "receivedAt": f"arrival_timestamp|{here}.milliseconds_to_iso8601",
        "userId": "endpoint.User.UserId",
        "messageId": f"|{here}.hash_event",
        "context": {
            "active": "endpoint.EndpointStatus",
            "app": {"name": "", "build": "", "version": "endpoint.Demographic.AppVersion"},
            "campaign": {
                "name": "attributes.qv_utm_campaign",
                "source": "attributes.qv_utm_source",
                "medium": "attributes.qv_utm_medium",
                "term": "attributes.qv_utm_term",
                "content": "attributes.qv_utm_content",
            },
            "device": {
                "id": "",
                "advertisingId": "",
                "manufacturer": "endpoint.Attributes.DeviceMake.0",
                "model": "endpoint.Attributes.DeviceModel.0",
                "name": "",
                "type": "endpoint.Attributes.DeviceType.0",
                "version": "",
            },
            "ip": "",
            "library": {"name": "", "version": ""},
            "locale": "endpoint.Demographic.Locale",
            "location": {
                "country": "endpoint.Location.Country",
                "city": "endpoint.Location.City",
                "latitude": "endpoint.Location.Latitude",
                "longitude": "endpoint.Location.Longitude",
            },
            "os": {"name": "endpoint.Demographic.Platform", "version": "endpoint.Demographic.PlatformVersion"},
            "page": {
                "path": "",
                "referrer": f"|{here}.page_referrer",
                "search": "attributes.search",
                "title": "attributes.title",
                "url": "attributes.url",
                "keywords": [],
            },
            "referrer": {"type": "", "name": "", "url": "", "link": ""},
            "screen": {"density": "", "height": "", "width": ""},
            "timezone": "endpoint.Demographic.Timezone",
            "groupId": "",  # groups are their own calls
            "traits": ["endpoint.Attributes", "endpoint.User.UserAttributes", "endpoint.Metrics"],
            "userAgent": "",
        },
    }
    context = mapping["context"]
    if call_type == "identify":
        type_mapping = {
            **mapping,
            "context": None,
            "traits": list(context["traits"]),
            "messageId": f"|{here}.identify_message_id",  # difference 2: not the track call's id
        }
    elif call_type == "page":
        type_mapping = {**mapping, "name": context["page"]["title"], "properties": dict(context["page"])}
    elif call_type == "track":
        type_mapping = {**mapping, "event": "event_type", "properties": ["attributes", "metrics"]}
    elif call_type == "group":
        # The messageId is added once groupId is known (group_message_id).
        type_mapping = {**mapping, "context": None, "messageId": None}
    else:
        type_mapping = mapping
    return t.cast(dict[str, t.Any], apply_filters(MAPPING, type_mapping, call_type))


class _Transformer:
    """The original's ``Segment_Transformer``: the maps of a batch, compiled
    once (filters are applied once per batch, not per event)."""

    def __init__(self) -> None:
        self.identify = compile_mapper(get_segment_call_type_map("identify"), "identify")
        self.page = compile_mapper(get_segment_call_type_map("page"), "page")
        self.track = compile_mapper(get_segment_call_type_map("track"), "track")
        self.groups: list[Mapper] = []
        groups = apply_filters(GROUPS, [])
        if isinstance(groups, dict):  # one map, as the original's own filter returned
            logger.warning("%s returned one map instead of a list of maps; using it as the only group map", GROUPS)
            groups = [groups]
        if not isinstance(groups, (list, tuple)):
            raise MappingError(f"{GROUPS} must return a list of group maps, got {type(groups).__name__}")
        for index, group_map in enumerate(groups):
            if not isinstance(group_map, dict):
                raise MappingError(f"group map {index} from {GROUPS} must be a dict, got {type(group_map).__name__}")
            merged = {**get_segment_call_type_map("group"), **group_map}  # array_merge($default_map, $group_map)
            self.groups.append(compile_mapper(merged, f"group {index}"))

    def transform(self, event: dict[str, t.Any]) -> list[Call]:
        calls = [self.identify(event)]
        for index, group in enumerate(self.groups):
            call = group(event)
            group_id = call.get("groupId")
            if php_empty(group_id):  # the original keeps a group only when its groupId is non-empty
                continue
            if "messageId" not in call:
                call["messageId"] = group_message_id(event, index, group_id)
            calls.append(call)
        calls.append((self.page if event.get("event_type") == "pageView" else self.track)(event))
        return calls


# --------------------------------------------------------------------------- the four steps


def process(data: str) -> None:
    """The ``altis.analytics.export.data.process`` callback: format, prepare,
    send, then ``altis.analytics.segment.after_send`` (results, batches,
    events). Raises ``SegmentDeliveryError`` when a batch is still undelivered
    after the retries (the export then keeps the data and retries later);
    a batch Segment refused as invalid (400) is logged and given up."""
    events = format(data)
    batches = prepare(events)
    results = send(batches)
    do_action(AFTER_SEND, results, batches, events)
    undelivered = [result for result in results if not _final(result)]
    if undelivered:
        raise SegmentDeliveryError(
            f"{len(undelivered)} of {len(batches)} Segment batch(es) undelivered after "
            f"{settings.retry.attempts} tries (last: {_describe(undelivered[-1])})"
        )


def format(data: str) -> list[list[Call]]:
    """NDJSON of raw events -> per event, its list of Segment calls, through
    ``altis.analytics.segment.formatted_data``. Blank lines are skipped, as
    are lines that are not a JSON object (the original's ``array_filter``
    dropped what ``json_decode`` could not read), counted in one log line.
    Raises ``MappingError`` for a map that cannot be compiled."""
    loads = orjson.loads
    formatted: list[list[Call]] = []
    skipped = 0
    with _gc_paused():
        transformer = _Transformer()
        for line in data.split("\n"):
            if not line or line.isspace():
                continue
            try:
                event = loads(line)
            except orjson.JSONDecodeError:
                skipped += 1
                continue
            if type(event) is not dict or not event:
                skipped += 1
                continue
            formatted.append(transformer.transform(event))
    if skipped:
        logger.warning("Segment: skipped %d line(s) that are not JSON objects", skipped)
    return t.cast(list[list[Call]], apply_filters(FORMATTED_DATA, formatted))


@contextlib.contextmanager
def _gc_paused() -> t.Iterator[None]:
    """The cyclic garbage collector paused while a batch is mapped, then
    restored as it was. Why: the calls kept for a whole batch are tens of
    thousands of containers, and each collection the allocations trigger walks
    them again (a tenth of ``format``'s CPU time over the bench's batches);
    the events and calls are trees, so nothing waits for the collector, and
    cycles a filter or callback makes meanwhile are collected after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare(data: t.Sequence[t.Sequence[Call]]) -> list[str]:
    """Per-event lists of calls -> JSON bodies ``{"batch":[...]}`` of at most
    500 KB each (``MAX_BATCH_BYTES``), an event's calls kept in one body when
    they fit. A call over 32 KB (``MAX_CALL_BYTES``) is dropped and logged
    with its type, messageId, anonymousId and size (Segment would refuse the
    whole request). Raises ``TypeError`` for a value JSON cannot hold."""
    dumps = orjson.dumps
    room = MAX_BATCH_BYTES - len(_BATCH_HEAD) - len(_BATCH_TAIL)
    bodies: list[bytes] = []
    current: list[bytes] = []
    used = -1  # bytes of the current body's calls and commas (the first call has no comma)
    dropped = 0
    for event_calls in data:
        encoded: list[bytes] = []
        for call in event_calls:
            try:
                text = dumps(call)
            except orjson.JSONEncodeError as exc:
                raise TypeError(f"a Segment {_call_name(call)} cannot be written as JSON: {exc}") from None
            if len(text) > MAX_CALL_BYTES:
                dropped += 1
                logger.warning(
                    "Segment: dropped a %s of %d bytes, over Segment's %d-byte limit per call (event messageId %s)",
                    _call_name(call),
                    len(text),
                    MAX_CALL_BYTES,
                    call.get("messageId") if isinstance(call, dict) else None,
                )
                continue
            encoded.append(text)
        size = sum(map(len, encoded)) + len(encoded)
        if current and used + size > room:
            bodies.append(_body(current))
            current, used = [], -1
        if size <= room:
            current.extend(encoded)
            used += size
            continue
        for text in encoded:  # many group calls: more than one body
            if current and used + len(text) + 1 > room:
                bodies.append(_body(current))
                current, used = [], -1
            current.append(text)
            used += len(text) + 1
    if current:
        bodies.append(_body(current))
    if dropped:
        logger.warning("Segment: %d call(s) over %d bytes dropped from this batch", dropped, MAX_CALL_BYTES)
    return [body.decode() for body in bodies]


def _body(calls: list[bytes]) -> bytes:
    return _BATCH_HEAD + b",".join(calls) + _BATCH_TAIL


def _call_name(call: t.Any) -> str:
    if not isinstance(call, dict):
        return f"call ({type(call).__name__})"
    return f"{call.get('type', '?')} call (anonymousId {call.get('anonymousId')})"


def send(batches: t.Sequence[str]) -> list[httpx.Response | Exception]:
    """POST each body to ``SEGMENT_API_URL`` in parallel (``SEGMENT_CONCURRENCY``
    at a time, one keep-alive pool), with ``Authorization: Basic
    base64(<write key>:)``, gzip-compressed when ``SEGMENT_GZIP`` is set.
    Returns each batch's final response or exception, in order; 408, 429, 5xx
    and network errors are retried first (``SEGMENT_RETRY_*``). Raises
    ``RuntimeError`` when no write key is set."""
    key = get_segment_api_write_key()
    if not key:
        raise RuntimeError(f"no Segment write key: set SEGMENT_API_WRITE_KEY or the {WRITE_KEY_FILTER} filter")
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    bodies = [batch.encode() for batch in batches]
    if settings.gzip:
        headers["Content-Encoding"] = "gzip"
        bodies = [gzip.compress(body, compresslevel=6, mtime=0) for body in bodies]
    return _sender.send_all(bodies, headers)


def log(responses: t.Sequence[httpx.Response | Exception], batches: t.Sequence[str]) -> None:
    """The original's ``after_send`` callback: ``request_success`` (response,
    batch) for each delivered batch, ``request_failure`` (response or
    exception, batch) with a warning for the others. A refused batch (400)
    is logged with its size and first call: it is given up, not retried."""
    for response, batch in zip(responses, batches, strict=False):
        if isinstance(response, httpx.Response) and response.is_success:
            do_action(REQUEST_SUCCESS, response, batch)
            continue
        if isinstance(response, httpx.Response) and response.status_code in PERMANENT_STATUSES:
            logger.error(
                "Segment refused a batch of %d bytes with HTTP %d (%s); it is not retried. First call: %s",
                len(batch.encode()),
                response.status_code,
                response.text[:500],
                _first_call(batch),
            )
        else:
            logger.warning("Error delivering a batch to Segment: %s", _describe(response))
        do_action(REQUEST_FAILURE, response, batch)


def _first_call(batch: str) -> str:
    try:
        calls = orjson.loads(batch)["batch"]
        return orjson.dumps(calls[0]).decode()[:2000] if calls else "(none)"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return batch[:200]


def _final(result: httpx.Response | Exception) -> bool:
    """Delivered, or refused for good (retrying cannot help)."""
    if not isinstance(result, httpx.Response):
        return False
    return result.is_success or result.status_code in PERMANENT_STATUSES


def _describe(result: httpx.Response | Exception) -> str:
    if isinstance(result, httpx.Response):
        hint = " (retried)" if retryable(result.status_code) else ""
        return f"HTTP {result.status_code}{hint}: {result.text[:200]}"
    return f"{type(result).__name__}: {result}"


# --------------------------------------------------------------------------- group maps


def register_segment_group_map(group_map: dict[str, t.Any]) -> None:
    """Add a group map (``groupId`` and ``traits`` map entries) to
    ``altis.analytics.segment.groups``. Unlike the original, whose filter
    returned the map instead of the list, the group call is really made.

    ``register_segment_group_map({"groupId": "endpoint.Attributes.AudienceId",
    "traits": {"country": "endpoint.Location.Country"}})``
    """

    def add_group(groups: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        return [*groups, group_map]

    add_filter(GROUPS, add_group)


def register_segment_group_field(field: str, traits: dict[str, t.Any] | None = None) -> None:
    """``register_segment_group_map({"groupId": field, "traits": traits})``:
    group by one event field, e.g. ``"endpoint.Attributes.DeviceType.0"``."""
    register_segment_group_map({"groupId": field, "traits": dict(traits or {})})


# --------------------------------------------------------------------------- set-up

if get_segment_api_write_key():
    add_action(DATA_PROCESS, process)
    add_action(AFTER_SEND, log, 10, 2)
else:
    logger.warning(
        "Segment destination not enabled: no write key (set SEGMENT_API_WRITE_KEY or hook %s in an "
        "integration listed before integrations.segment in ANALYTICS_INTEGRATIONS)",
        WRITE_KEY_FILTER,
    )
