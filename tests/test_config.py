"""Settings: defaults, every accepted form, and a one-line error naming the
variable for every malformed value (also through the real CLI)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.source.kind == "local" and s.source.path == Path("./data/events").resolve()
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.redis_prefix == "analytics:"
    assert s.integrations == ()
    assert s.sites == {} and s.blog_id_for_host("anything.example:8000") == 1
    assert s.late_hours == 2
    assert s.export_batch_bytes == 8 * 1024 * 1024
    assert (s.export_retry_base, s.export_retry_max) == (60, 3600)
    assert s.export_start == "now" and s.reconcile_days == 7
    assert s.export_lock_ttl == 60


@pytest.mark.parametrize(
    ("value", "kind", "bucket", "prefix"),
    [
        ("s3://my-bucket", "s3", "my-bucket", ""),
        ("s3://my-bucket/", "s3", "my-bucket", ""),
        ("s3://my-bucket/firehose/raw/", "s3", "my-bucket", "firehose/raw/"),
        ("s3://my.bucket-1/p", "s3", "my.bucket-1", "p/"),
    ],
)
def test_s3_sources(value: str, kind: str, bucket: str, prefix: str) -> None:
    loc = Settings.from_env({"ANALYTICS_SOURCE": value}).source
    assert (loc.kind, loc.bucket, loc.prefix) == (kind, bucket, prefix)
    assert loc.describe().startswith(f"s3://{bucket}")


def test_local_sources(tmp_path: Path) -> None:
    assert Settings.from_env({"ANALYTICS_SOURCE": str(tmp_path)}).source.path == tmp_path
    assert Settings.from_env({"ANALYTICS_SOURCE": f"file://{tmp_path}"}).source.path == tmp_path


def test_sites_map_hosts_to_blogs_and_unknown_hosts_to_none() -> None:
    s = Settings.from_env({"ANALYTICS_SITES": "Example.com=1, shop.example.com:8080=2"})
    assert s.blog_id_for_host("example.com") == 1
    assert s.blog_id_for_host("EXAMPLE.com:443") == 1
    assert s.blog_id_for_host("shop.example.com") == 2
    assert s.blog_id_for_host("other.example.com") is None


def test_queue_name_follows_the_prefix_unless_set() -> None:
    assert Settings.from_env({}).queue_name == "analytics-export"
    assert Settings.from_env({"ANALYTICS_REDIS_PREFIX": "shop:"}).queue_name == "shop-export"
    assert Settings.from_env({"ANALYTICS_REDIS_PREFIX": "shop:", "ANALYTICS_QUEUE": "bi"}).queue_name == "bi"


def test_export_start_accepts_a_date() -> None:
    assert Settings.from_env({"ANALYTICS_EXPORT_START": "2026-11-01"}).export_start == dt.date(2026, 11, 1)
    assert Settings.from_env({"ANALYTICS_EXPORT_START": "beginning"}).export_start == "beginning"


def test_integrations_are_a_comma_separated_list() -> None:
    s = Settings.from_env({"ANALYTICS_INTEGRATIONS": "integrations.segment, acme.bi ,"})
    assert s.integrations == ("integrations.segment", "acme.bi")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ANALYTICS_SOURCE", "", "ANALYTICS_SOURCE is empty"),
        ("ANALYTICS_SOURCE", "s3://", "invalid S3 bucket name"),
        ("ANALYTICS_SOURCE", "s3://Bad_Bucket", "invalid S3 bucket name"),
        ("ANALYTICS_SOURCE", "gs://bucket", "scheme"),
        ("ANALYTICS_SOURCE", "file://relative/path", "must be absolute"),
        ("REDIS_URL", "localhost:6379", "not a Redis URL"),
        ("ANALYTICS_REDIS_PREFIX", "has space", "ANALYTICS_REDIS_PREFIX"),
        ("ANALYTICS_INTEGRATIONS", "integrations/segment.py", "not a module path"),
        ("ANALYTICS_SITES", "example.com", "not host=blog_id"),
        ("ANALYTICS_SITES", "example.com=0", "not host=blog_id"),
        ("ANALYTICS_SITES", "example.com=abc", "not host=blog_id"),
        ("ANALYTICS_LATE_HOURS", "-1", "from 0 to 48"),
        ("ANALYTICS_LATE_HOURS", "two", "from 0 to 48"),
        ("ANALYTICS_EXPORT_BATCH_BYTES", "10", "from 1024"),
        ("ANALYTICS_EXPORT_RETRY_BASE", "0", "ANALYTICS_EXPORT_RETRY_BASE"),
        ("ANALYTICS_EXPORT_RETRY_MAX", "30", "must be at least ANALYTICS_EXPORT_RETRY_BASE"),
        ("ANALYTICS_EXPORT_START", "yesterday", "now, beginning or a date"),
        ("ANALYTICS_RECONCILE_DAYS", "0", "from 1 to 366"),
        ("ANALYTICS_QUEUE", "bad queue", "ANALYTICS_QUEUE"),
        ("ANALYTICS_EXPORT_LOCK_TTL", "0", "ANALYTICS_EXPORT_LOCK_TTL"),
        ("ANALYTICS_LOG_LEVEL", "loud", "expected DEBUG, INFO"),
    ],
)
def test_malformed_values_name_the_variable_in_one_line(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert name in message


def test_get_settings_is_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_LATE_HOURS", "5")
    assert config.get_settings().late_hours == 5
    monkeypatch.setenv("ANALYTICS_LATE_HOURS", "6")
    assert config.get_settings().late_hours == 5
    config.reset_settings()
    assert config.get_settings().late_hours == 6


def test_cli_stops_with_one_line_on_a_bad_setting() -> None:
    env = {**os.environ, "ANALYTICS_LATE_HOURS": "lots", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "export", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert (
        proc.stderr.strip()
        == "configuration error: ANALYTICS_LATE_HOURS is 'lots': expected a whole number from 0 to 48"
    )


def test_config_events_and_demo_import_nothing_of_flask() -> None:
    """ARCHITECTURE.md: ``config`` and ``events`` know nothing of the web side
    (a plain ``rq worker`` and the catalog's pool processes need no Flask);
    the demo generator neither (only its CLI does)."""
    code = (
        "import sys, config, demo, events.catalog, events.layout, events.records, events.sources\n"
        "config.Settings.from_env({})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug', 'click')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
