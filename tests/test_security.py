"""Issue 12, "Security": failed Basic logins throttled (shared with the sign-in
page), credentials refused over plain HTTP from another host, forwarded
client addresses believed only from trusted proxies, CSV formulas
neutralised on request, security headers on every response, and no
credential in any log line, body or traceback.

Client addresses are TEST-NET ones (RFC 5737) set as the WSGI peer: nothing
is sent on a network. The end-to-end test goes through gunicorn on loopback
with a trusted proxy's headers.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import logging
import time
import typing as t
from pathlib import Path

import orjson
import pytest

import config
import hooks
import wsgi
from accounts import Accounts
from accounts.app_passwords import hash_key, hash_password
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX
from tests.test_endpoint import URL, assert_wp_error, basic
from tests.test_endpoint_e2e import curl, start_gunicorn, stop

if t.TYPE_CHECKING:
    import redis as redis_lib
    from flask import Flask
    from flask.testing import FlaskClient

HOST = "example.com"
ATTACKER, OTHER, PROXY = "203.0.113.66", "198.51.100.7", "10.1.2.3"
START_MS = int(dt.datetime(2026, 11, 25, tzinfo=dt.UTC).timestamp() * 1000)  # data.DAY's UTC midnight


class Site(t.NamedTuple):
    app: Flask
    client: FlaskClient
    accounts: Accounts
    password: str  # the administrator's application password
    redis: redis_lib.Redis


def make_site(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, **env: str) -> Site:
    settings = make_settings(ANALYTICS_SITES=f"{HOST}=1", **env)
    app = wsgi.create_app(settings)
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    accounts.create_user("editor", "editor@example.com", role="editor")
    password, _ = accounts.create_app_password("admin", "curl")
    return Site(app, app.test_client(), accounts, password, redis)


@pytest.fixture
def site(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path) -> Site:
    data.write_local(tmp_path / "events", data.day_files())
    return make_site(make_settings, redis)


def get(
    site: Site,
    login: str,
    password: str,
    ip: str = "127.0.0.1",
    headers: t.Mapping[str, str] | None = None,
    base_url: str = "http://example.com",
) -> t.Any:
    """The events of DAY with Basic credentials, from the peer ``ip``."""
    sent = {**basic(login, password), "Host": HOST, **(headers or {})}
    return site.client.get(URL, headers=sent, environ_base={"REMOTE_ADDR": ip}, base_url=base_url)


# ------------------------------------------------------------------ throttling failed Basic logins


def test_ten_failures_from_one_ip_then_429_even_for_the_right_password(site: Site) -> None:
    for n in range(10):  # ten different logins: the IP's counter, not an account's
        assert_wp_error(get(site, f"guess{n}", "x" * 24, ip=ATTACKER, base_url="https://example.com"), 401,
                        "invalid_username")  # fmt: skip
    refused = get(site, "admin", site.password, ip=ATTACKER, base_url="https://example.com")
    body = assert_wp_error(refused, 429, "analytics_too_many_logins")
    assert 290 <= int(refused.headers["Retry-After"]) <= 300  # the 5-minute window started by the first failure
    assert "Try again in 5 minutes" in body["message"]
    # Another client is not affected: the admin's own counter saw no failure.
    assert get(site, "admin", site.password, ip=OTHER, base_url="https://example.com").status_code == 200


def test_ten_failures_for_one_account_from_many_ips_then_429(site: Site) -> None:
    for n in range(10):  # a botnet: one failure per address, the login by name and by email alike
        login = "admin" if n % 2 else "admin@example.com"
        got = get(site, login, "y" * 24, ip=f"192.0.2.{n + 1}", base_url="https://example.com")
        assert_wp_error(got, 401, "incorrect_password")
    got = get(site, "admin", site.password, ip="192.0.2.200", base_url="https://example.com")
    assert_wp_error(got, 429, "analytics_too_many_logins")
    # The addresses themselves made one failure each: another account from one of them still works.
    password, _ = site.accounts.create_app_password("editor", "curl")
    assert_wp_error(get(site, "editor", password, ip="192.0.2.1", base_url="https://example.com"), 403,
                    "rest_forbidden")  # fmt: skip


def test_a_refusal_is_logged_once_per_window(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(10):
        get(site, "admin", "z" * 24)
    with caplog.at_level(logging.WARNING, logger="wpjson._auth"):
        for _ in range(5):
            assert get(site, "admin", "z" * 24).status_code == 429
    throttled = [r for r in caplog.records if "throttled" in r.getMessage()]
    assert len(throttled) == 1, caplog.text


def test_basic_and_the_sign_in_page_share_the_counters(site: Site) -> None:
    for _ in range(10):
        get(site, "admin", "w" * 24)
    site.accounts.set_password("admin", "a sign-in password")
    page = site.client.get("/wp-login.php", headers={"Host": HOST})
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed = site.client.post(
        "/wp-login.php",
        data={"log": "admin", "pwd": "a sign-in password", "csrf_token": token},
        headers={"Host": HOST},
    )
    assert signed.status_code == 429 and "Retry-After" in signed.headers


def test_the_window_ends(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis) -> None:
    site = make_site(make_settings, redis, ANALYTICS_LOGIN_LIMIT="2", ANALYTICS_LOGIN_WINDOW="1")
    for _ in range(2):
        get(site, "admin", "v" * 24)
    assert get(site, "admin", site.password).status_code == 429
    deadline = time.monotonic() + 10
    while get(site, "admin", site.password).status_code == 429:
        assert time.monotonic() < deadline, "the 1-second window never ended"
        time.sleep(0.1)
    assert get(site, "admin", site.password).status_code == 200


# ------------------------------------------------------------------ HTTPS, loopback, trusted proxies


def test_credentials_over_plain_http_from_another_host_are_refused_unchecked(site: Site) -> None:
    refused = get(site, "admin", site.password, ip=OTHER)
    body = assert_wp_error(refused, 401, "application_passwords_disabled")  # WordPress's code
    assert "HTTPS" in body["message"]
    assert_wp_error(get(site, "admin", "wrong", ip=OTHER), 401, "application_passwords_disabled")
    assert site.accounts.list_app_passwords("admin")[0].last_used is None  # never checked
    # Over HTTPS, or from loopback (IPv4 or IPv6), the same request is served.
    assert get(site, "admin", site.password, ip=OTHER, base_url="https://example.com").status_code == 200
    for loopback in ("127.0.0.1", "127.8.9.10", "::1"):
        assert get(site, "admin", site.password, ip=loopback).status_code == 200, loopback
    # No credentials: an anonymous request as before (the index, the 401 challenge).
    anonymous = site.client.get(URL, headers={"Host": HOST}, environ_base={"REMOTE_ADDR": OTHER})
    assert_wp_error(anonymous, 401, "rest_forbidden")
    assert site.client.get("/wp-json/", environ_base={"REMOTE_ADDR": OTHER}).status_code == 200


def test_allow_http_accepts_plain_http(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    site = make_site(make_settings, redis, ANALYTICS_ALLOW_HTTP="1")
    assert get(site, "admin", site.password, ip=OTHER).status_code == 200


def test_forwarded_headers_count_only_from_a_trusted_proxy(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis
) -> None:
    site = make_site(make_settings, redis, ANALYTICS_TRUSTED_PROXIES="10.0.0.0/8")
    forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    assert get(site, "admin", site.password, ip=PROXY, headers=forwarded).status_code == 200
    # "last IP" of the password is the client's, as the proxy forwarded it.
    assert site.accounts.list_app_passwords("admin")[0].last_ip == "203.0.113.5"
    # The proxy passing plain HTTP: refused.
    plain = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "http"}
    assert_wp_error(get(site, "admin", site.password, ip=PROXY, headers=plain), 401, "application_passwords_disabled")
    # The same headers from a peer that is no trusted proxy are ignored: plain HTTP from a remote host.
    assert_wp_error(get(site, "admin", site.password, ip=OTHER, headers=forwarded), 401,
                    "application_passwords_disabled")  # fmt: skip
    # Claiming loopback through an untrusted peer does not work either.
    spoofed = {"X-Forwarded-For": "127.0.0.1"}
    assert_wp_error(get(site, "admin", site.password, ip=OTHER, headers=spoofed), 401,
                    "application_passwords_disabled")  # fmt: skip
    # Behind the proxy, the throttle counts each client: one client's failures do not lock out another.
    for _ in range(10):
        get(site, "nobody", "x", ip=PROXY, headers={**forwarded, "X-Forwarded-For": ATTACKER})
    assert get(site, "nobody", "x", ip=PROXY, headers={**forwarded, "X-Forwarded-For": ATTACKER}).status_code == 429
    assert get(site, "admin", site.password, ip=PROXY, headers=forwarded).status_code == 200


def test_the_sign_in_page_sees_the_forwarded_client_too(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis
) -> None:
    """ProxyFix is applied to the whole app, so the admin pages' throttle counts the client, not the proxy."""
    site = make_site(make_settings, redis, ANALYTICS_TRUSTED_PROXIES="10.0.0.0/8", ANALYTICS_LOGIN_LIMIT="2")

    def sign_in(client_ip: str, login: str) -> int:
        env = {"REMOTE_ADDR": PROXY}
        headers = {"Host": HOST, "X-Forwarded-For": client_ip, "X-Forwarded-Proto": "https"}
        page = site.client.get("/wp-login.php", headers=headers, environ_base=env)
        token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        form = {"log": login, "pwd": "not the password", "csrf_token": token}
        return site.client.post("/wp-login.php", data=form, headers=headers, environ_base=env).status_code

    assert [sign_in(ATTACKER, f"user{n}") for n in range(3)] == [200, 200, 429]  # the attacker's IP
    assert sign_in("203.0.113.5", "someone") == 200  # another client behind the same proxy


def test_through_gunicorn_behind_a_trusted_proxy(tmp_path: Path, redis: redis_lib.Redis) -> None:
    """End to end: gunicorn on loopback told that loopback is its proxy; curl plays the proxy."""
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    env = {"ANALYTICS_SOURCE": str(tmp_path / "events"), "ANALYTICS_TRUSTED_PROXIES": "127.0.0.0/8"}
    base, proc = start_gunicorn(tmp_path / "gunicorn.log", env)
    try:
        from tests.test_endpoint_e2e import SECRET

        accounts = Accounts(redis, TEST_PREFIX, SECRET)
        accounts.create_user("admin", "admin@example.com", role="administrator")
        password, _ = accounts.create_app_password("admin", "curl")
        url = f"{base}/wp-json/analytics/v1/events/{data.DAY.isoformat()}?format=ndjson"
        auth = ("-u", f"admin:{password}", "-H", "X-Forwarded-For: 203.0.113.9")
        plain = curl(url, *auth, tmp=tmp_path)
        assert (plain.status, orjson.loads(plain.body)["code"]) == (401, "application_passwords_disabled")
        secure = curl(url, *auth, "-H", "X-Forwarded-Proto: https", tmp=tmp_path)
        assert secure.status == 200
        assert secure.body == data.ndjson_body(data.expected_events(files, data.DAY, 1))
        assert accounts.list_app_passwords("admin")[0].last_ip == "203.0.113.9"
        assert secure.headers["x-content-type-options"] == "nosniff"
        assert secure.headers["cache-control"] == "no-store"
    finally:
        stop(proc)


def test_forwarded_proto_is_case_insensitive(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis
) -> None:
    """RFC 3986 section 3.1: schemes are case-insensitive, so a proxy's ``HTTPS`` is ``https``."""
    site = make_site(make_settings, redis, ANALYTICS_TRUSTED_PROXIES="10.0.0.0/8")
    for proto in ("HTTPS", "Https", "https"):
        forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": proto}
        assert get(site, "admin", site.password, ip=PROXY, headers=forwarded).status_code == 200, proto
    assert_wp_error(get(site, "admin", site.password, ip=PROXY, headers={"X-Forwarded-Proto": "HTTP"}), 401,
                    "application_passwords_disabled")  # fmt: skip


def _sign_in(site: Site, ip: str, headers: t.Mapping[str, str] | None = None, scheme: str = "http") -> t.Any:
    """The administrator's sign-in with the right password from the peer ``ip``, in a client of its own; the form's
    CSRF token comes from a page fetched over loopback (which may use plain HTTP)."""
    site.accounts.set_password("admin", "a sign-in password")
    client = site.app.test_client()
    page = client.get("/wp-login.php", headers={"Host": HOST}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    form = {"log": "admin", "pwd": "a sign-in password", "csrf_token": token}
    sent = {"Host": HOST, **(headers or {})}
    return client.post("/wp-login.php", data=form, headers=sent, environ_base={"REMOTE_ADDR": ip},
                       base_url=f"{scheme}://{HOST}")  # fmt: skip


def test_the_sign_in_form_over_plain_http_from_another_host_is_refused(site: Site) -> None:
    refused = _sign_in(site, OTHER)  # the right password
    assert refused.status_code == 403
    assert "Set-Cookie" not in refused.headers  # no session
    page = refused.get_data(as_text=True)
    assert "Signing in needs HTTPS" in page and 'name="pwd"' not in page
    shown = site.client.get("/wp-login.php", headers={"Host": HOST}, environ_base={"REMOTE_ADDR": OTHER})
    assert shown.status_code == 403 and 'name="pwd"' not in shown.get_data(as_text=True)  # no form to type into
    # Over HTTPS the same sign-in works and the session cookie is Secure; from loopback it works too.
    secure = _sign_in(site, OTHER, scheme="https")
    assert secure.status_code == 302 and "; Secure" in secure.headers["Set-Cookie"]
    assert _sign_in(site, "127.0.0.1").status_code == 302


def test_the_sign_in_form_through_a_trusted_proxy_follows_its_scheme(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis
) -> None:
    site = make_site(make_settings, redis, ANALYTICS_TRUSTED_PROXIES="10.0.0.0/8")
    plain = _sign_in(site, PROXY, {"X-Forwarded-For": OTHER, "X-Forwarded-Proto": "http"})
    assert plain.status_code == 403
    for proto in ("https", "HTTPS"):
        signed = _sign_in(site, PROXY, {"X-Forwarded-For": OTHER, "X-Forwarded-Proto": proto})
        assert signed.status_code == 302, proto
        assert "; Secure" in signed.headers["Set-Cookie"], proto


def test_allow_http_accepts_the_sign_in_form_over_plain_http(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis
) -> None:
    site = make_site(make_settings, redis, ANALYTICS_ALLOW_HTTP="1")
    signed = _sign_in(site, OTHER)
    assert signed.status_code == 302 and "Secure" not in signed.headers["Set-Cookie"]


# ------------------------------------------------------------------ security headers


def test_security_headers_on_every_response(site: Site) -> None:
    admin = {**basic("admin", site.password), "Host": HOST}
    responses = {
        "events": site.client.get(URL, headers=admin),
        "index": site.client.get("/wp-json/"),
        "openapi": site.client.get("/wp-json/analytics/v1/openapi.json"),
        "rest error": site.client.get("/wp-json/nope"),
        "options": site.client.options(URL),
        "envelope": site.client.get(URL + "?_envelope", headers=admin),
        "sign-in page": site.client.get("/wp-login.php", headers={"Host": HOST}),
        "admin redirect": site.client.get("/wp-admin/profile.php", headers={"Host": HOST}),
        "no route at all": site.client.get("/nothing-here"),
    }
    for name, response in responses.items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Cache-Control"] == "no-store", name
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, name
    assert responses["events"].status_code == 200
    assert responses["sign-in page"].headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in responses["sign-in page"].headers["Content-Security-Policy"]
    assert responses["events"].headers["Content-Security-Policy"].startswith("default-src 'none'")


# ------------------------------------------------------------------ csv_safe

# Cells as a spreadsheet would read them: hand-written from OWASP's "CSV Injection" rule.
FORMULAS = {
    "eq": ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    "plus": ("+1+1", "'+1+1"),
    "minus": ("-3", "'-3"),
    "at": ("@SUM(A1)", "'@SUM(A1)"),
    "tab": ("\t=1", "'\t=1"),
    "cr": ("\r=1", "'\r=1"),
    "plain": ("hello =1", "hello =1"),
    "empty": ("", ""),
}


@pytest.fixture
def formula_site(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path) -> Site:
    event = orjson.loads(data.event(1, START_MS + 1000, 1, {name: raw for name, (raw, _) in FORMULAS.items()}))
    event["=cmd"] = "x"  # a field name is a column name: it comes from the events too
    line = orjson.dumps(event)
    data.write_local(tmp_path / "events", {"2026/11/25/10/analytics-1-2026-11-25-10-00-00-csv": line + b"\n"})
    return make_site(make_settings, redis)


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


@pytest.mark.parametrize("flag", ["1", "true", "TRUE"])
def test_csv_safe_prefixes_formula_cells(formula_site: Site, flag: str) -> None:
    auth = {**basic("admin", formula_site.password), "Host": HOST}
    safe = formula_site.client.get(URL + f"?format=csv&csv_safe={flag}", headers=auth)
    [row] = csv_rows(safe.data)
    for name, (_, expected) in FORMULAS.items():
        assert row[f"attributes.{name}"] == expected, name
    assert row["'=cmd"] == "x" and "=cmd" not in row
    # Without it, the cells are as stored.
    [plain] = csv_rows(formula_site.client.get(URL + "?format=csv", headers=auth).data)
    for name, (raw, _) in FORMULAS.items():
        assert plain[f"attributes.{name}"] == raw, name


def test_csv_safe_off_or_invalid(formula_site: Site) -> None:
    auth = {**basic("admin", formula_site.password), "Host": HOST}
    [row] = csv_rows(formula_site.client.get(URL + "?format=csv&csv_safe=0", headers=auth).data)
    assert row["attributes.minus"] == "-3"
    bad = assert_wp_error(formula_site.client.get(URL + "?format=csv&csv_safe=maybe", headers=auth), 400,
                          "rest_invalid_param")  # fmt: skip
    assert bad["data"]["params"] == {"csv_safe": "csv_safe is not of type boolean."}
    # JSON is the stored event, whatever csv_safe says.
    as_json = orjson.loads(formula_site.client.get(URL + "?csv_safe=1", headers=auth).data)
    assert as_json[0]["attributes"]["minus"] == "-3"


def test_analytics_csv_safe_turns_it_on_for_everyone(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    line = data.event(1, START_MS + 1000, 1, {"minus": "-3"})
    data.write_local(tmp_path / "events", {"2026/11/25/10/analytics-1-2026-11-25-10-00-00-csv": line + b"\n"})
    site = make_site(make_settings, redis, ANALYTICS_CSV_SAFE="1")
    auth = {**basic("admin", site.password), "Host": HOST}
    for query in ("?format=csv", "?format=csv&csv_safe=0"):  # a client cannot turn the deployment's rule off
        [row] = csv_rows(site.client.get(URL + query, headers=auth).data)
        assert row["attributes.minus"] == "'-3", query


# ------------------------------------------------------------------ no credential anywhere


def test_no_credential_hash_or_authorization_in_logs_bodies_or_tracebacks(
    site: Site, caplog: pytest.LogCaptureFixture, make_settings: t.Callable[..., config.Settings]
) -> None:
    """Every path a credential takes: accepted, wrong, unknown user, throttled, refused over HTTP,
    a 500 while credentials are present, a 503 (Redis down), the sign-in page: the password, its
    stored HMAC, the Authorization header, the sign-in password and its Argon2 hash appear nowhere."""
    site.accounts.set_password("admin", "sign-in secret 42")
    authorization = basic("admin", site.password)["Authorization"]
    wrong = basic("admin", "Wrong Pass Word 1234 abcd")["Authorization"]
    stored = hash_password(hash_key("test-secret"), site.password)
    argon = t.cast("bytes | None", site.redis.hget(f"{TEST_PREFIX}user:1", "pass"))
    assert argon and stored
    secrets = [site.password, site.password.replace(" ", ""), authorization.split()[1], wrong.split()[1],
               "Wrong Pass Word", stored, argon.decode(), "sign-in secret 42"]  # fmt: skip
    bodies: list[bytes] = []

    def send(**kwargs: t.Any) -> None:
        bodies.append(site.client.get(URL, **kwargs).data)

    with caplog.at_level(logging.DEBUG):
        send(headers={"Authorization": authorization, "Host": HOST})
        send(headers={"Authorization": wrong, "Host": HOST})
        send(headers={**basic("nobody", site.password), "Host": HOST})
        send(headers={"Authorization": authorization, "Host": HOST}, environ_base={"REMOTE_ADDR": OTHER})
        hooks.add_filter("altis.analytics.export_events_capability", _explode)  # a broken integration: a 500
        send(headers={**basic("editor", site.accounts.create_app_password("editor", "x")[0]), "Host": HOST})
        hooks.remove_filter("altis.analytics.export_events_capability", _explode)
        page = site.client.get("/wp-login.php", headers={"Host": HOST}).get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        form = {"log": "admin", "pwd": "sign-in secret 42", "csrf_token": token}
        bodies.append(site.client.post("/wp-login.php", data=form, headers={"Host": HOST}).data)
        down = wsgi.create_app(make_settings(REDIS_URL="redis://127.0.0.1:1/0")).test_client()
        bodies.append(down.get(URL, headers={"Authorization": authorization}).data)
        for _ in range(11):  # the last ones throttled
            send(headers={"Authorization": wrong, "Host": HOST})
    assert any(r.exc_info for r in caplog.records), "the 500 was logged with its traceback"
    assert "Traceback" in caplog.text
    everything = caplog.text + "\n".join(b.decode("utf-8", "replace") for b in bodies)
    for secret in secrets:
        assert secret not in everything, secret[:6]
        assert secret.lower() not in everything.lower(), secret[:6]
    assert base64.b64decode(authorization.split()[1]).decode() not in everything


def _explode(capability: str) -> str:
    raise RuntimeError("the integration broke")


def test_signed_in_pages_over_plain_http_from_another_host_are_refused(site: Site) -> None:
    """A session cookie made over HTTPS, replayed over plain HTTP from another host (a client that kept it, or a
    man in the middle): the profile page, which shows and makes application passwords, the dashboard and
    admin-ajax are refused as the sign-in page is, and no password is made."""
    signed = _sign_in(site, OTHER, scheme="https")
    name, value = signed.headers["Set-Cookie"].split(";")[0].split("=", 1)
    client = site.app.test_client()
    client.set_cookie(name, value, domain=HOST)  # without Secure: sent over plain HTTP too, as a kept cookie is
    sent = {"Host": HOST}
    over_https = client.get("/wp-admin/profile.php", headers=sent, environ_base={"REMOTE_ADDR": OTHER},
                            base_url=f"https://{HOST}")  # fmt: skip
    assert over_https.status_code == 200 and 'name="csrf_token"' in over_https.get_data(as_text=True)
    token = over_https.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    before = {p.name for p in site.accounts.list_app_passwords("admin")}
    for method, path, form in (
        ("GET", "/wp-admin/profile.php", None),
        ("POST", "/wp-admin/profile.php?action=create", {"csrf_token": token, "name": "over plain http"}),
        ("GET", "/wp-admin/admin.php?page=analytics-export", None),
    ):
        plain = client.open(path, method=method, data=form, headers=sent, environ_base={"REMOTE_ADDR": OTHER})
        assert plain.status_code == 403, (method, path)
        assert "Signing in needs HTTPS" in plain.get_data(as_text=True), (method, path)
    ajax = client.get("/wp-admin/admin-ajax.php?action=analytics_export_replay", headers=sent,
                      environ_base={"REMOTE_ADDR": OTHER})  # fmt: skip
    assert ajax.status_code == 403 and ajax.get_json()["success"] is False
    assert {p.name for p in site.accounts.list_app_passwords("admin")} == before
