"""What ``export status`` shows: is the export on, when it runs next, and
where each subscriber stands (position, lag, errors, backoff), plus objects
pending, unreadable and quarantined.

Reading the source is bounded like a run: from each subscriber's lookback
point, counting at most ``PENDING_CAP`` pending objects.
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t

from events import layout
from events.sources import SourceError, open_source

from . import filters, schedule, subscribers
from .plan import lookback_prefix
from .state import DeliveryState, SubscriberState, start_prefix

if t.TYPE_CHECKING:
    import redis as redis_lib

    import config

#: Counting pending objects stops here ("10000+").
PENDING_CAP = 10_000


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def export_status(
    settings: config.Settings, redis: redis_lib.Redis, clock: t.Callable[[], float] = time.time
) -> dict[str, t.Any]:
    """The status as plain data (``export status --json`` prints it as is)."""
    now = clock()
    state = DeliveryState(redis, settings.redis_prefix)
    enabled = filters.enabled()
    frequency = filters.frequency()
    next_run = schedule.next_runs(settings, redis).get("export")
    hooked = {s.name for s in subscribers.current()}
    quarantined = state.quarantined()
    location = filters.source_location(settings)
    source = open_source(location)
    subs: list[dict[str, t.Any]] = []
    for name in sorted(hooked | set(state.known())):
        st = state.get(name) or SubscriberState(
            name, start_prefix(settings.export_start, now), "", now, None, "", None, 0, None
        )
        entry: dict[str, t.Any] = {
            "name": name,
            "hooked": name in hooked,
            "since": st.since or "beginning",
            "position": st.position or None,
            "last_success": _iso(st.last_success),
            "last_error": st.last_error or None,
            "last_error_at": _iso(st.last_error_at),
            "failures": st.failures,
            "retry_at": _iso(st.retry_at) if st.retry_at and st.retry_at > now else None,
        }
        entry.update(_pending(state, source, st, settings.late_hours, set(quarantined), now))
        subs.append(entry)
    return {
        "enabled": enabled,
        "frequency": {"name": frequency.name, "interval": frequency.interval},
        "next_run": next_run.isoformat(timespec="seconds") if next_run and enabled else None,
        "source": location.describe(),
        "subscribers": subs,
        "unreadable": [{"key": k, **v} for k, v in state.unread().items()],
        "quarantined": [{"key": k, "reason": v.get("reason"), "at": _iso(v.get("at"))} for k, v in quarantined.items()],
        "last_run": state.last_run(),
    }


def _pending(
    state: DeliveryState, source: t.Any, st: SubscriberState, late_hours: int, quarantined: set[str], now: float
) -> dict[str, t.Any]:
    """Objects not yet delivered to ``st`` from its lookback point on, and the
    age of the oldest (its lag)."""
    begin = lookback_prefix(st, late_hours)
    done = state.delivered(st.name)
    count = 0
    oldest: t.Any = None
    try:
        for info in source.list(start_after=begin):
            if info.key in done or info.key in quarantined or layout.hour_of_key(info.key) is None:
                continue
            if oldest is None:
                oldest = info
            count += 1
            if count >= PENDING_CAP:
                break
    except SourceError as exc:
        return {"pending": None, "lag_seconds": None, "oldest_pending": None, "source_error": str(exc)}
    return {
        "pending": f"{count}+" if count >= PENDING_CAP else count,
        "oldest_pending": oldest.key if oldest else None,
        "lag_seconds": max(0, int(now - oldest.last_modified.timestamp())) if oldest else 0,
    }
