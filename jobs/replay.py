"""Delivering history again: ``export requeue`` (one quarantined object) and
``export replay`` (a subscriber rewound to an hour, then runs until caught up).
Both go through ``export.run_export``, so a replay loses and doubles nothing
that a scheduled run would not."""

from __future__ import annotations

import datetime as dt
import time
import typing as t

import config
from events import layout
from events.sources import open_source

from . import export_hooks, subscribers
from .export import RunReport, SkipReason, run_export
from .state import DeliveryState

if t.TYPE_CHECKING:
    import redis as redis_lib

#: Seconds a replay waits before trying again while another run holds a target's lock.
LOCKED_RETRY_SECONDS = 0.5


class UnknownSubscriberError(ValueError):
    """A subscriber name that no callback on ``data.process`` has."""


def requeue(settings: config.Settings, key: str, *, redis: redis_lib.Redis | None = None) -> RunReport:
    """Take ``key`` out of quarantine and deliver it now to every subscriber
    that has not received it; one whose job is running meanwhile (``busy``)
    is owed it and gets it on its next run. Raises LookupError when it is not
    quarantined."""
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    if not state.requeue(key, [s.name for s in subscribers.current()]):
        raise LookupError(f"{key} is not quarantined; 'export status' lists the quarantined objects")
    return run_export(settings, mode="keys", keys=[key], redis=redis, check_enabled=False)


def prepare_replay(
    settings: config.Settings,
    since: dt.datetime,
    names: t.Sequence[str] | None = None,
    *,
    redis: redis_lib.Redis | None = None,
    clock: t.Callable[[], float] = time.time,
) -> tuple[list[str], int]:
    """Rewind the named subscribers (all when None) to the hour of ``since``:
    everything from there becomes deliverable to them again. Returns them and
    how many objects there are to deliver (for a progress bar). Raises
    UnknownSubscriberError for a name nothing is hooked under."""
    current = {s.name for s in subscribers.current()}
    if not current:
        raise UnknownSubscriberError(f"nothing is hooked on {export_hooks.DATA_PROCESS}: check ANALYTICS_INTEGRATIONS")
    targets = list(dict.fromkeys(names)) if names else sorted(current)
    for name in targets:
        if name not in current:
            raise UnknownSubscriberError(f"unknown subscriber {name!r}: expected one of {', '.join(sorted(current))}")
    redis = redis if redis is not None else config.redis_connection(settings.redis_url)
    state = DeliveryState(redis, settings.redis_prefix)
    prefix = layout.hour_prefix(since)
    quarantined = set(state.quarantined())
    source = open_source(export_hooks.source_location(settings))
    total = sum(1 for o in source.list(start_after=prefix) if layout.hour_of_key(o.key) and o.key not in quarantined)
    for name in targets:
        state.ensure(name, settings.export_start, clock())
        state.rewind(name, prefix)
    return targets, total


def replay(
    settings: config.Settings,
    targets: t.Sequence[str],
    *,
    redis: redis_lib.Redis | None = None,
    progress: t.Callable[[int], None] | None = None,
    clock: t.Callable[[], float] = time.time,
) -> RunReport:
    """Runs for ``targets`` only, repeated until nothing is left to deliver
    (or a subscriber fails); ``progress`` gets the objects each run completed."""
    combined = RunReport()
    while True:
        report = run_export(settings, only=targets, redis=redis, clock=clock, check_enabled=False, trigger="replay")
        delivered = {k for keys in report.delivered.values() for k in keys}
        combined.objects += report.objects
        combined.events += report.events
        combined.batches += report.batches
        combined.invalid_lines += report.invalid_lines
        combined.failures.update(report.failures)
        combined.read_errors.update(report.read_errors)
        combined.quarantined.extend(report.quarantined)
        for name, keys in report.delivered.items():
            combined.delivered.setdefault(name, []).extend(keys)
        if progress is not None and delivered:
            progress(len(delivered))
        if report.skipped is SkipReason.LOCKED or (report.busy and not report.failures):
            # Some targets are being served by their own job: wait for it.
            time.sleep(LOCKED_RETRY_SECONDS)
            continue
        if not delivered or report.skipped or report.failures:
            return combined
