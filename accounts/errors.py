"""The errors of ``accounts``: authentication failures carry WordPress's error
code and message, so the HTTP layer can answer exactly as WordPress would;
``AccountError`` is bad input to a management call, with a one-line message
that the CLI prints as is."""

from __future__ import annotations


class AuthenticationError(Exception):
    """A login failed. ``code`` and ``message`` are WordPress's, for the REST error body."""

    code: str = "authentication_failed"
    default_message: str = "Authentication failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidUsername(AuthenticationError):
    """No user has this login or email (``wp_authenticate_application_password``)."""

    code = "invalid_username"
    default_message = "Unknown username. Check again or try your email address."


class IncorrectPassword(AuthenticationError):
    """The password is not one of the user's (current) application passwords."""

    code = "incorrect_password"
    default_message = "The provided password is an invalid application password."


class AccountError(ValueError):
    """Bad input to create a user, set a role, revoke a password...; the message is one line."""
