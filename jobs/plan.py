"""Planning a run: which objects each subscriber gets, and who gets the same.

Not a single cursor (the original's defect 3): each subscriber has a ledger
of delivered objects, and a run lists from ``ANALYTICS_LATE_HOURS`` hours
before its position (``lookback_prefix``), so an object Firehose writes late
under an earlier hour is still delivered, once; the reconciliation pass
covers ``ANALYTICS_RECONCILE_DAYS`` days before that. An object whose read
failed earlier (``DeliveryState.unread``), or that the subscriber is owed
(``DeliveryState.owed``: requeued, or read first by another subscriber), is
planned again even after the listing window has moved past it: never
skipped, whatever the position.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from events import layout
from events.sources import ObjectInfo, SourceError

from .state import hour_score

if t.TYPE_CHECKING:
    import config
    from events.sources import Source

    from .state import DeliveryState, SubscriberState
    from .subscribers import Subscriber

Mode = t.Literal["run", "reconcile", "keys"]


def lookback_prefix(progress: SubscriberState, late_hours: int) -> str:
    """Where a run lists from for ``progress``: ``late_hours`` before its position
    (Firehose writes late objects under earlier hours), never before its start."""
    hour = layout.hour_of_key(progress.position) if progress.position else None
    if hour is None:
        return progress.since
    try:
        earlier = hour - dt.timedelta(hours=late_hours)
    except OverflowError:  # a position in the calendar's first hours (replay --since 0001-01-01)
        return progress.since
    return max(progress.since, layout.hour_prefix(earlier))


@dataclasses.dataclass
class Group:
    """Subscribers that need exactly the same objects from the same line offsets."""

    subscribers: list[Subscriber]
    objects: list[ObjectInfo]
    offsets: dict[str, int]  # key -> lines already delivered (objects partly delivered)


@dataclasses.dataclass
class Plan:
    groups: list[Group]  # in a stable order (by what they need)
    planned: list[SubscriberState]  # every subscriber planned (not waiting), even with nothing to get
    waiting: list[str]  # subscribers in backoff or paused, skipped


class Planner:
    """Plans one run of ``mode`` at ``now`` (epoch seconds) over ``source``."""

    def __init__(self, settings: config.Settings, state: DeliveryState, source: Source, mode: Mode, now: float) -> None:
        self.settings = settings
        self.state = state
        self.source = source
        self.mode = mode
        self.now = now
        #: Subscribers in backoff found so far (also when planning then fails).
        self.waiting: list[str] = []

    def plan(
        self,
        subscribers: t.Sequence[Subscriber],
        limit: int | None,
        keys: t.Sequence[str],
        on_unreadable: t.Callable[[str, SourceError], None],
    ) -> Plan:
        """The objects each subscriber gets (at most ``limit`` each; ``keys``
        in mode ``keys``), grouped. ``on_unreadable`` is told of an earlier
        unread object that still cannot be stated. Raises SourceError when the
        source cannot be listed."""
        quarantined = set(self.state.quarantined())
        unread = self.state.unread()
        groups: dict[tuple[tuple[str, int], ...], Group] = {}
        plan = Plan([], [], self.waiting)
        for sub in subscribers:
            progress = self.state.ensure(sub.name, self.settings.export_start, self.now)
            if (progress.paused or progress.waiting(self.now)) and self.mode != "keys":
                self.waiting.append(sub.name)
                continue
            objects = self._select(progress, limit, quarantined, unread, keys, on_unreadable)
            plan.planned.append(progress)
            if not objects:
                continue
            partials = self.state.partials(sub.name)
            signature = tuple((o.key, partials.get(o.key, 0)) for o in objects)
            groups.setdefault(signature, Group([], objects, dict(signature))).subscribers.append(sub)
        plan.groups = [groups[signature] for signature in sorted(groups)]
        return plan

    def keep_from(self, progress: SubscriberState) -> float:
        """The ledger score before which ``progress``'s entries can be forgotten: older
        than both the reconciliation window and its lookback."""
        start = lookback_prefix(progress, self.settings.late_hours)
        lookback = (hour_score(start) - dt.timedelta(hours=1).total_seconds()) if start else 0.0
        return min(self.now - dt.timedelta(days=self.settings.reconcile_days + 1).total_seconds(), lookback)

    def _select(
        self,
        progress: SubscriberState,
        limit: int | None,
        quarantined: set[str],
        unread: dict[str, dict[str, t.Any]],
        keys: t.Sequence[str],
        on_unreadable: t.Callable[[str, SourceError], None],
    ) -> list[ObjectInfo]:
        """The objects this run delivers to ``progress``'s subscriber, oldest key first."""
        if self.mode == "keys":
            return [
                self.source.stat(key)
                for key in keys
                if layout.hour_of_key(key) and not self.state.is_delivered(progress.name, key)
            ]
        lookback = lookback_prefix(progress, self.settings.late_hours)
        if self.mode == "reconcile":
            window = layout.hour_prefix(
                dt.datetime.fromtimestamp(self.now, dt.UTC) - dt.timedelta(days=self.settings.reconcile_days)
            )
            begin, end = max(progress.since, window), lookback
            if begin >= end:
                return []
        else:
            begin, end = lookback, None
        done = self.state.delivered(progress.name, hour_score(begin) if begin else 0.0)
        chosen: list[ObjectInfo] = []
        for info in self.source.list(start_after=begin):
            if end is not None and info.key > end:
                break
            if info.key in done or info.key in quarantined or layout.hour_of_key(info.key) is None:
                continue
            chosen.append(info)
            if limit is not None and len(chosen) >= limit:
                break
        if self.mode == "run":
            # Objects whose read failed earlier, or owed to this subscriber
            # (requeued, or read by another subscriber first), now behind the
            # listing window: never skipped, whatever the position.
            listed = {o.key for o in chosen}
            owed = self.state.owed(progress.name)
            self.state.forgive(progress.name, {k for k in owed if k < progress.since})
            for key in sorted(unread.keys() | owed):
                if progress.since <= key < begin and key not in quarantined and key not in listed:
                    if self.state.is_delivered(progress.name, key):
                        continue
                    try:
                        chosen.append(self.source.stat(key))
                    except SourceError as exc:
                        on_unreadable(key, exc)
            chosen.sort()
            if limit is not None:
                chosen = chosen[:limit]
        return chosen
