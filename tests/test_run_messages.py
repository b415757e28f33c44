"""What the export says when there is nothing new, what the CLI prints for a
usage mistake, and what the scheduler logs when it starts: a person reads
these, so each is checked as they see it."""

from __future__ import annotations

import os
import subprocess
import typing as t
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker

import config
import hooks
from jobs import export_hooks, tasks
from jobs.export import EMPTY_RUNS_BEFORE_WARNING
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"
ADVICE = "longer interval"

delivered: list[str] = []
logs: list[tuple[str, int]] = []


def sink(data: str) -> None:
    delivered.append(data)


def refuse(data: str) -> None:
    raise RuntimeError("the BI tool is down")


def remember(message: str, level: int) -> None:
    logs.append((message, level))


@pytest.fixture(autouse=True)
def _hooked() -> t.Iterator[None]:
    delivered.clear()
    logs.clear()
    hooks.add_action(export_hooks.DATA_PROCESS, sink)
    hooks.add_action(export_hooks.LOG, remember, 10, 2)
    yield


def scheduled_run() -> None:
    """The scheduled export as workers run it: the periodic job (it enqueues a
    delivery job per subscriber), then those jobs, on a real RQ worker in this
    process (so it sees the hooks this test registered)."""
    tasks.export_job()
    settings = config.get_settings()
    redis = config.redis_connection(settings.redis_url)
    SimpleWorker([Queue(settings.queue_name, connection=redis)], connection=redis).work(burst=True)


def advised() -> list[str]:
    return [m for m, level in logs if ADVICE in m and level == export_hooks.E_USER_WARNING]


def test_a_run_by_hand_with_nothing_new_gives_no_interval_advice(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    import wsgi

    store = Store("local", root=tmp_path / "events")
    settings = make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning")
    store.put(hour_ago(2), "s-1", event_lines("x", 2))
    runner = wsgi.create_app(settings).test_cli_runner()
    assert runner.invoke(args=["export", "run"]).exit_code == 0
    for _ in range(EMPTY_RUNS_BEFORE_WARNING + 1):
        result = runner.invoke(args=["export", "run"])
        assert result.exit_code == 0 and result.output == "Nothing new to export.\n", result.output
    assert advised() == []
    assert ("No new files found to export.", export_hooks.E_USER_NOTICE) in logs

    replay = runner.invoke(args=["export", "replay", "--since", f"{hour_ago(2):%Y-%m-%dT%H}"])
    assert replay.exit_code == 0, replay.output
    assert len(delivered) == 2, "the replay delivered the object again"
    assert advised() == []


def test_the_scheduled_run_advises_after_several_empty_runs_in_a_row(
    redis: redis_lib.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real job function the worker runs, settings from the environment."""
    store = Store("local", root=tmp_path / "events")
    (tmp_path / "events").mkdir()
    for name, value in {
        "ANALYTICS_SOURCE": str(store.root),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_EXPORT_START": "beginning",
        "ANALYTICS_INTEGRATIONS": "",
    }.items():
        monkeypatch.setenv(name, value)
    store.put(hour_ago(2), "s-1", event_lines("x", 1))
    scheduled_run()
    assert len(delivered) == 1

    for _ in range(EMPTY_RUNS_BEFORE_WARNING - 1):
        scheduled_run()
    assert advised() == [], "two empty runs are not yet 'several'"
    scheduled_run()
    assert len(advised()) == 1
    assert f"in {EMPTY_RUNS_BEFORE_WARNING} scheduled runs in a row" in advised()[0]
    scheduled_run()
    assert len(advised()) == 1, "once per streak"

    store.put(hour_ago(1), "s-2", event_lines("y", 1))
    scheduled_run()  # found something: the streak starts again
    assert len(delivered) == 2
    for _ in range(EMPTY_RUNS_BEFORE_WARNING - 1):
        scheduled_run()
    assert len(advised()) == 1
    scheduled_run()
    assert len(advised()) == 2


def test_replays_never_advise_a_longer_interval(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """A replay repeats runs until one finds nothing left: that last run is no
    scheduled run finding nothing, so no number of replays gets the advice."""
    import wsgi

    store = Store("local", root=tmp_path / "events")
    settings = make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning")
    store.put(hour_ago(2), "s-1", event_lines("x", 1))
    runner = wsgi.create_app(settings).test_cli_runner()
    for _ in range(EMPTY_RUNS_BEFORE_WARNING + 1):
        replay = runner.invoke(args=["export", "replay", "--since", f"{hour_ago(2):%Y-%m-%dT%H}"])
        assert replay.exit_code == 0, replay.output
    assert len(delivered) == EMPTY_RUNS_BEFORE_WARNING + 1, "each replay delivered the object again"
    assert advised() == []
    assert not [m for m, _ in logs if m.startswith("No new files")]


def test_a_run_by_hand_while_the_subscriber_waits_to_retry_does_not_say_there_is_nothing_new(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    """The object is there, waiting for the subscriber's retry time: "No new
    files found" would be wrong; the CLI says the subscriber is waiting."""
    import wsgi

    store = Store("local", root=tmp_path / "events")
    settings = make_settings(ANALYTICS_SOURCE=str(store.root), ANALYTICS_EXPORT_START="beginning")
    store.put(hour_ago(2), "s-1", event_lines("x", 1))
    hooks.remove_all_actions(export_hooks.DATA_PROCESS)
    hooks.add_action(export_hooks.DATA_PROCESS, refuse)
    runner = wsgi.create_app(settings).test_cli_runner()
    runner.invoke(args=["export", "run"])  # the delivery fails: retried after the backoff
    again = runner.invoke(args=["export", "run"])
    assert f"  {__name__}.refuse: waiting for its retry time" in again.output, again.output
    assert not [m for m, _ in logs if m.startswith("No new files")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "replay"], "Error: Missing option '--since'."),
        (["demo-data"], "Error: Missing option '--start'."),
        (["users", "create"], "Error: Missing argument 'LOGIN'."),
        (["app-passwords", "revoke"], "Error: Missing argument 'LOGIN'."),
        (["export", "requeue"], "Error: Missing argument 'KEY'."),
        (["export", "nonsense"], "Error: No such command 'nonsense'."),
        (["scheduler", "--poll-interval", "0"], "Error: Invalid value for '--poll-interval': 0 is not in the range"),
    ],
)
def test_a_usage_mistake_is_one_line(args: list[str], message: str) -> None:
    """The real ``flask`` executable, as a person types it."""
    env = {"PATH": os.environ["PATH"], "FLASK_SKIP_DOTENV": "1", "REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [str(FLASK), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(message), result.stderr


def test_the_scheduler_logs_its_jobs_once(redis: redis_lib.Redis, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "FLASK_SKIP_DOTENV": "1",
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SOURCE": str(tmp_path),
    }
    result = subprocess.run(
        [str(FLASK), "--app", "wsgi", "scheduler", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "catalog-warm" in line]
    assert len(lines) == 1, lines
    assert "created ['catalog-warm', 'export', 'reconcile']" in lines[0]
