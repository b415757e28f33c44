"""Who is signed in: Flask's signed session cookie, made safe for an admin.

- The cookie is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` whenever the
  request came over HTTPS (``request.is_secure``; behind a TLS-terminating
  proxy, wrap the app in werkzeug's ``ProxyFix`` so that it knows).
- Its signing key is derived from ``ANALYTICS_SECRET_KEY``; when that is empty
  (the demo), a random key is made once and kept in Redis, so every gunicorn
  process and host of the deployment accepts the same cookie. The key is only
  looked up when a request carries a session cookie or an admin page writes
  one: the events endpoint never pays for it.
- A session holds the user id and a fingerprint of their password hash
  (``Accounts.password_fingerprint``): changing the password ends every session.
  It lasts ``SESSION_HOURS`` (a browser-session cookie) or ``REMEMBER_DAYS``
  with "Remember Me", as WordPress's auth cookie does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
import typing as t

import redis.exceptions
from flask import g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf  # type: ignore[import-untyped]

import config
from accounts import Accounts
from app_settings import APP_CONFIG_KEY, app_settings

if t.TYPE_CHECKING:
    from flask import Flask, Request
    from flask.sessions import SecureCookieSession
    from itsdangerous import URLSafeTimedSerializer

    from accounts import User

#: Random signing key of a deployment without ANALYTICS_SECRET_KEY (32 bytes, hex).
SESSION_KEY = "{prefix}admin:session-key"
COOKIE_NAME = "analytics_admin"
#: wp_set_auth_cookie: 2 days, or 14 with "Remember Me".
SESSION_HOURS = 48
REMEMBER_DAYS = 14
_KEY_CONTEXT = b"analytics admin sessions v1\x00"
_key_lock = threading.Lock()


def accounts_for(settings: config.Settings) -> Accounts:
    return Accounts(config.redis_connection(settings.redis_url), settings.redis_prefix, settings.secret_key)


def signing_key(settings: config.Settings) -> str:
    """The session (and CSRF) signing key of this deployment (see module doc)."""
    if settings.secret_key:
        return hmac.new(_KEY_CONTEXT, settings.secret_key.encode(), hashlib.sha256).hexdigest()
    client = config.redis_connection(settings.redis_url)
    key = SESSION_KEY.format(prefix=settings.redis_prefix)
    client.set(key, secrets.token_hex(32), nx=True)
    stored = client.get(key)
    assert stored is not None
    return stored.decode() if isinstance(stored, bytes) else str(stored)


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session with a lazily found key and ``Secure`` over HTTPS."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            with _key_lock:
                if not app.secret_key:
                    app.secret_key = signing_key(app.config[APP_CONFIG_KEY])
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # nothing to verify: no key needed
        try:
            return super().open_session(app, request)
        except redis.exceptions.RedisError:
            return None  # a null session; the admin views answer 503 when they need Redis

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure or super().get_cookie_secure(app))


def configure(app: Flask) -> None:
    """Install the session interface and the cookie settings on ``app``."""
    settings: config.Settings = app.config[APP_CONFIG_KEY]
    if settings.secret_key:
        app.secret_key = signing_key(settings)
    app.session_interface = AdminSessionInterface()
    app.jinja_env.globals["csrf_token"] = generate_csrf  # what CSRFProtect would add; forms check it themselves
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(days=REMEMBER_DAYS),
        # wp_nonce_tick: a WordPress nonce lives 12 to 24 hours.
        WTF_CSRF_TIME_LIMIT=86400,
    )


def sign_in(user: User, fingerprint: str, remember: bool) -> None:
    """Start a fresh session for ``user`` (a new CSRF token with it)."""
    session.clear()
    session.permanent = remember
    session["uid"] = user.id
    session["fp"] = fingerprint
    session["at"] = int(time.time())


def sign_out() -> None:
    session.clear()


def current_user() -> User | None:
    """The signed-in user of this request (cached in ``g``), or None when the
    session is missing, expired, or made with a password since changed."""
    if "admin_user" in g:
        return t.cast("User | None", g.admin_user)
    user = _load_user()
    g.admin_user = user
    return user


def _load_user() -> User | None:
    uid, fingerprint, started = session.get("uid"), session.get("fp"), session.get("at")
    if not isinstance(uid, int) or not isinstance(fingerprint, str) or not isinstance(started, int):
        return None
    lifetime = REMEMBER_DAYS * 86400 if session.permanent else SESSION_HOURS * 3600
    if time.time() - started > lifetime:
        return None
    accounts = accounts_for(app_settings())
    if not hmac.compare_digest(accounts.password_fingerprint(uid) or "", fingerprint):
        return None
    return accounts.get_user_by_id(uid)
