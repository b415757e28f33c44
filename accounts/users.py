"""What a user is, and what makes a login, an email and a role acceptable."""

from __future__ import annotations

import dataclasses
import re
import unicodedata

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
# wp_strip_all_tags: script/style elements with their content, then PHP's strip_tags
# (a "<" followed by whitespace is text, an unclosed tag runs to the end).
_SCRIPT_STYLE = re.compile(r"<(script|style)[^>]*?>.*?</\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<(?![ \t\n\r\x0b\x0c])[^>]*(?:>|$)")
_OCTET = re.compile(r"%[a-fA-F0-9]{2}")
_ENTITY = re.compile(r"&.+?;")
#: PCRE's ``\s`` without the ``u`` flag: ASCII whitespace only.
_WHITESPACE_RUN = re.compile(r"[ \t\n\x0b\x0c\r]+")
#: PHP's trim() default set (no form feed, but NUL).
_PHP_TRIM = " \t\n\r\x00\x0b"
#: Letters remove_accents() maps that Unicode does not canonically decompose into letter + accent.
_UNDECOMPOSABLE = str.maketrans(
    {
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Ð": "D",
        "ð": "d",
        "Þ": "TH",
        "þ": "th",
        "Đ": "D",
        "đ": "d",
        "Ħ": "H",
        "ħ": "h",
        "\u0131": "i",
        "ĸ": "k",
        "Ł": "L",
        "ł": "l",
        "Ŋ": "N",
        "ŋ": "n",
        "Ŧ": "T",
        "ŧ": "t",
    }
)
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


def sanitize_user(login: str) -> str:
    """The login WordPress looks up for ``login``: ``sanitize_user( $login )``
    (non-strict), as ``get_user_by( 'login', ... )`` applies it before the query.

    In WordPress's order: tags stripped (``wp_strip_all_tags``), accents
    removed (``remove_accents``: é -> e, ß -> ss; the default locale's table,
    approximated by Unicode decomposition plus the letters that do not
    decompose), percent-encoded octets and HTML entities deleted, trimmed
    (PHP ``trim``), and every run of whitespace made one space
    (``preg_replace( '|\\s+|', ' ', ... )``). So ``"john  smith"`` finds
    ``"john smith"``. Case is left alone: the lookup itself ignores case, as
    MySQL's collation does for ``user_login``.
    """
    text = _TAG.sub("", _SCRIPT_STYLE.sub("", login)).strip(_PHP_TRIM)
    # Canonical (not compatibility) decomposition: a no-break space stays one, as in WordPress.
    decomposed = unicodedata.normalize("NFD", text.translate(_UNDECOMPOSABLE))
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = _ENTITY.sub("", _OCTET.sub("", text)).strip(_PHP_TRIM)
    return _WHITESPACE_RUN.sub(" ", text)


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
