"""Per-subscriber delivery state in Redis: what each subscriber has received.

Not a single cursor (the original's defect 3: Firehose writes objects late
under earlier hour folders, which a "last key" cursor skips forever). Instead
each subscriber has:

- a ledger of delivered objects (sorted set, member = key, score = the key's
  hour as epoch seconds, so old entries are pruned by score);
- a position (the highest key delivered): runs list from a few hours before it;
- partial progress (key -> last delivered line) for an object that spans
  several batches, so a crash redelivers at most the batch in flight;
- its last success, last error, consecutive failures and retry time;
- whether it is paused (``ANALYTICS_EXPORT_PAUSE_AFTER`` failures in a row)
  and why, and whether its lag alert is raised (alerts fire once per change);
- the objects it is owed (a set): keys a shared change (``requeue``, a
  cleared read failure) made deliverable again while the subscriber may be
  past them, planned whatever its position until delivered.

Shared by all subscribers: corrupt-read counts and the quarantine. How many
scheduled runs in a row found nothing new is counted per subscriber (each
has its own scheduled job).
Writes that belong together go through one pipeline (MULTI/EXEC).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

import orjson

from config import redis_text, redis_transaction
from events import layout

if t.TYPE_CHECKING:
    import redis as redis_lib

SUBSCRIBERS = "{prefix}export:subscribers"
SUBSCRIBER = "{prefix}export:sub:{name}"
DONE = "{prefix}export:sub:{name}:done"
PARTIAL = "{prefix}export:sub:{name}:partial"
CORRUPT = "{prefix}export:corrupt"
QUARANTINE = "{prefix}export:quarantine"
LAST_RUN = "{prefix}export:last-run"
#: Sorted set of run summaries (JSON), score = when the run finished (epoch seconds).
RUNS = "{prefix}export:runs"
#: Seconds of run history kept (the dashboard's chart shows the last day).
RUN_HISTORY_SECONDS = 86400
UNREAD = "{prefix}export:unread"
EMPTY_RUNS = "{prefix}export:empty-runs:{name}"
OWED = "{prefix}export:sub:{name}:owed"

#: KEYS = (ledger, owed set) pairs, ARGV[1] = an object key: the key joins the
#: owed set of every subscriber whose ledger lacks it. A script so the check
#: and the write are one step: a delivery recorded in between cannot leave a
#: delivered key owed (it would be delivered twice once pruned from the ledger).
_OWE_SCRIPT = """
for i = 1, #KEYS, 2 do
  if not redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('SADD', KEYS[i + 1], ARGV[1])
  end
end
return 0
"""


def hour_score(key: str) -> float:
    """The ledger score of a key: its hour folder as epoch seconds (0 if none)."""
    hour = layout.hour_of_key(key)
    return hour.timestamp() if hour else 0.0


def start_prefix(start: str | dt.date, now: float) -> str:
    """The first hour prefix a new subscriber receives (ANALYTICS_EXPORT_START):
    ``now`` -> the current hour, ``beginning`` -> everything (""), a date ->
    its midnight UTC."""
    if start == "beginning":
        return ""
    if isinstance(start, dt.date):
        return layout.hour_prefix(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC))
    return layout.hour_prefix(dt.datetime.fromtimestamp(now, dt.UTC))


@dataclasses.dataclass(frozen=True)
class SubscriberState:
    name: str
    since: str  # hour prefix: nothing before it is delivered ("" = from the beginning)
    position: str  # highest key delivered ("" = none yet)
    created: float
    last_success: float | None
    last_error: str
    last_error_at: float | None
    failures: int
    retry_at: float | None
    paused_at: float | None = None  # paused: no run delivers to it until ``resume`` (position kept)
    paused_reason: str = ""
    lagging: bool = False  # the lag alert is raised (cleared by a run that finds it caught up)

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def waiting(self, now: float) -> bool:
        """In backoff after a failure: skipped by runs until ``retry_at``."""
        return self.retry_at is not None and now < self.retry_at


class DeliveryState:
    """The Redis side of delivery; every key starts with ``prefix``."""

    def __init__(self, redis: redis_lib.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _k(self, template: str, **kw: str) -> str:
        return template.format(prefix=self.prefix, **kw)

    # -- subscribers --------------------------------------------------------
    def ensure(self, name: str, start: str | dt.date, now: float) -> SubscriberState:
        """The state of ``name``, created (starting per ``start``) if new."""
        key = self._k(SUBSCRIBER, name=name)
        if self.redis.hsetnx(key, "since", start_prefix(start, now)):
            with self.redis.pipeline() as pipe:
                pipe.hset(key, mapping={"created": now, "position": ""})
                pipe.sadd(self._k(SUBSCRIBERS), name)
                pipe.execute()
        state = self.get(name)
        assert state is not None
        return state

    def known(self) -> list[str]:
        return sorted(map(redis_text, self.redis.smembers(self._k(SUBSCRIBERS))))

    def get(self, name: str) -> SubscriberState | None:
        raw = {redis_text(k): redis_text(v) for k, v in self.redis.hgetall(self._k(SUBSCRIBER, name=name)).items()}
        if "since" not in raw:
            return None

        def num(field: str) -> float | None:
            return float(raw[field]) if raw.get(field) else None

        return SubscriberState(
            name=name,
            since=raw["since"],
            position=raw.get("position", ""),
            created=num("created") or 0.0,
            last_success=num("last_success"),
            last_error=raw.get("last_error", ""),
            last_error_at=num("last_error_at"),
            failures=int(raw.get("failures") or 0),
            retry_at=num("retry_at"),
            paused_at=num("paused_at"),
            paused_reason=raw.get("paused_reason", ""),
            lagging=raw.get("lagging") == "1",
        )

    def delivered(self, name: str, min_score: float = 0.0) -> set[str]:
        """Keys in ``name``'s ledger whose hour is at or after ``min_score``."""
        members = t.cast("list[bytes]", self.redis.zrangebyscore(self._k(DONE, name=name), min_score, "+inf"))
        return set(map(redis_text, members))

    def is_delivered(self, name: str, key: str) -> bool:
        return self.redis.zscore(self._k(DONE, name=name), key) is not None

    def partials(self, name: str) -> dict[str, int]:
        """Object key -> last line already delivered, for objects in progress."""
        raw = self.redis.hgetall(self._k(PARTIAL, name=name))
        return {redis_text(k): int(v) for k, v in raw.items()}

    def record_success(self, name: str, done: t.Sequence[str], partial: tuple[str, int] | None, now: float) -> None:
        """After a callback returned: objects fully delivered join the ledger,
        the last one's line offset is kept if it is only partly delivered, and
        the failure count resets. One MULTI/EXEC so a crash keeps all or none."""
        state = self.get(name)
        position = state.position if state else ""
        sub_key = self._k(SUBSCRIBER, name=name)
        with self.redis.pipeline() as pipe:
            if done:
                pipe.zadd(self._k(DONE, name=name), {key: hour_score(key) for key in done})
                pipe.hdel(self._k(PARTIAL, name=name), *done)
                pipe.srem(self._k(OWED, name=name), *done)
                position = max(position, *done)
            if partial is not None:
                pipe.hset(self._k(PARTIAL, name=name), partial[0], partial[1])
                position = max(position, partial[0])
            pipe.hset(sub_key, mapping={"position": position, "last_success": now, "failures": 0, "retry_at": ""})
            pipe.execute()

    def restore(
        self,
        name: str,
        since: str,
        position: str,
        delivered: t.Iterable[str],
        partials: t.Mapping[str, int],
        now: float,
    ) -> None:
        """Put back a subscriber Redis lost (``jobs.checkpoint``): its start,
        position, delivered objects and partly delivered ones, added to
        whatever it has recorded since (nothing is taken away)."""
        sub_key = self._k(SUBSCRIBER, name=name)
        recorded = self.redis.hget(sub_key, "position")  # a run may have recorded progress since the loss
        position = max(position, redis_text(recorded) if recorded else "")
        with self.redis.pipeline() as pipe:
            pipe.hset(sub_key, mapping={"since": since, "position": position, "created": now})
            pipe.sadd(self._k(SUBSCRIBERS), name)
            if delivered:
                pipe.zadd(self._k(DONE, name=name), {key: hour_score(key) for key in delivered})
            for key, line in partials.items():
                pipe.hsetnx(self._k(PARTIAL, name=name), key, line)
            pipe.execute()

    def record_failure(self, name: str, error: str, now: float, base: int, maximum: int) -> float:
        """Count a failed call and set the retry time: ``base`` seconds doubling
        per consecutive failure, at most ``maximum``. Returns the retry time.
        One MULTI/EXEC: the count, the error and the retry time change together."""
        sub_key = self._k(SUBSCRIBER, name=name)

        def write(pipe: redis_lib.client.Pipeline) -> float:
            failures = int(pipe.hget(sub_key, "failures") or 0) + 1
            retry_at = now + min(maximum, base << min(max(failures - 1, 0), 40))
            pipe.multi()
            pipe.hset(
                sub_key,
                mapping={"failures": failures, "last_error": error[:500], "last_error_at": now, "retry_at": retry_at},
            )
            return retry_at

        return redis_transaction(self.redis, write, sub_key)

    def consecutive_failures(self, name: str) -> int:
        """Failed calls in a row since ``name``'s last success (0 for an unknown subscriber)."""
        return int(self.redis.hget(self._k(SUBSCRIBER, name=name), "failures") or 0)

    def pause(self, name: str, reason: str, now: float) -> bool:
        """Pause ``name`` (runs skip it; its position and ledger are kept) with
        ``reason``. Returns False if it was already paused (HSETNX: one
        pause, so one alert, even with two runs racing)."""
        key = self._k(SUBSCRIBER, name=name)
        if not self.redis.hsetnx(key, "paused_at", now):
            return False
        self.redis.hset(key, "paused_reason", reason[:500])
        return True

    def resume(self, name: str) -> bool:
        """Unpause ``name``: the failure count and backoff reset, so the next run
        delivers from its position. Returns False if it was not paused."""
        key = self._k(SUBSCRIBER, name=name)
        with self.redis.pipeline() as pipe:
            pipe.hdel(key, "paused_at", "paused_reason")
            pipe.hset(key, mapping={"failures": 0, "retry_at": ""})
            removed, _ = pipe.execute()
        return bool(removed)

    def set_lagging(self, name: str, lagging: bool) -> None:
        """Remember whether ``name``'s lag alert is raised."""
        self.redis.hset(self._k(SUBSCRIBER, name=name), "lagging", "1" if lagging else "")

    def rewind(self, name: str, since: str) -> None:
        """Make everything from hour prefix ``since`` deliverable again to
        ``name`` (replay): ledger entries and partials at or after it dropped,
        position and start moved back, backoff cleared."""
        score = hour_score(since) if since else 0.0
        with self.redis.pipeline() as pipe:
            pipe.zremrangebyscore(self._k(DONE, name=name), score, "+inf")
            pipe.delete(self._k(PARTIAL, name=name))
            pipe.hset(
                self._k(SUBSCRIBER, name=name),
                mapping={"since": since, "position": since, "failures": 0, "retry_at": ""},
            )
            pipe.execute()

    def prune(self, name: str, before_score: float) -> int:
        """Forget ledger entries of hours before ``before_score`` (bounded memory)."""
        return int(self.redis.zremrangebyscore(self._k(DONE, name=name), "-inf", f"({before_score}"))

    # -- objects ------------------------------------------------------------
    def count_corrupt(self, key: str) -> int:
        return int(self.redis.hincrby(self._k(CORRUPT), key, 1))

    def quarantine(self, key: str, reason: str, now: float) -> None:
        """Set ``key`` aside with ``reason``: runs skip it until ``requeue``;
        it leaves the unread list in the same MULTI/EXEC (it is no longer retried)."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self._k(QUARANTINE), key, orjson.dumps({"reason": reason[:500], "at": now}))
            pipe.hdel(self._k(UNREAD), key)
            pipe.execute()

    def quarantined(self) -> dict[str, dict[str, t.Any]]:
        raw = self.redis.hgetall(self._k(QUARANTINE))
        return {redis_text(k): orjson.loads(v) for k, v in sorted(raw.items())}

    def note_unread(self, key: str, error: str) -> int:
        """Remember an object that failed to read, so later runs retry it even
        after every position has moved past it. Returns its failure count."""
        raw = self.redis.hget(self._k(UNREAD), key)
        count = int(orjson.loads(raw)["count"] if raw else 0) + 1
        self.redis.hset(self._k(UNREAD), key, orjson.dumps({"count": count, "error": error[:500]}))
        return count

    def failing(self) -> set[str]:
        """Keys with a failed read on record (unread, or counted as corrupt):
        the only ones whose successful read has something to clear."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hkeys(self._k(UNREAD))
            pipe.hkeys(self._k(CORRUPT))
            unread, corrupt = pipe.execute()
        return {redis_text(k) for k in (*unread, *corrupt)}

    # -- owed objects (shared changes that each subscriber must still get) ---
    def _owe(self, pipe: redis_lib.client.Pipeline, key: str, names: t.Iterable[str]) -> None:
        """Queue on ``pipe``: ``key`` owed to each of ``names`` that has not delivered it."""
        keys = [k for name in dict.fromkeys(names) for k in (self._k(DONE, name=name), self._k(OWED, name=name))]
        if keys:
            self.redis.register_script(_OWE_SCRIPT)(keys=keys, args=[key], client=pipe)

    def requeue(self, key: str, names: t.Iterable[str]) -> bool:
        """Take ``key`` out of quarantine and owe it to each of ``names`` that
        has not delivered it (a subscriber busy with a run meanwhile gets it on
        a later run, whatever its position). One MULTI/EXEC. Returns whether
        ``key`` was quarantined (nothing changes otherwise)."""

        def write(pipe: redis_lib.client.Pipeline) -> bool:
            if not pipe.hexists(self._k(QUARANTINE), key):
                return False
            pipe.multi()
            pipe.hdel(self._k(QUARANTINE), key)
            pipe.hdel(self._k(CORRUPT), key)
            self._owe(pipe, key, names)
            return True

        return redis_transaction(self.redis, write, self._k(QUARANTINE))

    def settle_failures(self, key: str, names: t.Iterable[str]) -> None:
        """A read of ``key`` succeeded: forget its earlier failures and owe it
        to each of ``names`` that has not delivered it, since the unread list
        was what kept it planned for subscribers already past it. One MULTI/EXEC."""
        with self.redis.pipeline() as pipe:
            pipe.hdel(self._k(UNREAD), key)
            pipe.hdel(self._k(CORRUPT), key)
            self._owe(pipe, key, names)
            pipe.execute()

    def owed(self, name: str) -> set[str]:
        """Keys owed to ``name`` (delivered keys leave in ``record_success``)."""
        return set(map(redis_text, self.redis.smembers(self._k(OWED, name=name))))

    def forgive(self, name: str, keys: t.Collection[str]) -> None:
        """Drop ``keys`` from ``name``'s owed set (before its start, or replayed away)."""
        if keys:
            self.redis.srem(self._k(OWED, name=name), *keys)

    def unread(self) -> dict[str, dict[str, t.Any]]:
        """Objects whose last read failed: key -> {count, error}."""
        return {redis_text(k): orjson.loads(v) for k, v in sorted(self.redis.hgetall(self._k(UNREAD)).items())}

    def count_empty_run(self, name: str) -> int:
        """One more scheduled run for subscriber ``name`` in a row that found
        nothing; returns how many."""
        return int(self.redis.incr(self._k(EMPTY_RUNS, name=name)))

    def reset_empty_runs(self, name: str) -> None:
        """A scheduled run for ``name`` found something: its streak of empty runs ends."""
        self.redis.delete(self._k(EMPTY_RUNS, name=name))

    def record_run(self, summary: dict[str, t.Any]) -> None:
        """Keep ``summary`` as the last run, and in the history under its
        ``finished`` time (epoch seconds); history older than
        ``RUN_HISTORY_SECONDS`` is dropped."""
        raw = orjson.dumps(summary)
        finished = float(summary.get("finished") or 0)
        with self.redis.pipeline() as pipe:
            pipe.set(self._k(LAST_RUN), raw)
            pipe.zadd(self._k(RUNS), {raw: finished})
            pipe.zremrangebyscore(self._k(RUNS), "-inf", f"({finished - RUN_HISTORY_SECONDS}")
            pipe.execute()

    def runs_since(self, since: float) -> list[dict[str, t.Any]]:
        """The summaries of runs that finished at or after ``since`` (epoch seconds), oldest first."""
        # Without WITHSCORES the reply is a list of members (bytes).
        replies = t.cast("list[bytes]", self.redis.zrangebyscore(self._k(RUNS), since, "+inf"))
        return [orjson.loads(raw) for raw in replies]

    def last_run(self) -> dict[str, t.Any] | None:
        raw = self.redis.get(self._k(LAST_RUN))
        return orjson.loads(raw) if raw else None
