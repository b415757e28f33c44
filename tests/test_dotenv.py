"""``config.load_dotenv``: the checkout's ``.env`` fills in what the
environment does not set, as Flask's CLI does, and Flask's
``FLASK_SKIP_DOTENV`` switch turns it off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import config


def test_the_environment_wins_and_the_file_fills_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\nANALYTICS_LATE_HOURS=5\nANALYTICS_SITES='a.test=1,b.test=2'\n")
    monkeypatch.delenv("FLASK_SKIP_DOTENV")
    monkeypatch.delenv("ANALYTICS_LATE_HOURS", raising=False)
    monkeypatch.setenv("ANALYTICS_SITES", "c.test=3")
    assert config.load_dotenv(path) is True
    assert os.environ["ANALYTICS_LATE_HOURS"] == "5"
    assert os.environ["ANALYTICS_SITES"] == "c.test=3"
    monkeypatch.delenv("ANALYTICS_LATE_HOURS")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_flask_skip_dotenv_turns_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    path = tmp_path / ".env"
    path.write_text("ANALYTICS_LATE_HOURS=5\n")
    monkeypatch.setenv("FLASK_SKIP_DOTENV", value)
    monkeypatch.delenv("ANALYTICS_LATE_HOURS", raising=False)
    assert config.load_dotenv(path) is False
    assert "ANALYTICS_LATE_HOURS" not in os.environ


def test_a_missing_file_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_SKIP_DOTENV")
    assert config.load_dotenv(tmp_path / "absent.env") is False
