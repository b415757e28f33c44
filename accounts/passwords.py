"""Sign-in passwords (WordPress's ``user_pass``): chosen by a person, so hashed
slowly, with Argon2id through argon2-cffi.

Unlike application passwords (24 random characters, see ``app_passwords``),
these are human-chosen and guessable, which is exactly what a slow,
memory-hard hash is for. argon2-cffi's ``PasswordHasher`` defaults are RFC
9106's second recommended profile (Argon2id, t=3, m=64 MiB, p=4); a stored
hash carries its own parameters, so ``needs_rehash`` lets a sign-in upgrade an
old hash when the defaults move.

The rule for a new password is NIST SP 800-63B section 5.1.1.2: at least 8
characters, every character allowed (spaces too), no composition rules; we
cap the length at ``MAX_PASSWORD_LENGTH`` so one request cannot make the hash
chew megabytes.
"""

from __future__ import annotations

import argon2

from accounts.errors import AccountError

#: NIST SP 800-63B: "at least 8 characters in length".
MIN_PASSWORD_LENGTH = 8
#: NIST SP 800-63B asks to allow at least 64; more only costs hashing time.
MAX_PASSWORD_LENGTH = 1024

_hasher = argon2.PasswordHasher()
#: A hash of nothing anyone can type, verified when the user is unknown so an
#: unknown login costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("\x00 no user has this password \x00")


def validate_password(password: str) -> str:
    """``password`` unchanged if acceptable, else ``AccountError`` saying what is expected."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters: choose a longer one")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """The PHC string (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``) to store."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (a PHC string, or None when the
    user has no sign-in password: then a dummy hash is checked, and False)."""
    try:
        return bool(_hasher.verify(stored or _DUMMY_HASH, password)) and stored is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's defaults."""
    return _hasher.check_needs_rehash(stored)
