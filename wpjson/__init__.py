"""The ``/wp-json`` REST API: the routes WordPress clients call, answered as WordPress would.

- ``GET|HEAD /wp-json/analytics/v1/events/<YYYY-MM-DD>`` (and ``accelerate/v1``),
  also reachable as ``/?rest_route=/analytics/v1/events/<YYYY-MM-DD>``.
- Every other path or method under ``/wp-json``: 404 ``rest_no_route``.

``init_app(app)`` registers the blueprint and the ``rest_route`` query form.
"""

from __future__ import annotations

import re
import typing as t
import urllib.parse

from flask import Blueprint, Flask

from wpjson._auth import DEFAULT_CAPABILITY, EXPORT_CAPABILITY_HOOK, auth, register_auth_errors
from wpjson._errors import RestError, error_response, no_route, register_error_handlers
from wpjson._events import MAX_CHUNK_SIZE, SUMMARIZED_HEADER, events

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "DEFAULT_CAPABILITY",
    "EXPORT_CAPABILITY_HOOK",
    "MAX_CHUNK_SIZE",
    "SUMMARIZED_HEADER",
    "RestError",
    "RestRouteMiddleware",
    "blueprint",
    "error_response",
    "init_app",
]

URL_PREFIX = "/wp-json"
#: The route's date pattern, as registered by the original plugin; anything else is no route at all.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

blueprint = Blueprint("wpjson", __name__, url_prefix=URL_PREFIX)
register_error_handlers(blueprint)
register_auth_errors(blueprint)


@blueprint.route("/<any(analytics, accelerate):namespace>/v1/events/<date>", methods=["GET", "HEAD"])
def events_route(namespace: str, date: str) -> t.Any:
    if not _DATE.fullmatch(date):
        return _no_route()
    return events(date)


@auth.login_required(optional=True)
def _no_route() -> t.Any:
    """404 after authentication, as WordPress checks credentials before matching routes."""
    raise no_route()


@blueprint.route("/", methods=_ALL_METHODS)
@blueprint.route("/<path:rest>", methods=_ALL_METHODS)
def unknown_route(rest: str = "") -> t.Any:
    return _no_route()


class RestRouteMiddleware:
    """Serves ``/?rest_route=/ns/v1/...`` (WordPress without pretty permalinks)
    as ``/wp-json/ns/v1/...``, and ignores a trailing slash under ``/wp-json/``
    as WordPress does, by rewriting ``PATH_INFO`` before routing."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("", "/", "/index.php"):
            values = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get("rest_route")
            if values:
                route = "/" + values[0].strip("/")
                # PATH_INFO holds the URL's bytes decoded as latin-1 (PEP 3333).
                environ["PATH_INFO"] = (URL_PREFIX + route).encode("utf-8").decode("latin-1")
        elif path.startswith(URL_PREFIX + "/") and len(path) > len(URL_PREFIX) + 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/")
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    """Register the ``/wp-json`` blueprint and the ``?rest_route=`` form on ``app``."""
    app.register_blueprint(blueprint)
    app.wsgi_app = RestRouteMiddleware(app.wsgi_app)  # type: ignore[method-assign]
