"""A cached summary is only trusted for the bytes it summarized (issue 8,
item 0): an object replaced while its summary is cached must never make one
site's download serve another site's events.

The object below alternates blog 1 and blog 2 events; its replacement holds
the same events with each pair swapped, so the same size and the same line
count, but every line the summary selected for blog 2 now holds a blog-1 event.
"""

from __future__ import annotations

import base64
import typing as t
from pathlib import Path

import orjson
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
    from flask.testing import FlaskClient

SITES = "example.com=1,shop.example.com=2"
URL = f"/wp-json/analytics/v1/events/{data.DAY.isoformat()}"
MIXED = "2026/11/25/10/analytics-1-2026-11-25-10-20-00-mmmm"


def mixed_object(swapped: bool) -> bytes:
    """Eight events of blog 1 and eight of blog 2, alternating (``swapped``: blog 2 first)."""
    start = data._DAY_START_MS + 10 * data.HOUR_MS
    lines = []
    for pair in range(8):
        one = data.event(700 + 2 * pair, start + 2 * pair * 1000, 1)
        two = data.event(701 + 2 * pair, start + (2 * pair + 1) * 1000, 2)
        lines += [two, one] if swapped else [one, two]
    return b"\n".join(lines) + b"\n"


class Site(t.NamedTuple):
    client: FlaskClient
    files: dict[str, bytes]
    shop: dict[str, str]  # headers of a blog-2 download


def _site(settings: config.Settings, redis: redis_lib.Redis, files: dict[str, bytes]) -> Site:
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    return Site(wsgi.create_app(settings).test_client(), files, {"Authorization": auth, "Host": "shop.example.com"})


@pytest.fixture
def local_site(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path) -> Site:
    files = {**data.day_files(), MIXED: mixed_object(swapped=False)}
    data.write_local(tmp_path / "events", files)
    return _site(make_settings(ANALYTICS_SITES=SITES), redis, files)


@pytest.fixture
def s3_site(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, s3_bucket: t.Any) -> Site:
    files = {**data.day_files(), MIXED: mixed_object(swapped=False)}
    data.upload(s3_bucket, "fh/", files)
    return _site(make_settings(ANALYTICS_SITES=SITES, ANALYTICS_SOURCE=f"s3://{s3_bucket.name}/fh"), redis, files)


def _blog_ids(body: bytes, fmt: str) -> set[str]:
    events = orjson.loads(body) if fmt == "json" else [orjson.loads(line) for line in body.splitlines()]
    return {event["attributes"]["blogId"] for event in events}


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_a_local_object_replaced_keeping_size_and_mtime_is_summarized_again(
    local_site: Site, tmp_path: Path, fmt: str
) -> None:
    site = local_site
    warm = site.client.get(URL + f"?format={fmt}", headers=site.shop)
    assert warm.headers["X-WP-Total"] == str(len(data.expected_events(site.files, data.DAY, 2)))
    data.replace_like_rsync(tmp_path / "events" / MIXED, mixed_object(swapped=True))
    files = {**site.files, MIXED: mixed_object(swapped=True)}

    after = site.client.get(URL + f"?format={fmt}", headers=site.shop)
    expected = data.expected_events(files, data.DAY, 2)
    assert _blog_ids(after.data, fmt) == {"2"}
    assert after.data == (data.json_body(expected) if fmt == "json" else data.ndjson_body(expected))
    assert after.headers["X-WP-Total"] == str(len(expected))
    assert after.headers[SUMMARIZED_HEADER] == "1"  # the replaced object, nothing else


def _stream_replacing_midway(site: Site, fmt: str, replace: t.Callable[[], None]) -> tuple[bytes, str]:
    """A warm blog-2 download in chunks of one event; once the first chunk
    (from the first object) is out, the mixed object is replaced."""
    site.client.head(URL, headers=site.shop)  # warm
    response = site.client.get(URL + f"?format={fmt}&chunk_size=1", headers=site.shop, buffered=False)
    assert response.headers[SUMMARIZED_HEADER] == "0"
    pieces = iter(response.response)
    received = [next(pieces)]
    replace()
    received.extend(pieces)
    response.close()
    return b"".join(received), response.headers["X-WP-Total"]


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_a_local_object_replaced_during_a_warm_download_is_parsed_not_trusted(
    local_site: Site, tmp_path: Path, fmt: str
) -> None:
    site = local_site
    path = tmp_path / "events" / MIXED
    body, total = _stream_replacing_midway(site, fmt, lambda: data.replace_like_rsync(path, mixed_object(swapped=True)))
    _check_body(site, body, total, fmt)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_an_s3_object_replaced_during_a_warm_download_is_parsed_not_trusted(
    s3_site: Site, s3_bucket: t.Any, fmt: str
) -> None:
    site = s3_site

    def replace() -> None:
        s3_bucket.put_object(Key="fh/" + MIXED, Body=mixed_object(swapped=True))

    body, total = _stream_replacing_midway(site, fmt, replace)
    _check_body(site, body, total, fmt)


def _check_body(site: Site, body: bytes, total: str, fmt: str) -> None:
    files = {**site.files, MIXED: mixed_object(swapped=True)}
    expected = data.expected_events(files, data.DAY, 2)
    assert total == str(len(expected))  # same events, reordered: the same count
    if fmt == "csv":
        rows = data.parse_csv(body)
        blog = rows[0].index("attributes.blogId")
        assert {row[blog] for row in rows[1:]} == {"2"}
        assert rows[1:] == data.expected_csv(expected, rows[0])[1:]
        return
    assert _blog_ids(body, fmt) == {"2"}
    assert body == (data.json_body(expected) if fmt == "json" else data.ndjson_body(expected))


# ------------------------------------------------------------------ the sources and the catalog


def test_local_open_lines_refuses_another_version_checked_on_the_open_file(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    from events.sources import ObjectChangedError

    data.write_local(tmp_path / "events", {MIXED: mixed_object(swapped=False)})
    source = open_source(make_settings().source)
    before = source.stat(MIXED)
    with source.open_lines(MIXED, etag=before.etag) as lines:
        assert b"".join(lines) == mixed_object(swapped=False)
    data.replace_like_rsync(tmp_path / "events" / MIXED, mixed_object(swapped=True))
    after = source.stat(MIXED)
    assert (after.size, after.last_modified) == (before.size, before.last_modified)
    assert after.etag != before.etag  # the inode is part of a local ETag
    with pytest.raises(ObjectChangedError, match=MIXED), source.open_lines(MIXED, etag=before.etag):
        pass
    with source.open_lines(MIXED, etag=after.etag) as lines:
        assert b"".join(lines) == mixed_object(swapped=True)


def test_s3_open_lines_sends_if_match(make_settings: t.Callable[..., config.Settings], s3_bucket: t.Any) -> None:
    from events.sources import ObjectChangedError

    data.upload(s3_bucket, "fh/", {MIXED: mixed_object(swapped=False)})
    source = open_source(make_settings(ANALYTICS_SOURCE=f"s3://{s3_bucket.name}/fh").source)
    before = source.stat(MIXED)
    s3_bucket.put_object(Key="fh/" + MIXED, Body=mixed_object(swapped=True))
    with pytest.raises(ObjectChangedError, match=MIXED), source.open_lines(MIXED, etag=before.etag):
        pass
    with source.open_lines(MIXED, etag=source.stat(MIXED).etag) as lines:
        assert b"".join(lines) == mixed_object(swapped=True)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_summary_describes_the_version_it_read_not_the_one_listed(
    make_settings: t.Callable[..., config.Settings], tmp_path: Path, s3_endpoint: str, s3_bucket: t.Any, kind: str
) -> None:
    """An object replaced between the listing and its summary's read: the
    summary carries the identity of the bytes it counted, so it is not
    applied to the listed version's key."""
    if kind == "local":
        data.write_local(tmp_path / "events", {MIXED: mixed_object(swapped=False)})
        source = open_source(make_settings().source)
    else:
        data.upload(s3_bucket, "fh/", {MIXED: mixed_object(swapped=False)})
        source = open_source(make_settings(ANALYTICS_SOURCE=f"s3://{s3_bucket.name}/fh").source)
    listed = source.stat(MIXED)
    if kind == "local":
        data.replace_like_rsync(tmp_path / "events" / MIXED, mixed_object(swapped=True))
    else:
        s3_bucket.put_object(Key="fh/" + MIXED, Body=mixed_object(swapped=True))
    summary = catalog.summarize_object(source, listed)
    assert summary.etag == source.stat(MIXED).etag != listed.etag
