"""Helpers shared by the destination tests (webhook, S3, PostgreSQL): demo data
read back independently of ``events.records``, a destination module loaded
with its environment, and the real export CLI as a subprocess."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import types
import typing as t
from pathlib import Path

import pytest

import config
import demo
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL, import_fresh

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(ROOT / ".venv" / "bin" / "flask")
DEMO_DAY = dt.date(2026, 11, 20)


def load(module: str, monkeypatch: pytest.MonkeyPatch, prefix: str, **env: str) -> types.ModuleType:
    """Import (again) the destination ``module`` with exactly ``env`` among the
    variables starting with ``prefix``: it registers its callbacks on the
    (freshly reset) hooks, as ``ANALYTICS_INTEGRATIONS`` would."""
    for name in list(os.environ):
        if name.startswith(prefix):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return import_fresh(module)


def write_demo(events_dir: Path, events_per_day: int = 400, sites: tuple[int, ...] = (1, 2)) -> None:
    demo.generate(events_dir, DEMO_DAY, 1, events_per_day, sites=sites, seed=7)


def source_events(events_dir: Path) -> list[tuple[bytes, dict[str, t.Any]]]:
    """Every event of the source as (stripped line, parsed object), read with
    the standard library only: gunzip by magic bytes, one JSON object a line."""
    found: list[tuple[bytes, dict[str, t.Any]]] = []
    for path in sorted(p for p in events_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        body = path.read_bytes()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        for line in body.splitlines():
            if line.strip():
                found.append((line.strip(), json.loads(line)))
    return found


def export_env(events_dir: Path, integration: str, **extra: str) -> dict[str, str]:
    """Environment of a real ``flask --app wsgi export run`` or worker on the test Redis."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")},
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": str(events_dir),
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_QUEUE": "analytics-destinations-test",
        "ANALYTICS_INTEGRATIONS": integration,
        "ANALYTICS_EXPORT_LOCK_TTL": "5",
        **extra,
    }


def flask(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def settings(events_dir: Path, **env: str) -> config.Settings:
    return config.Settings.from_env(
        {
            "ANALYTICS_SOURCE": str(events_dir),
            "REDIS_URL": TEST_REDIS_URL,
            "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
            "ANALYTICS_EXPORT_START": "beginning",
            **env,
        }
    )
