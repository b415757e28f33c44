"""One delivery at a time per subscriber, across every worker and host.

Each subscriber has its own Redis lock (redis-py ``Lock``: a token under a
key, released only by its owner), so several workers deliver to several
subscribers at once while no subscriber is ever served by two runs at the
same time. A run takes the locks of the subscribers it serves (one for a
subscriber's job on a worker, all it can get for ``export run``); a
subscriber whose lock another run holds is left to that run.

The locks have a short TTL that one background thread renews while the run
is alive. A worker that crashes or is killed stops renewing, so its locks
expire ``ttl`` seconds later and the next run proceeds: no crashed worker
holds one forever, and no run is ever long enough for a live lock to lapse.

``ANALYTICS_EXPORT_LOCK_TTL`` (seconds, default 60; ``config.Settings.export_lock_ttl``)
sets the TTL.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from redis.exceptions import LockError, RedisError

if t.TYPE_CHECKING:
    import types

    import redis as redis_lib
    from redis.lock import Lock

logger = logging.getLogger(__name__)

SUBSCRIBER_LOCK = "{prefix}export:lock:{name}"


def lock_name(prefix: str, subscriber: str) -> str:
    """The Redis key of ``subscriber``'s delivery lock."""
    return SUBSCRIBER_LOCK.format(prefix=prefix, name=subscriber)


def is_locked(redis: redis_lib.Redis, prefix: str, subscriber: str) -> bool:
    """Whether a live run is delivering to ``subscriber`` now (its lock is held)."""
    return bool(redis.exists(lock_name(prefix, subscriber)))


class RunLock:
    """``with RunLock(redis, prefix, ttl, names) as held:`` -- ``held`` is the
    subscribers of ``names`` whose lock this run got (in ``names``' order;
    empty when another run has them all); ``lost`` turns True if renewing any
    of them ever fails (stop writing then)."""

    def __init__(self, redis: redis_lib.Redis, prefix: str, ttl: int, names: t.Sequence[str]) -> None:
        self.ttl = ttl
        self._locks = {
            name: redis.lock(lock_name(prefix, name), timeout=self.ttl, blocking=False, thread_local=False)
            for name in dict.fromkeys(names)
        }
        self._held: list[tuple[str, Lock]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def __enter__(self) -> list[str]:
        self._held = [(name, lock) for name, lock in self._locks.items() if lock.acquire(blocking=False)]
        if self._held:
            self._thread = threading.Thread(target=self._renew, name="export-lock-renewal", daemon=True)
            self._thread.start()
        return [name for name, _ in self._held]

    def _renew(self) -> None:
        interval = max(0.2, self.ttl / 3)
        while not self._stop.wait(interval):
            for name, lock in self._held:
                try:
                    lock.reacquire()
                except (LockError, RedisError) as exc:
                    # Lost before it is said: whoever reads the message (an alert, a log handler)
                    # then finds the run stopping at its next batch, never delivering one more.
                    self.lost = True
                    logger.error("lost the export lock of subscriber %s: %s", name, exc)
                    return

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        for name, lock in self._held:
            try:
                lock.release()
            except (LockError, RedisError) as error:
                logger.warning("could not release the export lock of subscriber %s: %s", name, error)
