"""The admin pages through Flask's test client, against the test Redis: sign
in and out, the session cookie, CSRF, throttling, who may see what, errors,
and the run chart's geometry (the browser test drives the whole flow)."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest
from flask.testing import FlaskClient

import config
from accounts import Accounts
from jobs.state import DeliveryState
from tests.conftest import free_port
from wpadmin._chart import HEIGHT, LEFT, RIGHT, TOP, WIDTH, nice_ceiling, run_chart
from wsgi import create_app

if t.TYPE_CHECKING:
    import redis as redis_lib
    from werkzeug.test import TestResponse

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
DASHBOARD = "/wp-admin/admin.php?page=analytics-export"


@pytest.fixture
def settings(make_settings: t.Callable[..., config.Settings]) -> config.Settings:
    return make_settings(ANALYTICS_LOGIN_LIMIT="3")


@pytest.fixture
def accounts(redis: redis_lib.Redis, settings: config.Settings) -> Accounts:
    accounts = Accounts(redis, settings.redis_prefix, settings.secret_key)
    for login, role in (("admin", "administrator"), ("editor", "editor")):
        accounts.create_user(login, f"{login}@example.com", role=role)
        accounts.set_password(login, PASSWORD)
    return accounts


@pytest.fixture
def client(accounts: Accounts, settings: config.Settings) -> FlaskClient:
    return create_app(settings).test_client()


def token(client: FlaskClient, path: str = "/wp-login.php") -> str:
    match = TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(
    client: FlaskClient, login: str = "admin", password: str = PASSWORD, ip: str = "127.0.0.1", **extra: str
) -> TestResponse:
    """Sign in from ``ip``; over HTTPS unless it is loopback (the form is refused over plain HTTP from elsewhere)."""
    data = {"log": login, "pwd": password, "csrf_token": token(client), **extra}
    scheme = "http" if ip.startswith("127.") else "https"
    return client.post("/wp-login.php", data=data, environ_base={"REMOTE_ADDR": ip}, base_url=f"{scheme}://localhost")


def login_error(response: TestResponse) -> str:
    match = re.search(r'id="login_error"[^>]*><p><strong>Error:</strong> ([^<]*)</p>', response.get_data(as_text=True))
    return match.group(1) if match else ""


# ------------------------------------------------------------------ signing in and out


def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(client: FlaskClient) -> None:
    first = client.get("/wp-admin/profile.php")
    assert first.status_code == 302
    assert first.headers["Location"] == "/wp-login.php?redirect_to=/wp-admin/profile.php&reauth=1"
    page = client.get(first.headers["Location"])
    assert 'name="redirect_to" type="hidden" value="/wp-admin/profile.php"' in page.get_data(as_text=True)
    signed = sign_in(client, "ADMIN@example.com", redirect_to="/wp-admin/profile.php")
    assert (signed.status_code, signed.headers["Location"]) == (302, "/wp-admin/profile.php")
    profile = client.get("/wp-admin/profile.php")
    assert profile.status_code == 200
    assert "Howdy, <strong>admin</strong>" in profile.get_data(as_text=True)


def test_administrators_land_on_the_dashboard_and_others_on_their_profile(
    accounts: Accounts, settings: config.Settings
) -> None:
    app = create_app(settings)
    for login, landing in (("admin", DASHBOARD), ("editor", "/wp-admin/profile.php")):
        client = app.test_client()
        assert sign_in(client, login).headers["Location"] == "/wp-admin/"
        assert client.get("/wp-admin/").headers["Location"] == landing


def test_sign_out_needs_a_post_with_the_token(client: FlaskClient) -> None:
    sign_in(client)
    ask = client.get("/wp-login.php?action=logout")
    assert ask.status_code == 200 and "Do you really want to log out?" in ask.get_data(as_text=True)
    assert client.get("/wp-admin/profile.php").status_code == 200  # a GET (a link, an image) signs nobody out
    assert client.post("/wp-login.php?action=logout", data={}).status_code == 400
    done = client.post("/wp-login.php?action=logout", data={"csrf_token": token(client, "/wp-admin/profile.php")})
    assert done.headers["Location"] == "/wp-login.php?loggedout=true"
    assert "You are now logged out." in client.get(done.headers["Location"]).get_data(as_text=True)
    assert client.get("/wp-admin/profile.php").status_code == 302


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    accounts: Accounts, settings: config.Settings
) -> None:
    app = create_app(settings)
    plain = app.test_client()
    cookie = sign_in(plain).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = app.test_client()
    page = secure.get("/wp-login.php", base_url="https://admin.example.com")
    match = TOKEN.search(page.get_data(as_text=True))
    assert match
    response = secure.post(
        "/wp-login.php",
        data={"log": "admin", "pwd": PASSWORD, "csrf_token": match.group(1)},
        base_url="https://admin.example.com",
    )
    assert response.status_code == 302
    assert "; Secure" in response.headers["Set-Cookie"]


def test_wrong_credentials_get_wordpress_s_messages(client: FlaskClient) -> None:
    assert login_error(sign_in(client, "admin", "wrong password")) == (
        "The password you entered for the username admin is incorrect."
    )
    assert login_error(sign_in(client, "nobody", PASSWORD)).startswith("The username nobody is not registered")
    assert login_error(sign_in(client, "", "")) == "The username field is empty. The password field is empty."


def test_a_password_change_ends_the_session(client: FlaskClient, accounts: Accounts) -> None:
    sign_in(client)
    assert client.get("/wp-admin/profile.php").status_code == 200
    accounts.set_password("admin", PASSWORD + " again")
    assert client.get("/wp-admin/profile.php").status_code == 302


def test_redirect_to_another_site_is_ignored(client: FlaskClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = sign_in(client, redirect_to=target)
        assert response.headers["Location"] == "/wp-admin/", target
        client.post("/wp-login.php?action=logout", data={"csrf_token": token(client, "/wp-admin/profile.php")})


# ------------------------------------------------------------------ throttling


def test_failed_sign_ins_are_throttled_per_client_and_per_account(client: FlaskClient) -> None:
    for _ in range(3):  # ANALYTICS_LOGIN_LIMIT=3 in this test's settings
        assert login_error(sign_in(client, "admin", "wrong", ip="10.0.0.1")).startswith("The password")
    refused = sign_in(client, "admin", PASSWORD, ip="10.0.0.1")  # even the right password
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 300
    assert login_error(refused) == "Too many failed sign-in attempts. Try again in 5 minutes."
    # The same account from elsewhere, by its email: still refused (per account).
    assert sign_in(client, "admin@example.com", PASSWORD, ip="10.0.0.2").status_code == 429
    # Another account from the same client: refused (per client).
    assert sign_in(client, "editor", PASSWORD, ip="10.0.0.1").status_code == 429
    # Another account from another client signs in.
    assert sign_in(client, "editor", PASSWORD, ip="10.0.0.3").status_code == 302


def test_a_stale_or_missing_csrf_token_changes_nothing(client: FlaskClient, accounts: Accounts) -> None:
    expired = client.post("/wp-login.php", data={"log": "admin", "pwd": PASSWORD})
    assert expired.status_code == 400
    assert "The link you followed has expired." in expired.get_data(as_text=True)
    sign_in(client)
    created = client.post("/wp-admin/profile.php?action=create", data={"name": "curl", "csrf_token": "forged"})
    assert created.status_code == 400
    assert accounts.list_app_passwords("admin") == []
    _, item = accounts.create_app_password("admin", "kept")
    assert client.post("/wp-admin/profile.php?action=revoke", data={"uuid": item.uuid}).status_code == 400
    assert client.post("/wp-admin/profile.php?action=revoke-all", data={}).status_code == 400
    assert [i.name for i in accounts.list_app_passwords("admin")] == ["kept"]


# ------------------------------------------------------------------ profile


def test_the_profile_shows_a_new_password_once_with_a_curl_line(client: FlaskClient, accounts: Accounts) -> None:
    sign_in(client)
    page = client.post(
        "/wp-admin/profile.php?action=create",
        data={"name": "Power BI", "csrf_token": token(client, "/wp-admin/profile.php")},
    ).get_data(as_text=True)
    shown = re.search(r'id="new-application-password-value" class="code" readonly value="([^"]+)"', page)
    assert shown and re.fullmatch(r"([A-Za-z0-9]{4} ){5}[A-Za-z0-9]{4}", shown.group(1))
    assert accounts.authenticate("admin", shown.group(1)).login == "admin"
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    curl = f"curl -o {day}.csv -u &#34;admin:{shown.group(1)}&#34; &#39;http://localhost/wp-json/analytics/v1/events/{day}?format=csv&#39;"
    assert curl in page
    again = client.get("/wp-admin/profile.php").get_data(as_text=True)
    assert shown.group(1) not in again and "Power BI" in again


def test_duplicate_or_empty_names_are_refused_with_wordpress_wording(client: FlaskClient) -> None:
    sign_in(client)
    csrf = token(client, "/wp-admin/profile.php")
    client.post("/wp-admin/profile.php?action=create", data={"name": "curl", "csrf_token": csrf})
    duplicate = client.post("/wp-admin/profile.php?action=create", data={"name": "curl", "csrf_token": csrf})
    assert duplicate.status_code == 400
    assert "Each application name should be unique." in duplicate.get_data(as_text=True)
    empty = client.post("/wp-admin/profile.php?action=create", data={"name": " ", "csrf_token": csrf})
    assert "An application name is required to create an application password." in empty.get_data(as_text=True)


def test_revoke_all(client: FlaskClient, accounts: Accounts) -> None:
    for name in ("a", "b"):
        accounts.create_app_password("admin", name)
    sign_in(client)
    done = client.post(
        "/wp-admin/profile.php?action=revoke-all", data={"csrf_token": token(client, "/wp-admin/profile.php")}
    )
    assert done.status_code == 302
    assert "All application passwords revoked (2)." in client.get("/wp-admin/profile.php").get_data(as_text=True)
    assert accounts.list_app_passwords("admin") == []


# ------------------------------------------------------------------ dashboard and permissions


def test_the_dashboard_is_for_administrators_only(client: FlaskClient) -> None:
    sign_in(client, "editor")
    assert client.get("/wp-admin/").headers["Location"] == "/wp-admin/profile.php"
    refused = client.get(DASHBOARD)
    assert refused.status_code == 403
    assert "Sorry, you are not allowed to access this page." in refused.get_data(as_text=True)
    ajax = client.get("/wp-admin/admin-ajax.php?action=analytics_export_replay&job=x")
    assert (ajax.status_code, ajax.json) == (
        403,
        {"success": False, "data": {"message": "Sorry, you are not allowed to do that."}},
    )


def test_the_dashboard_shows_the_schedule_and_runs(client: FlaskClient, redis: redis_lib.Redis) -> None:
    state = DeliveryState(redis, "analytics-test:")
    now = dt.datetime.now(dt.UTC).timestamp()
    state.record_run({"mode": "run", "started": now - 5, "finished": now - 3, "objects": 2, "events": 1234})
    sign_in(client)
    assert client.get("/wp-admin/").headers["Location"] == DASHBOARD
    page = client.get(DASHBOARD).get_data(as_text=True)
    assert "ten_minutes (every 10m)" in page
    assert "1 run in the last 24 hours, 1,234 events in all, at most 1,234 in one run." in page
    assert "Nothing is hooked on <code>altis.analytics.export.data.process</code>" in page


def test_requeue_of_an_object_not_in_quarantine_says_so(client: FlaskClient) -> None:
    sign_in(client)
    csrf = token(client, DASHBOARD)
    done = client.post(DASHBOARD + "&action=requeue", data={"key": "2026/11/25/00/x", "csrf_token": csrf})
    assert done.status_code == 302
    assert "2026/11/25/00/x is not quarantined" in client.get(DASHBOARD).get_data(as_text=True)


def test_a_bad_replay_form_is_answered_on_the_page(client: FlaskClient) -> None:
    sign_in(client)
    csrf = token(client, DASHBOARD)
    bad = client.post(DASHBOARD + "&action=replay", data={"since": "2026-02-30", "hour": "24", "csrf_token": csrf})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "Not a valid date value." in text and "The hour is a whole number from 0 to 23." in text
    unknown = client.post(
        DASHBOARD + "&action=replay", data={"since": "2026-11-20", "subscriber": "acme.nope", "csrf_token": csrf}
    )
    assert unknown.status_code == 400 and "Not a valid choice." in unknown.get_data(as_text=True)


def test_replay_progress_needs_a_session_and_a_known_job(client: FlaskClient) -> None:
    url = "/wp-admin/admin-ajax.php?action=analytics_export_replay&job=nope"
    assert client.get(url).status_code == 401
    sign_in(client)
    missing = client.get(url)
    assert missing.status_code == 404 and missing.json == {
        "success": False,
        "data": {"message": "No such replay (they are kept one day)."},
    }


def test_admin_pages_send_security_headers(client: FlaskClient) -> None:
    response = client.get("/wp-login.php")
    assert response.headers["Cache-Control"] == "no-store"
    # Issue 12: never framed (WordPress's wp-admin sends SAMEORIGIN for its own frames; these pages have none).
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_redis_down_is_a_503_page(make_settings: t.Callable[..., config.Settings]) -> None:
    client = create_app(make_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")).test_client()
    response = sign_in(client)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "cannot reach its database (Redis)" in response.get_data(as_text=True)
    no_key = create_app(make_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", ANALYTICS_SECRET_KEY=""))
    assert no_key.test_client().get("/wp-login.php").status_code == 503  # the session key lives in Redis then


def test_the_events_api_is_untouched(client: FlaskClient) -> None:
    """No CSRF check nor session cookie on /wp-json: a POST is still WordPress's 404."""
    response = client.post("/wp-json/analytics/v1/events/2026-11-25")
    assert response.status_code == 404
    assert response.json is not None and response.json["code"] == "rest_no_route"
    assert "Set-Cookie" not in response.headers


# ------------------------------------------------------------------ chart


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (7, 10), (18, 20), (20, 20), (21, 50), (5001, 10000)])
def test_the_scale_is_rounded_up_to_1_2_or_5(value: int, ceiling: int) -> None:
    assert nice_ceiling(value) == ceiling


def test_run_chart_geometry_by_hand() -> None:
    now = 1_800_000_000.0
    runs = [
        {"finished": now - 43_200, "events": 10},  # noon of the window: middle, full height
        {"finished": now - 100, "events": 5, "failures": {"a": "boom"}},  # half height, red
        {"finished": now - 90_000, "events": 99},  # older than a day: not shown
    ]
    chart = run_chart(runs, now)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - 32
    assert len(chart.bars) == 2
    middle, late = chart.bars
    assert middle.height == plot_h and middle.y == TOP
    assert middle.x + middle.width / 2 == pytest.approx(LEFT + plot_w / 2, abs=0.1)
    assert late.height == pytest.approx(plot_h / 2, abs=0.1) and late.failed and not middle.failed
    assert [tick.label for tick in chart.y_ticks] == ["0", "5", "10"]
    assert (
        chart.summary == "2 runs in the last 24 hours, 15 events in all, at most 10 in one run; 1 with a failure (red)."
    )
