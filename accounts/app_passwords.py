"""Application passwords as WordPress makes them, and how we keep them.

WordPress generates 24 characters of ``[A-Za-z0-9]`` (``wp_generate_password(24,
false)``), shows them once in groups of four, and on login drops every other
character first, so "abcd efgh ..." and "abcdefgh..." and "abcd-efgh-..." all work.

We store only ``HMAC-SHA256(key, password)``, not a slow password hash
(scrypt, bcrypt, PBKDF2). Why: verification runs on every HTTP request, and a
slow hash costs ~40 ms (scrypt n=2**14) to ~165 ms (PBKDF2, 600k rounds) of CPU
per request on our hardware, against ~2 µs for HMAC. A slow hash exists to
protect guessable, human-chosen passwords; these are 24 random characters from
62 symbols (about 143 bits), which no amount of hashing speed lets anyone
brute-force. WordPress 6.8 made the same change (``wp_fast_hash``, BLAKE2b) for
the same reason. The key (``ANALYTICS_SECRET_KEY``) means a copy of the Redis
data alone does not even allow an offline check. Changing the key invalidates
every application password.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
import string

#: Length of a generated password (WP_Application_Passwords::PW_LENGTH).
PASSWORD_LENGTH = 24
#: The alphabet of ``wp_generate_password( 24, false )``.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")
#: Domain separation for the HMAC key, so the secret key could serve other purposes safely.
_KEY_CONTEXT = b"analytics application passwords v1\x00"


@dataclasses.dataclass(frozen=True)
class AppPassword:
    """One application password's public details; times are unix seconds (UTC)."""

    uuid: str
    name: str
    created: int
    last_used: int | None
    last_ip: str | None


def generate_password() -> str:
    """24 random characters of ``[A-Za-z0-9]`` from ``secrets``."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def chunk_password(password: str) -> str:
    """The display form, "abcd efgh ijkl mnop qrst uvwx" (WordPress's ``chunk_password``)."""
    raw = normalize_password(password)
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalize_password(password: str) -> str:
    """Drop every character outside ``[A-Za-z0-9]``, as WordPress does before verifying."""
    return _NOT_ALNUM.sub("", password)


def hash_key(secret_key: str) -> bytes:
    """The HMAC key derived from the configured secret (may be empty: demo only)."""
    return hashlib.sha256(_KEY_CONTEXT + secret_key.encode()).digest()


def hash_password(key: bytes, password: str) -> str:
    """Hex HMAC-SHA256 of the normalized password: what we store instead of it."""
    return hmac.new(key, normalize_password(password).encode(), hashlib.sha256).hexdigest()
