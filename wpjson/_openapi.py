"""The OpenAPI 3 document of the REST routes, served at
``/wp-json/analytics/v1/openapi.json`` (a route of the table like the others).

It is built from ``_routes.ROUTES`` on every request, so it describes exactly
what is matched and validated: a route's WordPress pattern becomes the
OpenAPI path (``(?P<date>\\d{4}-\\d{2}-\\d{2})`` -> ``{date}`` with that
pattern), its arguments become query parameters with their schema, and every
error is WordPress's ``{"code", "message", "data": {"status"}}``. Clients and
schemathesis (in the tests) read it; WordPress itself has no such document
(its index, ``GET /wp-json/``, is the WordPress way to discover the same).
"""

from __future__ import annotations

import re
import typing as t

from wpjson import _routes
from wpjson._request import URL_PREFIX

OPENAPI_VERSION = "3.0.3"
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^()]*)\)")
#: Statuses an events request may answer besides 200, and why (README "The events endpoint").
_EVENTS_ERRORS = {
    "400": "An argument is invalid (rest_invalid_param).",
    "401": "No credentials (rest_forbidden), wrong ones (invalid_username, incorrect_password), "
    "or credentials over plain HTTP from another host (application_passwords_disabled).",
    "403": "The user lacks the export capability on the site (rest_forbidden).",
    "404": "No site for the Host header (analytics_unknown_site).",
    "429": "Too many failed logins from this IP or for this account (analytics_too_many_logins); see Retry-After.",
    "503": "Redis or the event store is unreachable; see Retry-After.",
}
_ANY_ERRORS = {
    "401": "Credentials present but wrong, or sent over plain HTTP from another host.",
    "404": "No route matches the URL and method (rest_no_route).",
    "429": "Too many failed logins; see Retry-After.",
    "503": "Redis is unreachable; see Retry-After.",
}
#: The other routes' 200 and the errors they add to ``_ANY_ERRORS`` (README "Operating it").
_OTHER_ANSWERS: dict[str, tuple[str, dict[str, str]]] = {
    "openapi": ("This document.", {}),
    "health": (
        "Redis and the event store answer.",
        {"503": "Redis or the event store does not answer (analytics_unavailable, analytics_source_unavailable)."},
    ),
    "export_status": (
        "The export's status, as 'flask --app wsgi export status --json' prints it.",
        {
            "401": "No credentials (rest_forbidden), or wrong ones.",
            "403": "The user lacks manage_options on the site (rest_forbidden).",
            "404": "No site for the Host header (analytics_unknown_site), or no route.",
        },
    ),
}
#: The events route's request headers beyond authentication (README "Resumable downloads"; wpjson._ranges).
_RANGE_HEADERS = [
    {
        "name": "Range",
        "in": "header",
        "required": False,
        "description": "One byte range of the body (RFC 9110 14.2): bytes=N-, bytes=N-M or bytes=-S. "
        "A list of ranges, another unit or a malformed value is ignored (the whole body, 200). The range is of "
        "the plain body, or of the gzip-coded body when If-Range is that body's ETag.",
        "schema": {"type": "string"},
    },
    {
        "name": "If-Range",
        "in": "header",
        "required": False,
        "description": "The ETag of the body the client holds the start of: the range is honoured only while "
        "it is still the ETag of the day's body (else 200 with the whole body, never a splice). "
        "A date or a weak tag never matches.",
        "schema": {"type": "string"},
    },
]
_ETAG = {"description": "The body's strong ETag: the day's manifest digest, then the request's.",
         "schema": {"type": "string", "pattern": '^"[0-9a-f]+-[0-9a-f]+(-gzip)?"$'}}  # fmt: skip
_BODY_TYPES = {
    "application/json": {"type": "array", "items": {"type": "object"}},
    "text/csv": {"type": "string"},
    "application/x-ndjson": {"type": "string"},
    "application/vnd.apache.parquet": {"type": "string", "format": "binary"},
}


def openapi_path(pattern: str) -> tuple[str, dict[str, str]]:
    """A WordPress route pattern as an OpenAPI path under ``/wp-json``, and
    each path parameter's regular expression (anchored)."""
    params = {m.group("name"): "^" + m.group("regex") + "$" for m in _GROUP.finditer(pattern)}
    path = _GROUP.sub(lambda m: "{" + m.group("name") + "}", pattern).replace("\\.", ".")
    if path == "/":
        return URL_PREFIX + "/", params
    return URL_PREFIX + path, params


def _error(description: str) -> dict[str, t.Any]:
    schema = {"$ref": "#/components/schemas/WP_Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query_schema(schema: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    kept = {k: v for k, v in schema.items() if k in ("type", "enum", "default")}
    kept.setdefault("type", "string")
    return kept


def _operation(route: _routes.Route, path_params: dict[str, str], head: bool) -> dict[str, t.Any]:
    parameters: list[dict[str, t.Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": regex}}
        for name, regex in path_params.items()
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "description": arg.get("description", ""),
         "schema": _query_schema(arg)}
        for name, arg in route.args.items()
        if name not in path_params and name != "namespace"  # the namespace index's own name, not a parameter
    ]  # fmt: skip
    operation: dict[str, t.Any] = {
        "operationId": ("head" if head else "get") + "_" + route.handler + "_" + route.namespace.replace("/", "_"),
        "parameters": parameters,
    }
    if route.handler in ("events", "manifest"):
        if route.handler == "events":
            ok: dict[str, t.Any] = {
                "description": "The site's events of that UTC day, streamed.",
                "headers": {"X-WP-Total": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}},
            }
            if not head:
                ok["content"] = {media: {"schema": schema} for media, schema in _BODY_TYPES.items()}
            parameters += _RANGE_HEADERS
            # No schema for the part: a byte range of the 200's body (a JSON array cut anywhere is no JSON).
            partial: dict[str, t.Any] = {
                "description": "The byte range asked for (Range, under If-Range), of the body a 200 sends.",
                "headers": {
                    "Content-Range": {"schema": {"type": "string", "pattern": "^bytes [0-9]+-[0-9]+/[0-9]+$"}},
                    "ETag": _ETAG,
                },
                "content": {media: {} for media in _BODY_TYPES},
            }
            unsatisfiable = _error("The range starts at or after the end of the body (rest_range_not_satisfiable).")
            whole = {"type": "string", "pattern": r"^bytes \*/[0-9]+$"}
            unsatisfiable["headers"] = {"Content-Range": {"schema": whole}}
            ok["headers"]["ETag"] = _ETAG
            extra: dict[str, t.Any] = {"206": partial, "416": unsatisfiable}
        else:
            ok = {"description": "The day's completeness manifest: counts per hour and event type, objects, digest."}
            if not head:
                ok["content"] = {"application/json": {"schema": {"type": "object"}}}
            extra = {}
        operation["security"] = [{"basicAuth": []}]
        failures = {code: _error(why) for code, why in _EVENTS_ERRORS.items()}
        operation["responses"] = dict(sorted({"200": ok, **extra, **failures}.items()))
    else:
        description, errors = _OTHER_ANSWERS.get(route.handler, ("WordPress's index of the routes.", {}))
        ok = {"description": description}
        if not head:
            ok["content"] = {"application/json": {"schema": {"type": "object"}}}
        if route.guarded:
            operation["security"] = [{"basicAuth": []}]
        errors = {**_ANY_ERRORS, **errors}
        operation["responses"] = {"200": ok, **{code: _error(why) for code, why in sorted(errors.items())}}
    if head:
        for response in operation["responses"].values():
            response.pop("content", None)
    return operation


def document(server_url: str) -> dict[str, t.Any]:
    """The OpenAPI 3 document of every route, for a server at ``server_url``
    (scheme, host and port; paths start with ``/wp-json``)."""
    paths: dict[str, dict[str, t.Any]] = {}
    for route in _routes.ROUTES:
        path, params = openapi_path(route.pattern)
        item = paths.setdefault(path, {})
        if "GET" in route.methods:
            item["get"] = _operation(route, params, head=False)
            if route.handler == "events":  # every GET route answers HEAD; documented where it matters
                item["head"] = _operation(route, params, head=True)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Analytics export",
            "version": "1",
            "description": "The WordPress analytics module's data export: GET a UTC day of raw events "
            "as JSON, CSV, NDJSON or Parquet with an application password (HTTP Basic).",
        },
        "servers": [{"url": server_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "WP_Error": {
                    "type": "object",
                    "required": ["code", "message", "data"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "data": {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"type": "integer", "minimum": 400, "maximum": 599}},
                        },
                    },
                }
            },
        },
    }
