"""``flask --app wsgi users ...`` and ``flask --app wsgi app-passwords ...``.

Every failure is one line on stderr and a non-zero exit (``click.ClickException``),
never a traceback. ``app-passwords create`` prints the password as its last line
so scripts can take it with ``tail -n 1``.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

import click

import config
from accounts.errors import AccountError
from accounts.roles import ROLE_CAPABILITIES
from accounts.store import Accounts
from app_settings import app_settings
from cli_errors import OneLineGroup, one_line_errors

if t.TYPE_CHECKING:
    from flask import Flask

    from accounts.users import User

_ROLE_HELP = f"one of {', '.join(ROLE_CAPABILITIES)} or none"

users_cli = OneLineGroup("users", help="Create, list, change and delete users.")
app_passwords_cli = OneLineGroup("app-passwords", help="Create, list and revoke a user's application passwords.")


def register_cli(app: Flask) -> None:
    """Add the ``users`` and ``app-passwords`` command groups to ``app``."""
    app.cli.add_command(users_cli)
    app.cli.add_command(app_passwords_cli)


#: Every command's expected failures, as one line (``cli_errors``).
_one_line_errors = one_line_errors(AccountError)


def _settings() -> config.Settings:
    return app_settings()


def _accounts() -> Accounts:
    settings = _settings()
    return Accounts(config.redis_connection(settings.redis_url), settings.redis_prefix, settings.secret_key)


def _site_role(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[int, str]:
    roles: dict[int, str] = {}
    for value in values:
        blog, sep, role = value.partition("=")
        if not sep or not blog.strip().isdigit() or int(blog) < 1:
            raise click.BadParameter(f"{value!r} is not BLOG=ROLE: expected e.g. 2=editor", ctx=ctx, param=param)
        roles[int(blog)] = role.strip()
    return roles


def _table(headers: t.Sequence[str], rows: t.Sequence[t.Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for row in (headers, *rows):
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _role_name(role: str) -> str:
    return role or "none"


def _describe(user: User) -> str:
    sites = ", ".join(f"blog {blog}: {_role_name(role)}" for blog, role in sorted(user.site_roles.items()))
    extra = f"; {sites}" if sites else ""
    admin = "; super admin" if user.super_admin else ""
    return f"{user.login} <{user.email}> (id {user.id}, role {_role_name(user.role)}{extra}{admin})"


def _time(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- users -------------------------------------------------------------------


@users_cli.command("create")
@click.argument("login")
@click.option("--email", required=True, help="The user's email address; also accepted as login.")
@click.option("--role", default="subscriber", show_default=True, help=f"Default role on every site: {_ROLE_HELP}.")
@click.option("--super-admin", is_flag=True, help="Every capability on every site.")
@click.option(
    "--site-role",
    "site_roles",
    multiple=True,
    callback=_site_role,
    metavar="BLOG=ROLE",
    help="Role on one site (blog id), overriding --role there; repeatable.",
)
@_one_line_errors
def create_user(login: str, email: str, role: str, super_admin: bool, site_roles: dict[int, str]) -> None:
    """Create a user LOGIN."""
    user = _accounts().create_user(login, email, role, super_admin=super_admin, site_roles=site_roles)
    click.echo(f"Created user {_describe(user)}.")


@users_cli.command("list")
@_one_line_errors
def list_users() -> None:
    """List every user with their roles."""
    users = _accounts().list_users()
    if not users:
        click.echo("No users. Create one with: flask --app wsgi users create LOGIN --email E --role R")
        return
    rows = [
        (
            str(u.id),
            u.login,
            u.email,
            _role_name(u.role),
            ",".join(f"{blog}={_role_name(role)}" for blog, role in sorted(u.site_roles.items())) or "-",
            "yes" if u.super_admin else "no",
        )
        for u in users
    ]
    _table(("ID", "LOGIN", "EMAIL", "ROLE", "SITE ROLES", "SUPER ADMIN"), rows)


@users_cli.command("set-role", help=f"Set the ROLE of LOGIN (user name or email): {_ROLE_HELP}.")
@click.argument("login")
@click.argument("role")
@click.option("--blog", type=click.IntRange(min=1), help="Set the role on this site only (ROLE 'default' removes it).")
@_one_line_errors
def set_role(login: str, role: str, blog: int | None) -> None:
    user = _accounts().set_role(login, role, blog_id=blog)
    click.echo(f"Updated user {_describe(user)}.")


@users_cli.command("set-super-admin")
@click.argument("login")
@click.option("--revoke", is_flag=True, help="Take super admin away instead of granting it.")
@_one_line_errors
def set_super_admin(login: str, revoke: bool) -> None:
    """Make LOGIN a super admin (every capability on every site), or --revoke it."""
    user = _accounts().set_super_admin(login, not revoke)
    click.echo(f"Updated user {_describe(user)}.")


@users_cli.command("set-password")
@click.argument("login")
@_one_line_errors
def set_password(login: str) -> None:
    """Set the sign-in password of LOGIN (user name or email) for the admin pages.

    Asked twice at a terminal (not echoed); otherwise read as the first line of
    standard input, so scripts can pipe it (never pass it as an argument: it
    would show in the process list and shell history)."""
    accounts = _accounts()
    if accounts.get_user(login) is None:
        raise AccountError(f"no user has the login or email {login.strip()!r}")
    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        line = sys.stdin.readline()
        if not line:
            raise AccountError("no password on standard input: pipe it, or run at a terminal to be asked")
        password = line.removesuffix("\n").removesuffix("\r")
    user = accounts.set_password(login, password)
    click.echo(f"Set the sign-in password of {user.login}.")


@users_cli.command("delete")
@click.argument("login")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_one_line_errors
def delete_user(login: str, yes: bool) -> None:
    """Delete LOGIN and all their application passwords."""
    accounts = _accounts()
    user = accounts.get_user(login)
    if user is None:
        raise AccountError(f"no user has the login or email {login.strip()!r}")
    if not yes:
        count = len(accounts.list_app_passwords(user.login))
        click.confirm(f"Delete user {user.login} and their {count} application password(s)?", abort=True)
    accounts.delete_user(user.login)
    click.echo(f"Deleted user {user.login}.")


# -- application passwords -----------------------------------------------------


@app_passwords_cli.command("create")
@click.argument("login")
@click.argument("name")
@_one_line_errors
def create_app_password(login: str, name: str) -> None:
    """Create an application password called NAME for LOGIN; prints it as the last line."""
    if not _settings().secret_key:
        click.echo("warning: ANALYTICS_SECRET_KEY is empty; set it in production (changing it later revokes all).")
    password, item = _accounts().create_app_password(login, name)
    click.echo(f"Created application password {item.name!r} (uuid {item.uuid}) for {login}.")
    click.echo("Copy it now; it is not shown again. Use it with HTTP Basic auth as the password:")
    click.echo(password)


@app_passwords_cli.command("list")
@click.argument("login")
@_one_line_errors
def list_app_passwords(login: str) -> None:
    """List LOGIN's application passwords (never the passwords themselves)."""
    items = _accounts().list_app_passwords(login)
    if not items:
        click.echo(f"{login} has no application passwords.")
        return
    rows = [(i.uuid, i.name, _time(i.created), _time(i.last_used), i.last_ip or "-") for i in items]
    _table(("UUID", "NAME", "CREATED", "LAST USED", "LAST IP"), rows)


@app_passwords_cli.command("revoke")
@click.argument("login")
@click.argument("uuid", required=False)
@click.option("--all", "revoke_all", is_flag=True, help="Revoke every application password of LOGIN.")
@_one_line_errors
def revoke_app_password(login: str, uuid: str | None, revoke_all: bool) -> None:
    """Revoke one application password of LOGIN by UUID, or --all of them."""
    if (uuid is None) == (not revoke_all):
        raise click.UsageError("give either a UUID or --all (see: app-passwords list LOGIN)")
    accounts = _accounts()
    if revoke_all:
        count = accounts.revoke_all_app_passwords(login)
        click.echo(f"Revoked {count} application password(s) of {login}.")
        return
    assert uuid is not None
    if not accounts.revoke_app_password(login, uuid):
        raise AccountError(f"{login} has no application password {uuid} (see: app-passwords list {login})")
    click.echo(f"Revoked application password {uuid} of {login}.")
