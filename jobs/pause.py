"""Resuming a subscriber the export paused after ``ANALYTICS_EXPORT_PAUSE_AFTER``
failed deliveries in a row (the pausing itself happens in ``jobs.export``).

Pausing keeps the subscriber's position, ledger and partial progress, so a
resumed subscriber gets everything it missed on the next run: nothing is lost.
"""

from __future__ import annotations

import typing as t

import config
import metrics

from .replay import UnknownSubscriberError
from .state import DeliveryState

if t.TYPE_CHECKING:
    import redis as redis_lib


def resume(settings: config.Settings, name: str, *, redis: redis_lib.Redis | None = None) -> None:
    """Unpause ``name``: its failure count and backoff reset, the next run
    delivers from its position. Raises UnknownSubscriberError for a name the
    export never delivered to, LookupError when it is not paused."""
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    if state.get(name) is None:
        known = ", ".join(state.known()) or "none yet"
        raise UnknownSubscriberError(f"unknown subscriber {name!r}: expected one of {known} (see 'export status')")
    if not state.resume(name):
        raise LookupError(f"subscriber {name} is not paused; 'export status' shows which ones are")
    metrics.PAUSED.labels(name).set(0)
    metrics.CONSECUTIVE_FAILURES.labels(name).set(0)
    metrics.RETRY_AT.labels(name).set(0)
