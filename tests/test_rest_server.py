"""The REST API as WordPress's ``WP_REST_Server`` answers it, through Flask's
test client: the URL forms (``rest_api_register_rewrites``, ``rest_api_loaded``),
JSON for every error (``rest_no_route`` whatever the method), the indexes
(``get_index``, ``get_namespace_index``, ``get_data_for_route``), ``OPTIONS``
(``rest_handle_options_request``, ``rest_send_allow_header``), ``_envelope``
(``envelope_response``), the method override of ``serve_request``, PHP's
``$_GET`` and the login lookup (``sanitize_user``).

Expected values are written from WordPress's source and the original
plugin's ``register_rest_route`` call, not from our route table.
(End to end with gunicorn and curl: test_endpoint_e2e.py.)"""

from __future__ import annotations

import typing as t

import orjson
import pytest

import hooks
from tests import endpoint_data as data
from tests import test_endpoint
from tests.test_endpoint import URL, Env, assert_wp_error, basic

env = test_endpoint.env  # the endpoint tests' fixture: a site of three blogs, an admin and an editor

DAY = data.DAY.isoformat()
EVENTS = "/analytics/v1/events/(?P<date>\\d{4}-\\d{2}-\\d{2})"
ACCELERATE_EVENTS = "/accelerate/v1/events/(?P<date>\\d{4}-\\d{2}-\\d{2})"
MANIFEST = EVENTS + "/manifest"
ACCELERATE_MANIFEST = ACCELERATE_EVENTS + "/manifest"
# get_data_for_route of the original's route: its args (date, chunk_size, format, in that order)
# cut to the schema keywords, each with "required"; one GET endpoint; no self link (the route has a parameter).
EVENTS_ARGS = {
    "date": {"description": "Day to retrieve the analytics data from.", "type": "string", "required": True},
    "chunk_size": {
        "description": "How many records to return per chunk.",
        "type": "number",
        "default": 3000,
        "required": False,
    },
    "format": {
        "description": "The data format to get results in, one of json, csv, ndjson or parquet.",
        "type": "string",
        "enum": ["json", "csv", "ndjson", "parquet"],
        "default": "json",
        "required": False,
    },
    # Not the original's: this service's switch against CSV injection (issue 12), a WordPress boolean.
    "csv_safe": {
        "description": "Prefix a ' to CSV cells starting with =, +, -, @, tab or carriage return "
        "(OWASP's rule against CSV injection).",
        "type": "boolean",
        "default": False,
        "required": False,
    },
    # Issue 14's opt-in arguments, documented in the index like any argument.
    "_fields": {
        "description": "WordPress's global parameter: only these fields of each event (comma-separated, "
        "nested paths with dots, such as attributes.url); in CSV and Parquet only these columns. "
        "Unknown fields are absent.",
        "type": "array",
        "items": {"type": "string"},
        "required": False,
    },
    "event_type": {
        "description": "Only events of these event types (comma-separated), e.g. pageView,click. "
        "X-WP-Total counts only them.",
        "type": "array",
        "items": {"type": "string"},
        "required": False,
    },
    "hour": {
        "description": "Only events of this UTC hour of the day (event_timestamp), 0 to 23. Not with from or to.",
        "type": "integer",
        "minimum": 0,
        "maximum": 23,
        "required": False,
    },
    "from": {
        "description": "Only events at or after this UTC time of the day, HH:MM (half-open with to).",
        "type": "string",
        "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
        "default": "00:00",
        "required": False,
    },
    "to": {
        "description": "Only events before this UTC time of the day, HH:MM, up to 24:00 (half-open with from).",
        "type": "string",
        "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        "default": "24:00",
        "required": False,
    },
    "csv_bom": {
        "description": "With format=csv: start the body with a UTF-8 byte order mark, for Excel.",
        "type": "boolean",
        "default": False,
        "required": False,
    },
}
# The manifest counts what the filters keep and, as any route's JSON, honours _fields.
MANIFEST_ARGS = {
    **{name: EVENTS_ARGS[name] for name in ("date", "event_type", "hour", "from", "to")},
    "_fields": {
        **EVENTS_ARGS["_fields"],
        "description": "WordPress's global parameter: only these fields of the manifest (comma-separated, "
        "nested paths with dots, such as hours.07). Unknown fields are absent.",
    },
}


def events_route_data(namespace: str) -> dict[str, t.Any]:
    return {"namespace": namespace, "methods": ["GET"], "endpoints": [{"methods": ["GET"], "args": EVENTS_ARGS}]}


def ndjson(env: Env) -> bytes:
    return data.ndjson_body(data.expected_events(env.files, data.DAY, 1))


# ------------------------------------------------------------------ item 3: URL forms


@pytest.mark.parametrize(
    "path",
    [
        f"/index.php/wp-json/analytics/v1/events/{DAY}",  # PATHINFO permalinks: what rest_url() gives there
        f"/index.php/wp-json/accelerate/v1/events/{DAY}/",
        f"/wp-json/Analytics/V1/Events/{DAY}",  # WordPress matches routes with '@^...$@i'
        f"/wp-json/analytics/v1/events/{DAY}//",  # untrailingslashit
        f"/wp-json/nothing/here?rest_route=/analytics/v1/events/{DAY}",  # the rest_route query var wins
        f"/?rest_route=/nope&rest_route=/analytics/v1/events/{DAY}",  # PHP: the last one
        f"/index.php?rest_route=/analytics/v1/events/{DAY}%2F",
    ],
)
def test_every_url_form_serves_the_route(env: Env, path: str) -> None:
    joiner = "&" if "?" in path else "?"
    response = env.client.get(path + joiner + "format=ndjson", headers=env.admin)
    assert response.status_code == 200, response.data
    assert response.data == ndjson(env)


# ------------------------------------------------------------------ items 4 and 8: JSON errors, whatever the method


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("PROPFIND", URL, 404, "rest_no_route"),
        ("TRACE", URL, 404, "rest_no_route"),
        ("BREW", "/wp-json/", 404, "rest_no_route"),
        ("POST", URL, 404, "rest_no_route"),
        ("PATCH", "/index.php/wp-json/analytics/v1", 404, "rest_no_route"),
        ("DELETE", f"/?rest_route=/analytics/v1/events/{DAY}", 404, "rest_no_route"),
        ("GET", "/index.php/wp-json/nope", 404, "rest_no_route"),
        ("GET", "/index.php/wp-json/analytics/v1/events", 404, "rest_no_route"),
        ("GET", f"/wp-json//analytics/v1/events/{DAY}", 404, "rest_no_route"),
        ("GET", f"/?rest_route=analytics/v1/events/{DAY}", 404, "rest_no_route"),  # no leading slash: no route
        ("GET", "/?rest_route[]=/analytics/v1", 400, "rest_path_invalid_type"),  # rest_api_loaded
        ("GET", URL + "?_method[]=GET", 404, "rest_no_route"),
    ],
)
def test_nothing_under_the_api_answers_html(env: Env, method: str, path: str, status: int, code: str) -> None:
    response = env.client.open(path, method=method, headers=env.admin)
    assert_wp_error(response, status, code)
    assert "Allow" not in response.headers


def test_credentials_are_checked_before_any_route_or_method(env: Env) -> None:
    wrong = {**basic("nobody", "x" * 24), "Host": "example.com"}
    for method, path in (("PROPFIND", URL), ("OPTIONS", URL), ("GET", "/wp-json/"), ("GET", "/index.php/wp-json/x")):
        assert_wp_error(env.client.open(path, method=method, headers=wrong), 401, "invalid_username")


@pytest.mark.parametrize(
    "path", [f"/index.php/wp-json/analytics/v1/events/{DAY}", f"/?rest_route=/analytics/v1/events/{DAY}"]
)
def test_a_500_is_json_in_every_form(env: Env, path: str) -> None:
    def broken(capability: str) -> str:
        raise RuntimeError("a plugin bug")

    hooks.add_filter("altis.analytics.export_events_capability", broken)
    body = assert_wp_error(env.client.get(path, headers=env.admin), 500, "internal_server_error")
    assert "a plugin bug" not in body["message"]


# ------------------------------------------------------------------ item 5: indexes and OPTIONS


def test_the_index_describes_namespaces_and_routes_without_credentials(env: Env) -> None:
    response = env.client.get("/wp-json/", headers={"Host": "example.com"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.headers["Allow"] == "GET, HEAD"  # rest_send_allow_header: the index has no permission callback
    index = orjson.loads(response.data)
    assert index["namespaces"] == ["analytics/v1", "accelerate/v1"]
    assert index["url"] == index["home"] == "http://example.com"
    assert isinstance(index["name"], str) and index["name"]
    assert index["_links"]["help"] == [{"href": "https://developer.wordpress.org/rest-api/"}]
    # The constructor's "/" first, then per namespace its index and its routes (register_route).
    # (and this service's OpenAPI document, a route of the documented namespace: issue 12;
    # health and export status: issue 16)
    openapi = "/analytics/v1/openapi.json"
    assert list(index["routes"]) == [
        "/", "/analytics/v1", EVENTS, MANIFEST, openapi, "/analytics/v1/health", "/analytics/v1/export/status",
        "/accelerate/v1", ACCELERATE_EVENTS, ACCELERATE_MANIFEST,
    ]  # fmt: skip
    assert index["routes"][openapi]["_links"] == {"self": [{"href": "http://example.com/wp-json" + openapi}]}
    assert index["routes"]["/"] == {
        "namespace": "",
        "methods": ["GET"],
        "endpoints": [{"methods": ["GET"], "args": {"context": {"default": "view", "required": False}}}],
        "_links": {"self": [{"href": "http://example.com/wp-json/"}]},
    }
    assert index["routes"]["/analytics/v1"] == {
        "namespace": "analytics/v1",
        "methods": ["GET"],
        "endpoints": [
            {
                "methods": ["GET"],
                "args": {
                    "namespace": {"default": "analytics/v1", "required": False},
                    "context": {"default": "view", "required": False},
                },
            }
        ],
        "_links": {"self": [{"href": "http://example.com/wp-json/analytics/v1"}]},
    }
    assert index["routes"][EVENTS] == events_route_data("analytics/v1")
    assert index["routes"][ACCELERATE_EVENTS] == events_route_data("accelerate/v1")
    manifest = {
        "namespace": "analytics/v1",
        "methods": ["GET"],
        "endpoints": [{"methods": ["GET"], "args": MANIFEST_ARGS}],
    }
    assert index["routes"][MANIFEST] == manifest


@pytest.mark.parametrize(
    ("path", "self_link"),
    [
        ("/wp-json", "http://example.com/wp-json/accelerate/v1"),
        ("/index.php/wp-json/", "http://example.com/index.php/wp-json/accelerate/v1"),
        ("/?rest_route=/", "http://example.com/?rest_route=/accelerate/v1"),
        ("/index.php?rest_route=%2F%2F", "http://example.com/?rest_route=/accelerate/v1"),
    ],
)
def test_the_index_in_every_form_links_in_that_form(env: Env, path: str, self_link: str) -> None:
    index = orjson.loads(env.client.get(path, headers={"Host": "example.com"}).data)
    assert index["routes"]["/accelerate/v1"]["_links"]["self"] == [{"href": self_link}]


def test_a_namespace_index(env: Env) -> None:
    response = env.client.get("/wp-json/accelerate/v1/", headers={"Host": "example.com"})
    assert response.status_code == 200
    index = orjson.loads(response.data)
    assert index["namespace"] == "accelerate/v1"
    assert list(index["routes"]) == ["/accelerate/v1", ACCELERATE_EVENTS, ACCELERATE_MANIFEST]
    assert index["routes"][ACCELERATE_EVENTS] == events_route_data("accelerate/v1")
    assert index["_links"] == {"up": [{"href": "http://example.com/wp-json/"}]}
    assert env.client.head("/wp-json/analytics/v1", headers={"Host": "example.com"}).data == b""


def test_options_describes_the_route_and_allow_follows_the_permission(env: Env) -> None:
    anonymous = env.client.options(URL, headers={"Host": "example.com"})
    assert anonymous.status_code == 200
    assert orjson.loads(anonymous.data) == events_route_data("analytics/v1")
    # rest_send_allow_header lists a method only if the permission callback returns true.
    assert "Allow" not in anonymous.headers
    assert "Allow" not in env.client.options(URL, headers=env.editor).headers
    admin = env.client.options(URL, headers=env.admin)
    assert admin.headers["Allow"] == "GET, HEAD"
    assert orjson.loads(admin.data) == events_route_data("analytics/v1")
    index = env.client.options("/index.php/wp-json", headers={"Host": "example.com"})
    assert (index.status_code, index.headers["Allow"]) == (200, "GET, HEAD")
    assert orjson.loads(index.data)["endpoints"][0]["args"] == {"context": {"default": "view", "required": False}}
    # No route matches: rest_handle_options_request still answers 200 with empty data.
    unknown = env.client.options("/wp-json/wp/v2/posts", headers={"Host": "example.com"})
    assert (unknown.status_code, unknown.data, unknown.headers.get("Allow")) == (200, b"[]", None)


# ------------------------------------------------------------------ item 6: _envelope and the method override


def test_errors_are_enveloped(env: Env) -> None:
    response = env.client.get(URL + "?_envelope", headers={"Host": "example.com"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert "WWW-Authenticate" not in response.headers  # the envelope's purpose: nothing for the client to act on
    envelope = orjson.loads(response.data)
    assert envelope["status"] == 401
    assert envelope["body"]["code"] == "rest_forbidden" and envelope["body"]["data"]["status"] == 401
    assert envelope["headers"]["WWW-Authenticate"].startswith("Basic realm=")
    for query, status, code in (
        ("?_envelope=1&format=xml", 400, "rest_invalid_param"),
        ("x?_envelope", 404, "rest_no_route"),
    ):
        envelope = orjson.loads(env.client.get(URL + query, headers=env.admin).data)
        assert (envelope["status"], envelope["body"]["code"]) == (status, code)
    routes = orjson.loads(env.client.get("/wp-json/?_envelope", headers={"Host": "example.com"}).data)
    assert routes["status"] == 200 and routes["body"]["namespaces"] == ["analytics/v1", "accelerate/v1"]
    assert routes["headers"]["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson"])
def test_a_streamed_day_is_enveloped(env: Env, fmt: str) -> None:
    headers = {**env.admin, "Accept-Encoding": "gzip"}
    response = env.client.get(URL + f"?format={fmt}&chunk_size=2&_envelope", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert "Content-Encoding" not in response.headers
    envelope = orjson.loads(response.data)
    expected = data.expected_events(env.files, data.DAY, 1)
    assert envelope["status"] == 200
    assert envelope["headers"]["X-WP-Total"] == str(len(expected))
    if fmt == "json":
        assert envelope["body"] == [orjson.loads(raw) for raw in expected]
    elif fmt == "ndjson":
        assert envelope["body"].encode() == data.ndjson_body(expected)
        assert envelope["headers"]["Content-Type"] == "application/x-ndjson; charset=UTF-8"
    else:
        assert data.parse_csv(envelope["body"].encode()) == data.expected_csv(expected)


@pytest.mark.parametrize(
    ("method", "query", "headers", "served"),
    [
        ("POST", "?_method=GET", {}, True),
        ("POST", "?_method=get", {}, True),  # WP_REST_Request::set_method upper-cases
        ("POST", "", {"X-HTTP-Method-Override": "GET"}, True),
        ("PUT", "", {"X-HTTP-Method-Override": "get"}, True),  # WordPress overrides whatever the real method
        ("POST", "?_method=DELETE", {"X-HTTP-Method-Override": "GET"}, False),  # _method comes first
        ("GET", "?_method=POST", {}, False),
        ("GET", "?_method=", {}, False),
        ("POST", "", {}, False),
    ],
)
def test_method_override(env: Env, method: str, query: str, headers: dict[str, str], served: bool) -> None:
    joiner = "&" if query else "?"
    response = env.client.open(URL + query + joiner + "format=ndjson", method=method, headers={**env.admin, **headers})
    if served:
        assert response.status_code == 200, response.data
        assert response.data == ndjson(env)
    else:
        assert_wp_error(response, 404, "rest_no_route")


def test_a_get_overridden_to_head_has_no_body(env: Env) -> None:
    response = env.client.get(URL + "?_method=HEAD&format=csv", headers=env.admin)
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["X-WP-Total"] == str(len(data.expected_events(env.files, data.DAY, 1)))


# ------------------------------------------------------------------ item 8: PHP's $_GET and sanitize_user


def test_a_repeated_parameter_takes_the_last_value(env: Env) -> None:
    response = env.client.get(URL + "?format=xml&format=csv", headers=env.admin)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8"


@pytest.mark.parametrize("login", ["john  smith", " john\tsmith ", "JOHN \n SMITH", "<b>john</b> smith", "jöhn smith"])
def test_a_login_is_looked_up_as_sanitize_user_makes_it(env: Env, login: str) -> None:
    env.accounts.create_user("john smith", "john@example.com", role="administrator")
    password, _ = env.accounts.create_app_password("john smith", "curl")
    response = env.client.get(URL + "?format=ndjson", headers={**basic(login, password), "Host": "example.com"})
    assert response.status_code == 200, response.data
    assert response.data == ndjson(env)
