"""HTTP Basic with WordPress application passwords (flask-httpauth over ``accounts``),
and the export capability.

As in WordPress, credentials that are present but wrong fail the request at
once (401 ``invalid_username`` / ``incorrect_password``), whatever the route;
no credentials make an anonymous request, which the route's permission check
then refuses with 401 ``rest_forbidden`` and a ``WWW-Authenticate`` challenge.

Before any password is looked at:

- credentials that came over plain HTTP from another host are refused with
  401 ``application_passwords_disabled`` (WordPress's code when application
  passwords are unavailable, which they are without HTTPS on a non-local
  site), unchecked, see ``web_security.credentials_may_travel``;
- a client IP or an account past ``ANALYTICS_LOGIN_LIMIT`` failures is
  refused with 429 ``analytics_too_many_logins`` and ``Retry-After`` until its
  window ends, even with the right password (``accounts.throttle``, shared
  with the sign-in page); the first refusal of a window is logged.
"""

from __future__ import annotations

import logging
import typing as t

from flask import g, request
from flask_httpauth import HTTPBasicAuth

import config
import hooks
import metrics
from accounts import Accounts, AuthenticationError, User, user_can
from accounts.throttle import account_id, login_throttle, wait_text
from app_settings import app_settings
from web_security import credentials_may_travel
from wpjson._errors import RestError

if t.TYPE_CHECKING:
    from flask import Blueprint, Response

logger = logging.getLogger(__name__)

#: Filter: the capability a user needs to export a site's events.
EXPORT_CAPABILITY_HOOK = "altis.analytics.export_events_capability"
DEFAULT_CAPABILITY = "manage_options"
REALM = "Analytics"

auth = HTTPBasicAuth(realm=REALM)


def settings() -> config.Settings:
    return app_settings()


def _verify(username: str, password: str) -> User | None:
    """The user of a Basic ``Authorization`` header; None when there is none;
    AuthenticationError (answered as 401) when it names no user or a wrong password."""
    if auth.get_auth() is None:
        return None
    current = settings()
    if not credentials_may_travel(current):
        raise RestError(
            "application_passwords_disabled",
            "Application passwords are not available over plain HTTP: send them over HTTPS.",
            401,
        )
    redis = config.redis_connection(current.redis_url)
    accounts = Accounts(redis, current.redis_prefix, current.secret_key)
    throttle = login_throttle(redis, current)
    ip = request.remote_addr
    account = account_id(accounts.get_user(username), username)
    wait = throttle.retry_after(ip, account)
    if wait is not None:
        if throttle.first_refusal(ip, account, wait):
            logger.warning("Basic auth throttled for %s s: too many failures from %s or for %r", wait, ip, username)
        error = RestError(
            "analytics_too_many_logins", f"Too many failed login attempts. Try again in {wait_text(wait)}.", 429
        )
        error.headers["Retry-After"] = str(wait)
        metrics.THROTTLED_LOGINS.inc()
        raise error
    try:
        user = accounts.authenticate(username, password, ip)
    except AuthenticationError:
        throttle.record_failure(ip, account)
        raise
    throttle.record_success(account)
    return user


auth.verify_password(_verify)  # flask-httpauth's decorator, called plainly: it is untyped


def authenticate() -> User | None:
    """WordPress's ``check_authentication``, run first for every REST request
    whatever its method (flask-httpauth's ``login_required`` skips OPTIONS;
    WordPress does not): the user of valid credentials, None without any,
    ``AuthenticationError`` (answered as 401) for wrong ones. Kept for ``current_user``."""
    user = auth.authenticate(auth.get_auth(), None)
    g.wpjson_user = user if isinstance(user, User) else None
    return current_user()


def current_user() -> User | None:
    """The user ``authenticate`` found for this request, or None."""
    return t.cast("User | None", g.get("wpjson_user"))


def register_auth_errors(blueprint: Blueprint) -> None:
    blueprint.register_error_handler(AuthenticationError, _authentication_failed)


def _authentication_failed(exc: AuthenticationError) -> Response:
    metrics.FAILED_LOGINS.labels(exc.code).inc()
    return RestError(exc.code, exc.message, 401).response()


def export_capability() -> str:
    """The capability from ``altis.analytics.export_events_capability``; a
    filter returning anything but a non-empty string is logged and ignored."""
    value = hooks.apply_filters(EXPORT_CAPABILITY_HOOK, DEFAULT_CAPABILITY)
    if isinstance(value, str) and value.strip():
        return value.strip()
    logger.warning(
        "filter %s returned %r, not a capability name; using %s", EXPORT_CAPABILITY_HOOK, value, DEFAULT_CAPABILITY
    )
    return DEFAULT_CAPABILITY


def require_capability(user: User | None, blog_id: int, capability: str | None = None) -> None:
    """401 ``rest_forbidden`` (with a Basic challenge) for an anonymous request,
    403 ``rest_forbidden`` for a user without ``capability`` (default: the
    export capability) on ``blog_id``."""
    if user is None:
        error = RestError("rest_forbidden", "Sorry, you are not allowed to do that.", 401)
        error.headers["WWW-Authenticate"] = auth.authenticate_header()
        raise error
    capability = capability or export_capability()
    if not user_can(user, capability, blog_id):
        logger.info("user %s lacks %s on blog %s", user.login, capability, blog_id)
        raise RestError("rest_forbidden", "Sorry, you are not allowed to do that.", 403)
