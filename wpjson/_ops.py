"""The operations routes: ``GET /wp-json/analytics/v1/health`` (no
authentication, for a load balancer) and ``GET
/wp-json/analytics/v1/export/status`` (``manage_options``: ``export status
--json`` over HTTP).

Health answers 200 when Redis and the event store answer, else 503 in
WordPress's error shape naming the one that failed (``analytics_unavailable``
for Redis, ``analytics_source_unavailable`` for the store, the codes every
other route answers with). A load balancer asks every few seconds, so one
probe -- a Redis ``PING`` and a listing of at most one object -- is shared by
every request of a process for ``ANALYTICS_HEALTH_CACHE`` seconds, and only
one request at a time runs it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
import typing as t

import orjson
from flask import Response, current_app

import config
from jobs.status import export_status
from wpjson._auth import current_user, require_capability, settings
from wpjson._errors import JSON_CONTENT_TYPE, RETRY_AFTER_SECONDS, error_response
from wpjson._events import site_blog_id

if t.TYPE_CHECKING:
    from events.sources import Source

logger = logging.getLogger(__name__)

#: The capability ``export/status`` needs on the request's site (the admin dashboard's).
STATUS_CAPABILITY = "manage_options"
_EXTENSION = "analytics_health"


@dataclasses.dataclass(frozen=True)
class Probe:
    """One check of the dependencies: each is ``"ok"`` or the error's text."""

    redis: str
    store: str
    checked_at: float  # epoch seconds

    @property
    def healthy(self) -> bool:
        return self.redis == "ok" and self.store == "ok"


class _ProbeCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.probe: Probe | None = None


def probe(source: Source, max_age: float, clock: t.Callable[[], float] = time.time) -> Probe:
    """The process's last probe if younger than ``max_age`` seconds, else a new one."""
    cache = t.cast("_ProbeCache", current_app.extensions.setdefault(_EXTENSION, _ProbeCache()))
    with cache.lock:
        now = clock()
        if cache.probe is None or now - cache.probe.checked_at >= max_age:
            cache.probe = Probe(_check_redis(), _check_store(source), now)
        return cache.probe


def _check_redis() -> str:
    try:
        config.redis_connection(settings().redis_url).ping()
    except Exception as exc:  # any failure means "not healthy": say which, never raise
        logger.warning("health: Redis does not answer: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _check_store(source: Source) -> str:
    try:
        next(iter(source.list(limit=1)), None)
    except Exception as exc:  # any failure means "not healthy": say which, never raise
        logger.warning("health: the event store does not answer: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def health(source: Source) -> Response:
    """200 ``{"status": "ok", "checks": {...}, "checked_at"}``, or 503 naming
    what failed (``Retry-After`` as every other 503 of this API)."""
    result = probe(source, settings().health_cache)
    checks = {"redis": result.redis, "store": result.store}
    checked_at = dt.datetime.fromtimestamp(result.checked_at, dt.UTC).isoformat(timespec="seconds")
    headers = {"Cache-Control": "no-store"}
    if result.healthy:
        body = {"status": "ok", "checks": checks, "checked_at": checked_at}
        return Response(orjson.dumps(body), 200, headers=headers, content_type=JSON_CONTENT_TYPE)
    if result.redis != "ok":
        code, message = "analytics_unavailable", "The analytics service cannot reach its database (Redis)."
    else:
        code, message = "analytics_source_unavailable", "The analytics event store cannot be read."
    headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return error_response(code, message, 503, headers=headers, checks=checks, checked_at=checked_at)


def status() -> Response:
    """``export status --json`` for a user with ``manage_options`` on the request's site."""
    require_capability(current_user(), site_blog_id(), STATUS_CAPABILITY)
    current = settings()
    data = export_status(current, config.redis_connection(current.redis_url))
    return Response(orjson.dumps(data), 200, content_type=JSON_CONTENT_TYPE, headers={"Cache-Control": "no-store"})

