"""Fixtures of the fault suite: a fault-injecting proxy in front of moto's S3
server, Redis servers of the test's own, and a collector of what export
subscribers received.

Runnable alone: ``.venv/bin/pytest tests/faults -s`` (each test prints what it
injected and what it checked). ``ANALYTICS_FAULT_KILLS`` sets how many
``kill -9`` the kill test makes (20 by default; ``scripts/test`` runs 5).
"""

from __future__ import annotations

import logging
import typing as t
from pathlib import Path

import pytest

from tests.faults.proxy import FaultProxy
from tests.faults.redis_server import RedisServer

# moto's server logs every request it serves; the fault reports are what -s should show.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture
def fault_proxy(s3_endpoint: str) -> t.Iterator[FaultProxy]:
    proxy = FaultProxy(s3_endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> t.Iterator[RedisServer]:
    """A redis-server of this test's own, with an AOF (so a restart keeps the data)."""
    with RedisServer(tmp_path / "redis", aof=True) as server:
        yield server


def report(what: str, *lines: object) -> None:
    """What a fault test injected and checked, for ``pytest -s``."""
    print(f"\n[fault] {what}")
    for line in lines:
        print(f"        {line}")
