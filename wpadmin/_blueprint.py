"""The admin blueprint itself: what every admin page shares (sign-in and
capability gates, error pages), and ``render``. Its security headers (CSP,
no framing, no caching) are the app's, set in one place: ``web_security``.

Errors are HTML pages for a person, with WordPress's wording: 403 "Sorry, you
are not allowed to access this page.", 400 "The link you followed has
expired." for a stale form, 503 when Redis or the event store is unreachable.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import typing as t
import urllib.parse

import redis.exceptions
from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

import config
from accounts import user_can
from app_settings import app_settings
from events.sources import SourceError
from jobs.status import format_duration
from web_security import credentials_may_travel
from wpadmin._session import current_user

if t.TYPE_CHECKING:
    from accounts import User

logger = logging.getLogger(__name__)

#: The capability of the export dashboard (WordPress's for a plugin's settings page).
DASHBOARD_CAPABILITY = "manage_options"

blueprint = Blueprint(
    "wpadmin",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/wp-admin/analytics-export-static",
)

V = t.TypeVar("V", bound=t.Callable[..., t.Any])

#: What the sign-in and signed-in pages say where a password or a session cookie may not travel (as the REST
#: API's 401 says for HTTP Basic).
HTTPS_REQUIRED = (
    "Signing in needs HTTPS: a password sent over plain HTTP could be read on the way. "
    "Open this page with https:// (or ask the administrator to put the site behind TLS)."
)


@blueprint.before_request
def _signing_key_reachable() -> None:
    """Find the session key now, so Redis being down is a 503 page, not a
    failure while the response cookie is written."""
    current_app.session_interface.get_signing_serializer(current_app)  # type: ignore[attr-defined]


@blueprint.app_template_filter("wptime")
def _wptime(epoch: float | None) -> str:
    """Unix seconds as ``2026-11-25 14:03 UTC``; an em dash for never."""
    if epoch is None:
        return "—"
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@blueprint.app_template_filter("isotime")
def _isotime(text: str) -> str:
    """An ISO 8601 time of ``export status`` as ``2026-11-25 14:03:07 UTC``."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@blueprint.app_template_filter("duration")
def _duration(seconds: int | None) -> str:
    return format_duration(seconds)


def settings() -> config.Settings:
    return app_settings()


def blog_id() -> int | None:
    """The site of this request's ``Host`` (``ANALYTICS_SITES``), None if unknown."""
    return settings().blog_id_for_host(request.host)


def may_see_dashboard(user: User) -> bool:
    """Whether ``user`` has the dashboard's capability on this request's site."""
    site = blog_id()
    return site is not None and user_can(user, DASHBOARD_CAPABILITY, site)


def render(template: str, status: int = 200, **context: t.Any) -> Response:
    user = current_user()
    context.setdefault("user", user)
    context.setdefault("can_manage", user is not None and may_see_dashboard(user))
    return make_response(render_template(f"wpadmin/{template}", **context), status)


def error_page(status: int, title: str, message: str, headers: t.Mapping[str, str] | None = None) -> Response:
    response = render("error.html", status, title=title, message=message)
    response.headers.update(headers or {})
    return response


def safe_redirect_target(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (WordPress's
    ``wp_validate_redirect``: never send a signed-in user to another host)."""
    if not target:
        return default
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def login_required(view: V) -> V:
    """Send an anonymous visitor to the sign-in page, coming back here after.
    Over plain HTTP from another host (``web_security.credentials_may_travel``)
    a signed-in page is refused as the sign-in page is: its session cookie and
    the application passwords it makes would travel unencrypted."""

    @functools.wraps(view)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if not credentials_may_travel(settings()):
            return error_page(403, "HTTPS required", HTTPS_REQUIRED)
        if current_user() is None:
            return redirect(url_for("wpadmin.login", redirect_to=request.full_path.rstrip("?"), reauth=1))
        return view(*args, **kwargs)

    return t.cast(V, wrapper)


def require_user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


def not_allowed() -> Response:
    return error_page(403, "Not allowed", "Sorry, you are not allowed to access this page.")


def stale_form() -> Response:
    return error_page(400, "Expired link", "The link you followed has expired. Please go back, reload and try again.")


@blueprint.errorhandler(redis.exceptions.ConnectionError)
@blueprint.errorhandler(redis.exceptions.TimeoutError)
def _redis_unavailable(exc: Exception) -> Response:
    logger.error("Redis is unreachable: %s", exc)
    return error_page(
        503,
        "Service unavailable",
        "The analytics service cannot reach its database (Redis); try again in a moment.",
        {"Retry-After": "30"},
    )


@blueprint.errorhandler(redis.exceptions.OutOfMemoryError)
def _redis_full(exc: Exception) -> Response:
    logger.error("Redis is full (maxmemory) and refuses writes: %s", exc)
    return error_page(
        503,
        "Service unavailable",
        "The analytics service's database (Redis) is full; try again later.",
        {"Retry-After": "30"},
    )


@blueprint.errorhandler(SourceError)
def _source_unavailable(exc: SourceError) -> Response:
    logger.error("the event store is unavailable: %s", exc)
    return error_page(
        503,
        "Service unavailable",
        "The analytics event store cannot be read right now; try again in a moment.",
        {"Retry-After": "30"},
    )


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    if (exc.code or 500) >= 500:
        # Rendering may be what failed: a fixed page, WordPress's wp_die wording.
        return Response(_CRITICAL, exc.code or 500, content_type="text/html; charset=utf-8")
    return error_page(exc.code or 500, exc.name, exc.description or exc.name)


_CRITICAL = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>'
    "<body><main><h1>Error</h1><p>There has been a critical error on this website.</p></main></body></html>"
)
