"""The one CLI error style of every ``flask --app wsgi`` command: one line.

Click answers a usage mistake (a missing option, a bad value, an unknown
subcommand) with a usage banner, a hint and a blank line around its
``Error:`` line. Our commands print that one line only, the same shape as
every other error they print (``click.ClickException``: ``Error: <message>``)::

    Error: Missing option '--since'.

The exit status stays Click's 2 for usage mistakes. Use ``OneLineCommand`` as
``cls=`` of a command and ``OneLineGroup`` for a group (its subcommands get
``OneLineCommand`` by default). Like ``hooks`` and ``config``, this module
imports nothing of ours.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup


class UsageLine(click.ClickException):
    """A usage mistake shown as one ``Error:`` line, exit status 2."""

    exit_code = 2


def _one_line(exc: click.UsageError) -> UsageLine:
    return UsageLine(exc.format_message())


class OneLineCommand(click.Command):
    """A command whose usage mistakes are one line (see the module doc)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _one_line(exc) from None


class OneLineGroup(AppGroup):
    """A Flask command group whose own usage mistakes (an unknown subcommand)
    and its subcommands' are one line."""

    command_class = OneLineCommand

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise _one_line(exc) from None


__all__ = ["OneLineCommand", "OneLineGroup", "UsageLine"]
