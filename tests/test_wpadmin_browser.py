"""The admin pages in a real browser: Debian's Chromium, headless, driven by
Playwright, against real gunicorn, a real RQ worker and real curl.

The issue's "done when" flow, as a person would do it: sign in; create an
application password; run the page's own curl line against the events
endpoint; revoke the password and see the same line refused (401); see a
failing subscriber and a quarantined object on the dashboard and requeue it;
start a replay and watch its progress bar reach 100 %. Every page is checked
with axe-core (no serious or critical violation) and photographed at desktop
and phone widths into ``.artifacts/browser/`` (``ANALYTICS_ARTIFACTS_DIR``
overrides ``.artifacts``).

Expected values come from the fixture files themselves (the independent
reader of ``tests.endpoint_data``) and from the fixture subscribers' records.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import subprocess
import typing as t
from pathlib import Path

import orjson
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

import config
from accounts import Accounts
from jobs.export import run_export
from jobs.status import export_status
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL, import_fresh
from tests.integrations_fixtures import failing
from tests.test_endpoint_e2e import start_gunicorn, stop
from tests.test_schedule import start as start_flask
from tests.test_schedule import stop as stop_flask

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
#: Flags that work offline and as root in a container (the issue's list).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("ANALYTICS_ARTIFACTS_DIR", ROOT / ".artifacts")) / "browser"
SECRET = "browser-secret"
PASSWORD = "correct horse battery staple"
RECORDER = "tests.integrations_fixtures.recorder"
RECORDER_NAME = "tests.integrations_fixtures.recorder.record_batch"
FAILING_NAME = "tests.integrations_fixtures.failing.refuse_batch"
RECEIVED = TEST_PREFIX + "browser:received"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def yesterday() -> dt.date:
    """The day the profile page's curl line asks for (UTC)."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def fixture_files(day: dt.date) -> tuple[dict[str, bytes], str, bytes]:
    """Objects of ``day`` for blogs 1 and 2, plus the key of one corrupt object
    (gzip magic, then garbage) and the valid content it is later fixed with."""
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    folder = day.strftime("%Y/%m/%d")
    stamp = day.strftime("%Y-%m-%d")

    def lines(first: int, hour: int, count: int) -> bytes:
        return b"".join(
            data.event(first + i, start + hour * data.HOUR_MS + i * 60_000, 1 + i % 2) + b"\n" for i in range(count)
        )

    files = {f"{folder}/{h:02d}/analytics-1-{stamp}-{h:02d}-05-00-{h:04x}": lines(h * 100, h, 6) for h in (1, 5, 9)}
    corrupt = f"{folder}/12/analytics-1-{stamp}-12-05-00-bad0"
    files[corrupt] = b"\x1f\x8b\x08\x00garbage, not a gzip stream"
    return files, corrupt, lines(1200, 12, 4)


def valid_events(files: t.Mapping[str, bytes]) -> int:
    """Events a subscriber receives from these objects: every valid line, any site."""
    return sum(1 for key, body in files.items() if body[:2] != b"\x1f\x8b" for line in body.splitlines() if line)


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Page, name: str) -> None:
    """axe-core finds no serious or critical violation on the page."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    report = "\n".join(f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in bad)
    assert not bad, f"accessibility violations on {name}:\n{report}"


def assert_fits_phone(page: Page, name: str) -> None:
    """Nothing wider than the phone's screen, outside the tables' own scroll boxes."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a {PHONE['width']}px phone screen"


def records(redis: redis_lib.Redis) -> list[dict[str, t.Any]]:
    return [orjson.loads(raw) for raw in redis.lrange(RECEIVED, 0, -1)]


class Site(t.NamedTuple):
    base: str
    events: Path
    files: dict[str, bytes]
    corrupt: str
    fixed: bytes
    settings: config.Settings


@pytest.fixture
def site(
    redis: redis_lib.Redis,
    tmp_path: Path,
    make_settings: t.Callable[..., config.Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> t.Iterator[Site]:
    """gunicorn and an RQ worker over a day of fixture objects, an administrator
    with a sign-in password, and three export runs already made in this process:
    the failing subscriber has failed and the corrupt object is quarantined."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    day = yesterday()
    files, corrupt, fixed = fixture_files(day)
    events = tmp_path / "events"
    data.write_local(events, files)
    integrations = f"{RECORDER},tests.integrations_fixtures.failing"
    env = {
        "ANALYTICS_SOURCE": str(events),
        "ANALYTICS_SECRET_KEY": SECRET,
        "ANALYTICS_SITES": "",
        "ANALYTICS_INTEGRATIONS": integrations,
        "ANALYTICS_EXPORT_START": "beginning",
        "RECORDER_KEY": RECEIVED,
    }
    settings = make_settings(**{k: v for k, v in env.items() if k.startswith("ANALYTICS_")})
    accounts = Accounts(redis, TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    accounts.set_password("admin", PASSWORD)

    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("RECORDER_KEY", RECEIVED)
    import_fresh(RECORDER)
    importlib.reload(failing)
    for _ in range(3):  # CORRUPT_ATTEMPTS reads of the corrupt object
        run_export(settings, redis=redis)
    status = export_status(settings, redis)
    assert [q["key"] for q in status["quarantined"]] == [corrupt]
    assert {s["name"]: s["failures"] > 0 for s in status["subscribers"]} == {RECORDER_NAME: False, FAILING_NAME: True}

    base, server = start_gunicorn(tmp_path / "gunicorn.log", env)
    worker_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "RECORDER_"))},
        **env,
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
    }
    worker = start_flask(["worker"], worker_env)
    try:
        yield Site(base, events, files, corrupt, fixed, settings)
    finally:
        stop_flask(worker)
        stop(server)


@pytest.fixture
def browser() -> t.Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/wp-admin/profile.php")
    expect(page).to_have_url(re.compile(r"/wp-login\.php\?redirect_to=/wp-admin/profile\.php"))
    # Keyboard only, as WordPress's form allows: the login field has focus, Tab reaches the password, Enter submits.
    expect(page.get_by_label("Username or Email Address")).to_be_focused()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(base + "/wp-admin/profile.php")


def test_the_documented_admin_flow_in_chromium(
    site: Site, browser: Browser, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base)
    page = context.new_page()

    # Sign in (the login page first, as a visitor sees it).
    page.goto(site.base + "/wp-login.php")
    shoot(page, "login")
    assert_accessible(page, "login")
    sign_in(page, site.base)
    expect(page.get_by_role("heading", name="Application Passwords")).to_be_visible()

    # Create an application password: shown once, in groups of four, with a copy button and a curl line.
    page.get_by_label("New Application Password Name").fill("curl on my laptop")
    page.get_by_role("button", name="Add New Application Password").click()
    password = page.get_by_label("Your new password for curl on my laptop is:").input_value()
    assert re.fullmatch(r"([A-Za-z0-9]{4} ){5}[A-Za-z0-9]{4}", password)
    page.get_by_role("button", name="Copy").first.click()
    expect(page.locator(".copy-status")).to_have_text("Copied!")
    assert page.evaluate("navigator.clipboard.readText()") == password
    curl_line = page.get_by_label("Download yesterday's events as CSV with it:").input_value()
    day = yesterday().isoformat()
    assert curl_line.startswith(f'curl -o {day}.csv -u "admin:{password}" ')
    shoot(page, "profile-new-password")
    assert_accessible(page, "profile with a new password")

    # The page's own curl line downloads yesterday's events as CSV.
    done = subprocess.run(curl_line, shell=True, cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    readable = {k: v for k, v in site.files.items() if k != site.corrupt}
    expected = data.expected_csv(data.expected_events(readable, yesterday(), 1))
    assert len(expected) == 1 + 9  # header + the blog-1 events of the three valid objects
    assert data.parse_csv((tmp_path / f"{day}.csv").read_bytes()) == expected

    # The list shows when and from where it was used; then revoke it.
    page.goto(site.base + "/wp-admin/profile.php")
    row = page.get_by_role("row").filter(has_text="curl on my laptop")
    expect(row.locator('td[data-colname="Last IP"]')).to_have_text("127.0.0.1")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name='Revoke "curl on my laptop"').click()
    expect(page.get_by_role("status").filter(has_text="Application password revoked.")).to_be_visible()
    expect(page.get_by_text("You have no application passwords yet.")).to_be_visible()

    # The same curl line is now refused.
    refused = subprocess.run(
        curl_line + " -s -w '%{http_code}'", shell=True, cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert refused.stdout == b"401"
    assert orjson.loads((tmp_path / f"{day}.csv").read_bytes())["code"] == "incorrect_password"

    # The dashboard: the failing subscriber and the quarantined object.
    page.get_by_role("link", name="Analytics Export").click()
    expect(page).to_have_url(re.compile(r"/wp-admin/admin\.php\?page=analytics-export$"))
    failing_row = page.get_by_role("row").filter(has_text=FAILING_NAME)
    expect(failing_row).to_contain_text("Failing")
    expect(failing_row).to_contain_text(failing.ERROR)
    expect(page.get_by_role("row").filter(has_text=RECORDER_NAME)).to_contain_text("Up to date")
    quarantined = page.get_by_role("table").filter(has_text="Quarantined")
    expect(quarantined).to_contain_text(site.corrupt)
    expect(page.locator(".run-chart rect.bar")).to_have_count(3)
    shoot(page, "dashboard-failing-and-quarantined")
    page.screenshot(path=str(ARTIFACTS / "readme-dashboard.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 800})
    assert_accessible(page, "dashboard")

    # Fix the object, requeue it: the recorder receives its events.
    (site.events / site.corrupt).write_bytes(site.fixed)
    page.get_by_role("button", name=f"Requeue {site.corrupt}").click()
    expect(page.get_by_role("status").filter(has_text=f"Requeued {site.corrupt}")).to_contain_text("4 events delivered")
    expect(page.get_by_role("table").filter(has_text="Quarantined")).to_have_count(0)
    requeued = [r for r in records(redis) if r["batch"]["keys"] == [site.corrupt]]
    assert len(requeued) == 1 and requeued[0]["data"].count("\n") == 4

    # Replay everything of yesterday to the recorder; the progress bar reaches 100 %.
    before = len(records(redis))
    page.get_by_label("Subscriber", exact=True).select_option(RECORDER_NAME)
    page.get_by_label("Since (UTC day)").fill(day)
    page.get_by_role("button", name="Start replay").click()
    bar = page.get_by_role("progressbar", name="Replay progress")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("value", "100", timeout=90_000)  # the value property reflects the attribute
    expect(page.locator(".replay-percent")).to_have_text("100 %")
    expect(page.locator(".replay-message")).to_contain_text("Done:")
    shoot(page, "dashboard-replay-done")
    replayed = records(redis)[before:]
    all_files = {**site.files, site.corrupt: site.fixed}
    assert sum(r["data"].count("\n") for r in replayed) == valid_events(all_files)
    assert sorted({k for r in replayed for k in r["batch"]["keys"]}) == sorted(all_files)

    phone_pages(browser, context, site)
    context.close()


def phone_pages(browser: Browser, desktop: BrowserContext, site: Site) -> None:
    """The same pages at a phone's width: readable, no sideways scrolling, accessible."""
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, storage_state=desktop.storage_state())
    page = phone.new_page()
    for name, path in [
        ("phone-profile", "/wp-admin/profile.php"),
        ("phone-dashboard", "/wp-admin/admin.php?page=analytics-export"),
    ]:
        page.goto(site.base + path)
        expect(page.get_by_role("navigation", name="Main menu")).to_be_visible()
        shoot(page, name)
        assert_fits_phone(page, name)
        assert_accessible(page, name)
    anonymous = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    anonymous.goto(site.base + "/wp-login.php")
    shoot(anonymous, "phone-login")
    assert_fits_phone(anonymous, "phone-login")
    phone.close()
