"""What ``export status`` shows: is the export on, when it runs next, and
where each subscriber stands (position, lag, errors, backoff, whether a run
is delivering to it now), plus objects
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

from . import export_hooks, schedule, subscribers
from .lock import is_locked
from .plan import lookback_prefix
from .state import DeliveryState, SubscriberState, start_prefix

if t.TYPE_CHECKING:
    import redis as redis_lib

    import config
    from events.sources import ObjectInfo, Source

#: Counting pending objects stops here ("10000+").
PENDING_CAP = 10_000


def format_duration(seconds: int | None) -> str:
    """``93784`` -> ``1d 2h``: a lag a person reads at a glance (its two largest
    units); ``unknown`` for None."""
    if seconds is None:
        return "unknown"
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return " ".join(shown[:2]) or "0s"


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
    enabled = export_hooks.enabled()
    frequency = export_hooks.frequency()
    next_run = schedule.next_runs(settings, redis).get("export")
    hooked = {s.name for s in subscribers.current()}
    quarantined = state.quarantined()
    location = export_hooks.source_location(settings)
    source = open_source(location)
    entries: list[dict[str, t.Any]] = []
    for name in sorted(hooked | set(state.known())):
        progress = state.get(name) or SubscriberState(
            name, start_prefix(settings.export_start, now), "", now, None, "", None, 0, None
        )
        entry: dict[str, t.Any] = {
            "name": name,
            "hooked": name in hooked,
            "since": progress.since or "beginning",
            "position": progress.position or None,
            "last_success": _iso(progress.last_success),
            "last_error": progress.last_error or None,
            "last_error_at": _iso(progress.last_error_at),
            "failures": progress.failures,
            "retry_at": _iso(progress.retry_at) if progress.retry_at and progress.retry_at > now else None,
            "delivering": is_locked(redis, settings.redis_prefix, name),  # a run (its job) serves it now
            "paused": progress.paused,
            "paused_at": _iso(progress.paused_at),
            "paused_reason": progress.paused_reason or None,
            "lagging": progress.lagging,
        }
        entry.update(_pending(state, source, progress, settings.late_hours, set(quarantined), now))
        entries.append(entry)
    return {
        "enabled": enabled,
        "frequency": {"name": frequency.name, "interval": frequency.interval},
        "next_run": next_run.isoformat(timespec="seconds") if next_run and enabled else None,
        "source": location.describe(),
        "subscribers": entries,
        "unreadable": [{"key": k, **v} for k, v in state.unread().items()],
        "quarantined": [{"key": k, "reason": v.get("reason"), "at": _iso(v.get("at"))} for k, v in quarantined.items()],
        "last_run": state.last_run(),
    }


def _pending(
    state: DeliveryState, source: Source, progress: SubscriberState, late_hours: int, quarantined: set[str], now: float
) -> dict[str, t.Any]:
    """Objects not yet delivered to ``progress`` from its lookback point on, plus
    those it is owed behind it, and the age of the oldest listed (its lag)."""
    begin = lookback_prefix(progress, late_hours)
    done = state.delivered(progress.name)
    count = 0
    oldest: ObjectInfo | None = None
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
    # Owed objects behind the listing window are pending too (planned whatever the position).
    owed = {k for k in state.owed(progress.name) if progress.since <= k < begin}
    count += len(owed - done - quarantined)
    return {
        "pending": f"{count}+" if count >= PENDING_CAP else count,
        "oldest_pending": oldest.key if oldest else None,
        "lag_seconds": max(0, int(now - oldest.last_modified.timestamp())) if oldest else 0,
    }
