"""Delivering request bodies to Segment's batch API: a pooled keep-alive httpx
client, a bounded thread pool for parallel requests, and retries.

Retried (exponential backoff with jitter, ``Retry-After`` honoured): 408,
429 and 5xx answers, connection errors and time-outs -- what Segment's HTTP
API documentation asks clients to retry. Any other answer is final at once:
retrying a 400 cannot help, and a 401/403/404 needs a configuration change.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import random
import threading
import time
import typing as t

import httpx

from ._http import retry_after_seconds

logger = logging.getLogger("integrations.segment")

#: A batch's final outcome: the last answer, or the last transport error.
Result: t.TypeAlias = "httpx.Response | Exception"

RETRY_STATUSES = frozenset({408, 429})


def retryable(status: int) -> bool:
    """Whether an answer with this status is worth another try."""
    return status in RETRY_STATUSES or 500 <= status <= 599


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How a batch is retried: ``attempts`` tries in all; before try n+1 a
    wait of ``base * 2**(n-1)`` seconds capped at ``cap``, half of it random
    ("equal jitter", so parallel senders spread out but never hammer), or the
    server's ``Retry-After``. A wait longer than ``cap`` is not made: the
    batch fails now and the export retries it later."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base <= 0 or self.cap < self.base:
            raise ValueError(f"invalid retry policy {self}: need attempts >= 1 and 0 < base <= cap")

    def backoff(self, failures: int) -> float:
        delay: float = min(self.cap, self.base * 2.0 ** (failures - 1))
        return delay / 2 + random.uniform(0, delay / 2)


class Sender:
    """POSTs bodies to one URL with fixed headers over one keep-alive
    connection pool, at most ``concurrency`` at a time.

    The client and the pool are made on first use in each process: an RQ work
    horse is forked from its worker, and neither survives a fork.
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        timeout: float,
        concurrency: int,
        policy: RetryPolicy,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.concurrency = concurrency
        self.policy = policy
        self.sleep = sleep
        self._pid = -1
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _resources(self) -> tuple[httpx.Client, concurrent.futures.ThreadPoolExecutor]:
        with self._lock:
            if self._pid != os.getpid() or self._client is None or self._pool is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                    limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
                    headers={"User-Agent": "analytics-export (Segment destination)"},
                )
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="segment-send"
                )
                self._pid = os.getpid()
            return self._client, self._pool

    def send_all(self, bodies: t.Sequence[bytes], extra_headers: dict[str, str] | None = None) -> list[Result]:
        """Each body's final outcome, in order; requests run in parallel."""
        if not bodies:
            return []
        client, pool = self._resources()
        headers = {**self.headers, **(extra_headers or {})}
        if len(bodies) == 1:
            return [self.deliver(client, bodies[0], headers)]
        return list(pool.map(lambda body: self.deliver(client, body, headers), bodies))

    def deliver(self, client: httpx.Client, body: bytes, headers: dict[str, str]) -> Result:
        """One body, retried by the policy; never raises for HTTP or network
        failures (they are the result)."""
        tries = 0
        while True:
            tries += 1
            retry_after: float | None = None
            result: Result
            try:
                result = client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:  # connection refused or reset, time-outs, protocol errors
                result = exc
                what = f"{type(exc).__name__}: {exc}"
            else:
                if not retryable(result.status_code):
                    return result
                retry_after = retry_after_seconds(result.headers.get("Retry-After"))
                what = f"HTTP {result.status_code}"
            if tries >= self.policy.attempts:
                return result
            delay = self.policy.backoff(tries) if retry_after is None else retry_after
            if delay > self.policy.cap:
                logger.warning(
                    "Segment asked to wait %.0f s (Retry-After) after %s, longer than SEGMENT_RETRY_MAX (%s s): "
                    "this batch is left to the export's own retry",
                    delay,
                    what,
                    self.policy.cap,
                )
                return result
            logger.info(
                "Segment batch got %s (try %d of %d); retrying in %.2f s", what, tries, self.policy.attempts, delay
            )
            self.sleep(delay)

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                if self._pool is not None:
                    self._pool.shutdown(wait=True)
                if self._client is not None:
                    self._client.close()
            self._client, self._pool, self._pid = None, None, -1
