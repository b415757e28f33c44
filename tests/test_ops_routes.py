"""The operations routes through Flask's test client, against the test Redis:
health (200, 503 naming Redis or the store, the cached probe), export status
over REST (``manage_options`` only, the same data as ``export status --json``),
the route index, and the dashboard's Resume button."""

from __future__ import annotations

import base64
import shutil
import time
import typing as t
from pathlib import Path

import orjson
import pytest
from flask.testing import FlaskClient

import config
import hooks
from accounts import Accounts
from jobs import export_hooks
from jobs.state import DeliveryState
from tests.conftest import TEST_PREFIX, free_port
from tests.test_wpadmin import DASHBOARD, PASSWORD, sign_in, token
from wsgi import create_app

if t.TYPE_CHECKING:
    import redis as redis_lib

HEALTH = "/wp-json/analytics/v1/health"
STATUS = "/wp-json/analytics/v1/export/status"
SUBSCRIBER = "tests.test_ops_routes.subscriber"


def subscriber(data: str) -> None:
    """A subscriber for status to show."""


@pytest.fixture
def accounts(redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings]) -> Accounts:
    settings = make_settings()
    accounts = Accounts(redis, settings.redis_prefix, settings.secret_key)
    for login, role in (("admin", "administrator"), ("editor", "editor")):
        accounts.create_user(login, f"{login}@example.com", role=role)
        accounts.set_password(login, PASSWORD)
    return accounts


def basic(accounts: Accounts, login: str) -> dict[str, str]:
    password, _ = accounts.create_app_password(login, "ops")
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def test_health_is_open_and_says_ok(redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings]) -> None:
    client = create_app(make_settings()).test_client()
    answer = client.get(HEALTH)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = orjson.loads(answer.data)
    assert body["status"] == "ok" and body["checks"] == {"redis": "ok", "store": "ok"}
    assert client.head(HEALTH).status_code == 200


def test_health_names_redis_when_it_does_not_answer(make_settings: t.Callable[..., config.Settings]) -> None:
    nothing = f"redis://127.0.0.1:{free_port()}/0"  # a port nothing listens on
    answer = create_app(make_settings(REDIS_URL=nothing)).test_client().get(HEALTH)
    body = orjson.loads(answer.data)
    assert (answer.status_code, body["code"]) == (503, "analytics_unavailable")
    assert "Redis" in body["message"] and answer.headers["Retry-After"] == "30"
    assert body["data"]["status"] == 503 and body["data"]["checks"]["store"] == "ok"
    assert body["data"]["checks"]["redis"].startswith("ConnectionError")


def test_health_names_the_store_and_reuses_its_probe(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    cached = create_app(make_settings(ANALYTICS_SOURCE=str(store), ANALYTICS_HEALTH_CACHE="3600")).test_client()
    fresh = create_app(make_settings(ANALYTICS_SOURCE=str(store), ANALYTICS_HEALTH_CACHE="0")).test_client()
    assert cached.get(HEALTH).status_code == 200 and fresh.get(HEALTH).status_code == 200
    shutil.rmtree(store)
    assert cached.get(HEALTH).status_code == 200, "one probe per ANALYTICS_HEALTH_CACHE seconds"
    answer = fresh.get(HEALTH)
    body = orjson.loads(answer.data)
    assert (answer.status_code, body["code"]) == (503, "analytics_source_unavailable")
    assert body["data"]["checks"]["redis"] == "ok" and body["data"]["checks"]["store"] != "ok"


def test_export_status_is_for_manage_options(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], accounts: Accounts
) -> None:
    settings = make_settings(ANALYTICS_EXPORT_START="beginning")
    app = create_app(settings)
    hooks.add_action(export_hooks.DATA_PROCESS, subscriber)
    DeliveryState(redis, TEST_PREFIX).ensure(SUBSCRIBER, "beginning", time.time())
    DeliveryState(redis, TEST_PREFIX).pause(SUBSCRIBER, "20 failures in a row; last: boom", time.time())
    client = app.test_client()

    anonymous = client.get(STATUS)
    assert anonymous.status_code == 401 and orjson.loads(anonymous.data)["code"] == "rest_forbidden"
    editor = client.get(STATUS, headers=basic(accounts, "editor"))
    assert editor.status_code == 403 and orjson.loads(editor.data)["code"] == "rest_forbidden"

    answer = client.get(STATUS, headers=basic(accounts, "admin"))
    assert answer.status_code == 200 and answer.headers["Allow"] == "GET, HEAD"
    body = orjson.loads(answer.data)
    cli = orjson.loads(app.test_cli_runner().invoke(args=["export", "status", "--json"]).output)
    assert body.keys() == cli.keys() and body["subscribers"] == cli["subscribers"]
    (entry,) = body["subscribers"]
    assert (entry["name"], entry["paused"], entry["paused_reason"]) == (
        SUBSCRIBER,
        True,
        "20 failures in a row; last: boom",
    )


def test_the_index_describes_the_operations_routes(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings]
) -> None:
    client = create_app(make_settings()).test_client()
    routes = orjson.loads(client.get("/wp-json/").data)["routes"]
    assert routes["/analytics/v1/health"]["methods"] == ["GET"]
    assert routes["/analytics/v1/export/status"]["_links"]["self"][0]["href"].endswith(
        "/wp-json/analytics/v1/export/status"
    )
    options = client.options(HEALTH)
    assert options.status_code == 200 and orjson.loads(options.data)["namespace"] == "analytics/v1"
    assert client.post(HEALTH).status_code == 404, "GET only, as WordPress answers rest_no_route"


def test_the_dashboard_resumes_a_paused_subscriber(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], accounts: Accounts
) -> None:
    client: FlaskClient = create_app(make_settings()).test_client()
    state = DeliveryState(redis, TEST_PREFIX)
    state.ensure(SUBSCRIBER, "beginning", time.time())
    state.pause(SUBSCRIBER, "20 failures in a row; last: boom", time.time())
    sign_in(client)
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert "Paused" in page and "20 failures in a row; last: boom" in page and f"Resume {SUBSCRIBER}" in page
    forged = client.post(DASHBOARD + "&action=resume", data={"name": SUBSCRIBER})
    assert forged.status_code != 302 and state.get(SUBSCRIBER).paused  # type: ignore[union-attr]
    csrf = token(client, DASHBOARD)
    done = client.post(DASHBOARD + "&action=resume", data={"name": SUBSCRIBER, "csrf_token": csrf})
    assert done.status_code == 302
    assert f"Resumed {SUBSCRIBER}" in client.get(DASHBOARD).get_data(as_text=True)
    resumed = state.get(SUBSCRIBER)
    assert resumed is not None and not resumed.paused and resumed.failures == 0
