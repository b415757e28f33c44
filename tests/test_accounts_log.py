"""The account store's log: every change and every failed login leaves one
INFO line on ``accounts.store`` naming who and what, the trail an operator
reads (README: the service's own log lines go to stderr at
``ANALYTICS_LOG_LEVEL``, INFO by default). No line holds a password (README "Security and reliability")."""

from __future__ import annotations

import logging
import typing as t

import pytest

import config
from accounts import Accounts, IncorrectPassword, InvalidUsername

if t.TYPE_CHECKING:
    import redis as redis_lib

PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings]) -> Accounts:
    settings = make_settings()
    return Accounts(redis, settings.redis_prefix, settings.secret_key)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> t.Callable[[], list[str]]:
    caplog.set_level(logging.INFO, logger="accounts.store")

    def read() -> list[str]:
        got = [r.getMessage() for r in caplog.records if r.name == "accounts.store" and r.levelno == logging.INFO]
        caplog.clear()
        return got

    return read


def test_user_changes_are_logged(accounts: Accounts, lines: t.Callable[[], list[str]]) -> None:
    alice = accounts.create_user("alice", "alice@example.com", "editor")
    assert lines() == [f"created user alice (id {alice.id}, role editor)"]
    bob = accounts.create_user("bob", "bob@example.com", "")
    assert lines() == [f"created user bob (id {bob.id}, role none)"]
    accounts.set_role("alice", "author")
    assert lines() == ["set role of alice to author (blog default)"]
    accounts.set_role("alice", "administrator", blog_id=3)
    assert lines() == ["set role of alice to administrator (blog 3)"]
    accounts.set_super_admin("alice", True)
    assert lines() == ["super admin of alice set to True"]
    accounts.set_password("alice", PASSWORD)
    assert lines() == ["set the sign-in password of alice"]
    accounts.delete_user("bob")
    assert lines() == [f"deleted user bob (id {bob.id})"]


def test_application_password_changes_and_failures_are_logged(
    accounts: Accounts, lines: t.Callable[[], list[str]]
) -> None:
    accounts.create_user("alice", "alice@example.com", "editor")
    lines()
    plain, item = accounts.create_app_password("alice", "Power BI")
    assert lines() == [f"created application password 'Power BI' ({item.uuid}) for alice"]
    _, looker = accounts.create_app_password("alice", "Looker")
    assert accounts.revoke_app_password("alice", looker.uuid) is True
    assert lines() == [
        f"created application password 'Looker' ({looker.uuid}) for alice",
        f"revoked application password {looker.uuid} of alice",
    ]
    accounts.create_app_password("alice", "Looker")
    lines()
    with pytest.raises(InvalidUsername):
        accounts.authenticate("mallory", plain)
    assert lines() == ["application password login failed: unknown user 'mallory'"]
    with pytest.raises(IncorrectPassword):
        accounts.authenticate("alice", "x" * 24)
    assert lines() == ["application password login failed: incorrect password for alice"]
    assert accounts.revoke_all_app_passwords("alice") == 2
    assert lines() == ["revoked all 2 application passwords of alice"]
    assert all(plain not in line for line in lines())


def test_a_wrong_sign_in_password_is_logged_without_the_password(
    accounts: Accounts, lines: t.Callable[[], list[str]]
) -> None:
    accounts.create_user("alice", "alice@example.com", "editor")
    accounts.set_password("alice", PASSWORD)
    lines()
    with pytest.raises(IncorrectPassword):
        accounts.check_password("alice@example.com", "wrong password!")
    assert lines() == ["sign-in failed: incorrect password for alice"]
