"""The events endpoint through Flask's test client: arguments, negotiation,
headers, errors in WordPress's shape, the catalog, aborted and closed streams.
(End-to-end runs with gunicorn and curl are in test_endpoint_e2e.py.)"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import io
import logging
import os
import re
import signal
import threading
import time
import typing as t
from pathlib import Path

import orjson
import psutil
import pyarrow.parquet
import pytest
from flask import Flask
from flask.testing import FlaskClient

import config
import hooks
import wsgi
from accounts import Accounts
from app_settings import APP_CONFIG_KEY
from events import parquet
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX, free_port
from wpjson import SUMMARIZED_HEADER

if t.TYPE_CHECKING:
    import redis as redis_lib

SITES = "example.com=1,shop.example.com=2,blog3.example.com=3"
URL = f"/wp-json/analytics/v1/events/{data.DAY.isoformat()}"


class Env(t.NamedTuple):
    app: Flask
    client: FlaskClient
    root: Path
    files: dict[str, bytes]
    admin: dict[str, str]
    editor: dict[str, str]
    accounts: Accounts


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


@pytest.fixture
def env(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path) -> Env:
    files = data.day_files()
    root = tmp_path / "events"
    data.write_local(root, files)
    settings = make_settings(ANALYTICS_SITES=SITES)
    app = wsgi.create_app(settings)
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    accounts.create_user("editor", "editor@example.com", role="editor")
    admin_password, _ = accounts.create_app_password("admin", "curl")
    editor_password, _ = accounts.create_app_password("editor", "curl")
    return Env(
        app,
        app.test_client(),
        root,
        files,
        {**basic("admin", admin_password), "Host": "example.com"},
        {**basic("editor", editor_password), "Host": "example.com"},
        accounts,
    )


def assert_wp_error(response: t.Any, status: int, code: str) -> dict[str, t.Any]:
    assert response.status_code == status, response.data
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = orjson.loads(response.data)
    assert body["code"] == code
    assert body["data"]["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    return t.cast(dict[str, t.Any], body)


# ------------------------------------------------------------------ bodies and headers


def test_json_is_the_raw_events_of_the_day_and_site(env: Env) -> None:
    response = env.client.get(URL, headers=env.admin)
    expected = data.expected_events(env.files, data.DAY, 1)
    assert response.status_code == 200
    assert response.data == data.json_body(expected)
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.headers["X-WP-Total"] == str(len(expected)) != "0"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["Cache-Control"] == "no-store"  # README "Headers": a day's events are never cached
    assert "Content-Disposition" not in response.headers
    assert response.headers["Content-Length"] == str(len(response.data))  # known from the catalog (issue 14)


def test_csv_has_the_sorted_union_of_fields_and_one_row_per_event(env: Env) -> None:
    response = env.client.get(URL + "?format=csv", headers=env.admin)
    expected = data.expected_csv(data.expected_events(env.files, data.DAY, 1))
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert response.headers["Content-Disposition"] == f"attachment; filename={data.DAY.isoformat()}.csv"
    rows = data.parse_csv(response.data)
    assert rows == expected
    assert "attributes.campaign" in rows[0] and "attributes.flag" in rows[0]
    assert "true" in rows[[r[rows[0].index("attributes.flag")] for r in rows].index("true")]


def test_ndjson_is_the_raw_lines(env: Env) -> None:
    response = env.client.get(URL + "?format=ndjson", headers=env.admin)
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=UTF-8"
    assert response.data == data.ndjson_body(data.expected_events(env.files, data.DAY, 1))


@pytest.mark.parametrize(("host", "blog"), [("shop.example.com", 2), ("blog3.example.com:8080", 3), ("EXAMPLE.com", 1)])
def test_the_host_selects_the_site(env: Env, host: str, blog: int) -> None:
    response = env.client.get(URL, headers={**env.admin, "Host": host})
    expected = data.expected_events(env.files, data.DAY, blog)
    assert response.data == data.json_body(expected)
    assert response.headers["X-WP-Total"] == str(len(expected))


def test_an_unknown_host_is_no_site(env: Env) -> None:
    response = env.client.get(URL, headers={**env.admin, "Host": "elsewhere.example.org"})
    body = assert_wp_error(response, 404, "analytics_unknown_site")
    assert "ANALYTICS_SITES" in body["message"]


@pytest.mark.parametrize("query", ["?format=xml", "?chunk_size=abc", "?format=csv&chunk_size=", ""])
def test_the_site_is_checked_before_the_arguments(env: Env, query: str) -> None:
    """README "Errors": checks run in WordPress's order -- credentials, route
    and method, site, arguments, capability. (On a multisite WordPress the
    site is resolved from the host while loading, before the REST server
    validates anything.) An unknown host with bad arguments is the site's 404."""
    for path in (URL, "/wp-json/analytics/v1/events/2026-02-30"):
        response = env.client.get(path + query, headers={**env.admin, "Host": "elsewhere.example.org"})
        assert_wp_error(response, 404, "analytics_unknown_site")
    known = env.client.get(URL + "?format=xml", headers=env.admin)
    assert_wp_error(known, 400, "rest_invalid_param")


@pytest.mark.parametrize(
    ("accept", "query", "fmt"),
    [
        ("text/csv", "", "csv"),
        ("application/x-ndjson", "", "ndjson"),
        ("text/csv;q=0.5, application/json", "", "json"),
        ("application/json;q=0.1, text/csv;q=0.9", "", "csv"),
        ("*/*", "", "json"),
        ("image/png", "", "json"),
        ("text/csv", "?format=json", "json"),
        ("application/json", "?format=ndjson", "ndjson"),
    ],
)
def test_accept_negotiation_and_format_argument(env: Env, accept: str, query: str, fmt: str) -> None:
    response = env.client.get(URL + query, headers={**env.admin, "Accept": accept})
    assert response.status_code == 200
    media = {"json": "application/json", "csv": "text/csv", "ndjson": "application/x-ndjson"}
    assert response.headers["Content-Type"].split(";")[0] == media[fmt]
    assert "Accept" in response.headers["Vary"]


@pytest.mark.parametrize("chunk_size", ["1", "2", "10000", "+7"])
def test_chunk_size_changes_pieces_not_bytes(env: Env, chunk_size: str) -> None:
    response = env.client.get(URL + f"?format=csv&chunk_size={chunk_size}", headers=env.admin, buffered=False)
    pieces = list(response.response)
    response.close()
    expected = data.expected_csv(data.expected_events(env.files, data.DAY, 1))
    assert data.parse_csv(b"".join(pieces)) == expected
    rows = len(expected) - 1
    size = int(chunk_size)
    assert len(pieces) == 1 + -(-rows // size)  # the header row, then one piece per chunk


def test_gzip_on_the_fly(env: Env) -> None:
    response = env.client.get(URL + "?chunk_size=3", headers={**env.admin, "Accept-Encoding": "gzip, deflate"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert gzip.decompress(response.data) == data.json_body(data.expected_events(env.files, data.DAY, 1))
    plain = env.client.get(URL, headers={**env.admin, "Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in plain.headers


def test_head_has_the_headers_of_get_and_no_body(env: Env) -> None:
    get = env.client.get(URL + "?format=csv", headers=env.admin)
    head = env.client.head(URL + "?format=csv", headers=env.admin)
    assert head.status_code == 200
    assert head.data == b""
    for name in ("Content-Type", "X-WP-Total", "X-Accel-Buffering", "Cache-Control", "Content-Disposition"):
        assert head.headers[name] == get.headers[name]
    assert "Content-Length" not in head.headers


@pytest.mark.parametrize(("fmt", "body"), [("json", b"[]"), ("csv", b""), ("ndjson", b"")])
def test_a_future_empty_or_far_away_day_is_an_empty_answer(env: Env, fmt: str, body: bytes) -> None:
    for day in ("2031-01-01", "2026-11-20", "9999-12-31", "0001-01-01"):
        response = env.client.get(f"/wp-json/analytics/v1/events/{day}?format={fmt}", headers=env.admin)
        assert response.status_code == 200
        assert response.headers["X-WP-Total"] == "0"
        assert response.data == body


@pytest.mark.parametrize(
    "path",
    [
        f"/wp-json/accelerate/v1/events/{data.DAY.isoformat()}",
        f"/?rest_route=/analytics/v1/events/{data.DAY.isoformat()}",
        f"/?rest_route=/accelerate/v1/events/{data.DAY.isoformat()}/",
        f"/index.php?rest_route=%2Fanalytics%2Fv1%2Fevents%2F{data.DAY.isoformat()}",
        f"/wp-json/analytics/v1/events/{data.DAY.isoformat()}/",
    ],
)
def test_other_forms_of_the_route(env: Env, path: str) -> None:
    joiner = "&" if "?" in path else "?"
    response = env.client.get(path + joiner + "format=ndjson", headers=env.admin)
    assert response.status_code == 200, response.data
    assert response.data == data.ndjson_body(data.expected_events(env.files, data.DAY, 1))


# ------------------------------------------------------------------ the catalog


def test_a_warm_day_reads_no_object_before_answering(env: Env) -> None:
    cold = env.client.head(URL, headers=env.admin)
    assert cold.headers[SUMMARIZED_HEADER] == str(len(env.files))
    warm = env.client.head(URL, headers=env.admin)
    assert warm.headers[SUMMARIZED_HEADER] == "0"
    assert warm.headers["X-WP-Total"] == cold.headers["X-WP-Total"]
    # Proof the total comes from the catalog: blank an object keeping its
    # size and mtime (its ETag); the warm total does not notice...
    key = "2026/11/25/13/analytics-1-2026-11-25-13-05-00-cccc"
    data.keep_mtime_replace(env.root / key, b" " * len(env.files[key]))
    assert env.client.head(URL, headers=env.admin).headers["X-WP-Total"] == cold.headers["X-WP-Total"]
    # ...while an object with a new ETag is summarized again.
    (env.root / key).write_bytes(b"\n")
    changed = env.client.head(URL, headers=env.admin)
    assert changed.headers[SUMMARIZED_HEADER] == "1"
    gone = len(data.expected_events({key: env.files[key]}, data.DAY, 1))
    assert int(changed.headers["X-WP-Total"]) == int(cold.headers["X-WP-Total"]) - gone


# ------------------------------------------------------------------ streams that stop early


def _event_files_open(root: Path) -> list[str]:
    return [f.path for f in psutil.Process().open_files() if f.path.startswith(str(root))]


def test_closing_the_response_closes_the_object_being_read(env: Env) -> None:
    response = env.client.get(URL + "?chunk_size=1&format=ndjson", headers=env.admin, buffered=False)
    pieces = iter(response.response)
    first = next(pieces)
    assert first == data.expected_events(env.files, data.DAY, 1)[0] + b"\n"
    assert len(_event_files_open(env.root)) == 1  # the first object, mid-read
    response.close()
    assert _event_files_open(env.root) == []


def test_a_read_failure_mid_stream_aborts_without_closing_bracket(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    env.client.head(URL, headers=env.admin)  # warm: the object list is now fixed
    response = env.client.get(URL + "?chunk_size=1", headers=env.admin, buffered=False)
    received = []
    pieces = iter(response.response)
    received.append(next(pieces))
    received.append(next(pieces))
    missing = "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee"
    os.remove(env.root / missing)
    with caplog.at_level(logging.ERROR), pytest.raises(Exception, match=missing):
        received.extend(pieces)
    body = b"".join(received)
    assert body.startswith(b"[") and not body.endswith(b"]")
    assert any(missing in record.getMessage() for record in caplog.records)


# ------------------------------------------------------------------ errors


def test_no_credentials_is_rest_forbidden_with_a_basic_challenge(env: Env) -> None:
    response = env.client.get(URL, headers={"Host": "example.com"})
    assert_wp_error(response, 401, "rest_forbidden")
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="')


def test_wrong_credentials(env: Env) -> None:
    host = {"Host": "example.com"}
    assert_wp_error(env.client.get(URL, headers={**basic("nobody", "x" * 24), **host}), 401, "invalid_username")
    assert_wp_error(env.client.get(URL, headers={**basic("admin", "a" * 24), **host}), 401, "incorrect_password")
    # Credentials are checked before routes, as in WordPress.
    assert_wp_error(env.client.get("/wp-json/nope", headers={**basic("nobody", "x"), **host}), 401, "invalid_username")
    env.accounts.revoke_all_app_passwords("admin")
    assert_wp_error(env.client.get(URL, headers=env.admin), 401, "incorrect_password")


def test_login_by_email_and_password_with_spaces(env: Env) -> None:
    password, _ = env.accounts.create_app_password("admin", "spaces")
    assert " " in password
    response = env.client.get(URL, headers={**basic("admin@example.com", password), "Host": "example.com"})
    assert response.status_code == 200


def test_a_user_without_the_capability_is_forbidden(env: Env) -> None:
    assert_wp_error(env.client.get(URL, headers=env.editor), 403, "rest_forbidden")


def test_per_site_roles_decide_per_host(env: Env) -> None:
    env.accounts.create_user("shopkeeper", "shop@example.com", role="subscriber", site_roles={2: "administrator"})
    password, _ = env.accounts.create_app_password("shopkeeper", "curl")
    auth = basic("shopkeeper", password)
    shop = env.client.get(URL + "?format=ndjson", headers={**auth, "Host": "shop.example.com"})
    expected = data.expected_events(env.files, data.DAY, 2)
    assert shop.status_code == 200
    assert shop.data == data.ndjson_body(expected) and shop.headers["X-WP-Total"] == str(len(expected)) != "0"
    refused = env.client.get(URL + "?format=ndjson", headers={**auth, "Host": "example.com"})
    assert_wp_error(refused, 403, "rest_forbidden")
    assert "X-WP-Total" not in refused.headers
    assert b"session-" not in refused.data, "no event of blog 1 in the refusal"
    assert env.client.get(URL, headers={**auth, "Host": "blog3.example.com"}).status_code == 403, "subscriber elsewhere"


def test_the_capability_filter(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    hooks.add_filter("altis.analytics.export_events_capability", lambda cap: "edit_posts")
    assert env.client.get(URL, headers=env.editor).status_code == 200
    hooks.remove_all_filters("altis.analytics.export_events_capability")
    for bad in (5, "", None, ["edit_posts"]):
        hooks.add_filter("altis.analytics.export_events_capability", lambda cap, bad=bad: bad)
        with caplog.at_level(logging.WARNING):
            assert_wp_error(env.client.get(URL, headers=env.editor), 403, "rest_forbidden")
        assert "manage_options" in caplog.text
        assert env.client.get(URL, headers=env.admin).status_code == 200
        hooks.remove_all_filters("altis.analytics.export_events_capability")
        caplog.clear()


def test_an_unexpected_failure_is_a_500_in_wordpress_shape(env: Env) -> None:
    def broken(capability: str) -> str:
        raise RuntimeError("a plugin bug")

    hooks.add_filter("altis.analytics.export_events_capability", broken)
    body = assert_wp_error(env.client.get(URL, headers=env.admin), 500, "internal_server_error")
    assert "a plugin bug" not in body["message"]


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("?format=xml", {"format"}),
        ("?format=", {"format"}),
        ("?format[]=csv", {"format"}),
        # PHP keeps the last of a repeated parameter: WordPress answers 400 to this one.
        ("?format=csv&format=xml", {"format"}),
        # What PHP's is_numeric refuses (rest_validate_number_value_from_schema).
        ("?chunk_size=abc", {"chunk_size"}),
        ("?chunk_size=0x10", {"chunk_size"}),
        ("?chunk_size=NaN", {"chunk_size"}),
        ("?chunk_size=INF", {"chunk_size"}),
        ("?chunk_size=", {"chunk_size"}),
        ("?chunk_size=1_000", {"chunk_size"}),
        ("?chunk_size=%D9%A1%D9%A2", {"chunk_size"}),  # Arabic-Indic digits: numeric for Python, not for PHP
        ("?chunk_size[]=5", {"chunk_size"}),
        ("?chunk_size=5&chunk_size=five", {"chunk_size"}),
        ("?format=XML&chunk_size=1e", {"format", "chunk_size"}),
    ],
)
def test_bad_arguments_are_rest_invalid_param(env: Env, query: str, params: set[str]) -> None:
    body = assert_wp_error(env.client.get(URL + query, headers=env.admin), 400, "rest_invalid_param")
    assert set(body["data"]["params"]) == params
    if "format" in params:
        message = body["data"]["params"]["format"]
        assert "json, csv, ndjson, and parquet" in message or message == "format is not of type string."
    if "chunk_size" in params:
        assert body["data"]["params"]["chunk_size"] == "chunk_size is not of type number."
        assert body["data"]["details"]["chunk_size"]["code"] == "rest_invalid_type"


# The original declares chunk_size a "number" and clamps it: min( 10000, max( 1, $chunk_size ) ).
# Expected sizes worked by hand from that formula, truncated to an integer.
@pytest.mark.parametrize(
    ("chunk_size", "size"),
    [
        ("0", 1),
        ("-5", 1),
        ("1.5", 1),
        ("0.2", 1),
        ("2.9", 2),
        (" 2 ", 2),
        (".5e1", 5),
        ("5.", 5),
        ("+3", 3),
        ("20000", 10000),
        ("5e3", 5000),
        ("3000.0", 3000),
        ("1e999", 10000),
        ("9" * 4301, 10000),  # beyond Python's int-digit limit: must clamp, never 500
        ("-" + "9" * 4301, 1),
        ("xml&chunk_size=2", 2),  # the last one counts
    ],
)
def test_chunk_size_is_a_number_clamped_as_the_original(env: Env, chunk_size: str, size: int) -> None:
    query = "?format=csv&chunk_size=" + chunk_size.replace(" ", "%20").replace("+", "%2B")
    response = env.client.get(URL + query, headers=env.admin, buffered=False)
    assert response.status_code == 200
    pieces = list(response.response)
    response.close()
    expected = data.expected_csv(data.expected_events(env.files, data.DAY, 1))
    assert data.parse_csv(b"".join(pieces)) == expected
    assert len(pieces) == 1 + -(-(len(expected) - 1) // size)  # the header row, then one piece per chunk


def test_clamping_by_hand() -> None:
    from wpjson._events import clamp_chunk_size

    assert [clamp_chunk_size(v) for v in (0.0, -5.0, 1.5, 20000.0, 5e3, 3000.0, 10000.9, float("inf"))] == [
        1, 1, 1, 10000, 5000, 3000, 10000, 10000,
    ]  # fmt: skip


def test_arguments_are_checked_before_permission_as_in_wordpress(env: Env) -> None:
    assert_wp_error(env.client.get(URL + "?format=xml", headers={"Host": "example.com"}), 400, "rest_invalid_param")


def test_an_impossible_date_is_an_invalid_param(env: Env) -> None:
    body = assert_wp_error(
        env.client.get("/wp-json/analytics/v1/events/2026-02-30", headers=env.admin), 400, "rest_invalid_param"
    )
    assert "date" in body["data"]["params"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/wp-json/analytics/v1/events/2026-1-01"),
        ("GET", "/wp-json/analytics/v1/events/yesterday"),
        (
            "GET",
            "/wp-json/analytics/v1/events/" + "2026-11-25".translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
        ),
        ("GET", "/wp-json/analytics/v2/events/2026-11-25"),
        ("GET", "/wp-json/wp/v2/posts"),
        ("GET", "/?rest_route=/nope"),
        ("POST", URL),
        ("PUT", URL),
        ("DELETE", URL),
    ],
)
def test_unknown_routes_and_methods_are_rest_no_route(env: Env, method: str, path: str) -> None:
    assert_wp_error(env.client.open(path, method=method, headers=env.admin), 404, "rest_no_route")


def test_redis_unreachable_is_503(make_settings: t.Callable[..., config.Settings], tmp_path: Path) -> None:
    settings = make_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = wsgi.create_app(settings).test_client()
    response = client.get(URL, headers=basic("admin", "x" * 24))
    assert_wp_error(response, 503, "analytics_unavailable")
    assert response.headers["Retry-After"] == "30"  # README "Errors"; RFC 9110 section 10.2.3


def test_object_store_unreachable_before_streaming_is_503(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = make_settings(ANALYTICS_SOURCE="s3://unreachable-bucket")
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    response = wsgi.create_app(settings).test_client().get(URL, headers=basic("admin", password))
    assert_wp_error(response, 503, "analytics_source_unavailable")
    assert response.headers["Retry-After"] == "30"  # README "Errors"; RFC 9110 section 10.2.3


def test_demo_data_totals_match_what_the_generator_wrote(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    """Realistic data (gzipped and late objects, events across midnight) from
    demo.generate: every site's total and body agree with the generator's own counts."""
    import demo

    written = demo.generate(tmp_path / "events", data.DAY - dt.timedelta(days=1), 3, 1500)
    assert written.gzipped and written.late
    settings = make_settings(ANALYTICS_SITES=SITES)
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    client = wsgi.create_app(settings).test_client()
    for host, blog in (("example.com", 1), ("shop.example.com", 2), ("blog3.example.com", 3)):
        response = client.get(URL + "?format=ndjson", headers={**basic("admin", password), "Host": host})
        expected = written.counts[(blog, data.DAY)]
        assert response.headers["X-WP-Total"] == str(expected)
        lines = response.data.splitlines()
        assert len(lines) == expected
        assert all(orjson.loads(line)["attributes"]["blogId"] == str(blog) for line in lines)


# ------------------------------------------------------------------ raw lines from the catalog vs parsing


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_a_warm_day_serves_the_bytes_of_the_parse_path(env: Env, fmt: str) -> None:
    """Clean objects are served from the catalog's line bitmaps without
    parsing; an object with a BOM line, concatenated events and an invalid
    line is parsed. Either way, cold or warm, the body holds each of the day's
    events of the site once, as stored: here read by hand from the messy
    object (BOM dropped, the two concatenated events apart, the broken line
    skipped, the CR a line ending), and by the independent reader elsewhere."""
    from events import catalog
    from events.sources import open_source

    s = data._DAY_START_MS + 6 * data.HOUR_MS
    key = "2026/11/25/06/analytics-1-2026-11-25-06-00-00-ffff"
    messy = {
        key: b"\n".join(
            [
                data.event(500, s, 1),
                b"\xef\xbb\xbf" + data.event(501, s + 1, 1),
                data.event(502, s + 2, 2) + data.event(503, s + 3, 1),
                b'{"broken": ',
                data.event(504, s + 4, 1) + b"\r",
            ]
        )
    }
    data.write_local(env.root, messy)
    files = {**env.files, **messy}
    cold = env.client.get(URL + f"?format={fmt}&chunk_size=2", headers=env.admin)
    warm = env.client.get(URL + f"?format={fmt}&chunk_size=2", headers=env.admin)
    assert cold.headers[SUMMARIZED_HEADER] == str(len(files)) and warm.headers[SUMMARIZED_HEADER] == "0"

    settings = env.app.config[APP_CONFIG_KEY]
    summary = catalog.day_summary(open_source(settings.source), config_redis(settings), TEST_PREFIX, data.DAY, 1, 2)
    assert summary.selector(key) is None  # the messy object takes the parse path
    assert any(summary.selector(o.key) is not None for o in summary.objects)  # the others are copied

    # The five events of the messy object, one per line, as a person reads it.
    by_hand = b"\n".join(data.event(n, s + n - 500, 2 if n == 502 else 1) for n in range(500, 505))
    events = data.expected_events({**env.files, key: by_hand}, data.DAY, 1)
    assert data.event(501, s + 1, 1) in events and data.event(503, s + 3, 1) in events
    if fmt == "csv":
        assert data.parse_csv(warm.data) == data.expected_csv(events, data.expected_columns(files, 1))
        assert cold.data == warm.data
    else:
        expected = data.json_body(events) if fmt == "json" else data.ndjson_body(events)
        assert warm.data == cold.data == expected
    assert warm.headers["X-WP-Total"] == cold.headers["X-WP-Total"] == str(len(events))


def config_redis(settings: config.Settings) -> redis_lib.Redis:
    return config.redis_connection(settings.redis_url)


def test_each_variant_of_a_day_has_its_own_strong_etag(env: Env) -> None:
    # README "Resumable downloads": "<the day's manifest digest>-<a digest of the request's
    # format, _fields, filters, BOM and CSV columns>", "-gzip" appended for a gzip-coded body.
    variants = [
        "",
        "?format=ndjson",
        "?format=csv",
        "?format=csv&csv_bom=1",
        "?format=csv&csv_safe=1",
        "?format=parquet",
        "?format=parquet&chunk_size=2",
        "?format=parquet&_fields=event_type",
        "?hour=13",
        "?event_type=no.such.type",
        "?_fields=event_type",
    ]
    tags = {}
    for query in variants:
        first = env.client.get(URL + query, headers=env.admin)
        again = env.client.get(URL + query, headers=env.admin)
        assert first.status_code == again.status_code == 200, query
        assert first.headers["ETag"] == again.headers["ETag"], query
        tags[query] = first.headers["ETag"]
    assert len(set(tags.values())) == len(variants), tags
    days = {tag.strip('"').split("-")[0] for tag in tags.values()}
    assert len(days) == 1 and re.fullmatch(r"[0-9a-f]{64}", days.pop())
    assert all(re.fullmatch(r'"[0-9a-f]{64}-[0-9a-f]+"', tag) for tag in tags.values())
    # README: a gzip-coded body has its own tag, of the same day, whose digest also covers chunk_size (the
    # coded bytes a range counts depend on where gzip is flushed).
    gzip_tags = {}
    for query in ("", "?chunk_size=2"):
        gzipped = env.client.get(URL + query, headers={**env.admin, "Accept-Encoding": "gzip"})
        assert gzipped.headers["Content-Encoding"] == "gzip"
        gzip_tags[query] = gzipped.headers["ETag"]
    day = tags[""].strip('"').split("-")[0]
    assert all(re.fullmatch(rf'"{day}-[0-9a-f]+-gzip"', tag) for tag in gzip_tags.values()), gzip_tags
    assert len(set(gzip_tags.values()) | set(tags.values())) == len(variants) + 2, gzip_tags


def test_a_parquet_row_group_holds_at_least_a_thousand_rows_whatever_the_chunk_size(env: Env) -> None:
    # README "Parquet": one row group per chunk_size rows, at least 1,000: one-row groups made a worker
    # hold GBs (Arrow keeps each group's footer entry until the end) and a file 120x the size.
    for size in ("1", "7"):
        response = env.client.get(URL + f"?format=parquet&chunk_size={size}", headers=env.admin)
        assert response.status_code == 200
        total = int(response.headers["X-WP-Total"])
        assert 2 <= total < 1000
        back = pyarrow.parquet.ParquetFile(io.BytesIO(response.data))
        assert back.metadata.num_rows == total
        assert back.num_row_groups == 1, size


def test_a_parquet_body_left_mid_way_ends_its_writer_thread(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # Row groups are encoded in a thread of the download's own (events/parquet.py); a client that goes
    # makes the server close the body (PEP 3333), which must end that thread, not leave it behind.
    # The test day is under one 1,000-row group: groups of 2 rows here, so the body is left mid-file.
    monkeypatch.setattr(parquet, "MIN_ROW_GROUP_ROWS", 2)

    def writers() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name.startswith("parquet-writer")]

    response = env.client.get(URL + "?format=parquet&chunk_size=2", headers=env.admin, buffered=False)
    assert response.status_code == 200
    body = iter(response.response)
    assert next(body).startswith(b"PAR1")
    assert writers() != []
    response.close()
    assert writers() == []


def test_the_etag_names_the_fields_asked_and_not_their_order(env: Env) -> None:
    # README "Resumable downloads": the tag is a digest of the request's _fields
    # (among others): other fields, another body, another tag; the same fields
    # listed in another order are the same body under the same tag.
    def get(fields: str) -> tuple[str, bytes]:
        response = env.client.get(URL + f"?_fields={fields}", headers=env.admin)
        assert response.status_code == 200, fields
        return str(response.headers["ETag"]), response.data

    for one, other in [
        ("attributes.title", "session.title"),
        ("attributes.title,session.attributes", "session.title,session.attributes"),
    ]:
        (tag_one, body_one), (tag_other, body_other) = get(one), get(other)
        assert body_one != body_other and tag_one != tag_other, (one, other)
    (tag_ab, body_ab), (tag_ba, body_ba) = (
        get("attributes.title,attributes.blogId"),
        get("attributes.blogId,attributes.title"),
    )
    assert body_ab == body_ba and tag_ab == tag_ba


def test_every_key_the_endpoint_writes_starts_with_the_prefix(env: Env, redis: redis_lib.Redis) -> None:
    # README: ANALYTICS_REDIS_PREFIX is the "first characters of every key this
    # service writes (share one Redis between deployments)": summaries, and the
    # lengths of bodies the catalog cannot tell (CSV, Parquet, gzip), measured
    # to answer a Range.
    for query, headers in [("?format=csv", {}), ("?format=parquet", {}), ("", {"Accept-Encoding": "gzip"})]:
        response = env.client.get(URL + query, headers={**env.admin, **headers, "Range": "bytes=0-9"})
        assert response.status_code == 206 and len(response.data) == 10, query
    written = {key.decode() for key in t.cast("list[bytes]", redis.keys("*"))}
    assert any("length" in key for key in written), written
    assert all(key.startswith(TEST_PREFIX) for key in written), written


# ------------------------------------------------------------------ a damaged gzip object in the day

DAMAGED = data.DAMAGED


@pytest.fixture
def damaged(env: Env) -> tuple[Env, list[bytes], int]:
    """``env`` with DAMAGED added, the raw events a client must get (those
    of every object, DAMAGED's as ``data.damaged_object`` reads them), and
    how many of them DAMAGED holds."""
    cut, complete_lines = data.damaged_object()
    data.write_local(env.root, {DAMAGED: cut})
    expected = data.expected_events({**env.files, DAMAGED: complete_lines}, data.DAY, 1)
    from_damaged = len(data.expected_events({DAMAGED: complete_lines}, data.DAY, 1))
    assert 0 < from_damaged < 400
    return env, expected, from_damaged


@pytest.mark.parametrize("chunk_size", ["", "&chunk_size=1", "&chunk_size=7"])
@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "parquet"])
def test_a_damaged_gzip_object_serves_its_events_up_to_the_damage(
    damaged: tuple[Env, list[bytes], int], fmt: str, chunk_size: str
) -> None:
    # README: "complete is false for a damaged gzip object (its events up to the damage are counted and
    # served)": every format, plain, gzip-coded, in an _envelope and resumed by a Range, all the same events.
    env, expected, from_damaged = damaged
    query = f"?format={fmt}{chunk_size}"
    plain = env.client.get(URL + query, headers=env.admin)
    assert plain.status_code == 200, plain.data
    assert plain.headers["X-WP-Total"] == str(len(expected))
    manifest = orjson.loads(env.client.get(URL + "/manifest", headers=env.admin).data)
    assert manifest["total"] == len(expected)
    [entry] = [obj for obj in manifest["objects"] if obj["key"] == DAMAGED]
    assert (entry["events"], entry["complete"]) == (from_damaged, False)
    body = plain.data
    if fmt == "json":
        assert body == data.json_body(expected)
    elif fmt == "ndjson":
        assert body == data.ndjson_body(expected)
    elif fmt == "csv":
        assert data.parse_csv(body) == data.expected_csv(expected)
    else:
        table = pyarrow.parquet.read_table(io.BytesIO(body))
        wanted = [orjson.loads(raw)["session"]["session_id"] for raw in expected]
        assert table.column("session.session_id").to_pylist() == wanted
    assert "Content-Length" not in plain.headers or plain.headers["Content-Length"] == str(len(body))

    coded = env.client.get(URL + query, headers={**env.admin, "Accept-Encoding": "gzip"})
    assert coded.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(coded.data) == body

    half = len(body) // 2
    ranged = env.client.get(URL + query, headers={**env.admin, "Range": f"bytes={half}-"})
    assert ranged.status_code == 206, ranged.data
    assert ranged.data == body[half:]
    assert ranged.headers["Content-Range"] == f"bytes {half}-{len(body) - 1}/{len(body)}"

    coded_half = len(coded.data) // 2
    coded_headers = {"Range": f"bytes={coded_half}-", "If-Range": coded.headers["ETag"], "Accept-Encoding": "gzip"}
    coded_range = env.client.get(URL + query, headers={**env.admin, **coded_headers})
    assert coded_range.status_code == 206, coded_range.data
    assert coded_range.data == coded.data[coded_half:]

    if fmt != "parquet":  # an _envelope is JSON text; Parquet is refused in one (test_bad_input)
        enveloped = orjson.loads(env.client.get(URL + query + "&_envelope", headers=env.admin).data)
        assert enveloped["status"] == 200
        assert enveloped["headers"]["X-WP-Total"] == str(len(expected))
        inner = enveloped["body"]
        assert inner == (orjson.loads(body) if fmt == "json" else body.decode())


# ------------------------------------------------------------------ a ranged answer's measured length

FIELDS_QUERY = URL + "?format=ndjson&_fields=event_type"


def _event_types(raw_events: list[bytes]) -> list[dict[str, t.Any]]:
    return [{"event_type": orjson.loads(raw)["event_type"]} for raw in raw_events]


def _bodies_made(env: Env, caplog: pytest.LogCaptureFixture, headers: dict[str, str]) -> tuple[t.Any, int]:
    """A request of FIELDS_QUERY, and how many times its answer read DAMAGED,
    whose damage is logged at each read: the bodies made to answer it."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wpjson._stream"):
        response = env.client.get(FIELDS_QUERY, headers={**env.admin, **headers})
    return response, sum(DAMAGED in record.getMessage() for record in caplog.records)


def test_a_ranged_answer_measures_its_body_once_and_keeps_the_length_a_day(
    damaged: tuple[Env, list[bytes], int], redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # README "Resumable downloads": for CSV, Parquet and _fields answers "the first ranged request makes
    # the body once to measure it (kept in Redis 24 h under <prefix>wpjson:length:<ETag>)".
    env, expected, _from_damaged = damaged
    whole, made = _bodies_made(env, caplog, {})
    assert [orjson.loads(line) for line in whole.data.splitlines()] == _event_types(expected)
    assert made == 1
    half = len(whole.data) // 2
    for bodies in (2, 1):  # measured and sent; then sent only, the length remembered
        part, made = _bodies_made(env, caplog, {"Range": f"bytes={half}-"})
        assert (part.status_code, part.data) == (206, whole.data[half:])
        assert part.headers["Content-Range"] == f"bytes {half}-{len(whole.data) - 1}/{len(whole.data)}"
        assert made == bodies
    [key] = t.cast("list[bytes]", redis.keys(f"{TEST_PREFIX}wpjson:length:*"))
    assert whole.headers["ETag"].strip('"') in key.decode()
    assert int(redis.get(key) or b"0") == len(whole.data)
    assert 86_400 - 60 <= redis.ttl(key) <= 86_400


def test_a_day_changed_while_a_range_is_measured_answers_the_whole_body(
    damaged: tuple[Env, list[bytes], int], caplog: pytest.LogCaptureFixture
) -> None:
    # README: a range is honoured "only while the day has not changed: a changed day (an object added,
    # removed or replaced) answers 200 with the whole new body"; "A 206 reads only the object versions the
    # catalog summarized". An object read after DAMAGED is replaced (same bytes, another file: rsync's way)
    # when DAMAGED's damage is logged: while the length is measured, after the catalog summarized the day.
    env, expected, _from_damaged = damaged
    later = "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee"
    assert later > DAMAGED and later in env.files  # objects are read in key order
    env.client.head(FIELDS_QUERY, headers=env.admin)  # warm

    class ReplaceOnce(logging.Handler):
        done = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.done and DAMAGED in record.getMessage():
                self.done = True
                data.replace_like_rsync(env.root / later, env.files[later])

    handler = ReplaceOnce(logging.WARNING)
    stream_logger = logging.getLogger("wpjson._stream")
    stream_logger.addHandler(handler)
    try:
        with caplog.at_level(logging.WARNING, logger="wpjson._events"):
            response = env.client.get(FIELDS_QUERY, headers={**env.admin, "Range": "bytes=10-"})
    finally:
        stream_logger.removeHandler(handler)
    assert handler.done
    assert response.status_code == 200, response.data[:300]
    assert "Content-Range" not in response.headers
    assert [orjson.loads(line) for line in response.data.splitlines()] == _event_types(expected)
    assert any(later in record.getMessage() for record in caplog.records)  # the range dropped, and why


# ------------------------------------------------------------------ the manifest's answer


def test_the_manifest_is_never_cached_and_says_what_it_summarized(env: Env) -> None:
    # README "Headers": a day's answers are never stored by caches; X-Analytics-Objects-Summarized: the
    # objects read to answer (0 when the day was warm).
    cold = env.client.get(URL + "/manifest", headers=env.admin)
    warm = env.client.get(URL + "/manifest", headers=env.admin)
    for response in (cold, warm):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert response.headers["Cache-Control"] == "no-store"
        assert orjson.loads(response.data)["total"] == len(data.expected_events(env.files, data.DAY, 1))
    assert cold.headers[SUMMARIZED_HEADER] == str(len(env.files))
    assert warm.headers[SUMMARIZED_HEADER] == "0"


def test_the_manifest_counts_only_the_events_the_filters_keep(env: Env) -> None:
    # README: the manifest "takes the events' filters (event_type, hour, from/to): its counts are then of
    # the events they keep, so total equals the X-WP-Total of the same filtered download".
    start = data._DAY_START_MS + 13 * data.HOUR_MS
    day = data.expected_events(env.files, data.DAY, 1)
    in_hour = [raw for raw in day if start <= orjson.loads(raw)["event_timestamp"] < start + data.HOUR_MS]
    assert 0 < len(in_hour) < len(day)
    manifest = orjson.loads(env.client.get(URL + "/manifest?hour=13", headers=env.admin).data)
    assert manifest["total"] == len(in_hour)
    assert manifest["filters"] == {"event_type": None, "from": "13:00", "to": "14:00"}


# ------------------------------------------------------------------ _fields read only as far as they go


def test_fields_of_events_that_read_differently_by_another_parser(env: Env) -> None:
    # The catalog's selected lines are read only as far as _fields goes (wpjson/_projection.py): each
    # event below is one where a projecting reader could part from the full one. Expected by hand.
    from events import catalog
    from events.sources import open_source

    ts = data._DAY_START_MS + 5 * data.HOUR_MS
    key = "2026/11/25/05/analytics-1-2026-11-25-05-00-00-gggg"
    lines = [
        # An integer beyond 64 bits (read as a float), a list cut to its first item, non-ASCII text.
        b'{"event_type":"edge-big","event_timestamp":%d,"attributes":{"blogId":"1","n":18446744073709551616,'
        b'"title":"Z\xc3\xbcrich, \\"quoted\\""},"endpoint":{"Attributes":{"DeviceType":["phone","tablet"]}}}',
        # A repeated key: its last value, in its first place.
        b'{"attributes":{"blogId":"1","title":"first"},"event_type":"edge-dup","event_timestamp":%d,'
        b'"attributes":{"blogId":"1","title":"second","n":1}}',
        # Keys written with escapes.
        b'{"\\u0065vent_type":"edge-escaped","event_timestamp":%d,"attributes":{"blogId":"1","t\\u0069tle":"x"}}',
        # A lone surrogate (only the standard library reads it): the CSV writes its escape as text.
        b'{"event_type":"edge-surrogate","event_timestamp":%d,"attributes":{"blogId":"1","title":"news \\ud83d"}}',
        # A list where the tree goes deeper by another name: nothing of it is kept.
        b'{"event_type":"edge-list","event_timestamp":%d,"attributes":{"blogId":"1"},"endpoint":[{"Attributes":1}]}',
        # A scalar where the tree goes deeper: kept whole.
        b'{"event_type":"edge-scalar","event_timestamp":%d,"attributes":{"blogId":"1"},'
        b'"endpoint":{"Attributes":{"DeviceType":"solo"}}}',
    ]
    lines = [line % (ts + i) for i, line in enumerate(lines)]
    data.write_local(env.root, {key: b"\n".join(lines) + b"\n"})
    fields = "event_type,attributes.title,attributes.n,endpoint.Attributes.DeviceType.0"
    response = env.client.get(URL + f"?format=csv&_fields={fields}", headers=env.admin)
    assert response.status_code == 200
    settings = env.app.config[APP_CONFIG_KEY]
    summary = catalog.day_summary(open_source(settings.source), config_redis(settings), TEST_PREFIX, data.DAY, 1, 2)
    assert summary.selector(key) is not None  # its lines are the catalog's selected ones
    header, *rows = data.parse_csv(response.data)
    # "endpoint" is a column of the day (the edge-list event's list), kept: the tree goes deeper there.
    assert header == ["attributes.n", "attributes.title", "endpoint", "endpoint.Attributes.DeviceType", "event_type"]
    edge = [row for row in rows if row[4].startswith("edge-")]
    assert edge == [
        ["1.8446744073709552e+19", 'Zürich, "quoted"', "", "phone", "edge-big"],
        ["1", "second", "", "", "edge-dup"],
        ["", "x", "", "", "edge-escaped"],
        ["", "news \\ud83d", "", "", "edge-surrogate"],
        ["", "", "", "", "edge-list"],
        ["", "", "", "solo", "edge-scalar"],
    ]
    ndjson = env.client.get(URL + f"?format=ndjson&_fields={fields}", headers=env.admin).data.splitlines()
    assert [line for line in ndjson if b'"edge-' in line] == [
        b'{"event_type":"edge-big","attributes":{"n":1.8446744073709552e+19,"title":"Z\xc3\xbcrich, \\"quoted\\""},'
        b'"endpoint":{"Attributes":{"DeviceType":["phone"]}}}',
        b'{"attributes":{"title":"second","n":1},"event_type":"edge-dup"}',
        b'{"event_type":"edge-escaped","attributes":{"title":"x"}}',
        b'{"event_type":"edge-surrogate","attributes":{"title":"news \\ud83d"}}',
        b'{"event_type":"edge-list","attributes":{},"endpoint":[]}',
        b'{"event_type":"edge-scalar","attributes":{},"endpoint":{"Attributes":{"DeviceType":"solo"}}}',
    ]


# ------------------------------------------------------------------ _fields paths of any depth


def _deep(head: str, segments: int) -> str:
    """A dotted path of ``segments`` segments starting with ``head`` (itself dotted), the rest ``x``."""
    return ".".join([*head.split("."), *["x"] * (segments - len(head.split(".")))])


@pytest.mark.parametrize("segments", [1_000, 10_000])
@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "parquet"])
def test_a_fields_path_of_thousands_of_segments_is_served(env: Env, fmt: str, segments: int) -> None:
    # WordPress's rest_filter_response_fields sets no depth limit: a path going deeper than a scalar
    # keeps the scalar (wpjson/_fields.py's docstring), so attributes.title.x.x... is attributes.title.
    fields = "event_type," + _deep("attributes.title", segments)
    assert fields.count(".") == segments - 1
    response = env.client.get(URL + f"?format={fmt}&_fields={fields}", headers=env.admin)
    assert response.status_code == 200, response.data[:300]
    assert re.fullmatch(r'"[0-9a-f]{64}-[0-9a-f]+"', response.headers["ETag"])
    events = [orjson.loads(raw) for raw in data.expected_events(env.files, data.DAY, 1)]
    cut = [{"event_type": e["event_type"], "attributes": {"title": e["attributes"]["title"]}} for e in events]
    if fmt == "json":
        assert orjson.loads(response.data) == cut
    elif fmt == "ndjson":
        assert [orjson.loads(line) for line in response.data.splitlines()] == cut
    elif fmt == "csv":
        assert data.parse_csv(response.data) == data.expected_csv([orjson.dumps(e) for e in cut])
    else:
        table = pyarrow.parquet.read_table(io.BytesIO(response.data))
        assert table.column_names == ["attributes.title", "event_type"]
        assert table.column("event_type").to_pylist() == [e["event_type"] for e in cut]
        assert table.column("attributes.title").to_pylist() == [e["attributes"]["title"] for e in cut]
    other = env.client.get(URL + f"?format={fmt}&_fields=event_type," + _deep("attributes.title", segments + 1))
    assert other.headers.get("ETag") != response.headers["ETag"]


@pytest.mark.parametrize("segments", [1_000, 10_000])
def test_a_manifest_fields_path_of_thousands_of_segments(env: Env, segments: int) -> None:
    full = orjson.loads(env.client.get(URL + "/manifest", headers=env.admin).data)
    response = env.client.get(URL + "/manifest?_fields=total," + _deep("hours.13", segments), headers=env.admin)
    assert response.status_code == 200, response.data[:300]
    assert orjson.loads(response.data) == {"total": full["total"], "hours": {"13": full["hours"]["13"]}}


# ------------------------------------------------------------------ a big day's CSV written by the process pool


@pytest.fixture
def pooled(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """``env`` whose CSV days, however small, are written object by object in
    the process pool (as a day of more than ``POOLED_DAY_BYTES`` is)."""
    from events import csv_objects

    monkeypatch.setattr(csv_objects, "POOLED_DAY_BYTES", 0)
    return env


def _processes_reading(root: Path) -> list[str]:
    """Event files under ``root`` open in this process or any of its descendants (the pool's workers)."""
    here = psutil.Process()
    paths = []
    for process in [here, *here.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            paths += [f.path for f in process.open_files() if f.path.startswith(str(root))]
    return paths


@pytest.mark.parametrize("chunk_size", ["", "&chunk_size=1", "&chunk_size=7"])
def test_a_pooled_csv_has_the_rows_and_the_bytes_of_one_written_here(
    pooled: Env, monkeypatch: pytest.MonkeyPatch, chunk_size: str
) -> None:
    # Range and If-Range promise the same bytes under one ETag (README), and a gzip-coded body's bytes depend
    # on where its pieces are flushed: a day written in worker processes must be cut where one written here is.
    from events import csv_objects

    env = pooled
    query = URL + "?format=csv" + chunk_size
    gz = {**env.admin, "Accept-Encoding": "gzip"}
    body, coded = env.client.get(query, headers=env.admin), env.client.get(query, headers=gz)
    assert data.parse_csv(body.data) == data.expected_csv(data.expected_events(env.files, data.DAY, 1))
    assert gzip.decompress(coded.data) == body.data
    monkeypatch.setattr(csv_objects, "POOLED_DAY_BYTES", 1 << 60)  # now written in this thread
    assert env.client.get(query, headers=env.admin).data == body.data
    here = env.client.get(query, headers=gz)
    assert (here.data, here.headers["ETag"]) == (coded.data, coded.headers["ETag"])


@pytest.mark.parametrize(
    "query",
    [
        "?format=parquet",
        "?format=parquet&chunk_size=1500&_fields=event_type,attributes.title,session.session_id",
        "?format=parquet&event_type=_session.stop&from=00:00&to=13:00",
        "?format=csv&_fields=event_type,attributes.title,session.session_id",
        "?format=csv&chunk_size=3&event_type=_session.start,pageView&hour=13",
        "?format=csv&csv_safe=1&_fields=attributes&from=12:00&to=23:59",
    ],
)
def test_a_pooled_body_with_fields_filters_or_parquet_has_the_bytes_of_one_written_here(
    pooled: Env, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    # Parquet and the _fields / filtered CSV are written object by object in the pool too (issue 14's
    # speed rows); the ETag still promises one body, whichever process wrote it.
    from events import csv_objects

    env = pooled
    gz = {**env.admin, "Accept-Encoding": "gzip"}
    body, coded = env.client.get(URL + query, headers=env.admin), env.client.get(URL + query, headers=gz)
    assert body.status_code == 200, body.data[:300]
    assert int(body.headers["X-WP-Total"]) > 0
    assert gzip.decompress(coded.data) == body.data
    monkeypatch.setattr(csv_objects, "POOLED_DAY_BYTES", 1 << 60)  # now written in this thread
    here, here_coded = env.client.get(URL + query, headers=env.admin), env.client.get(URL + query, headers=gz)
    assert (here.data, here.headers["ETag"]) == (body.data, body.headers["ETag"])
    assert (here_coded.data, here_coded.headers["ETag"]) == (coded.data, coded.headers["ETag"])


def test_parquet_whose_fields_keep_no_column_is_a_wordpress_error(env: Env) -> None:
    # A file of no column is one DuckDB and Spark refuse to read (README): 400, where CSV is an empty body.
    body = assert_wp_error(
        env.client.get(URL + "?format=parquet&_fields=nope", headers=env.admin), 400, "rest_invalid_param"
    )
    assert list(body["data"]["params"]) == ["_fields"]
    assert env.client.get(URL + "?format=csv&_fields=nope", headers=env.admin).data == b""


def test_a_pooled_csv_and_parquet_with_fields_and_filters_hold_the_events_asked(pooled: Env) -> None:
    env = pooled
    # Read independently: the day's events of blog 1 (the files), kept by type and by hour of event_timestamp.
    events = [orjson.loads(raw) for raw in data.expected_events(env.files, data.DAY, 1)]
    start = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)
    kept = [e for e in events if e["event_type"] == "_session.stop" and e["event_timestamp"] < start + 11 * 60_000]
    assert kept and len(kept) < len([e for e in events if e["event_type"] == "_session.stop"])
    query = "?event_type=_session.stop&from=00:00&to=00:11&_fields=session.session_id,event_type,attributes.title"
    header, *rows = data.parse_csv(env.client.get(URL + query + "&format=csv", headers=env.admin).data)
    assert header == ["attributes.title", "event_type", "session.session_id"]
    assert rows == [[e["attributes"]["title"], e["event_type"], e["session"]["session_id"]] for e in kept]
    parquet_body = env.client.get(URL + query + "&format=parquet", headers=env.admin).data
    table = pyarrow.parquet.read_table(io.BytesIO(parquet_body))
    assert table.column_names == header
    assert [list(row.values()) for row in table.to_pylist()] == rows


def test_the_pool_counts_an_object_at_its_events_text_not_its_gzip_size(
    pooled: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker's rows wait in the web process until the download takes them, so the pool's memory bound
    # (README: at most 64 MiB at once) must count what they hold: a gzip object's text is many times its
    # stored bytes (the 13h object here: 12 events in about a tenth of their text).
    from events import csv_objects

    class Recorded(csv_objects._Budget):
        def take(self, size: int) -> bool:
            taken.append(size)
            return super().take(size)

    taken: list[int] = []
    monkeypatch.setattr(csv_objects, "budget", Recorded(csv_objects.POOLED_BYTES_IN_FLIGHT))
    env = pooled
    response = env.client.get(URL + "?format=csv", headers=env.admin)
    assert data.parse_csv(response.data) == data.expected_csv(data.expected_events(env.files, data.DAY, 1))
    expected = []  # per object holding events of the day and site, read from the files
    for key in sorted(env.files):
        texts = data.expected_events({key: env.files[key]}, data.DAY, 1)
        if texts:
            expected.append(max(len(env.files[key]), sum(map(len, texts))))
    gzipped = env.files["2026/11/25/13/analytics-1-2026-11-25-13-05-00-cccc"]
    assert max(expected) > 2 * len(gzipped)  # the gzip object's text: the largest, twice its stored size at least
    assert sorted(taken) == sorted(expected)
    assert csv_objects.budget.used == 0  # every object's bytes given back once taken


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_pooled_body_serves_a_damaged_objects_rows_up_to_the_damage(
    damaged: tuple[Env, list[bytes], int], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    from events import csv_objects

    monkeypatch.setattr(csv_objects, "POOLED_DAY_BYTES", 0)
    env, expected, _from_damaged = damaged
    query = URL + f"?format={fmt}&chunk_size=7"
    body = env.client.get(query, headers=env.admin)
    assert body.status_code == 200
    if fmt == "csv":
        assert data.parse_csv(body.data) == data.expected_csv(expected)
    else:
        table = pyarrow.parquet.read_table(io.BytesIO(body.data))
        wanted = [orjson.loads(raw)["session"]["session_id"] for raw in expected]
        assert table.column("session.session_id").to_pylist() == wanted
    half = len(body.data) // 2
    ranged = env.client.get(query, headers={**env.admin, "Range": f"bytes={half}-"})
    assert (ranged.status_code, ranged.data) == (206, body.data[half:])


def test_a_pooled_csv_aborts_at_an_object_gone_mid_stream(pooled: Env, caplog: pytest.LogCaptureFixture) -> None:
    env = pooled
    env.client.head(URL + "?format=csv", headers=env.admin)  # warm: the object list is now fixed
    response = env.client.get(URL + "?format=csv&chunk_size=1", headers=env.admin, buffered=False)
    pieces = iter(response.response)
    received = [next(pieces)]  # the header row: no object handed to the pool yet
    missing = "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee"
    os.remove(env.root / missing)
    with caplog.at_level(logging.ERROR), pytest.raises(Exception, match=missing):
        received.extend(pieces)
    assert any(missing in record.getMessage() for record in caplog.records)
    # Every row of the objects before it arrived, none of its own (``data.day_files``: events 1000+ are its).
    rows = data.parse_csv(b"".join(received))
    before = {name: raw for name, raw in env.files.items() if name != missing}
    assert rows == data.expected_csv(data.expected_events(before, data.DAY, 1), rows[0])


def test_closing_a_pooled_csv_stops_its_reads_and_frees_the_pool(pooled: Env) -> None:
    from events import processes

    env = pooled
    response = env.client.get(URL + "?format=csv&chunk_size=1", headers=env.admin, buffered=False)
    pieces = iter(response.response)
    next(pieces), next(pieces)  # the header and the first row
    response.close()
    # Objects already handed to a worker (one each plus one queued) cannot be cancelled; they finish and
    # are dropped. Wait until the pool has none left: polling the open files alone can see a moment
    # between two of them and pass before the last one is opened (CI did).
    pool = processes.shared()
    assert pool is not None
    deadline = time.monotonic() + 30
    while pool._pending_work_items and time.monotonic() < deadline:  # CPython's futures not yet answered
        time.sleep(0.05)
    assert not pool._pending_work_items
    assert _processes_reading(env.root) == []
    # The pool is not left busy or blocked: the whole day again, at once.
    again = env.client.get(URL + "?format=csv", headers=env.admin)
    assert data.parse_csv(again.data) == data.expected_csv(data.expected_events(env.files, data.DAY, 1))


def test_a_pooled_csv_is_whole_when_a_worker_was_killed(pooled: Env) -> None:
    from events import processes

    env = pooled
    pool = processes.shared()
    assert pool is not None
    os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)  # the pool is broken from now on
    body = env.client.get(URL + "?format=csv", headers=env.admin)
    assert data.parse_csv(body.data) == data.expected_csv(data.expected_events(env.files, data.DAY, 1))
    assert processes.shared() is not pool  # the next download gets a new pool
