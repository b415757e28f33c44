"""A test-only export subscriber that takes ``SLOW_SECONDS`` (default 5) per
batch: a destination far slower than the others.

Loaded next to ``tests.integrations_fixtures.recorder`` (the fast one) by
real worker processes; named ``slow`` (rule 1 of ``jobs.subscribers``). Each
call pushes ``{"tags", "start", "end"}`` to the Redis list ``<RECORDER_KEY>:slow``
when it returns.
"""

from __future__ import annotations

import os
import time

import orjson
import redis

from hooks import add_action
from tests.integrations_fixtures.objects import tags

_client = redis.Redis.from_url(os.environ["REDIS_URL"])


def slow_batch(data: str) -> None:
    start = time.time()
    time.sleep(float(os.environ.get("SLOW_SECONDS", "5")))
    record = {"tags": tags(data), "start": start, "end": time.time()}
    _client.rpush(os.environ["RECORDER_KEY"] + ":slow", orjson.dumps(record))


slow_batch.analytics_subscriber_name = "slow"  # type: ignore[attr-defined]

add_action("altis.analytics.export.data.process", slow_batch)
