"""Sign-in passwords (``users set-password``, ``Accounts.check_password``) and
the failed-login throttle (``accounts.throttle``), against the test Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import argon2
import pytest
from flask.testing import FlaskCliRunner

import config
from accounts import Accounts, IncorrectPassword, InvalidUsername
from accounts.store import USER_KEY
from accounts.throttle import Throttle, account_id
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL
from wsgi import create_app

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(make_settings: t.Callable[..., config.Settings]) -> config.Settings:
    return make_settings()


@pytest.fixture
def accounts(redis: redis_lib.Redis, settings: config.Settings) -> Accounts:
    accounts = Accounts(redis, settings.redis_prefix, settings.secret_key)
    accounts.create_user("alice", "alice@example.com", role="administrator")
    return accounts


@pytest.fixture
def runner(accounts: Accounts, settings: config.Settings) -> FlaskCliRunner:
    return create_app(settings).test_cli_runner()


# ------------------------------------------------------------------ set-password


def test_set_password_reads_standard_input_and_the_password_then_signs_in(
    runner: FlaskCliRunner, accounts: Accounts
) -> None:
    result = runner.invoke(args=["users", "set-password", "alice"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "Set the sign-in password of alice."
    assert accounts.check_password("alice", PASSWORD).login == "alice"
    assert accounts.check_password("ALICE@example.com", PASSWORD).login == "alice"  # email, any case
    with pytest.raises(IncorrectPassword, match="The password you entered for the username alice is incorrect"):
        accounts.check_password("alice", PASSWORD.upper())


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["alice"], "short\n", "Error: the password is shorter than 8 characters: choose a longer one"),
        (["alice"], "", "Error: no password on standard input: pipe it, or run at a terminal to be asked"),
        (["bob"], PASSWORD + "\n", "Error: no user has the login or email 'bob'"),
    ],
)
def test_set_password_refuses_in_one_line(runner: FlaskCliRunner, args: list[str], stdin: str, message: str) -> None:
    result = runner.invoke(args=["users", "set-password", *args], input=stdin)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [message]


def test_the_real_command_takes_the_password_from_a_pipe(accounts: Accounts, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")},
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SECRET_KEY": "test-secret",
        "ANALYTICS_SOURCE": str(tmp_path),
    }
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [str(flask), "--app", "wsgi", "users", "set-password", "alice@example.com"],
        input=PASSWORD + "\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert accounts.check_password("alice", PASSWORD).email == "alice@example.com"


def test_sign_in_errors_are_wordpress_s(accounts: Accounts) -> None:
    with pytest.raises(IncorrectPassword):  # a user without a sign-in password cannot sign in
        accounts.check_password("alice", "")
    accounts.set_password("alice", PASSWORD)
    # wp_authenticate_username_password's messages, without their <strong> markup.
    with pytest.raises(InvalidUsername) as unknown_login:
        accounts.check_password("bob", PASSWORD)
    assert str(unknown_login.value) == (
        "The username bob is not registered on this site. "
        "If you are unsure of your username, try your email address instead."
    )
    with pytest.raises(InvalidUsername) as unknown_email:
        accounts.check_password("bob@example.com", PASSWORD)
    assert str(unknown_email.value) == "Unknown email address. Check again or try your username."


def test_no_password_at_all_signs_in_a_user_who_has_none(accounts: Accounts) -> None:
    """A user without a sign-in password cannot sign in with any password, not
    even the text of the stand-in hash an unknown login is checked against
    (accounts/passwords.py, ``_DUMMY_HASH``): the check must fail because there
    is no hash, not only because the password does not match."""
    for attempt in ("\x00 no user has this password \x00", "", PASSWORD):
        with pytest.raises(IncorrectPassword):
            accounts.check_password("alice", attempt)


def test_a_hash_of_older_parameters_is_upgraded_on_sign_in(accounts: Accounts, redis: redis_lib.Redis) -> None:
    user = accounts.set_password("alice", PASSWORD)
    key = USER_KEY.format(prefix=TEST_PREFIX, id=user.id)
    # What an older release stored: Argon2id with weaker parameters than RFC 9106's profile.
    old = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    redis.hset(key, "pass", old)
    with pytest.raises(IncorrectPassword):  # a wrong password upgrades nothing
        accounts.check_password("alice", "not the password")
    assert redis.hget(key, "pass") == old.encode()
    assert accounts.check_password("alice", PASSWORD).login == "alice"
    upgraded = t.cast("bytes", redis.hget(key, "pass")).decode()
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # argon2-cffi's defaults (RFC 9106)
    assert argon2.PasswordHasher().verify(upgraded, PASSWORD)
    # A current hash is kept: rewriting it at each sign-in would end the user's
    # other sessions (they keep a fingerprint of the hash).
    fingerprint = accounts.password_fingerprint(user.id)
    assert accounts.check_password("alice", PASSWORD).id == user.id
    assert redis.hget(key, "pass") == upgraded.encode()
    assert accounts.password_fingerprint(user.id) == fingerprint


def test_a_new_password_changes_the_fingerprint_and_the_old_one_fails(accounts: Accounts) -> None:
    user = accounts.set_password("alice", PASSWORD)
    before = accounts.password_fingerprint(user.id)
    accounts.set_password("alice", PASSWORD + "!")
    assert before is not None and accounts.password_fingerprint(user.id) not in (None, before)
    with pytest.raises(IncorrectPassword):
        accounts.check_password("alice", PASSWORD)
    assert accounts.password_fingerprint(999) is None


def test_application_passwords_do_not_sign_in_and_sign_in_passwords_are_not_app_passwords(
    accounts: Accounts,
) -> None:
    """WordPress keeps the two apart: an application password cannot be used
    for a traditional login, nor the user's password over the REST API."""
    accounts.set_password("alice", PASSWORD)
    app_password, _ = accounts.create_app_password("alice", "curl")
    with pytest.raises(IncorrectPassword):
        accounts.check_password("alice", app_password)
    with pytest.raises(IncorrectPassword):
        accounts.authenticate("alice", PASSWORD)


# ------------------------------------------------------------------ throttle


def test_the_throttle_counts_per_ip_and_per_account(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, TEST_PREFIX, limit=3, window=300)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1", "user-1") is None
        throttle.record_failure("10.0.0.1", "user-1")
    wait = throttle.retry_after("10.0.0.1", "user-1")
    assert wait is not None and 0 < wait <= 300
    assert throttle.retry_after("10.0.0.2", "user-1") is not None  # same account, another client
    assert throttle.retry_after("10.0.0.1", "user-2") is not None  # same client, another account
    assert throttle.retry_after("10.0.0.2", "user-2") is None


def test_a_success_clears_the_account_but_not_the_client(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, TEST_PREFIX, limit=3, window=300)
    for account in ("user-1", "user-1", "user-2"):
        throttle.record_failure("10.0.0.1", account)
    throttle.record_success("user-1")
    assert throttle.retry_after("10.0.0.9", "user-1") is None
    assert throttle.retry_after("10.0.0.1", "user-3") is not None  # the client's 3 failures stay


def test_the_window_ends_on_its_own(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, TEST_PREFIX, limit=1, window=1)
    throttle.record_failure("10.0.0.1", "user-1")
    assert throttle.retry_after("10.0.0.1", "user-1") == 1
    deadline = time.monotonic() + 10
    while throttle.retry_after("10.0.0.1", "user-1") is not None:
        assert time.monotonic() < deadline, "the throttle window never ended"
        time.sleep(0.1)


def test_login_and_email_are_one_account(accounts: Accounts) -> None:
    by_login = account_id(accounts.get_user("alice"), "alice")
    by_email = account_id(accounts.get_user("Alice@Example.com"), "Alice@Example.com")
    assert by_login == by_email
    assert account_id(None, "  Nobody  Here ") == account_id(None, "nobody here")


def test_the_throttle_refuses_a_meaningless_setting(redis: redis_lib.Redis) -> None:
    with pytest.raises(ValueError, match="positive"):
        Throttle(redis, TEST_PREFIX, limit=0)


def test_login_throttle_settings_default_to_ten_in_five_minutes() -> None:
    settings = config.Settings.from_env({})
    assert (settings.login_limit, settings.login_window) == (10, 300)
    with pytest.raises(config.ConfigError, match="ANALYTICS_LOGIN_LIMIT is 'many'"):
        config.Settings.from_env({"ANALYTICS_LOGIN_LIMIT": "many"})
