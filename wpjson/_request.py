"""Which HTTP requests are REST requests, for which route, with which method:
WordPress's ``rest_api_register_rewrites``, ``rest_api_loaded`` and the
method override of ``WP_REST_Server::serve_request``, as a WSGI middleware.

A REST request is one of (PHP's ``$_GET`` rules, see ``_php``):

- ``/wp-json``, ``/wp-json/<route>`` (pretty permalinks);
- ``/index.php/wp-json``, ``/index.php/wp-json/<route>`` (PATHINFO permalinks,
  what ``rest_url()`` gives on such sites);
- ``/`` or ``/index.php`` with a non-empty ``rest_route`` query parameter (no
  permalinks). ``rest_route`` also wins over the path of the two forms above,
  as WordPress's query var does over its rewrite rule.

The route loses its trailing slashes and backslashes (``untrailingslashit``);
an empty route is ``/`` (the index). The method is ``REQUEST_METHOD``, unless
``_method`` (query) or else ``X-HTTP-Method-Override`` (header) names
another, upper-cased (``WP_REST_Request::set_method``), whatever the real
method, as WordPress does. A real ``HEAD`` stays ``HEAD`` for the server (a
HEAD answer never has a body), and is dispatched as GET would be.

The middleware leaves a ``RestRequest`` in the WSGI environ and points
``PATH_INFO`` at ``/wp-json<route>``, the one Flask rule of the REST API.
"""

from __future__ import annotations

import dataclasses
import typing as t
import urllib.parse

from flask import request

from wpjson import _php

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

URL_PREFIX = "/wp-json"
_PATHINFO_PREFIX = "/index.php" + URL_PREFIX
#: WSGI environ key of the ``RestRequest``.
ENVIRON_KEY = "wpjson.request"
#: Paths where ``?rest_route=`` is read (WordPress's front controller).
_FRONT = ("", "/", "/index.php")


@dataclasses.dataclass(frozen=True)
class RestRequest:
    """One REST request as WordPress sees it.

    ``route`` is None when ``rest_route`` was an array (``rest_route[]=``), which
    WordPress refuses with 400 ``rest_path_invalid_type``.
    """

    route: str | None
    method: str
    query: dict[str, _php.QueryValue]
    #: How the client addressed the API: "pretty", "pathinfo" or "plain"; ``rest_url`` answers in kind.
    form: str

    @property
    def envelope(self) -> bool:
        """``_envelope`` is present (``isset( $_GET['_envelope'] )``), whatever its value."""
        return "_envelope" in self.query


def current() -> RestRequest:
    """The ``RestRequest`` of the Flask request being served (only under the REST API's rule)."""
    return t.cast(RestRequest, request.environ[ENVIRON_KEY])


def rest_url(path: str) -> str:
    """``rest_url( path )`` for this request's site, in the form the client used:
    ``/wp-json/...``, ``/index.php/wp-json/...`` or ``/?rest_route=/...``."""
    home = request.host_url.rstrip("/")
    path = "/" + path.lstrip("/")
    form = current().form
    if form == "plain":
        return home + "/?rest_route=" + urllib.parse.quote(path, safe="/")
    prefix = _PATHINFO_PREFIX if form == "pathinfo" else URL_PREFIX
    return home + prefix + path


def untrailingslashit(route: str) -> str:
    """WordPress's ``untrailingslashit``, then ``rest_api_loaded``'s "empty is ``/``"
    (PHP's ``empty``: ``""`` and ``"0"``)."""
    route = route.rstrip("/\\")
    return "/" if route in ("", "0") else route


def _route_of_path(path: str) -> tuple[str, str] | None:
    """(route, form) of a pretty or PATHINFO path (``rest_api_register_rewrites``), else None."""
    for prefix, form in ((URL_PREFIX, "pretty"), (_PATHINFO_PREFIX, "pathinfo")):
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/", form
    return None


def resolve(environ: WSGIEnvironment) -> RestRequest | None:
    """The REST request ``environ`` makes, or None when it is not one."""
    # PATH_INFO holds the URL's bytes decoded as latin-1 (PEP 3333).
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    query = _php.parse_query(environ.get("QUERY_STRING", ""))
    by_path = _route_of_path(path)
    rest_route = query.get("rest_route")
    route: str | None
    if rest_route not in (None, "", "0") and (by_path is not None or path in _FRONT):
        route = untrailingslashit(rest_route) if isinstance(rest_route, str) else None
        form = by_path[1] if by_path is not None else "plain"
    elif by_path is not None:
        route, form = untrailingslashit(by_path[0]), by_path[1]
    else:
        return None
    method = environ.get("REQUEST_METHOD", "GET").upper()
    override: _php.QueryValue | None = query.get("_method")
    if override is None:
        override = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE")
    if override is not None:
        # An array _method is no method at all: no route answers it.
        requested = override.upper() if isinstance(override, str) else ""
        if not (method == "HEAD" and requested == "GET"):
            method = requested
    return RestRequest(route, method, query, form)


class RestRequestMiddleware:
    """Marks REST requests (see the module docstring) before Flask routes them."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        rest = resolve(environ)
        if rest is not None:
            environ[ENVIRON_KEY] = rest
            route = rest.route or "/"
            display = route if route.startswith("/") else "/" + route
            environ["PATH_INFO"] = (URL_PREFIX + display).encode("utf-8").decode("latin-1")
            if rest.method == "HEAD":
                # Werkzeug drops the body of a HEAD answer; a GET overridden to HEAD must lose it too.
                environ["REQUEST_METHOD"] = "HEAD"
        return self.app(environ, start_response)
