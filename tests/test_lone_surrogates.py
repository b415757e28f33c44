"""Events whose strings hold an unpaired surrogate escape (issue 8, item 1).

``"title": "Great news \\ud83d"`` is a title a browser cut in the middle of an
emoji. RFC 8259 (section 8.2) allows such a string and Python's ``json`` reads
it; orjson refuses it. Every reader must keep the event: the endpoint (JSON
and NDJSON byte for byte, CSV as the standard library reads the text), the
catalog, and the export. Expected values come from ``json`` (the standard
library) reading the raw bytes, not from the service's readers.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import typing as t
from pathlib import Path

import pytest

import config
import hooks
import wsgi
from accounts import Accounts
from events import catalog
from events.sources import open_source
from jobs import export_hooks
from jobs.export import run_export
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX
from tests.integrations_fixtures.objects import Store, hour_ago
from wpjson import SUMMARIZED_HEADER

if t.TYPE_CHECKING:
    import redis as redis_lib

URL = f"/wp-json/analytics/v1/events/{data.DAY.isoformat()}"
KEY = "2026/11/25/09/analytics-1-2026-11-25-09-00-00-surr"
START = data._DAY_START_MS + 9 * data.HOUR_MS
#: The cut title, as stored: the escape is six ASCII bytes, valid JSON.
CUT = b'"Great news \\ud83d"'


def surrogate_object() -> bytes:
    """Three events of blog 1 on DAY; the second has the cut title, the third a
    lone low surrogate in a field name. One event of blog 2 after them."""
    lines = [
        data.event(900, START, 1),
        data.event(901, START + 1000, 1, {"title": "TITLE"}).replace(b'"TITLE"', CUT),
        data.event(902, START + 2000, 1, {"\\udc80name": "x"}).replace(b'"\\\\udc80name"', b'"\\udc80name"'),
        data.event(903, START + 3000, 2),
    ]
    return b"\n".join(lines) + b"\n"


def stdlib_events(raw: bytes, blog: str) -> list[tuple[bytes, dict[str, t.Any]]]:
    """(line, event) of ``blog``'s events, read by the standard library."""
    found = []
    for line in raw.splitlines():
        event = json.loads(line)
        if event["attributes"]["blogId"] == blog:
            found.append((line, event))
    return found


def test_the_fixture_is_what_orjson_refuses_and_json_reads() -> None:
    import orjson

    lines = surrogate_object().splitlines()
    for line in lines[1:3]:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(line)
    assert json.loads(lines[1])["attributes"]["title"] == "Great news \ud83d"
    assert "\udc80name" in json.loads(lines[2])["attributes"]


# ------------------------------------------------------------------ the endpoint


@pytest.fixture
def client(make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path) -> t.Any:
    data.write_local(tmp_path / "events", {KEY: surrogate_object()})
    settings = make_settings()
    accounts = Accounts(redis, TEST_PREFIX, settings.secret_key)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    app_client = wsgi.create_app(settings).test_client()
    app_client.environ_base["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    return app_client


@pytest.mark.parametrize("warmth", ["cold", "warm"])
def test_json_and_ndjson_keep_the_event_byte_for_byte(client: t.Any, warmth: str) -> None:
    if warmth == "warm":
        assert client.head(URL).headers[SUMMARIZED_HEADER] == "1"
    expected = [line for line, _ in stdlib_events(surrogate_object(), "1")]
    assert len(expected) == 3
    response = client.get(URL + "?format=json")
    assert response.headers["X-WP-Total"] == "3"
    assert response.data == b"[" + b",".join(expected) + b"]"
    assert CUT in response.data
    ndjson = client.get(URL + "?format=ndjson")
    assert ndjson.data == b"".join(line + b"\n" for line in expected)


def _stdlib_cell(value: str) -> str:
    """The documented CSV spelling of text: UTF-8, a lone surrogate as its JSON escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.mark.parametrize("warmth", ["cold", "warm"])
def test_csv_writes_the_text_as_json_reads_it_in_valid_utf8(client: t.Any, warmth: str) -> None:
    if warmth == "warm":
        client.head(URL)
    response = client.get(URL + "?format=csv")
    assert response.status_code == 200
    assert response.headers["X-WP-Total"] == "3"
    text = response.data.decode("utf-8")  # strict: the body is valid UTF-8
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    events = [event for _, event in stdlib_events(surrogate_object(), "1")]
    assert len(rows) == 1 + len(events)
    titles = [row[header.index("attributes.title")] for row in rows[1:]]
    assert titles == [_stdlib_cell(e["attributes"]["title"]) for e in events]
    assert titles[1] == "Great news \\ud83d"
    column = _stdlib_cell("attributes.\udc80name")
    assert column in header
    assert [row[header.index(column)] for row in rows[1:]] == ["", "", "x"]


# ------------------------------------------------------------------ the catalog


def test_the_catalog_counts_names_and_selects_the_lines(
    make_settings: t.Callable[..., config.Settings], redis: redis_lib.Redis, tmp_path: Path
) -> None:
    data.write_local(tmp_path / "events", {KEY: surrogate_object()})
    source = open_source(make_settings().source)
    summary = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)
    assert summary.count == 3
    assert "attributes.\udc80name" in summary.fields
    selector = summary.selector(KEY)
    assert selector is not None  # the object is still served without parsing
    lines = surrogate_object().splitlines()
    assert [line for line, take in zip(lines, selector, strict=False) if take] == [
        line for line, _ in stdlib_events(surrogate_object(), "1")
    ]
    again = catalog.day_summary(source, redis, TEST_PREFIX, data.DAY, 1, 2)  # read back from Redis
    assert again == summary


# ------------------------------------------------------------------ the export

delivered: list[str] = []


def bi_tool(data: str) -> None:
    delivered.append(data)


def test_the_export_delivers_the_raw_line_unchanged(
    redis: redis_lib.Redis, make_settings: t.Callable[..., config.Settings], tmp_path: Path
) -> None:
    delivered.clear()
    store = Store("local", root=tmp_path / "events")
    settings = make_settings(ANALYTICS_SOURCE=store.source_setting, ANALYTICS_EXPORT_START="beginning")
    raw = surrogate_object()
    store.put(hour_ago(1), "stream-1-surrogates", raw.splitlines())
    hooks.add_action(export_hooks.DATA_PROCESS, bi_tool)

    report = run_export(settings)

    assert report.invalid_lines == 0
    assert "".join(delivered) == raw.decode("ascii")  # every line as stored, in order
    assert CUT.decode() in delivered[0]


@pytest.mark.parametrize("warmth", ["cold", "warm"])
def test_parquet_keeps_the_event_with_the_text_csv_writes(client: t.Any, warmth: str) -> None:
    """Found by a fresh-eyes review: one such event broke the whole day's Parquet file."""
    import pyarrow.parquet as pq

    if warmth == "warm":
        client.head(URL)
    response = client.get(URL + "?format=parquet")
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.data))
    events = [event for _, event in stdlib_events(surrogate_object(), "1")]
    assert table.num_rows == len(events) == int(response.headers["X-WP-Total"])
    titles = table.column("attributes.title").to_pylist()
    assert titles == [_stdlib_cell(e["attributes"]["title"]) for e in events]
