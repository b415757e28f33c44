"""``WP_REST_Server::serve_request`` and ``dispatch`` for our routes: every
REST request (see ``_request``) comes to ``serve``, whatever its method.

In WordPress's order: credentials present but wrong fail at once (401,
``check_authentication``); ``OPTIONS`` is answered from the route table
(``rest_handle_options_request``: 200, the route's description, or ``[]``
when no route matches); otherwise the route and method are matched
(``match_request_to_handler``) or the answer is 404 ``rest_no_route``, never
an HTML 404 or 405. Then every answer of a matched route gets ``Allow``
(``rest_send_allow_header``), and ``_envelope`` wraps it (``envelope_response``).

``_envelope`` and the streamed events body: the envelope is streamed too,
``{"body": <the body>, "status": 200, "headers": {...}}`` with the headers
(known before the first byte) at the end; a JSON body is embedded as is, a
CSV or NDJSON body as one JSON string. The original plugin ignored
``_envelope`` for a successful export (it echoed the body and exited); this
service envelopes every answer so an envelope client can always read it.
An enveloped answer is not gzip-compressed.
"""

from __future__ import annotations

import logging
import typing as t

import orjson
from flask import Response, g, request

from accounts import user_can
from wpjson import _download_metrics, _openapi, _ops, _routes
from wpjson._auth import authenticate, current_user, export_capability, settings
from wpjson._errors import JSON_CONTENT_TYPE, RestError, no_route
from wpjson._events import events, manifest_of_day, source
from wpjson._request import current, rest_url

logger = logging.getLogger(__name__)

#: The index's ``name`` (WordPress's ``blogname``; this service has no site title).
INDEX_NAME = "Analytics export"
#: Link of the index's ``help`` relation, as WordPress's.
HELP_URL = "https://developer.wordpress.org/rest-api/"


def json_response(data: t.Any, status: int = 200) -> Response:
    """A JSON answer (``WP_REST_Response``)."""
    return Response(orjson.dumps(data), status=status, content_type=JSON_CONTENT_TYPE)


def serve(**_: str) -> Response:
    """The view of every REST request: OPTIONS, the indexes, the events, the
    operations routes, or ``rest_no_route``."""
    _download_metrics.started()
    authenticate()
    rest = current()
    if rest.route is None:
        raise RestError("rest_path_invalid_type", "The REST route parameter must be a string.", 400)
    if rest.method == "OPTIONS":
        return _options(rest.route)
    found = _routes.match(rest.route, rest.method)
    if found is None:
        raise no_route()
    route, params = found
    g.wpjson_route = route
    if route.handler == "index":
        return json_response(_index())
    if route.handler == "namespace_index":
        return json_response(_namespace_index(route.namespace))
    if route.handler == "openapi":
        return json_response(_openapi.document(request.host_url))
    if route.handler == "manifest":
        return manifest_of_day(params["date"])
    if route.handler == "health":
        return _ops.health(source())
    if route.handler == "export_status":
        return _ops.status()
    return events(params["date"])


def _options(path: str) -> Response:
    """``rest_handle_options_request``: the description of the first route
    matching ``path`` (no permission needed), or ``[]``; 200 either way."""
    route = _routes.find(path)
    if route is None:
        return json_response([])
    g.wpjson_route = route
    return json_response(_routes.route_data(route, rest_url))


def _index() -> dict[str, t.Any]:
    """``get_index``: the site, the namespaces and every route."""
    home = request.host_url.rstrip("/")
    return {
        "name": INDEX_NAME,
        "description": "",
        "url": home,
        "home": home,
        "gmt_offset": 0,
        "timezone_string": "UTC",
        "namespaces": list(_routes.NAMESPACES),
        "authentication": [],
        "routes": _routes.routes_data(None, rest_url),
        "site_logo": 0,
        "site_icon": 0,
        "site_icon_url": "",
        "_links": {"help": [{"href": HELP_URL}]},
    }


def _namespace_index(namespace: str) -> dict[str, t.Any]:
    """``get_namespace_index``: one namespace's routes, linked up to the index."""
    return {
        "namespace": namespace,
        "routes": _routes.routes_data(namespace, rest_url),
        "_links": {"up": [{"href": rest_url("/")}]},
    }


def _permitted(route: _routes.Route) -> bool:
    """The route's ``permission_callback`` for the current user: the export
    capability on the site of the ``Host`` (none for an unknown host)."""
    if not route.guarded:
        return True
    user = current_user()
    blog_id = settings().blog_id_for_host(request.host)
    capability = route.capability or export_capability()
    return user is not None and blog_id is not None and user_can(user, capability, blog_id)


def finish(response: Response) -> Response:
    """After every REST answer: ``Allow`` for a matched route, then ``_envelope``."""
    route: _routes.Route | None = g.get("wpjson_route")
    if route is not None and route.handler == "events":
        response = _download_metrics.metered(response)
    # The streamed export never had Allow: the original echoed it and exited before rest_post_dispatch.
    if route is not None and not response.is_streamed:
        try:
            allowed = _permitted(route)
        except Exception:  # a broken capability filter must not turn an answer into a 500
            logger.exception("permission check for the Allow header failed")
            allowed = False
        if allowed:
            # WordPress lists only GET, but a GET route answers HEAD too (WP_REST_Server::match_request_to_handler),
            # so the header names every method that is served, as RFC 9110 section 10.2.1 asks.
            served = [*route.methods, *(["HEAD"] if "GET" in route.methods and "HEAD" not in route.methods else [])]
            response.headers["Allow"] = ", ".join(served)
    if current().envelope:
        response = _envelope(response)
    return response


def _envelope(response: Response) -> Response:
    """``envelope_response``: status 200, ``{"body", "status", "headers"}``."""
    headers = {name: value for name, value in response.headers.items() if name != "Content-Length"}
    status = response.status_code
    if response.is_streamed:
        enveloped = Response(_streamed_envelope(response, headers, status), content_type=JSON_CONTENT_TYPE)
        for name in ("X-Accel-Buffering", "Cache-Control"):
            if name in response.headers:
                enveloped.headers[name] = response.headers[name]
        return enveloped
    data = response.get_data()
    body: t.Any = None
    if data:
        is_json = response.mimetype == "application/json"
        body = orjson.loads(data) if is_json else data.decode("utf-8", "replace")
    return json_response({"body": body, "status": status, "headers": headers})


def _streamed_envelope(response: Response, headers: dict[str, str], status: int) -> t.Iterator[bytes]:
    is_json = response.mimetype == "application/json"
    pieces = t.cast("t.Iterator[bytes]", iter(response.response))
    try:
        yield b'{"body":' if is_json else b'{"body":"'
        for piece in pieces:
            # A piece is whole characters (whole events or rows), so it decodes on its own.
            yield piece if is_json else orjson.dumps(piece.decode("utf-8"))[1:-1]
        tail = {"status": status, "headers": headers}
        yield (b"," if is_json else b'",') + orjson.dumps(tail)[1:]
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
