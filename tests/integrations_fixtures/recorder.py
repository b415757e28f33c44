"""A test-only export subscriber that records every batch it receives in Redis.

Loaded through ``ANALYTICS_INTEGRATIONS=tests.integrations_fixtures.recorder``
by real worker, scheduler and CLI subprocesses; it reads these variables:

- ``RECORDER_KEY``: Redis list that gets one JSON record per call when it
  starts (``data``, ``batch``, ``start``, ``pid``); ``<RECORDER_KEY>:spans``
  gets ``[start, end]`` when the call returns;
- ``RECORDER_SLEEP``: seconds each call takes (so a kill lands mid-run);
- ``RECORDER_HANG_AT``: the call that records the N-th batch (1-based) then
  never returns (for ``HANG_SECONDS``), so a kill lands exactly while that
  batch is in flight: the BI tool has it, the export never heard back;
- ``RECORDER_FREQUENCY``: schedule name returned by the frequency filter;
  ``RECORDER_INTERVAL`` adds it to ``cron_schedules`` with that many seconds;
- ``RECORDER_ENABLED=0``: ``cron.enabled`` returns false.
"""

from __future__ import annotations

import os
import time
import typing as t

import orjson
import redis

from hooks import add_action, add_filter

_client = redis.Redis.from_url(os.environ["REDIS_URL"])
#: How long the ``RECORDER_HANG_AT`` call hangs: longer than any test waits for it.
HANG_SECONDS = 120.0


def record_batch(data: str, batch: dict[str, t.Any]) -> None:
    """Records the batch as soon as it arrives (a BI tool has it then, even if
    the process dies before returning), and the call's span when it ends."""
    start = time.time()
    record = {"data": data, "batch": batch, "start": start, "pid": os.getpid()}
    received = _client.rpush(os.environ["RECORDER_KEY"], orjson.dumps(record))
    if received == int(os.environ.get("RECORDER_HANG_AT", "0")):
        time.sleep(HANG_SECONDS)
    time.sleep(float(os.environ.get("RECORDER_SLEEP", "0")))
    _client.rpush(os.environ["RECORDER_KEY"] + ":spans", orjson.dumps([start, time.time()]))


def record_log(message: str, level: int) -> None:
    _client.rpush(os.environ["RECORDER_KEY"] + ":log", orjson.dumps({"message": message, "level": level}))


def schedules(schedules: dict[str, t.Any]) -> dict[str, t.Any]:
    interval = os.environ.get("RECORDER_INTERVAL")
    if interval:
        schedules["recorder_test"] = {"interval": int(interval), "display": "test interval"}
    return schedules


add_action("altis.analytics.export.data.process", record_batch, 10, 2)
add_action("altis.analytics.export.log", record_log, 10, 2)
add_filter("cron_schedules", schedules)
if os.environ.get("RECORDER_FREQUENCY"):
    add_filter("altis.analytics.export.cron.frequency", lambda _default: os.environ["RECORDER_FREQUENCY"])
if os.environ.get("RECORDER_ENABLED") == "0":
    add_filter("altis.analytics.export.cron.enabled", "__return_false")
