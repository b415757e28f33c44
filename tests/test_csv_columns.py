"""The CSV header is the site's columns of every day seen (issue 8, item 9).

The original's header came from its search index's field mappings of all
days, so a column seen on any day appears on every day, and a BI tool that
loads one file per day sees the same columns each time; an empty day still
has its header row. Expected headers come from an independent reading of the
raw files (``endpoint_data.expected_columns``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import typing as t
from pathlib import Path

import pandas
import pytest

import config
import wsgi
from accounts import Accounts
from events import catalog
from events.sources import open_source
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX
from wpjson import SUMMARIZED_HEADER

if t.TYPE_CHECKING:
    import redis as redis_lib

SITES = "example.com=1,shop.example.com=2,four.example.com=4"
OTHER_DAY = dt.date(2026, 11, 20)
EMPTY_DAY = dt.date(2026, 11, 22)
OTHER_KEY = "2026/11/20/08/analytics-1-2026-11-20-08-00-00-oooo"


def other_day_object() -> bytes:
    """Two events of blog 1 on OTHER_DAY with an attribute no event of DAY has."""
    start = int(dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC).timestamp() * 1000)
    lines = [data.event(800 + i, start + i, 1, {"only_on_the_20th": f"v{i}"}) for i in range(2)]
    return b"\n".join(lines) + b"\n"


class Site(t.NamedTuple):
    client: t.Any
    files: dict[str, bytes]
    auth: str


@pytest.fixture
def site(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path) -> Site:
    files = {**data.day_files(), OTHER_KEY: other_day_object()}
    data.write_local(tmp_path / "events", files)
    settings = make_settings(ANALYTICS_SITES=SITES)
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    return Site(wsgi.create_app(settings).test_client(), files, auth)


def csv_of(site: Site, day: dt.date, host: str = "example.com") -> t.Any:
    url = f"/wp-json/analytics/v1/events/{day.isoformat()}?format=csv"
    return site.client.get(url, headers={"Authorization": site.auth, "Host": host})


def test_every_day_has_the_columns_of_every_day_seen(site: Site) -> None:
    first = csv_of(site, OTHER_DAY)  # summarizes the 20th's objects only
    day_objects = {k: v for k, v in site.files.items() if k != OTHER_KEY}
    # Before DAY was summarized, the 20th has at least its own columns.
    header_20th = data.parse_csv(first.data)[0]
    assert header_20th == data.expected_columns({OTHER_KEY: other_day_object()}, 1)
    assert "attributes.only_on_the_20th" in header_20th

    day = csv_of(site, data.DAY)  # summarizes DAY's objects
    expected_header = data.expected_columns(site.files, 1)
    assert set(data.expected_columns(day_objects, 1)) < set(expected_header)  # the 20th adds a column
    rows = data.parse_csv(day.data)
    assert rows == data.expected_csv(data.expected_events(site.files, data.DAY, 1), expected_header)
    assert all(row[expected_header.index("attributes.only_on_the_20th")] == "" for row in rows[1:])

    again = csv_of(site, OTHER_DAY)
    assert again.headers[SUMMARIZED_HEADER] == "0"  # the header is not a second read of the day
    assert data.parse_csv(again.data) == data.expected_csv(
        data.expected_events(site.files, OTHER_DAY, 1), expected_header
    )


def test_an_empty_day_has_its_header_row_and_pandas_reads_it(site: Site) -> None:
    csv_of(site, data.DAY)
    csv_of(site, OTHER_DAY)
    empty = csv_of(site, EMPTY_DAY)
    assert empty.status_code == 200
    assert empty.headers["X-WP-Total"] == "0"
    expected_header = data.expected_columns(site.files, 1)
    assert data.parse_csv(empty.data) == [expected_header]
    frame = pandas.read_csv(io.BytesIO(empty.data))
    assert list(frame.columns) == expected_header and len(frame) == 0
    day = pandas.read_csv(io.BytesIO(csv_of(site, data.DAY).data), dtype=str, keep_default_na=False)
    assert list(day.columns) == list(frame.columns)


def test_columns_are_per_site(site: Site) -> None:
    csv_of(site, data.DAY)
    csv_of(site, OTHER_DAY)
    shop = data.parse_csv(csv_of(site, EMPTY_DAY, "shop.example.com").data)
    assert shop == [data.expected_columns(site.files, 2)]
    assert "attributes.only_on_the_20th" not in shop[0] and "attributes.flag" not in shop[0]


def test_a_site_with_no_event_ever_gets_an_empty_body(site: Site) -> None:
    csv_of(site, data.DAY)
    for day in (data.DAY, EMPTY_DAY):
        response = csv_of(site, day, "four.example.com")
        assert response.status_code == 200
        assert response.headers["X-WP-Total"] == "0"
        assert response.data == b""


def test_the_column_set_lives_in_the_catalog_under_the_prefix(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    files = {**data.day_files(), OTHER_KEY: other_day_object()}
    data.write_local(tmp_path / "events", files)
    settings = make_settings()
    assert catalog.site_columns(redis, TEST_PREFIX, 1) == frozenset()
    catalog.warm_days(settings, [OTHER_DAY])  # the scheduler's warm-up fills it too
    assert catalog.site_columns(redis, TEST_PREFIX, 1) == set(data.expected_columns({OTHER_KEY: files[OTHER_KEY]}, 1))
    summary = catalog.day_summary(open_source(settings.source), redis, TEST_PREFIX, data.DAY, 1, 2)
    assert summary.columns == tuple(data.expected_columns(files, 1))
    assert summary.fields == tuple(data.expected_csv(data.expected_events(files, data.DAY, 1))[0])
    assert all(key.startswith(TEST_PREFIX.encode()) for key in redis.keys("*"))
    # A blogId that no site can have (not how an integer is written) gets no column set.
    column_sets = catalog.columns_key(TEST_PREFIX, "").encode()
    assert not [key for key in redis.keys("*") if key.startswith(column_sets) and not key[len(column_sets) :].isdigit()]
