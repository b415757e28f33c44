"""The failed-login throttle (accounts.throttle) against a real Redis.

Expected values come from the documented rules: README "Security and
reliability" (``ANALYTICS_LOGIN_LIMIT`` failures per client IP and per account
within ``ANALYTICS_LOGIN_WINDOW`` seconds, then refused until the window ends;
a success clears the account's count, not the IP's; a login and its email
count as one), README's ``ANALYTICS_REDIS_PREFIX`` (the first characters of
every key the service writes, so deployments can share one Redis) and RFC 9110
section 10.2.3 (``Retry-After`` in whole seconds).
"""

from __future__ import annotations

import typing as t

import pytest

import config
from accounts import Accounts
from accounts.throttle import Throttle, account_id, login_throttle, wait_text

if t.TYPE_CHECKING:
    import redis as redis_lib

IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"


def keys_of(redis: redis_lib.Redis) -> list[bytes]:
    return sorted(t.cast("list[bytes]", redis.keys("*")))


def fail(throttle: Throttle, ip: str | None, account: str, times: int) -> None:
    for _ in range(times):
        throttle.record_failure(ip, account)


# -- account_id ----------------------------------------------------------------


def test_a_login_and_its_email_name_one_account(redis: redis_lib.Redis, make_settings: t.Any) -> None:
    settings: config.Settings = make_settings()
    accounts = Accounts(redis, settings.redis_prefix, settings.secret_key)
    alice = accounts.create_user("alice", "alice@example.com", "editor")
    by_login = account_id(accounts.get_user("alice"), "alice")
    by_email = account_id(accounts.get_user("alice@example.com"), "alice@example.com")
    assert by_login == by_email
    # An unknown name is its own account, whatever its case and spacing.
    assert account_id(None, "  John   SMITH ") == account_id(None, "john smith")
    assert account_id(None, "john smith") != account_id(None, "johnsmith")
    # A typed name never shares a counter with a user's id.
    assert account_id(None, "alice") != account_id(alice, "alice")


def test_only_case_and_spacing_fold_unknown_names() -> None:
    # "straße" and "strasse" are two different names (upper-casing would merge them: "STRASSE").
    assert account_id(None, "straße") != account_id(None, "strasse")
    assert account_id(None, "STRAßE") == account_id(None, "straße")


# -- the counters --------------------------------------------------------------


def test_refused_after_limit_failures_until_the_window_ends(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, "t:", "login", limit=3, window=120)
    fail(throttle, IP, "name-bob", 2)
    assert throttle.retry_after(IP, "name-bob") is None
    throttle.record_failure(IP, "name-bob")
    wait = throttle.retry_after(IP, "name-bob")
    # The window began at the first failure: its TTL, in whole seconds.
    assert wait is not None and 119 <= wait <= 120


def test_the_ip_counter_refuses_every_account_and_the_account_counter_every_ip(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, "t:", "login", limit=3, window=120)
    for name in ("name-a", "name-b", "name-c"):
        throttle.record_failure(IP, name)
    assert throttle.retry_after(IP, "name-d") is not None  # one client guessing many accounts
    assert throttle.retry_after(OTHER_IP, "name-d") is None
    fail(throttle, OTHER_IP, "name-e", 1)
    fail(throttle, "192.0.2.1", "name-e", 1)
    fail(throttle, None, "name-e", 1)
    assert throttle.retry_after("192.0.2.99", "name-e") is not None  # many clients guessing one account
    assert throttle.retry_after(None, "name-e") is not None


def test_a_success_clears_the_accounts_count_not_the_ips(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, "t:", "login", limit=3, window=120)
    fail(throttle, IP, "name-carol", 2)
    throttle.record_success("name-carol")
    fail(throttle, OTHER_IP, "name-carol", 2)
    assert throttle.retry_after(OTHER_IP, "name-carol") is None  # 2 since the success, not 4
    throttle.record_failure("192.0.2.1", "name-dave")
    assert throttle.retry_after(IP, "name-x") is None
    throttle.record_failure(IP, "name-carol")  # the IP's third failure: its count survived the success
    assert throttle.retry_after(IP, "name-x") is not None


def test_scopes_and_prefixes_keep_their_own_counters(redis: redis_lib.Redis) -> None:
    login = Throttle(redis, "one:", "login", limit=1, window=60)
    other_scope = Throttle(redis, "one:", "other", limit=1, window=60)
    other_deployment = Throttle(redis, "two:", "login", limit=1, window=60)
    login.record_failure(IP, "name-bob")
    assert login.retry_after(IP, "name-bob") is not None
    assert other_scope.retry_after(IP, "name-bob") is None
    assert other_deployment.retry_after(IP, "name-bob") is None
    assert all(key.startswith(b"one:") for key in keys_of(redis))


def test_every_counter_expires_with_its_window(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, "t:", "login", limit=5, window=90)
    fail(throttle, IP, "name-bob", 3)
    keys = keys_of(redis)
    assert len(keys) == 2  # the IP's and the account's
    assert all(0 < redis.ttl(key) <= 90 for key in keys)


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (3, 0), (-1, 60)])
def test_limit_and_window_must_be_positive(redis: redis_lib.Redis, limit: int, window: int) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Throttle(redis, "t:", "login", limit=limit, window=window)


# -- reporting a refusal once per window -----------------------------------------


def test_a_refusal_is_reported_once_per_ip_and_account(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, "t:", "login", limit=1, window=60)
    assert throttle.first_refusal(IP, "name-bob", 60) is True
    assert throttle.first_refusal(IP, "name-bob", 60) is False
    assert throttle.first_refusal(IP, "name-eve", 60) is True
    assert throttle.first_refusal(OTHER_IP, "name-bob", 60) is True
    assert throttle.first_refusal(None, "name-bob", 60) is True  # no IP known: its own report
    assert throttle.first_refusal(None, "name-bob", 60) is False
    assert Throttle(redis, "t:", "other").first_refusal(IP, "name-bob", 60) is True
    assert Throttle(redis, "u:", "login").first_refusal(IP, "name-bob", 60) is True


def test_the_report_mark_lasts_the_wait_and_at_least_a_second(redis: redis_lib.Redis) -> None:
    throttle = Throttle(redis, "t:", "login")
    throttle.first_refusal(IP, "name-bob", 45)
    (mark,) = keys_of(redis)
    assert mark.startswith(b"t:")
    assert 0 < redis.ttl(mark) <= 45
    redis.flushdb()
    # A TTL of 0 would remove the mark at once (Redis refuses EX 0): one second.
    assert throttle.first_refusal(IP, "name-bob", 0) is True
    (mark,) = keys_of(redis)
    assert redis.ttl(mark) == 1


# -- the deployment's throttle and its message -------------------------------------


def test_login_throttle_follows_the_settings(redis: redis_lib.Redis, make_settings: t.Any) -> None:
    settings: config.Settings = make_settings(
        ANALYTICS_REDIS_PREFIX="site7:", ANALYTICS_LOGIN_LIMIT="2", ANALYTICS_LOGIN_WINDOW="40"
    )
    throttle = login_throttle(redis, settings)
    throttle.record_failure(IP, "name-bob")
    assert throttle.retry_after(IP, "name-bob") is None
    throttle.record_failure(IP, "name-bob")
    wait = throttle.retry_after(IP, "name-bob")
    assert wait is not None and 39 <= wait <= 40
    assert keys_of(redis) and all(key.startswith(b"site7:") for key in keys_of(redis))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1 minute"),
        (1, "1 minute"),
        (59, "1 minute"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (120, "2 minutes"),
        (121, "3 minutes"),
        (300, "5 minutes"),
    ],
)
def test_wait_text_rounds_up_to_whole_minutes(seconds: int, text: str) -> None:
    assert wait_text(seconds) == text
