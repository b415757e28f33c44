"""Users, roles and capabilities, and application passwords (create, verify,
revoke, last used), stored in Redis. Knows nothing of HTTP."""

from __future__ import annotations

from accounts.app_passwords import AppPassword
from accounts.errors import AccountError, AuthenticationError, IncorrectPassword, InvalidUsername
from accounts.roles import ROLE_CAPABILITIES, ROLES, user_can
from accounts.store import Accounts
from accounts.users import User

__all__ = [
    "ROLES",
    "ROLE_CAPABILITIES",
    "AccountError",
    "Accounts",
    "AppPassword",
    "AuthenticationError",
    "IncorrectPassword",
    "InvalidUsername",
    "User",
    "user_can",
]
