"""One export run at a time across every worker and host.

A Redis lock (redis-py ``Lock``: a token under a key, released only by its
owner) with a short TTL that a background thread renews while the run is
alive. A worker that crashes or is killed stops renewing, so the lock expires
``ttl`` seconds later and the next run proceeds: no crashed worker holds it
forever, and no run is ever long enough for a live lock to lapse.

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

logger = logging.getLogger(__name__)

RUN_LOCK = "{prefix}export:lock"


class RunLock:
    """``with RunLock(...) as held:`` -- ``held`` is False when another run has
    it; ``lost`` turns True if renewal ever fails (stop writing then)."""

    def __init__(self, redis: redis_lib.Redis, prefix: str, ttl: int) -> None:
        self.ttl = ttl
        self.name = RUN_LOCK.format(prefix=prefix)
        self._lock = redis.lock(self.name, timeout=self.ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def __enter__(self) -> bool:
        if not self._lock.acquire(blocking=False):
            return False
        self._thread = threading.Thread(target=self._renew, name="export-lock-renewal", daemon=True)
        self._thread.start()
        return True

    def _renew(self) -> None:
        interval = max(0.2, self.ttl / 3)
        while not self._stop.wait(interval):
            try:
                self._lock.reacquire()
            except (LockError, RedisError) as exc:
                logger.error("lost the export run lock %s: %s", self.name, exc)
                self.lost = True
                return

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        try:
            self._lock.release()
        except (LockError, RedisError) as error:
            logger.warning("could not release the export run lock %s: %s", self.name, error)
