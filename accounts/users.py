"""What a user is, and what makes a login, an email and a role acceptable."""

from __future__ import annotations

import dataclasses
import re

from accounts.errors import AccountError
from accounts.roles import NO_ROLE, ROLE_CAPABILITIES

#: WordPress's ``user_login`` column is ``varchar(60)``.
MAX_LOGIN_LENGTH = 60
#: WordPress's ``user_email`` column is ``varchar(100)``.
MAX_EMAIL_LENGTH = 100

# sanitize_user( $login, true ): letters, digits, space, "_", ".", "-", "@".
_LOGIN = re.compile(r"[A-Za-z0-9 _.\-@]+")
# Deliberately simple, like WordPress's is_email(): local@domain.tld, no spaces.
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")
#: Words accepted for "no role" on input (stored as the empty string).
_NO_ROLE_WORDS = frozenset({"", "none"})


@dataclasses.dataclass(frozen=True)
class User:
    """A user: a default ``role`` plus per-site roles that override it for that blog id."""

    id: int
    login: str
    email: str
    role: str
    site_roles: dict[int, str]
    super_admin: bool


def validate_login(login: str) -> str:
    """The login as stored, or ``AccountError`` saying which characters are allowed."""
    login = " ".join(login.split())  # sanitize_user trims and collapses whitespace
    if not login:
        raise AccountError("the login is empty: use letters, digits, spaces and _ . - @")
    if not _LOGIN.fullmatch(login):
        bad = "".join(sorted({c for c in login if not _LOGIN.fullmatch(c)}))
        raise AccountError(f"the login {login!r} has characters {bad!r}: use only letters, digits, spaces and _ . - @")
    if len(login) > MAX_LOGIN_LENGTH:
        raise AccountError(f"the login {login!r} is longer than {MAX_LOGIN_LENGTH} characters")
    return login


def validate_email(email: str) -> str:
    """The email as stored (trimmed), or ``AccountError``."""
    email = email.strip()
    if not _EMAIL.fullmatch(email) or len(email) > MAX_EMAIL_LENGTH:
        raise AccountError(f"the email {email!r} is not a valid address: expected name@example.com")
    return email


def validate_role(role: str) -> str:
    """A known role name (lower case), or ``""`` for "none"; else ``AccountError`` listing the roles."""
    name = role.strip().lower()
    if name in _NO_ROLE_WORDS:
        return NO_ROLE
    if name not in ROLE_CAPABILITIES:
        raise AccountError(f"unknown role {role!r}: expected one of {', '.join(ROLE_CAPABILITIES)} or none")
    return name


def validate_blog_id(blog_id: int) -> int:
    if isinstance(blog_id, bool) or not isinstance(blog_id, int) or blog_id < 1:
        raise AccountError(f"the blog id {blog_id!r} is not a positive whole number")
    return blog_id
