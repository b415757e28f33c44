"""The ``/wp-json`` REST API: the routes WordPress clients call, answered as WordPress would.

- ``GET|HEAD /wp-json/`` (the index) and ``/wp-json/{analytics,accelerate}/v1`` (namespace indexes).
- ``GET|HEAD /wp-json/{analytics,accelerate}/v1/events/<YYYY-MM-DD>`` and
  ``.../events/<YYYY-MM-DD>/manifest``.
- ``GET|HEAD /wp-json/analytics/v1/openapi.json``: the OpenAPI 3 document of these routes (``_openapi``).
- ``GET|HEAD /wp-json/analytics/v1/health`` (no authentication) and
  ``/wp-json/analytics/v1/export/status`` (``manage_options``): ``_ops``.
- ``OPTIONS`` on any of them: the route's description.
- Each also as ``/index.php/wp-json/...`` and ``/?rest_route=/...``; with
  ``_method`` / ``X-HTTP-Method-Override`` and ``_envelope``.
- Anything else under the API, whatever the method: 404 ``rest_no_route``,
  and every error in WordPress's JSON shape.

``init_app(app)`` registers it all.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from werkzeug.routing import BaseConverter, Rule

from wpjson._auth import DEFAULT_CAPABILITY, EXPORT_CAPABILITY_HOOK, register_auth_errors
from wpjson._errors import RestError, error_response, register_app_error_handlers, register_error_handlers
from wpjson._events import MAX_CHUNK_SIZE, SUMMARIZED_HEADER
from wpjson._request import URL_PREFIX, RestRequestMiddleware
from wpjson._server import finish, serve

__all__ = [
    "DEFAULT_CAPABILITY",
    "EXPORT_CAPABILITY_HOOK",
    "MAX_CHUNK_SIZE",
    "SUMMARIZED_HEADER",
    "RestError",
    "RestRequestMiddleware",
    "blueprint",
    "error_response",
    "init_app",
]

#: The blueprint holds the error handlers and ``finish``; its one rule is added by ``init_app``.
blueprint = Blueprint("wpjson", __name__)
register_error_handlers(blueprint)
register_auth_errors(blueprint)
blueprint.after_request(finish)


class _RestRouteConverter(BaseConverter):
    """The rest of the path after ``/wp-json``, slashes and all (empty, or starting with ``/``)."""

    regex = r"(?:/(?s:.*))?"
    part_isolating = False


def init_app(app: Flask) -> None:
    """Register the REST API on ``app``: one rule taking every method (methods
    are WordPress's business, see ``_server``), and the middleware that marks
    REST requests (``_request``)."""
    app.register_blueprint(blueprint)
    register_app_error_handlers(app)
    app.url_map.converters["wp_rest_route"] = _RestRouteConverter
    rule = Rule(
        URL_PREFIX + "<wp_rest_route:route>",
        endpoint=f"{blueprint.name}.serve",
        methods=None,
        strict_slashes=False,
        merge_slashes=False,
    )
    app.url_map.add(rule)
    app.view_functions[rule.endpoint] = serve
    app.wsgi_app = RestRequestMiddleware(app.wsgi_app)  # type: ignore[method-assign]
