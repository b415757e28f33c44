"""Users, roles and application passwords against a real Redis."""

from __future__ import annotations

import json
import re
import typing as t

import pytest
import redis as redis_lib
import redis.client

import config
from accounts import (
    ROLE_CAPABILITIES,
    AccountError,
    Accounts,
    IncorrectPassword,
    InvalidUsername,
    User,
    user_can,
)
from accounts.store import APP_PASSWORDS_KEY, USAGE_WRITE_INTERVAL, USER_EMAIL_KEY, USER_KEY, USER_LOGIN_KEY

DISPLAY_FORM = re.compile(r"^([A-Za-z0-9]{4} ){5}[A-Za-z0-9]{4}$")
T0 = 1_800_000_000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(make_settings: t.Callable[..., config.Settings]) -> config.Settings:
    return make_settings()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def accounts(redis: redis_lib.Redis, settings: config.Settings, clock: Clock) -> Accounts:
    return Accounts(redis, settings.redis_prefix, settings.secret_key, clock=clock)


# -- users ---------------------------------------------------------------------


def test_create_and_find_by_login_or_email_case_insensitively(accounts: Accounts) -> None:
    alice = accounts.create_user("Alice", "Alice@Example.com", "editor")
    assert alice == User(alice.id, "Alice", "Alice@Example.com", "editor", {}, False)
    assert accounts.get_user("Alice") == alice
    assert accounts.get_user("alice") == alice
    assert accounts.get_user("alice@example.COM") == alice
    assert accounts.get_user("  alice ") == alice
    assert accounts.get_user("bob") is None
    assert accounts.get_user("bob@example.com") is None
    assert accounts.get_user("") is None


# Each lookup worked by hand through WordPress's sanitize_user( $login ), which
# get_user_by( 'login' ) applies: tags stripped, accents removed, %XX octets and
# &entities; deleted, trimmed, whitespace runs made one space.
@pytest.mark.parametrize(
    ("lookup", "found"),
    [
        ("john  smith", "john smith"),
        ("\tJohn \r\n  Smith\x0b", "john smith"),
        ("<em>john</em> smith", "john smith"),
        ("<script>x</script>john smith", "john smith"),
        ("jöhn smîth", "john smith"),
        ("john&nbsp;smith", "johnsmith"),
        ("john%20smith", "johnsmith"),
        ("strasse", "strasse"),
        ("straße", "strasse"),
        ("john\u00a0smith", None),  # PCRE's \s without the u flag is ASCII whitespace only
        # PHP's trim() takes " \t\n\r\0\x0B" only: a no-break space or a form feed at an end stays
        # (the form feed then made one space by \s+), a NUL goes; before and after the octets go.
        ("\u00a0john smith", None),
        ("\x0cjohn smith", None),
        ("\x00john smith\x00", "john smith"),
        ("%41\u00a0john smith", None),
        ("john smith%20\x0c", None),
    ],
)
def test_lookup_by_login_goes_through_sanitize_user(accounts: Accounts, lookup: str, found: str | None) -> None:
    for login in ("john smith", "johnsmith", "strasse"):
        accounts.create_user(login, login.replace(" ", ".") + "@example.com")
    user = accounts.get_user(lookup)
    assert (user.login if user else None) == found


def test_list_users_in_creation_order_and_delete(accounts: Accounts, redis: redis_lib.Redis) -> None:
    a = accounts.create_user("a", "a@example.com")
    b = accounts.create_user("b", "b@example.com", "author", site_roles={2: "editor"})
    c = accounts.create_user("c", "c@example.com", super_admin=True)
    assert accounts.list_users() == [a, b, c]
    assert a.role == "subscriber" and b.site_roles == {2: "editor"} and c.super_admin
    accounts.create_app_password("b", "curl")
    b_keys = {
        template.format(prefix=accounts.prefix, id=b.id, user_id=b.id, login="b", email="b@example.com").encode()
        for template in (USER_KEY, APP_PASSWORDS_KEY, USER_LOGIN_KEY, USER_EMAIL_KEY)
    }
    assert b_keys <= set(redis.keys("*"))

    accounts.delete_user("B@example.com")

    assert accounts.list_users() == [a, c]
    assert accounts.get_user("b") is None and accounts.get_user("b@example.com") is None
    assert b_keys.isdisjoint(redis.keys("*"))
    # Nor is b's id left in the users' index (a sorted set of ids, read here directly).
    ids_key = f"{accounts.prefix}user:ids"
    assert redis.zrange(ids_key, 0, -1) == [str(a.id).encode(), str(c.id).encode()]
    # The login and email are free again.
    assert accounts.create_user("b", "b@example.com").id > c.id
    with pytest.raises(AccountError, match="no user has the login or email 'nobody'"):
        accounts.delete_user("nobody")


@pytest.mark.parametrize(
    ("login", "email", "message"),
    [
        ("ALICE", "other@example.com", "the login 'ALICE' is already taken"),
        ("bob", "ALICE@example.com", "the email 'ALICE@example.com' is already used by another user"),
        ("alice@example.com", "x@example.com", "the login 'alice@example.com' is another user's email"),
    ],
)
def test_duplicates_are_rejected(accounts: Accounts, login: str, email: str, message: str) -> None:
    accounts.create_user("alice", "alice@example.com")
    with pytest.raises(AccountError, match=re.escape(message)):
        accounts.create_user(login, email)
    assert [u.login for u in accounts.list_users()] == ["alice"]


def test_email_may_not_be_another_users_login(accounts: Accounts) -> None:
    accounts.create_user("carol@example.com", "carol.work@example.com")
    with pytest.raises(AccountError, match="is another user's login"):
        accounts.create_user("dave", "CAROL@example.com")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"login": "bob!"}, "the login 'bob!' has characters '!'"),
        ({"login": "<b>bob</b>"}, "use only letters, digits, spaces and _ . - @"),
        ({"login": "   "}, "the login is empty"),
        ({"login": "x" * 61}, "longer than 60 characters"),
        ({"email": "not-an-email"}, "the email 'not-an-email' is not a valid address"),
        ({"email": "a b@example.com"}, "is not a valid address"),
        ({"role": "owner"}, "unknown role 'owner': expected one of administrator, editor, author"),
        ({"site_roles": {0: "editor"}}, "the blog id 0 is not a positive whole number"),
        ({"site_roles": {2: "king"}}, "unknown role 'king'"),
    ],
)
def test_invalid_input_is_rejected_with_a_clear_message(
    accounts: Accounts, kwargs: dict[str, t.Any], message: str
) -> None:
    args: dict[str, t.Any] = {"login": "bob", "email": "bob@example.com", **kwargs}
    with pytest.raises(AccountError, match=re.escape(message)):
        accounts.create_user(**args)
    assert accounts.list_users() == []


def test_login_allows_wordpress_characters_and_collapses_spaces(accounts: Accounts) -> None:
    user = accounts.create_user("  jane   doe_1.x-y@z ", "jane@example.com")
    assert user.login == "jane doe_1.x-y@z"
    assert accounts.get_user("JANE DOE_1.X-Y@Z") == user


# -- roles and capabilities --------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "capability", "expected"),
    [
        ("administrator", "manage_options", True),
        ("administrator", "export", True),
        ("editor", "manage_options", False),
        ("editor", "edit_others_posts", True),
        ("author", "manage_options", False),
        ("author", "publish_posts", True),
        ("author", "edit_others_posts", False),
        ("contributor", "edit_posts", True),
        ("contributor", "publish_posts", False),
        ("subscriber", "read", True),
        ("subscriber", "edit_posts", False),
        ("none", "read", False),
        ("administrator", "no_such_capability", False),
    ],
)
def test_capabilities_of_each_role(accounts: Accounts, role: str, capability: str, expected: bool) -> None:
    user = accounts.create_user("u", "u@example.com", role)
    assert user_can(user, capability, 1) is expected


def test_only_administrator_has_manage_options() -> None:
    assert [role for role, caps in ROLE_CAPABILITIES.items() if "manage_options" in caps] == ["administrator"]


def test_super_admin_can_do_everything_everywhere(accounts: Accounts) -> None:
    boss = accounts.create_user("boss", "boss@example.com", "none", super_admin=True, site_roles={3: "none"})
    for blog in (1, 2, 3, 999):
        assert user_can(boss, "manage_options", blog)
        assert user_can(boss, "install_plugins", blog)
    boss = accounts.set_super_admin("boss", False)
    assert not user_can(boss, "manage_options", 1) and not user_can(boss, "read", 1)


def test_site_role_overrides_the_default_role(accounts: Accounts) -> None:
    sub = accounts.create_user("sub", "sub@example.com", "subscriber", site_roles={2: "administrator"})
    assert not user_can(sub, "manage_options", 1)
    assert user_can(sub, "manage_options", 2)

    admin = accounts.create_user("admin", "admin@example.com", "administrator", site_roles={3: "none"})
    assert user_can(admin, "manage_options", 1)
    assert not user_can(admin, "read", 3)


def test_set_role_default_and_per_site(accounts: Accounts) -> None:
    accounts.create_user("u", "u@example.com", "subscriber")
    user = accounts.set_role("u", "Administrator")
    assert user.role == "administrator" and user_can(user, "manage_options", 5)
    user = accounts.set_role("u@example.com", "editor", blog_id=5)
    assert user.site_roles == {5: "editor"} and not user_can(user, "manage_options", 5)
    user = accounts.set_role("u", "none", blog_id=6)
    assert user.site_roles == {5: "editor", 6: ""} and not user_can(user, "read", 6)
    user = accounts.set_role("u", "default", blog_id=5)
    assert user.site_roles == {6: ""} and user_can(user, "manage_options", 5)
    assert accounts.get_user("u") == user  # stored, not only returned
    with pytest.raises(AccountError, match="unknown role 'boss'"):
        accounts.set_role("u", "boss")
    with pytest.raises(AccountError, match="unknown role 'default'"):
        accounts.set_role("u", "default")
    with pytest.raises(AccountError, match="no user has the login or email 'ghost'"):
        accounts.set_role("ghost", "editor")


# -- application passwords ---------------------------------------------------------


def test_created_password_has_wordpress_format_and_details(accounts: Accounts) -> None:
    accounts.create_user("alice", "alice@example.com", "administrator")
    password, item = accounts.create_app_password("alice", "curl export")
    other, _ = accounts.create_app_password("alice", "bi tool")
    assert DISPLAY_FORM.match(password) and DISPLAY_FORM.match(other)
    assert password != other
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", item.uuid)
    assert (item.name, item.created, item.last_used, item.last_ip) == ("curl export", T0, None, None)
    assert [i.name for i in accounts.list_app_passwords("ALICE@example.com")] == ["curl export", "bi tool"]


def test_app_password_names_are_required_and_unique_per_user(accounts: Accounts) -> None:
    accounts.create_user("alice", "alice@example.com")
    accounts.create_user("bob", "bob@example.com")
    accounts.create_app_password("alice", "curl")
    with pytest.raises(AccountError, match="alice already has an application password named 'curl'"):
        accounts.create_app_password("alice", "curl")
    accounts.create_app_password("bob", "curl")  # another user may use the name
    with pytest.raises(AccountError, match="needs a name"):
        accounts.create_app_password("alice", "  ")
    with pytest.raises(AccountError, match="no user has the login or email 'carol'"):
        accounts.create_app_password("carol", "curl")


@pytest.mark.parametrize(
    "transform",
    [
        lambda p: p,
        lambda p: p.replace(" ", ""),
        lambda p: p.replace(" ", "-"),
        lambda p: f"  {p.replace(' ', '  ')} ",
    ],
    ids=["with-spaces", "without-spaces", "with-dashes", "extra-whitespace"],
)
def test_authenticate_accepts_every_spelling_of_the_password(
    accounts: Accounts, transform: t.Callable[[str], str]
) -> None:
    alice = accounts.create_user("alice", "alice@example.com", "administrator")
    password, _ = accounts.create_app_password("alice", "curl")
    assert accounts.authenticate("alice", transform(password)) == alice
    assert accounts.authenticate("Alice@Example.com", transform(password)) == alice


def test_authentication_failures(accounts: Accounts) -> None:
    accounts.create_user("alice", "alice@example.com")
    bob = accounts.create_user("bob", "bob@example.com")
    alice_pw, _ = accounts.create_app_password("alice", "curl")
    bob_pw, _ = accounts.create_app_password("bob", "curl")

    with pytest.raises(InvalidUsername) as unknown:
        accounts.authenticate("carol", alice_pw)
    assert unknown.value.code == "invalid_username" and "Unknown username" in unknown.value.message

    for wrong in (bob_pw, alice_pw[:-1] + ("a" if alice_pw[-1] != "a" else "b"), "", alice_pw[:-5]):
        with pytest.raises(IncorrectPassword) as bad:
            accounts.authenticate("alice", wrong)
        assert bad.value.code == "incorrect_password"
        assert bad.value.message == "The provided password is an invalid application password."
    assert accounts.authenticate("bob", bob_pw) == bob


def test_revoked_passwords_stop_working_one_by_one_or_all(accounts: Accounts) -> None:
    accounts.create_user("alice", "alice@example.com")
    first, first_item = accounts.create_app_password("alice", "one")
    second, _ = accounts.create_app_password("alice", "two")
    third, _ = accounts.create_app_password("alice", "three")

    assert accounts.revoke_app_password("alice", first_item.uuid.upper()) is True
    assert accounts.revoke_app_password("alice", first_item.uuid) is False
    with pytest.raises(IncorrectPassword):
        accounts.authenticate("alice", first)
    assert accounts.authenticate("alice", second).login == "alice"

    assert accounts.revoke_all_app_passwords("alice") == 2
    assert accounts.list_app_passwords("alice") == []
    for password in (second, third):
        with pytest.raises(IncorrectPassword):
            accounts.authenticate("alice", password)
    assert accounts.revoke_all_app_passwords("alice") == 0


def test_last_used_and_ip_are_written_at_most_once_a_minute(accounts: Accounts, clock: Clock) -> None:
    accounts.create_user("alice", "alice@example.com")
    password, _ = accounts.create_app_password("alice", "curl")

    def usage() -> tuple[int | None, str | None]:
        (item,) = accounts.list_app_passwords("alice")
        return item.last_used, item.last_ip

    clock.now = T0 + 100
    accounts.authenticate("alice", password, ip="10.0.0.1")
    assert usage() == (T0 + 100, "10.0.0.1")

    clock.now = T0 + 100 + USAGE_WRITE_INTERVAL - 1
    accounts.authenticate("alice", password, ip="10.0.0.2")
    assert usage() == (T0 + 100, "10.0.0.1")

    clock.now = T0 + 100 + USAGE_WRITE_INTERVAL
    accounts.authenticate("alice", password, ip="10.0.0.2")
    assert usage() == (T0 + 100 + USAGE_WRITE_INTERVAL, "10.0.0.2")


def test_usage_is_recorded_only_for_the_password_used(accounts: Accounts) -> None:
    accounts.create_user("alice", "alice@example.com")
    used, _ = accounts.create_app_password("alice", "used")
    accounts.create_app_password("alice", "idle")
    accounts.authenticate("alice", used, ip="192.0.2.7")
    by_name = {i.name: i for i in accounts.list_app_passwords("alice")}
    assert (by_name["used"].last_used, by_name["used"].last_ip) == (T0, "192.0.2.7")
    assert (by_name["idle"].last_used, by_name["idle"].last_ip) == (None, None)


def _every_stored_byte(redis: redis_lib.Redis) -> list[bytes]:
    stored: list[bytes] = []
    for key in redis.scan_iter("*"):
        stored.append(key)
        kind = redis.type(key)
        if kind == b"string":
            stored.append(redis.get(key))
        elif kind == b"hash":
            for field, value in redis.hgetall(key).items():
                stored += [field, value]
        elif kind == b"zset":
            stored += redis.zrange(key, 0, -1)
        else:  # pragma: no cover - we only write these three types
            pytest.fail(f"unexpected Redis type {kind!r} at {key!r}")
    return stored


def test_the_password_is_never_stored(accounts: Accounts, redis: redis_lib.Redis, settings: config.Settings) -> None:
    accounts.create_user("alice", "alice@example.com")
    password, _ = accounts.create_app_password("alice", "curl")
    accounts.authenticate("alice", password, ip="10.0.0.1")
    raw = password.replace(" ", "").encode()
    stored = _every_stored_byte(redis)
    assert stored, "nothing was stored"
    for blob in stored:
        assert raw not in blob and password.encode() not in blob
        assert raw.lower() not in blob.lower()
    # Every key lives under the configured prefix.
    assert all(key.startswith(settings.redis_prefix.encode()) for key in redis.scan_iter("*"))


def test_the_hash_is_keyed_by_the_secret(accounts: Accounts, redis: redis_lib.Redis, settings: config.Settings) -> None:
    accounts.create_user("alice", "alice@example.com")
    password, _ = accounts.create_app_password("alice", "curl")
    other_key = Accounts(redis, settings.redis_prefix, "another-secret")
    with pytest.raises(IncorrectPassword):
        other_key.authenticate("alice", password)
    same_key = Accounts(redis, settings.redis_prefix, settings.secret_key)
    assert same_key.authenticate("alice", password).login == "alice"


def test_prefixes_keep_deployments_apart(accounts: Accounts, redis: redis_lib.Redis, settings: config.Settings) -> None:
    accounts.create_user("alice", "alice@example.com")
    password, _ = accounts.create_app_password("alice", "curl")
    elsewhere = Accounts(redis, "elsewhere:", settings.secret_key)
    assert elsewhere.list_users() == []
    with pytest.raises(InvalidUsername):
        elsewhere.authenticate("alice", password)


def test_role_levels_are_wordpress_s() -> None:
    # populate_roles_160: the user levels each role of WordPress 1.5 had, kept as capabilities
    # (administrator level_10..level_0, editor level_7..0, author level_2..0, contributor
    # level_1..0, subscriber level_0).
    tops = {"administrator": 10, "editor": 7, "author": 2, "contributor": 1, "subscriber": 0}
    for role, top in tops.items():
        levels = {cap for cap in ROLE_CAPABILITIES[role] if cap.startswith("level_")}
        assert levels == {f"level_{n}" for n in range(top + 1)}, role


def test_a_site_role_set_to_default_goes_away_even_when_there_was_none(accounts: Accounts) -> None:
    alice = accounts.create_user("alice", "alice@example.com", "editor")
    assert accounts.set_role("alice", "default", blog_id=5).site_roles == {}
    accounts.set_role("alice", "author", blog_id=2)
    assert accounts.set_role("alice", "default", blog_id=2).site_roles == {}
    assert accounts.get_user_by_id(alice.id) == accounts.get_user("alice")
    assert accounts.get_user_by_id(alice.id + 1000) is None


def test_listed_application_passwords_keep_their_creation_time(accounts: Accounts, clock: Clock) -> None:
    accounts.create_user("alice", "alice@example.com", "editor")
    accounts.create_app_password("alice", "first")
    clock.now = T0 + 90
    accounts.create_app_password("alice", "second")
    listed = accounts.list_app_passwords("alice")
    assert [(i.name, i.created) for i in listed] == [("first", T0), ("second", T0 + 90)]


def test_application_passwords_created_in_the_same_second_list_in_creation_order(
    accounts: Accounts, clock: Clock
) -> None:
    # WordPress lists a user's application passwords in creation order. The records
    # are long enough that Redis keeps them in a hash table, whose order is not
    # the insertion order: twelve in one second tell the creation order apart.
    accounts.create_user("alice", "alice@example.com", "editor")
    names = [f"tool {n}" for n in range(12)]
    for name in names:
        accounts.create_app_password("alice", name)
    assert [item.name for item in accounts.list_app_passwords("alice")] == names
    assert {item.created for item in accounts.list_app_passwords("alice")} == {T0}


def test_an_application_password_recorded_before_the_creation_sequence_still_lists(
    accounts: Accounts, redis: redis_lib.Redis, settings: config.Settings, clock: Clock
) -> None:
    # Records written before commit ecc8855 have no "seq" field: they still list,
    # by their creation time, before a newer one of the same second.
    alice = accounts.create_user("alice", "alice@example.com", "editor")
    old = {"uuid": "0f0e0d0c-0b0a-4908-8706-050403020100", "name": "old", "created": T0, "hash": "x" * 64}
    old |= {"last_used": None, "last_ip": None}
    redis.hset(APP_PASSWORDS_KEY.format(prefix=settings.redis_prefix, user_id=alice.id), old["uuid"], json.dumps(old))
    accounts.create_app_password("alice", "new")
    assert [(item.name, item.created) for item in accounts.list_app_passwords("alice")] == [("old", T0), ("new", T0)]


def test_a_user_deleted_meanwhile_is_named_in_the_error(
    accounts: Accounts, redis: redis_lib.Redis, settings: config.Settings
) -> None:
    # A change to a user whose hash is gone between the lookup of the login and
    # the write (another process deleted it; here the login index is left
    # pointing at a deleted id) fails naming the login, and writes nothing.
    redis.set(USER_LOGIN_KEY.format(prefix=settings.redis_prefix, login="ghost"), 99)
    with pytest.raises(AccountError, match=r"^no user has the login or email 'ghost'$"):
        accounts.set_role("ghost", "editor")
    assert not redis.exists(USER_KEY.format(prefix=settings.redis_prefix, id=99))


def test_a_user_deleted_while_an_application_password_is_made_gets_none(
    redis: redis_lib.Redis, settings: config.Settings
) -> None:
    # The store reads the clock after finding the user and before its WATCH
    # transaction: a clock that deletes the user puts a deletion exactly there.
    def deleting_clock() -> float:
        Accounts(redis, settings.redis_prefix, settings.secret_key).delete_user("alice")
        return T0

    alice = Accounts(redis, settings.redis_prefix, settings.secret_key).create_user("alice", "alice@example.com")
    racing = Accounts(redis, settings.redis_prefix, settings.secret_key, clock=deleting_clock)
    with pytest.raises(AccountError, match=r"^no user has the login or email 'alice'$"):
        racing.create_app_password("alice", "curl")
    assert not redis.exists(APP_PASSWORDS_KEY.format(prefix=settings.redis_prefix, user_id=alice.id))


class _WrittenBeforeMulti(redis_lib.Redis):
    """A client whose next WATCH transaction meets another connection's write
    after its reads and before its MULTI: where a concurrent process can land."""

    def __init__(self, base: redis_lib.Redis, write: t.Callable[[], object]) -> None:
        super().__init__(connection_pool=base.connection_pool)
        self.pending = [write]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> redis.client.Pipeline:
        pending = self.pending

        class Pipeline(redis.client.Pipeline):
            def multi(self) -> None:
                if pending:
                    pending.pop()()
                super().multi()

        return Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def test_a_user_deleted_after_the_checks_of_a_new_application_password_gets_none(
    redis: redis_lib.Redis, settings: config.Settings
) -> None:
    alice = Accounts(redis, settings.redis_prefix, settings.secret_key).create_user("alice", "alice@example.com")
    racing = _WrittenBeforeMulti(
        redis, lambda: Accounts(redis, settings.redis_prefix, settings.secret_key).delete_user("alice")
    )
    with pytest.raises(AccountError, match=r"^no user has the login or email 'alice'$"):
        Accounts(racing, settings.redis_prefix, settings.secret_key).create_app_password("alice", "curl")
    assert not redis.exists(APP_PASSWORDS_KEY.format(prefix=settings.redis_prefix, user_id=alice.id))


def test_two_processes_naming_an_application_password_alike_at_once_make_one(
    redis: redis_lib.Redis, settings: config.Settings
) -> None:
    """Names are unique per user (WordPress), also when another process makes
    the same name between this one's check and its write."""
    other = Accounts(redis, settings.redis_prefix, settings.secret_key)
    other.create_user("alice", "alice@example.com")
    racing = _WrittenBeforeMulti(redis, lambda: other.create_app_password("alice", "curl"))
    with pytest.raises(AccountError, match=r"^alice already has an application password named 'curl'$"):
        Accounts(racing, settings.redis_prefix, settings.secret_key).create_app_password("alice", "curl")
    assert [p.name for p in other.list_app_passwords("alice")] == ["curl"]
