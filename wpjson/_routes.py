"""The REST routes as WordPress's ``WP_REST_Server`` holds them, and how it
matches and describes them.

One table serves the matching (``match_request_to_handler``), the ``OPTIONS``
answer (``rest_handle_options_request``) and the indexes (``get_index``,
``get_namespace_index``, ``get_data_for_route``), so they cannot disagree.
Routes are WordPress's regular expressions, matched case-insensitively
against the whole route (``'@^' . $route . '$@i'``), in registration order:
the index ``/`` (from the server's constructor), then per namespace its
index ``/<namespace>`` followed by its routes (``register_route``); the
documented namespace also serves ``/analytics/v1/openapi.json``.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

#: The namespaces, in registration order: the documented one, then the newer releases' one.
NAMESPACES = ("analytics/v1", "accelerate/v1")
#: ``rest_get_allowed_schema_keywords()``: what an index shows of an argument's schema.
_SCHEMA_KEYWORDS = frozenset((
    "title", "description", "default", "type", "format", "enum", "items", "properties",
    "additionalProperties", "patternProperties", "minProperties", "maxProperties", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "pattern", "minItems", "maxItems", "uniqueItems", "anyOf", "oneOf",
))  # fmt: skip

#: The events route's arguments as the original registers them (its ``register_rest_route``
#: call), with this service's other formats, its ``csv_safe`` and its opt-in selections (issue 14).
EVENTS_ARGS: dict[str, dict[str, t.Any]] = {
    "date": {"description": "Day to retrieve the analytics data from.", "type": "string", "required": True},
    "chunk_size": {"description": "How many records to return per chunk.", "type": "number", "default": 3000},
    "format": {
        "description": "The data format to get results in, one of json, csv, ndjson or parquet.",
        "type": "string",
        "enum": ["json", "csv", "ndjson", "parquet"],
        "default": "json",
    },
    "csv_safe": {
        "description": "Prefix a ' to CSV cells starting with =, +, -, @, tab or carriage return "
        "(OWASP's rule against CSV injection).",
        "type": "boolean",
        "default": False,
    },
    "_fields": {
        "description": "WordPress's global parameter: only these fields of each event (comma-separated, "
        "nested paths with dots, such as attributes.url); in CSV and Parquet only these columns. "
        "Unknown fields are absent.",
        "type": "array",
        "items": {"type": "string"},
    },
    "event_type": {
        "description": "Only events of these event types (comma-separated), e.g. pageView,click. "
        "X-WP-Total counts only them.",
        "type": "array",
        "items": {"type": "string"},
    },
    "hour": {
        "description": "Only events of this UTC hour of the day (event_timestamp), 0 to 23. Not with from or to.",
        "type": "integer",
        "minimum": 0,
        "maximum": 23,
    },
    "from": {
        "description": "Only events at or after this UTC time of the day, HH:MM (half-open with to).",
        "type": "string",
        "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
        "default": "00:00",
    },
    "to": {
        "description": "Only events before this UTC time of the day, HH:MM, up to 24:00 (half-open with from).",
        "type": "string",
        "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        "default": "24:00",
    },
    "csv_bom": {
        "description": "With format=csv: start the body with a UTF-8 byte order mark, for Excel.",
        "type": "boolean",
        "default": False,
    },
}

#: The manifest route's arguments: the day and the event filters (its counts are of the events they keep);
#: the events route's other arguments are validated and ignored, but ``_fields``, global, applies to the manifest.
MANIFEST_ARGS: dict[str, dict[str, t.Any]] = {
    **{name: EVENTS_ARGS[name] for name in ("date", "event_type", "hour", "from", "to")},
    "_fields": {
        **EVENTS_ARGS["_fields"],
        "description": "WordPress's global parameter: only these fields of the manifest (comma-separated, "
        "nested paths with dots, such as hours.07). Unknown fields are absent.",
    },
}


@dataclasses.dataclass(frozen=True)
class Route:
    """One registered route with its single endpoint."""

    pattern: str
    namespace: str
    #: What answers it: "index", "namespace_index", "events", "manifest", "openapi", "health" or "export_status".
    handler: str
    args: dict[str, dict[str, t.Any]]
    methods: tuple[str, ...] = ("GET",)
    #: Whether a ``permission_callback`` guards it (the events routes: the export capability).
    guarded: bool = False
    #: The capability the guard checks instead of the export capability ("" = the export capability).
    capability: str = ""
    regex: re.Pattern[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # PCRE without the u flag: \d is ASCII only; "$" also matches before a final newline, as in Python.
        object.__setattr__(self, "regex", re.compile("^" + self.pattern + "$", re.IGNORECASE | re.ASCII))

    def serves(self, method: str) -> bool:
        """``match_request_to_handler``'s method check: HEAD falls back to GET."""
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)


def _build() -> tuple[Route, ...]:
    routes = [Route("/", "", "index", {"context": {"default": "view"}})]
    for namespace in NAMESPACES:
        index_args = {"namespace": {"default": namespace}, "context": {"default": "view"}}
        routes.append(Route("/" + namespace, namespace, "namespace_index", index_args))
        events = f"/{namespace}/events/(?P<date>\\d{{4}}-\\d{{2}}-\\d{{2}})"
        routes.append(Route(events, namespace, "events", EVENTS_ARGS, guarded=True))
        routes.append(Route(events + "/manifest", namespace, "manifest", MANIFEST_ARGS, guarded=True))
        if namespace == NAMESPACES[0]:
            # This service's own: the OpenAPI document of these routes (``_openapi``), in the documented
            # namespace. The dot is a regex dot, as in a plugin's register_rest_route( ns, '/openapi.json' ).
            routes.append(Route(f"/{namespace}/openapi.json", namespace, "openapi", {}))
            routes.append(Route(f"/{namespace}/health", namespace, "health", {}))
            routes.append(
                Route(f"/{namespace}/export/status", namespace, "export_status", {}, guarded=True,
                      capability="manage_options")
            )  # fmt: skip
    return tuple(routes)


ROUTES = _build()


def match(path: str, method: str) -> tuple[Route, dict[str, str]] | None:
    """``match_request_to_handler``: the route and URL parameters serving
    ``method`` on ``path``, or None (WordPress's 404 ``rest_no_route``, also
    when the path matches but the method does not).

    Only the routes of namespaces that start the path are tried, if any do.
    """
    candidates = [r for r in ROUTES if r.namespace and (path.lstrip("/").rstrip("/\\") + "/").startswith(r.namespace)]
    for route in candidates or ROUTES:
        found = route.regex.match(path)
        if found is not None and route.serves(method):
            return route, found.groupdict()
    return None


def find(path: str) -> Route | None:
    """The first route whose pattern matches ``path``, whatever the method
    (``rest_handle_options_request``)."""
    return next((r for r in ROUTES if r.regex.match(path)), None)


def route_data(route: Route, rest_url: t.Callable[[str], str]) -> dict[str, t.Any]:
    """``get_data_for_route``: namespace, methods, endpoints with their
    arguments' schema (and ``required``), and a ``self`` link for a route
    without parameters."""
    args = {
        name: {**{k: v for k, v in schema.items() if k in _SCHEMA_KEYWORDS}, "required": bool(schema.get("required"))}
        for name, schema in route.args.items()
    }
    data: dict[str, t.Any] = {
        "namespace": route.namespace,
        "methods": list(route.methods),
        "endpoints": [{"methods": list(route.methods), "args": args}],
    }
    if "(?P<" not in route.pattern:
        data["_links"] = {"self": [{"href": rest_url(route.pattern)}]}
    return data


def routes_data(namespace: str | None, rest_url: t.Callable[[str], str]) -> dict[str, dict[str, t.Any]]:
    """``get_data_for_routes``, keyed by the route's pattern: every route, or one namespace's."""
    return {r.pattern: route_data(r, rest_url) for r in ROUTES if namespace is None or r.namespace == namespace}
