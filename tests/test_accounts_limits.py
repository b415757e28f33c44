"""The limits of account fields, each checked on both sides of its bound.

Bounds from WordPress and NIST: ``user_login`` is VARCHAR(60) and
``user_email`` VARCHAR(100) in WordPress's schema (wp-admin/includes/schema.php;
``wp_insert_user`` refuses a longer login: "Username may not be longer than 60
characters."); a sign-in password has at least 8 characters (NIST SP 800-63B
5.1.1.2) and we accept up to 1024; an application password's name up to 200
characters (README); blog ids start at 1 (the main site)."""

from __future__ import annotations

import typing as t

import pytest

import config
from accounts import AccountError, Accounts
from accounts.passwords import validate_password
from accounts.users import validate_blog_id, validate_email, validate_login

if t.TYPE_CHECKING:
    import redis as redis_lib


@pytest.fixture
def accounts(redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings]) -> Accounts:
    settings = make_settings()
    return Accounts(redis, settings.redis_prefix, settings.secret_key)


def test_a_login_has_at_most_60_characters() -> None:
    assert validate_login("a" * 60) == "a" * 60
    with pytest.raises(AccountError, match="is longer than 60 characters"):
        validate_login("a" * 61)


def test_login_errors_say_what_is_allowed() -> None:
    with pytest.raises(AccountError) as empty:
        validate_login("   ")
    assert str(empty.value) == "the login is empty: use letters, digits, spaces and _ . - @"
    with pytest.raises(AccountError) as bad:
        validate_login("bob!#bob!")
    assert str(bad.value) == "the login 'bob!#bob!' has characters '!#': use only letters, digits, spaces and _ . - @"


def test_an_email_has_at_most_100_characters() -> None:
    at_limit = "a" * 88 + "@example.com"
    assert len(at_limit) == 100
    assert validate_email(at_limit) == at_limit
    with pytest.raises(AccountError):
        validate_email("a" + at_limit)


def test_a_password_has_8_to_1024_characters() -> None:
    assert validate_password("x" * 8) == "x" * 8
    assert validate_password("x" * 1024) == "x" * 1024
    with pytest.raises(AccountError, match="shorter than 8 characters"):
        validate_password("x" * 7)
    with pytest.raises(AccountError) as long:
        validate_password("x" * 1025)
    assert str(long.value) == "the password is longer than 1024 characters"


def test_blog_ids_are_whole_numbers_from_1(accounts: Accounts) -> None:
    assert validate_blog_id(1) == 1
    for bad in (0, -3, True, "2", 2.0):
        with pytest.raises(AccountError, match="is not a positive whole number"):
            validate_blog_id(bad)  # type: ignore[arg-type]
    accounts.create_user("alice", "alice@example.com", "editor")
    assert accounts.set_role("alice", "author", blog_id=1).site_roles == {1: "author"}


def test_an_application_password_name_has_1_to_200_characters(accounts: Accounts) -> None:
    accounts.create_user("alice", "alice@example.com", "editor")
    _, item = accounts.create_app_password("alice", "n" * 200)
    assert item.name == "n" * 200
    with pytest.raises(AccountError) as long:
        accounts.create_app_password("alice", "n" * 201)
    assert str(long.value) == "the application password name is longer than 200 characters"
    with pytest.raises(AccountError) as empty:
        accounts.create_app_password("alice", "  ")
    assert str(empty.value) == "the application password needs a name, e.g. the tool that will use it"
    with pytest.raises(AccountError) as nobody:
        accounts.create_app_password(" mallory ", "BI")
    assert str(nobody.value) == "no user has the login or email 'mallory'"
    with pytest.raises(AccountError) as nobody:
        accounts.set_role(" mallory ", "editor")
    assert str(nobody.value) == "no user has the login or email 'mallory'"
