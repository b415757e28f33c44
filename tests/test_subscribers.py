"""Every callback on ``altis.analytics.export.data.process`` is its own
subscriber (WordPress calls each one), under a name that is the same in every
process: the real export delivering to two instances' bound methods, two
lambdas from one factory and an explicitly named lambda, through a local
source and real Redis, and ``export status`` run in another process."""

from __future__ import annotations

import importlib
import os
import subprocess
import time
import typing as t
from pathlib import Path

import orjson
import pytest

import config
import hooks
from jobs import export_hooks, subscribers
from jobs.export import run_export
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from tests.integrations_fixtures import twins
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.integrations_fixtures.twins"
#: The names the README's rule gives, worked out by hand: import path, then
#: "#2" for the second callback of the same path; an explicit name as given.
EXPECTED = {
    "warehouse-eu": f"{MODULE}.Warehouse.process",
    "warehouse-us": f"{MODULE}.Warehouse.process#2",
    "lambda-1": f"{MODULE}.collector.<locals>.<lambda>",
    "lambda-2": f"{MODULE}.collector.<locals>.<lambda>#2",
    "named": "acme-archive",
}


@pytest.fixture(autouse=True)
def _twins() -> t.Iterator[None]:
    twins.RECEIVED.clear()
    twins.FAILING.clear()
    twins.register()
    yield
    twins.RECEIVED.clear()
    twins.FAILING.clear()


def received(label: str) -> list[str]:
    return [tag for data in twins.RECEIVED.get(label, []) for tag in tags(data)]


def test_subscriber_names_follow_the_documented_rule() -> None:
    assert [s.name for s in subscribers.current()] == list(EXPECTED.values())


def test_one_callback_hooked_twice_is_one_subscriber() -> None:
    hooks.reset()
    sink = twins.Warehouse("twice")
    hooks.add_action(export_hooks.DATA_PROCESS, sink.process, 10)
    hooks.add_action(export_hooks.DATA_PROCESS, sink.process, 20)
    assert [s.name for s in subscribers.current()] == [f"{MODULE}.Warehouse.process"]


def test_a_bad_explicit_name_falls_back_to_the_import_path(caplog: pytest.LogCaptureFixture) -> None:
    hooks.reset()
    bad = twins.collector("bad")
    bad.analytics_subscriber_name = "two words"  # type: ignore[attr-defined]
    hooks.add_action(export_hooks.DATA_PROCESS, bad)
    assert [s.name for s in subscribers.current()] == [f"{MODULE}.collector.<locals>.<lambda>"]
    assert "ignoring analytics_subscriber_name='two words'" in caplog.text


def test_every_same_named_callback_gets_all_data_with_its_own_progress(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    import wsgi

    store = Store("local", root=tmp_path / "events")
    settings = make_settings(
        ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning", ANALYTICS_EXPORT_RETRY_BASE="60"
    )
    store.put(hour_ago(3), "stream-a", event_lines("a", 3))
    store.put(hour_ago(2), "stream-b", event_lines("b", 2), gzipped=True)
    now = [time.time()]

    report = run_export(settings, clock=lambda: now[0])

    for label in EXPECTED:
        assert received(label) == ["a-0", "a-1", "a-2", "b-0", "b-1"], label
    assert sorted(report.delivered) == sorted(EXPECTED.values())

    # One of two same-named subscribers fails: the other, and everyone else, go on.
    twins.FAILING.add("warehouse-eu")
    store.put(hour_ago(1), "stream-c", event_lines("c", 2))
    report = run_export(settings, clock=lambda: now[0])
    assert received("warehouse-eu") == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    for label in ("warehouse-us", "lambda-1", "lambda-2", "named"):
        assert received(label)[-2:] == ["c-0", "c-1"], label
    assert list(report.failures) == [EXPECTED["warehouse-eu"]]

    runner = wsgi.create_app(settings).test_cli_runner()
    status = orjson.loads(runner.invoke(args=["export", "status", "--json"]).output)
    by_name = {s["name"]: s for s in status["subscribers"]}
    assert sorted(by_name) == sorted(EXPECTED.values())
    assert by_name[EXPECTED["warehouse-eu"]]["last_error"] == "ConnectionError: warehouse-eu: BI tool unreachable"
    assert by_name[EXPECTED["warehouse-eu"]]["pending"] == 1
    assert by_name[EXPECTED["warehouse-us"]]["last_error"] is None
    assert by_name[EXPECTED["warehouse-us"]]["pending"] == 0
    text = runner.invoke(args=["export", "status"]).output
    for name in EXPECTED.values():
        assert f"subscriber {name}\n" in text, text

    now[0] += 61  # past the retry time: the failed one catches up, nobody gets a batch twice
    run_export(settings, clock=lambda: now[0])
    for label in EXPECTED:
        assert received(label) == ["a-0", "a-1", "a-2", "b-0", "b-1", "c-0", "c-1"], label


def test_names_are_the_same_in_another_process(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    store = Store("local", root=tmp_path / "events")
    settings = make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning")
    store.put(hour_ago(2), "stream-a", event_lines("a", 2))
    run_export(settings)
    assert all(received(label) == ["a-0", "a-1"] for label in EXPECTED)

    # A fresh process imports the integration and finds each one's stored
    # progress under the same name: all hooked, nothing pending.
    env = {
        "PATH": os.environ["PATH"],
        "FLASK_SKIP_DOTENV": "1",
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": str(store.root),
        "ANALYTICS_INTEGRATIONS": MODULE,
    }
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "export", "status", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    listed = {s["name"]: s for s in orjson.loads(out)["subscribers"]}
    assert sorted(listed) == sorted(EXPECTED.values())
    assert all(s["hooked"] and s["pending"] == 0 and s["position"].endswith("stream-a") for s in listed.values())


def test_reloading_the_integration_keeps_the_names() -> None:
    """``load_integrations`` after ``hooks.reset()`` (a worker's next job) registers
    fresh objects: the names, and so the stored progress, stay the same."""
    hooks.reset()
    importlib.reload(twins)
    assert [s.name for s in subscribers.current()] == list(EXPECTED.values())
