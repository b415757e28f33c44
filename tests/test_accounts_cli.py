"""``flask --app wsgi users ...`` and ``app-passwords ...``: through Flask's CLI
runner, and once as a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from click.testing import Result
from flask.testing import FlaskCliRunner

import config
from accounts import Accounts, IncorrectPassword
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL, free_port
from wsgi import create_app

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
DISPLAY_FORM = re.compile(r"^([A-Za-z0-9]{4} ){5}[A-Za-z0-9]{4}$")


@pytest.fixture
def settings(make_settings: t.Callable[..., config.Settings]) -> config.Settings:
    return make_settings()


@pytest.fixture
def runner(redis: redis_lib.Redis, settings: config.Settings) -> FlaskCliRunner:
    return create_app(settings).test_cli_runner()


@pytest.fixture
def accounts(redis: redis_lib.Redis, settings: config.Settings) -> Accounts:
    return Accounts(redis, settings.redis_prefix, settings.secret_key)


def ok(runner: FlaskCliRunner, *args: str, input: str | None = None) -> Result:
    result = runner.invoke(args=list(args), input=input)
    assert result.exit_code == 0, result.output
    return result


def one_line_error(runner: FlaskCliRunner, *args: str, exit_code: int = 1) -> str:
    """Run a command that must fail; return its single output line."""
    result = runner.invoke(args=list(args))
    assert result.exit_code == exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def table(output: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


# -- users ---------------------------------------------------------------------


def test_users_create_and_list(runner: FlaskCliRunner, accounts: Accounts) -> None:
    out = ok(runner, "users", "create", "alice", "--email", "alice@example.com", "--role", "administrator").output
    assert out == "Created user alice <alice@example.com> (id 1, role administrator).\n"
    ok(
        runner,
        "users",
        "create",
        "bob",
        "--email",
        "bob@example.com",
        "--site-role",
        "2=editor",
        "--site-role",
        "3=none",
    )
    ok(runner, "users", "create", "root", "--email", "root@example.com", "--role", "none", "--super-admin")

    rows = table(ok(runner, "users", "list").output)
    assert rows == [
        ["ID", "LOGIN", "EMAIL", "ROLE", "SITE ROLES", "SUPER ADMIN"],
        ["1", "alice", "alice@example.com", "administrator", "-", "no"],
        ["2", "bob", "bob@example.com", "subscriber", "2=editor,3=none", "no"],
        ["3", "root", "root@example.com", "none", "-", "yes"],
    ]
    bob = accounts.get_user("bob@example.com")
    assert bob is not None and bob.site_roles == {2: "editor", 3: ""}


def test_users_list_when_empty(runner: FlaskCliRunner) -> None:
    assert ok(runner, "users", "list").output.startswith("No users.")


def test_users_errors_are_one_line(runner: FlaskCliRunner) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    assert one_line_error(runner, "users", "create", "Alice", "--email", "a2@example.com") == (
        "Error: the login 'Alice' is already taken"
    )
    assert "unknown role 'boss'" in one_line_error(
        runner, "users", "create", "b", "--email", "b@x.org", "--role", "boss"
    )
    assert "is not a valid address" in one_line_error(runner, "users", "create", "b", "--email", "nope")
    assert one_line_error(runner, "users", "set-role", "ghost", "editor") == (
        "Error: no user has the login or email 'ghost'"
    )
    assert "unknown role 'king'" in one_line_error(runner, "users", "set-role", "alice", "king")
    assert (
        one_line_error(runner, "users", "delete", "ghost", "--yes") == "Error: no user has the login or email 'ghost'"
    )


def test_users_bad_site_role_is_a_usage_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create", "b", "--email", "b@x.org", "--site-role", "two=editor"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: Invalid value for '--site-role': 'two=editor' is not BLOG=ROLE: expected e.g. 2=editor"]


def test_a_site_role_splits_at_the_first_equals_sign(runner: FlaskCliRunner) -> None:
    # BLOG=ROLE: a blog id is digits, so "2=editor=x" is blog 2 with the role
    # "editor=x", refused as a role (exit 1), not as a malformed BLOG=ROLE (exit 2).
    result = runner.invoke(args=["users", "create", "b", "--email", "b@x.org", "--site-role", "2=editor=x"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: unknown role 'editor=x'"), result.output


def test_users_set_role_default_and_per_blog(runner: FlaskCliRunner, accounts: Accounts) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    out = ok(runner, "users", "set-role", "alice@example.com", "editor").output
    assert out == "Updated user alice <alice@example.com> (id 1, role editor).\n"
    out = ok(runner, "users", "set-role", "alice", "administrator", "--blog", "4").output
    assert out == "Updated user alice <alice@example.com> (id 1, role editor; blog 4: administrator).\n"
    user = accounts.get_user("alice")
    assert user is not None and (user.role, user.site_roles) == ("editor", {4: "administrator"})
    result = runner.invoke(args=["users", "set-role", "alice", "editor", "--blog", "0"])
    assert result.exit_code == 2 and "Invalid value for '--blog'" in result.output


def test_users_set_super_admin(runner: FlaskCliRunner, accounts: Accounts) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    assert "; super admin)" in ok(runner, "users", "set-super-admin", "alice").output
    assert accounts.get_user("alice").super_admin  # type: ignore[union-attr]
    assert "super admin" not in ok(runner, "users", "set-super-admin", "alice", "--revoke").output
    assert not accounts.get_user("alice").super_admin  # type: ignore[union-attr]


def test_users_delete_asks_unless_yes(runner: FlaskCliRunner, accounts: Accounts) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    password, _ = accounts.create_app_password("alice", "curl")

    refused = runner.invoke(args=["users", "delete", "alice"], input="n\n")
    assert refused.exit_code == 1 and "Delete user alice and their 1 application password(s)?" in refused.output
    assert accounts.get_user("alice") is not None

    assert ok(runner, "users", "delete", "alice", input="y\n").output.endswith("Deleted user alice.\n")
    assert accounts.get_user("alice") is None
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    with pytest.raises(IncorrectPassword):  # the old password died with the old user
        accounts.authenticate("alice", password)
    ok(runner, "users", "delete", "alice", "--yes")
    assert accounts.list_users() == []


# -- application passwords ---------------------------------------------------------


def test_app_password_create_prints_the_password_last(runner: FlaskCliRunner, accounts: Accounts) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com", "--role", "administrator")
    output = ok(runner, "app-passwords", "create", "alice", "curl export").output
    assert output.endswith("\n") and not output.endswith("\n\n")
    password = output.splitlines()[-1]
    assert DISPLAY_FORM.match(password), output
    assert accounts.authenticate("alice@example.com", password).login == "alice"
    (item,) = accounts.list_app_passwords("alice")
    assert item.uuid in output and item.name == "curl export"


def test_app_password_list_shows_usage(runner: FlaskCliRunner, accounts: Accounts) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    assert ok(runner, "app-passwords", "list", "alice").output == "alice has no application passwords.\n"
    used = ok(runner, "app-passwords", "create", "alice", "used").output.splitlines()[-1]
    ok(runner, "app-passwords", "create", "alice", "idle")
    accounts.authenticate("alice", used, ip="203.0.113.9")

    rows = table(ok(runner, "app-passwords", "list", "alice").output)
    assert rows[0] == ["UUID", "NAME", "CREATED", "LAST USED", "LAST IP"]
    by_name = {row[1]: row for row in rows[1:]}
    assert set(by_name) == {"used", "idle"}
    assert by_name["idle"][3:] == ["never", "-"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", by_name["used"][3])
    assert by_name["used"][4] == "203.0.113.9"
    assert {row[0] for row in rows[1:]} == {i.uuid for i in accounts.list_app_passwords("alice")}
    assert used.replace(" ", "") not in ok(runner, "app-passwords", "list", "alice").output.replace(" ", "")


def test_app_password_revoke_one_or_all(runner: FlaskCliRunner, accounts: Accounts) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    first = ok(runner, "app-passwords", "create", "alice", "one").output.splitlines()[-1]
    second = ok(runner, "app-passwords", "create", "alice", "two").output.splitlines()[-1]
    third = ok(runner, "app-passwords", "create", "alice", "three").output.splitlines()[-1]
    uuid = next(i.uuid for i in accounts.list_app_passwords("alice") if i.name == "one")

    assert ok(runner, "app-passwords", "revoke", "alice", uuid).output == (
        f"Revoked application password {uuid} of alice.\n"
    )
    with pytest.raises(IncorrectPassword):
        accounts.authenticate("alice", first)
    assert accounts.authenticate("alice", second).login == "alice"
    assert one_line_error(runner, "app-passwords", "revoke", "alice", uuid) == (
        f"Error: alice has no application password {uuid} (see: app-passwords list alice)"
    )

    assert ok(runner, "app-passwords", "revoke", "alice", "--all").output == (
        "Revoked 2 application password(s) of alice.\n"
    )
    for password in (second, third):
        with pytest.raises(IncorrectPassword):
            accounts.authenticate("alice", password)


def test_app_password_revoke_needs_exactly_one_target(runner: FlaskCliRunner) -> None:
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    for args in (["alice"], ["alice", "some-uuid", "--all"]):
        result = runner.invoke(args=["app-passwords", "revoke", *args])
        assert result.exit_code == 2
        assert "Error: give either a UUID or --all" in result.output


def test_app_password_errors_are_one_line(runner: FlaskCliRunner) -> None:
    assert one_line_error(runner, "app-passwords", "create", "ghost", "curl") == (
        "Error: no user has the login or email 'ghost'"
    )
    assert one_line_error(runner, "app-passwords", "list", "ghost") == "Error: no user has the login or email 'ghost'"
    ok(runner, "users", "create", "alice", "--email", "alice@example.com")
    ok(runner, "app-passwords", "create", "alice", "curl")
    assert one_line_error(runner, "app-passwords", "create", "alice", "curl") == (
        "Error: alice already has an application password named 'curl'"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["users", "create", "alice", "--email", "alice@example.com"],
        ["app-passwords", "create", "alice", "curl"],
        ["app-passwords", "revoke", "alice", "--all"],
    ],
)
def test_redis_unreachable_is_one_line(make_settings: t.Callable[..., config.Settings], args: list[str]) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    runner = create_app(make_settings(REDIS_URL=url)).test_cli_runner()
    line = one_line_error(runner, *args)
    assert line.startswith(f"Error: cannot reach Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}: ")
    assert "hunter2" not in line


# -- the real command ----------------------------------------------------------------


def _flask(tmp_path: Path, *args: str, redis_url: str = TEST_REDIS_URL) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDIS_URL": redis_url,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SECRET_KEY": "subprocess-secret",
        "ANALYTICS_SOURCE": str(tmp_path),
    }
    flask = Path(sys.executable).parent / "flask"
    return subprocess.run(
        [str(flask), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_real_flask_command_creates_a_working_password(redis: redis_lib.Redis, tmp_path: Path) -> None:
    created = _flask(tmp_path, "users", "create", "alice", "--email", "alice@example.com", "--role", "administrator")
    assert created.returncode == 0, created.stderr
    made = _flask(tmp_path, "app-passwords", "create", "alice", "curl")
    assert made.returncode == 0, made.stderr
    # stderr carries only the audit log line, never a warning or a traceback
    assert "created application password 'curl'" in made.stderr
    assert not any(word in made.stderr for word in ("WARNING", "ERROR", "Traceback")), made.stderr
    password = made.stdout.splitlines()[-1]
    assert DISPLAY_FORM.match(password), made.stdout

    accounts = Accounts(redis, TEST_PREFIX, "subprocess-secret")
    assert accounts.authenticate("alice", password).login == "alice"
    with pytest.raises(IncorrectPassword):  # hashed with the subprocess's secret, not another
        Accounts(redis, TEST_PREFIX, "test-secret").authenticate("alice", password)

    failed = _flask(tmp_path, "users", "list", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert failed.returncode == 1 and failed.stdout == ""
    assert len(failed.stderr.strip().splitlines()) == 1 and "cannot reach Redis at" in failed.stderr


def test_users_list_is_a_table_of_columns_aligned_on_the_widest_cell(runner: FlaskCliRunner) -> None:
    out = ok(
        runner,
        "users",
        "create",
        "alice",
        "--email",
        "alice@example.com",
        "--role",
        "administrator",
        "--site-role",
        "3=author",
        "--site-role",
        "1=editor",
    ).output
    assert out == "Created user alice <alice@example.com> (id 1, role administrator; blog 1: editor, blog 3: author).\n"
    ok(runner, "users", "create", "bo", "--email", "b@x.org", "--role", "")
    # Worked by hand: each column as wide as its widest cell (header or value), two spaces
    # between columns, no trailing spaces.
    assert ok(runner, "users", "list").output.splitlines() == [
        "ID  LOGIN  EMAIL              ROLE           SITE ROLES         SUPER ADMIN",
        "1   alice  alice@example.com  administrator  1=editor,3=author  no",
        "2   bo     b@x.org            none           -                  no",
    ]


def test_app_password_times_are_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from accounts.cli import _time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert _time(0) == "1970-01-01 00:00:00 UTC"
        assert _time(1_000_000_000) == "2001-09-09 01:46:40 UTC"  # the Unix billennium
        assert _time(None) == "never"
    finally:
        monkeypatch.undo()
        time.tzset()
