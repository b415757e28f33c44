"""The WordPress REST error shape: ``{"code", "message", "data": {"status", ...}}``.

Every error this API answers has that body, so clients written against
WordPress keep working: client mistakes get their 4xx code, an unreachable
backend a 503, and anything unexpected a 500 in the same shape (logged with
its traceback here, never shown to the client).
"""

from __future__ import annotations

import logging
import typing as t

import orjson
import redis.exceptions
from flask import Response, request
from werkzeug.exceptions import HTTPException

from events.sources import SourceError

if t.TYPE_CHECKING:
    from flask import Blueprint, Flask

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
#: Seconds a client is told to wait (``Retry-After``) when Redis or the event store is down.
RETRY_AFTER_SECONDS = 30


class RestError(Exception):
    """An error answered as WordPress would (``WP_Error`` with a status)."""

    def __init__(self, code: str, message: str, status: int, **data: t.Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data
        self.headers: dict[str, str] = {}

    def response(self) -> Response:
        return error_response(self.code, self.message, self.status, headers=self.headers, **self.data)


def error_response(
    code: str, message: str, status: int, *, headers: t.Mapping[str, str] | None = None, **data: t.Any
) -> Response:
    body = orjson.dumps({"code": code, "message": message, "data": {"status": status, **data}})
    response = Response(body, status=status, content_type=JSON_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def no_route() -> RestError:
    return RestError("rest_no_route", "No route was found matching the URL and request method.", 404)


def invalid_params(problems: t.Mapping[str, tuple[str, str]]) -> RestError:
    """400 ``rest_invalid_param``: ``problems`` maps an argument to (detail code, what is allowed)."""
    return RestError(
        "rest_invalid_param",
        "Invalid parameter(s): " + ", ".join(problems),
        400,
        params={name: message for name, (_, message) in problems.items()},
        details={name: {"code": code, "message": message, "data": None} for name, (code, message) in problems.items()},
    )


def register_error_handlers(blueprint: Blueprint) -> None:
    """Answer every failure of a ``/wp-json`` view in WordPress's shape."""
    blueprint.register_error_handler(RestError, _rest_error)
    blueprint.register_error_handler(redis.exceptions.ConnectionError, _redis_unavailable)
    blueprint.register_error_handler(redis.exceptions.TimeoutError, _redis_unavailable)
    blueprint.register_error_handler(redis.exceptions.OutOfMemoryError, _redis_full)
    blueprint.register_error_handler(SourceError, _source_unavailable)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(Exception, _unexpected)


def register_app_error_handlers(app: Flask) -> None:
    """Errors raised before a request reaches the blueprint (Werkzeug refusing
    the ``Host`` while routing, say) are the app's: answer those of a REST
    request in WordPress's shape too, and leave the others to Flask."""
    app.register_error_handler(HTTPException, _app_http_error)


def _app_http_error(exc: HTTPException) -> Response | HTTPException:
    from wpjson._request import ENVIRON_KEY

    if ENVIRON_KEY not in request.environ:
        return exc
    return _http_error(exc)


def _rest_error(exc: RestError) -> Response:
    return exc.response()


def _redis_unavailable(exc: Exception) -> Response:
    logger.error("Redis is unreachable: %s", exc)
    return _unavailable(
        "analytics_unavailable", "The analytics service cannot reach its database (Redis); try again in a moment."
    )


def _redis_full(exc: Exception) -> Response:
    logger.error("Redis is full (maxmemory) and refuses writes: %s", exc)
    return error_response(
        "analytics_unavailable",
        "The analytics service's database (Redis) is full; try again later.",
        503,
        headers={"Retry-After": "30"},
    )


def _source_unavailable(exc: SourceError) -> Response:
    logger.error("the event store is unavailable: %s", exc)
    return _unavailable(
        "analytics_source_unavailable", "The analytics event store cannot be read right now; try again in a moment."
    )


def _unavailable(code: str, message: str) -> Response:
    """503 with ``Retry-After``: a dependency is down, the request itself was fine."""
    return error_response(code, message, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _http_error(exc: HTTPException) -> Response:
    """A Werkzeug HTTP error (a malformed request, or a failure after the view) in WordPress's shape."""
    if exc.code == 404 or exc.code == 405:
        return no_route().response()
    if exc.code is None or exc.code >= 500:
        return _unexpected(exc)
    return error_response(f"http_{exc.code}", exc.description or exc.name, exc.code)


def _unexpected(exc: Exception) -> Response:
    logger.exception("unexpected error answering a REST request")
    return error_response("internal_server_error", "There has been a critical error on this website.", 500)
