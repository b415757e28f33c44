"""The one CLI error style of every ``flask --app wsgi`` command: one line.

Click answers a usage mistake (a missing option, a bad value, an unknown
subcommand) with a usage banner, a hint and a blank line around its
``Error:`` line. Our commands print that one line only, the same shape as
every other error they print (``click.ClickException``: ``Error: <message>``)::

    Error: Missing option '--since'.

The exit status stays Click's 2 for usage mistakes. Use ``OneLineCommand`` as
``cls=`` of a command and ``OneLineGroup`` for a group (its subcommands get
``OneLineCommand`` by default).

A command's failures are one line too (exit status 1): ``one_line_errors``
turns the expected ones (Redis unreachable, a bad setting, the command's own
errors) into ``click.ClickException``, never a traceback. Of ours, this module
imports only ``config`` and ``app_settings``.
"""

from __future__ import annotations

import contextlib
import functools
import typing as t

import click
import redis
from flask.cli import AppGroup

import config
from app_settings import app_settings

_P = t.ParamSpec("_P")
_R = t.TypeVar("_R")


class UsageLine(click.ClickException):
    """A usage mistake shown as one ``Error:`` line, exit status 2."""

    exit_code = 2


@contextlib.contextmanager
def _usage_in_one_line() -> t.Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        raise UsageLine(exc.format_message()) from None


class OneLineCommand(click.Command):
    """A command whose usage mistakes are one line (see the module doc)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _usage_in_one_line():
            return super().parse_args(ctx, args)


class OneLineGroup(AppGroup):
    """A Flask command group whose own usage mistakes (an unknown subcommand)
    and its subcommands' are one line."""

    command_class = OneLineCommand

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _usage_in_one_line():
            return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        with _usage_in_one_line():
            return super().resolve_command(ctx, args)


def one_line_errors(
    *plain: type[Exception], prefixes: t.Mapping[type[Exception], str] | None = None
) -> t.Callable[[t.Callable[_P, _R]], t.Callable[_P, _R]]:
    """Decorator of a command: its expected failures become one ``Error:`` line.

    - ``plain`` errors and ``config.ConfigError``: their message as it is (it is one line);
    - ``prefixes``: error type -> what failed, printed ``<what>: <message>``;
    - Redis unreachable: ``config.redis_unreachable`` (how to fix it);
    - Redis full (``maxmemory``): ``config.redis_full`` (how to fix it);
    - any other Redis error: ``Redis error at <url without password>: <message>``.
    """
    plain_kinds: tuple[type[Exception], ...] = (*plain, config.ConfigError)
    prefixed = dict(prefixes or {})
    prefixed_kinds: tuple[type[Exception], ...] = tuple(prefixed)

    def decorate(func: t.Callable[_P, _R]) -> t.Callable[_P, _R]:
        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return func(*args, **kwargs)
            except plain_kinds as exc:
                raise click.ClickException(str(exc)) from None
            except prefixed_kinds as exc:
                what = next(text for kind, text in prefixed.items() if isinstance(exc, kind))
                raise click.ClickException(f"{what}: {exc}") from None
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise click.ClickException(config.redis_unreachable(app_settings().redis_url, exc)) from None
            except redis.exceptions.OutOfMemoryError as exc:
                raise click.ClickException(config.redis_full(app_settings().redis_url, exc)) from None
            except redis.RedisError as exc:
                url = config.redacted_url(app_settings().redis_url)
                raise click.ClickException(f"Redis error at {url}: {exc}") from None

        return wrapper

    return decorate


__all__ = ["OneLineCommand", "OneLineGroup", "UsageLine", "one_line_errors"]
