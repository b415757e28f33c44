"""Shared fixtures: a Redis database of the suite's own, an S3 API over HTTP
(moto's server mode in this process), fresh hooks and settings per test.

Environment for the suite (set by scripts/test, overridable):
- ``ANALYTICS_TEST_REDIS_URL``: default ``redis://127.0.0.1:6379/15``; the
  database is flushed before and after every test that uses it.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import socket
import sys
import tempfile
import types
import typing as t
from pathlib import Path

import boto3
import pytest
import redis as redis_lib

import config
import hooks

# A developer's .env (scripts/run writes one in the checkout) must not reach the
# tests, nor the flask, gunicorn and worker processes they start: Flask's switch,
# honoured by config.load_dotenv too.
os.environ["FLASK_SKIP_DOTENV"] = "1"
# Prometheus samples (metrics.py, multiprocess mode) of the suite and of the
# servers it starts go to a directory of the run's own, not the checkout's .run/.
_METRICS_DIR = tempfile.mkdtemp(prefix="analytics-test-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR
atexit.register(shutil.rmtree, _METRICS_DIR, True)

TEST_REDIS_URL = os.environ.get("ANALYTICS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_PREFIX = "analytics-test:"
TEST_BUCKET = "analytics-test-events"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _fresh_settings() -> t.Iterator[None]:
    config.reset_settings()
    yield
    config.reset_settings()


@pytest.fixture(autouse=True)
def _fresh_hooks() -> t.Iterator[None]:
    """Every test starts with an empty hook registry."""
    hooks.reset()
    yield
    hooks.reset()


@pytest.fixture
def redis() -> t.Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis_lib.ConnectionError as exc:  # pragma: no cover
        pytest.fail(f"test Redis at {TEST_REDIS_URL} is not reachable ({exc}); scripts/test starts one")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> t.Iterator[str]:
    """moto's S3 server on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(_AWS_ENV, AWS_ENDPOINT_URL_S3=endpoint)
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL_S3": "",
}


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> t.Iterator[t.Any]:
    """An empty bucket on the moto server (boto3 resource Bucket), removed after."""
    s3 = boto3.resource("s3", endpoint_url=s3_endpoint)
    bucket = s3.Bucket(TEST_BUCKET)
    bucket.create()
    yield bucket
    bucket.objects.all().delete()
    bucket.delete()


def aws_env(s3_endpoint: str) -> dict[str, str]:
    """Environment for a subprocess (gunicorn, rq worker) that talks to moto."""
    return {**_AWS_ENV, "AWS_ENDPOINT_URL_S3": s3_endpoint}


@pytest.fixture
def make_settings(tmp_path: Path) -> t.Callable[..., config.Settings]:
    """Settings for a test: Redis on the test database and prefix, a local
    source in ``tmp_path/events`` unless ``ANALYTICS_SOURCE`` is given."""

    def make(**overrides: str) -> config.Settings:
        env = {
            "ANALYTICS_SOURCE": str(tmp_path / "events"),
            "REDIS_URL": TEST_REDIS_URL,
            "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
            "ANALYTICS_SECRET_KEY": "test-secret",
            **overrides,
        }
        return config.Settings.from_env(env)

    (tmp_path / "events").mkdir(exist_ok=True)
    return make


def import_fresh(module: str) -> types.ModuleType:
    """Run ``module``'s import-time registrations once on the (reset) hooks, as
    ``ANALYTICS_INTEGRATIONS`` does in a new process: import it the first time,
    reload it after. ``reload(import_module(m))`` would register twice on a
    first import, and each registration is a subscriber of its own."""
    if module in sys.modules:
        return importlib.reload(sys.modules[module])
    return importlib.import_module(module)
