"""Issue 14 end to end: real gunicorn, real curl, a local directory and S3 over
HTTP (moto's server). Field selection, event filters, Parquet, the BOM,
resumable downloads and the manifest, each checked against an independent
reading of the files (``tests/endpoint_data.py`` and the few lines below),
never against the service's own code."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import http.client
import io
import json
import subprocess
import typing as t
import urllib.parse
from pathlib import Path

import boto3
import orjson
import pytest

from tests import endpoint_data as data
from tests import test_endpoint_e2e
from tests.test_endpoint_e2e import Server, Users, curl, start_gunicorn, stop

users = test_endpoint_e2e.users  # the endpoint tests' fixture: an admin and an editor with application passwords

DATE = data.DAY.isoformat()
START = data._DAY_START_MS
S3_BUCKET = "pull-api-e2e-events"
S3_PREFIX = "firehose/"
#: An object added in the middle of the tests that change the day (removed after).
ADDED = "2026/11/25/05/analytics-1-2026-11-25-05-10-00-zzzz"


def typed_event(n: int, ts: int, blog: int, event_type: str, metrics: dict[str, t.Any] | None = None) -> bytes:
    event = orjson.loads(data.event(n, ts, blog))
    event["event_type"] = event_type
    if metrics is not None:
        event["metrics"] = metrics
    return orjson.dumps(event)


def pull_files() -> dict[str, bytes]:
    """The endpoint tests' objects, plus one of page views and clicks around
    07:00-08:15 with number metrics: ``metrics.ratio`` a float in one event and
    an integer in another (a DOUBLE column), ``metrics.mixed`` a number here
    and text there (a text column)."""
    files = data.day_files()
    h7 = START + 7 * data.HOUR_MS
    lines = [
        typed_event(900, h7 + 5 * 60_000, 1, "pageView", {"elapsed": 12, "ratio": 0.25, "mixed": 3}),
        typed_event(901, h7 + 6 * 60_000, 1, "click", {"elapsed": 7, "ratio": 2, "mixed": "three"}),
        typed_event(902, h7 + 59 * 60_000 + 59_999, 1, "click", {"elapsed": 1}),
        typed_event(903, h7 + 75 * 60_000, 1, "pageView", {"elapsed": 40, "ratio": 1.5}),
        typed_event(904, h7 + 10 * 60_000, 2, "pageView", {"elapsed": 3}),
    ] + [typed_event(910 + i, h7 + 20 * 60_000 + i, 1, "pageView", {"elapsed": i}) for i in range(60)]
    files["2026/11/25/07/analytics-1-2026-11-25-07-30-00-pppp"] = b"\n".join(lines) + b"\n"
    return files


@pytest.fixture(scope="module")
def pull_local(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    tmp = tmp_path_factory.mktemp("pull-local")
    files = pull_files()
    data.write_local(tmp / "events", files)
    base, proc = start_gunicorn(tmp / "gunicorn.log", {"ANALYTICS_SOURCE": str(tmp / "events")})
    yield Server(base, proc, tmp / "gunicorn.log", files)
    stop(proc)


@pytest.fixture(scope="module")
def pull_s3(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    tmp = tmp_path_factory.mktemp("pull-s3")
    yield from test_endpoint_e2e.serve_from_s3(s3_endpoint, tmp, pull_files(), S3_BUCKET, S3_PREFIX)


@pytest.fixture(params=["local", "s3"])
def pull(request: pytest.FixtureRequest) -> Server:
    return t.cast(Server, request.getfixturevalue(f"pull_{request.param}"))


def _url(server: Server, query: str = "", suffix: str = "") -> str:
    return f"{server.base}/wp-json/analytics/v1/events/{DATE}{suffix}" + (f"?{query}" if query else "")


def _put(server: Server, key: str, body: bytes | None) -> None:
    """Add (or with None remove) an object in the server's store."""
    if server.base and "pull-s3" in str(server.log):
        bucket = boto3.resource("s3").Bucket(S3_BUCKET)
        if body is None:
            bucket.Object(S3_PREFIX + key).delete()
        else:
            bucket.put_object(Key=S3_PREFIX + key, Body=body)
        return
    path = server.log.parent / "events" / key
    if body is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


# ------------------------------------------------------------------ the independent reading


def day_events(files: t.Mapping[str, bytes]) -> list[tuple[bytes, dict[str, t.Any]]]:
    return [(raw, orjson.loads(raw)) for raw in data.expected_events(files, data.DAY, 1)]


def minute_of(event: dict[str, t.Any]) -> int:
    return int((event["event_timestamp"] - START) // 60_000)


def pluck(event: dict[str, t.Any], paths: t.Sequence[str]) -> dict[str, t.Any]:
    """The event holding only ``paths`` (dotted), each copied where it exists
    (a parent that exists is kept, even when none of its wanted children does)."""
    out: dict[str, t.Any] = {}
    for path in paths:
        *parents, last = path.split(".")
        source, target = event, out
        for part in parents:
            if not isinstance(source.get(part), dict):
                break
            source = source[part]
            target = target.setdefault(part, {})
        else:
            if last in source:
                target[last] = source[last]
    return out


def columns_of(paths: t.Sequence[str], all_columns: t.Sequence[str]) -> list[str]:
    return [c for c in all_columns if any(c == p or c.startswith(p + ".") for p in paths)]


class Case(t.NamedTuple):
    query: str
    types: frozenset[str] | None = None
    minutes: tuple[int, int] = (0, 1440)
    paths: tuple[str, ...] | None = None

    def keeps(self, event: dict[str, t.Any]) -> bool:
        in_time = self.minutes[0] <= minute_of(event) < self.minutes[1]
        return in_time and (self.types is None or event.get("event_type") in self.types)


FIELDS = ("event_type", "attributes.title", "endpoint.Demographic.Model", "metrics", "nope.nothing")
CASES = [
    Case("_fields=" + ",".join(FIELDS), paths=FIELDS),
    Case("event_type=pageView,click", types=frozenset({"pageView", "click"})),
    Case("event_type[]=_session.start", types=frozenset({"_session.start"})),
    Case("hour=7", minutes=(7 * 60, 8 * 60)),
    Case("from=12:58&to=13:00", minutes=(12 * 60 + 58, 13 * 60)),
    Case("from=23:00", minutes=(23 * 60, 1440)),
    Case(
        "event_type=pageView&from=07:00&to=24:00&_fields=event_type,metrics.ratio,attributes.url",
        types=frozenset({"pageView"}),
        minutes=(7 * 60, 1440),
        paths=("event_type", "metrics.ratio", "attributes.url"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.query for c in CASES])
def test_each_selection_alone_and_combined(pull: Server, users: Users, tmp_path: Path, case: Case) -> None:
    wanted = [(raw, event) for raw, event in day_events(pull.files) if case.keeps(event)]
    assert wanted, "a case must keep some events to mean anything"
    for fmt in ("json", "ndjson", "csv"):
        got = curl(_url(pull, f"{case.query}&format={fmt}&chunk_size=7"), "-u", users.admin, tmp=tmp_path)
        assert (got.exit_code, got.status) == (0, 200), got.body[:300]
        assert got.headers["x-wp-total"] == str(len(wanted)), fmt
        if fmt == "csv":
            all_columns = data.expected_columns(pull.files, 1)
            header = all_columns if case.paths is None else columns_of(case.paths, all_columns)
            assert data.parse_csv(got.body) == data.expected_csv([raw for raw, _ in wanted], header)
            continue
        events = orjson.loads(got.body) if fmt == "json" else [orjson.loads(line) for line in got.body.splitlines()]
        if case.paths is None:  # whole events: the stored bytes exactly
            raws = [raw for raw, _ in wanted]
            assert got.body == (data.json_body(raws) if fmt == "json" else data.ndjson_body(raws))
        else:
            assert events == [pluck(event, case.paths) for _, event in wanted]
            assert all("nope" not in event for event in events)


def test_parquet_read_back_by_duckdb_and_pandas_equals_the_csv(pull: Server, users: Users, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    pandas = pytest.importorskip("pandas")
    for query in ("", "event_type=pageView,click&_fields=event_type,event_timestamp,metrics,attributes.title"):
        csv_got = curl(_url(pull, query + "&format=csv"), "-u", users.admin, tmp=tmp_path)
        rows = data.parse_csv(csv_got.body)
        got = curl(_url(pull, query + "&format=parquet&chunk_size=5"), "-u", users.admin, tmp=tmp_path)
        assert (got.status, got.headers["content-type"]) == (200, "application/vnd.apache.parquet")
        assert got.headers["content-disposition"] == f"attachment; filename={DATE}.parquet"
        assert got.headers["x-wp-total"] == csv_got.headers["x-wp-total"] == str(len(rows) - 1)
        path = tmp_path / "day.parquet"
        path.write_bytes(got.body)

        relation = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
        assert relation.columns == rows[0]
        types = dict(zip(relation.columns, (str(kind) for kind in relation.types), strict=True))
        assert types["metrics.elapsed"] == "BIGINT"
        assert types["metrics.ratio"] == "DOUBLE"  # 0.25, 2 and 1.5
        assert types["metrics.mixed"] == "VARCHAR"  # 3 and "three"
        assert types["attributes.title"] == "VARCHAR"
        duck_rows = relation.fetchall()
        frame = pandas.read_parquet(path)
        assert list(frame.columns) == rows[0]
        pandas_rows = [[None if pandas.isna(v) else v for v in row] for row in frame.itertuples(index=False)]
        for back in (duck_rows, pandas_rows):
            assert len(back) == len(rows) - 1
            for csv_row, parquet_row in zip(rows[1:], back, strict=True):
                for name, cell, value in zip(rows[0], csv_row, parquet_row, strict=True):
                    if value is None:
                        assert cell == "", name
                    elif isinstance(value, str):
                        assert value == cell, name
                    else:
                        assert float(cell) == value, name


def test_fields_naming_no_existing_field(pull_local: Server, users: Users, tmp_path: Path) -> None:
    """Unknown fields are simply absent (WordPress): every event is ``{}`` in
    JSON and NDJSON; a CSV without any column is empty (no header, no blank
    line per event, no BOM); X-WP-Total still counts the events. Parquet
    answers 400 (a file of no column is not one BI tools read)."""
    total = str(len(day_events(pull_local.files)))
    query = "_fields=nope,nothing.here"
    for fmt, body in (("json", b"[" + b",".join([b"{}"] * int(total)) + b"]"), ("ndjson", b"{}\n" * int(total))):
        got = curl(_url(pull_local, f"{query}&format={fmt}"), "-u", users.admin, tmp=tmp_path)
        assert (got.status, got.headers["x-wp-total"], got.body) == (200, total, body)
    for extra in ("", "&csv_bom=1"):
        got = curl(_url(pull_local, f"{query}&format=csv{extra}"), "-u", users.admin, tmp=tmp_path)
        assert (got.status, got.headers["x-wp-total"], got.body) == (200, total, b"")
    # A Parquet file needs a column (DuckDB and Spark refuse one without): a WordPress error instead.
    got = curl(_url(pull_local, f"{query}&format=parquet"), "-u", users.admin, tmp=tmp_path)
    error = json.loads(got.body)
    assert (got.status, error["code"], error["data"]["status"]) == (400, "rest_invalid_param", 400)
    assert "_fields" in error["data"]["params"] and "Parquet" in error["data"]["params"]["_fields"]


def test_csv_bom_for_excel(pull: Server, users: Users, tmp_path: Path) -> None:
    plain = curl(_url(pull, "format=csv"), "-u", users.admin, tmp=tmp_path)
    bom = curl(_url(pull, "format=csv&csv_bom=1"), "-u", users.admin, tmp=tmp_path)
    assert bom.body == b"\xef\xbb\xbf" + plain.body
    assert bom.body.decode("utf-8-sig") == plain.body.decode("utf-8")
    # Only CSV gets one.
    assert curl(_url(pull, "format=ndjson&csv_bom=1"), "-u", users.admin, tmp=tmp_path).body[:1] == b"{"


# ------------------------------------------------------------------ resumable downloads


def _curl_resume(url: str, target: Path, *args: str) -> tuple[int, int]:
    """``curl -C -`` appending to ``target``; curl's exit code and the status it got."""
    head = target.with_suffix(".headers")
    done = subprocess.run(
        ["curl", "-sS", "-C", "-", "-D", str(head), "-o", str(target), *args, url],
        capture_output=True,
        timeout=60,
        check=False,
    )
    status = head.read_bytes().split(b"\r\n")[0].split()[1] if head.exists() else b"0"
    return done.returncode, int(status)


@pytest.mark.parametrize("query", ["format=ndjson", "format=csv", "", "format=csv&_fields=attributes,event_type"])
def test_curl_resumes_a_cut_download_to_the_identical_body(
    pull: Server, users: Users, tmp_path: Path, query: str
) -> None:
    full = curl(_url(pull, query), "-u", users.admin, tmp=tmp_path)
    assert full.status == 200 and full.headers["accept-ranges"] == "bytes"
    assert full.headers["etag"].startswith('"') and len(full.body) > 1000
    for cut in (1, len(full.body) // 2, len(full.body) - 1):
        target = tmp_path / f"resumed-{cut}"
        target.write_bytes(full.body[:cut])
        code, status = _curl_resume(_url(pull, query), target, "-u", users.admin)
        assert (code, status) == (0, 206), cut
        assert target.read_bytes() == full.body, cut
        # The same with the ETag as If-Range, as download managers send it.
        target.write_bytes(full.body[:cut])
        code, status = _curl_resume(
            _url(pull, query), target, "-u", users.admin, "-H", f"If-Range: {full.headers['etag']}"
        )
        assert (code, status) == (0, 206), cut
        assert target.read_bytes() == full.body, cut
    # Already complete: 416 with the length, and curl leaves the file as it is.
    target = tmp_path / "complete"
    target.write_bytes(full.body)
    code, status = _curl_resume(_url(pull, query), target, "-u", users.admin)
    assert status == 416 and target.read_bytes() == full.body


def test_a_transfer_really_cut_resumes_identically(pull: Server, users: Users, tmp_path: Path) -> None:
    """A client that reads part of a streamed body and drops the connection,
    then ``curl -C -`` on what it saved."""
    url = _url(pull, "format=csv&chunk_size=3")
    full = curl(url, "-u", users.admin, tmp=tmp_path)
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request("GET", f"{parsed.path}?{parsed.query}", headers=_authorization(users.admin))
    response = conn.getresponse()
    saved = response.read(len(full.body) // 3)
    response.close()  # the connection breaks mid-transfer (the response holds it: gunicorn sends Connection: close)
    conn.close()
    target = tmp_path / "cut.csv"
    target.write_bytes(saved)
    assert 0 < len(saved) < len(full.body)
    code, status = _curl_resume(url, target, "-u", users.admin)
    assert (code, status) == (0, 206)
    assert target.read_bytes() == full.body


def _authorization(login_password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(login_password.encode()).decode()}


def test_a_day_changed_between_the_halves_is_not_spliced(pull: Server, users: Users, tmp_path: Path) -> None:
    url = _url(pull, "format=ndjson")
    before = curl(url, "-u", users.admin, tmp=tmp_path)
    added = typed_event(990, START + 5 * data.HOUR_MS, 1, "click")
    _put(pull, ADDED, added + b"\n")
    try:
        after = curl(url, "-u", users.admin, tmp=tmp_path)
        assert after.headers["etag"] != before.headers["etag"]
        assert after.body == data.ndjson_body(data.expected_events({**pull.files, ADDED: added + b"\n"}, data.DAY, 1))
        half = len(before.body) // 2
        # With the first half's ETag as If-Range: the whole new body, 200, never a splice.
        target = tmp_path / "half.ndjson"
        target.write_bytes(before.body[:half])
        code, status = _curl_resume(url, target, "-u", users.admin, "-H", f"If-Range: {before.headers['etag']}")
        assert (status, code) == (200, 33)  # curl: "server does not support byte ranges", nothing appended
        assert target.read_bytes() == before.body[:half]
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        conn.request(
            "GET",
            f"{parsed.path}?{parsed.query}",
            headers={**_authorization(users.admin), "Range": f"bytes={half}-", "If-Range": before.headers["etag"]},
        )
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, after.body)
        assert response.getheader("ETag") == after.headers["etag"]
        conn.close()
    finally:
        _put(pull, ADDED, None)


@pytest.mark.parametrize("query", ["format=ndjson", "format=csv&_fields=attributes,event_type&chunk_size=5"])
def test_a_gzip_download_resumes_decoded_or_coded(pull: Server, users: Users, tmp_path: Path, query: str) -> None:
    """``curl --compressed`` saves the decoded body and resumes it by its length;
    a client that keeps the gzip bytes resumes them with the gzip ``ETag`` as
    ``If-Range`` (RFC 9110: a range of that representation). Both end with
    the uncut body."""
    url = _url(pull, query)
    plain = curl(url, "-u", users.admin, tmp=tmp_path).body
    decoded = curl(url, "--compressed", "-u", users.admin, tmp=tmp_path)
    assert (decoded.headers["content-encoding"], decoded.body) == ("gzip", plain)
    half = len(plain) // 2
    target = tmp_path / "decoded"
    target.write_bytes(plain[:half])
    assert _curl_resume(url, target, "--compressed", "-u", users.admin) == (0, 206)
    assert target.read_bytes() == plain
    coded = curl(url, "-H", "Accept-Encoding: gzip", "-u", users.admin, tmp=tmp_path)
    etag = coded.headers["etag"]
    assert etag.endswith('-gzip"') and gzip.decompress(coded.body) == plain
    for cut in (1, len(coded.body) // 2, len(coded.body) - 1):
        target = tmp_path / f"coded-{cut}"
        target.write_bytes(coded.body[:cut])
        got = _curl_resume(url, target, "-H", "Accept-Encoding: gzip", "-H", f"If-Range: {etag}", "-u", users.admin)
        assert got == (0, 206), cut
        assert target.read_bytes() == coded.body, cut
        headers = target.with_suffix(".headers").read_bytes().decode().lower()
        assert "content-encoding: gzip" in headers and f"/{len(coded.body)}\r\n" in headers
    # The day changes: the old gzip ETag gets the whole new body, never a splice.
    added = typed_event(992, START + 5 * data.HOUR_MS, 1, "pageView")
    _put(pull, ADDED, added + b"\n")
    try:
        target = tmp_path / "coded-changed"
        target.write_bytes(coded.body[:half])
        got = _curl_resume(url, target, "-H", "Accept-Encoding: gzip", "-H", f"If-Range: {etag}", "-u", users.admin)
        assert got == (33, 200) and target.read_bytes() == coded.body[:half]
        parsed = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        sent = {"Range": f"bytes={half}-", "If-Range": etag, "Accept-Encoding": "gzip"}
        conn.request("GET", f"{parsed.path}?{parsed.query}", headers={**_authorization(users.admin), **sent})
        response = conn.getresponse()
        whole = gzip.decompress(response.read())
        assert response.status == 200 and response.getheader("ETag") not in (etag, None)
        conn.close()
        assert whole == curl(url, "-u", users.admin, tmp=tmp_path).body != plain
    finally:
        _put(pull, ADDED, None)


# ------------------------------------------------------------------ lengths, manifest, errors


def test_content_length_when_known(pull: Server, users: Users, tmp_path: Path) -> None:
    expected = data.expected_events(pull.files, data.DAY, 1)
    for query, body in (("", data.json_body(expected)), ("format=ndjson", data.ndjson_body(expected))):
        for _ in range(2):  # cold, then warm
            got = curl(_url(pull, query), "-u", users.admin, tmp=tmp_path)
            assert got.body == body
            assert got.headers["content-length"] == str(len(body))
            assert "transfer-encoding" not in got.headers
        head = curl(_url(pull, query), "-I", "-u", users.admin, tmp=tmp_path)
        assert head.headers["content-length"] == str(len(body))
    filtered = [raw for raw, event in day_events(pull.files) if event["event_type"] == "click"]
    got = curl(_url(pull, "format=ndjson&event_type=click"), "-u", users.admin, tmp=tmp_path)
    assert got.body == data.ndjson_body(filtered) and got.headers["content-length"] == str(len(got.body))
    gzipped = curl(_url(pull, "format=ndjson"), "-H", "Accept-Encoding: gzip", "-u", users.admin, tmp=tmp_path)
    assert "content-length" not in gzipped.headers and gzip.decompress(gzipped.body) == data.ndjson_body(expected)
    assert gzipped.headers["etag"].endswith('-gzip"')


def _independent_manifest(files: t.Mapping[str, bytes]) -> dict[str, t.Any]:
    """Counts read straight from the files of the day's window (the hour before, the day, 2 late hours)."""
    window = {
        (dt.datetime(2026, 11, 25, tzinfo=dt.UTC) + dt.timedelta(hours=h)).strftime("%Y/%m/%d/%H/")
        for h in range(-1, 26)
    }
    objects = {}
    hours = {f"{h:02d}": 0 for h in range(24)}
    types: dict[str, int] = {}
    for key in sorted(files):
        if key[:14] not in window:
            continue
        mine = data.expected_events({key: files[key]}, data.DAY, 1)
        raw = files[key]
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        invalid = []
        for number, line in enumerate(text.split(b"\n"), 1):
            if line.strip():
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    invalid.append(number)
        objects[key] = (len(mine), invalid)
        for line in mine:
            event = orjson.loads(line)
            hours[f"{minute_of(event) // 60:02d}"] += 1
            types[event["event_type"]] = types.get(event["event_type"], 0) + 1
    return {"objects": objects, "hours": hours, "types": types}


def test_the_manifest_counts_equal_the_files(pull: Server, users: Users, tmp_path: Path) -> None:
    url = _url(pull, suffix="/manifest")
    got = curl(url, "-u", users.admin, tmp=tmp_path)
    assert (got.status, got.headers["content-type"]) == (200, "application/json; charset=UTF-8")
    manifest = orjson.loads(got.body)
    expected = _independent_manifest(pull.files)
    total = len(data.expected_events(pull.files, data.DAY, 1))
    assert (manifest["day"], manifest["site"], manifest["total"]) == (DATE, 1, total)
    assert manifest["hours"] == expected["hours"]
    assert manifest["event_types"] == expected["types"] and manifest["events_without_event_type"] == 0
    assert {o["key"]: (o["events"], o["invalid_line_numbers"]) for o in manifest["objects"]} == expected["objects"]
    assert all(o["invalid_lines"] == len(o["invalid_line_numbers"]) and o["complete"] for o in manifest["objects"])
    assert sum(o["events"] for o in manifest["objects"]) == total
    late = "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee"
    assert manifest["late_objects"] == [{"key": late, "events": expected["objects"][late][0]}]
    sizes = {o["key"]: o["size"] for o in manifest["objects"]}
    assert all(sizes[key] == len(pull.files[key]) for key in sizes)
    events = curl(_url(pull, "format=ndjson"), "-u", users.admin, tmp=tmp_path)
    assert events.headers["x-wp-total"] == str(manifest["total"])
    assert events.headers["etag"].startswith('"' + manifest["digest"].removeprefix("sha256:"))
    # The digest changes with the day.
    _put(pull, ADDED, typed_event(991, START + 5 * data.HOUR_MS, 2, "click") + b"\n")
    try:
        assert orjson.loads(curl(url, "-u", users.admin, tmp=tmp_path).body)["digest"] != manifest["digest"]
    finally:
        _put(pull, ADDED, None)
    assert orjson.loads(curl(url, "-u", users.admin, tmp=tmp_path).body)["digest"] == manifest["digest"]
    # Same auth as the events.
    assert curl(url, tmp=tmp_path).status == 401
    assert curl(url, "-u", users.editor, tmp=tmp_path).status == 403


FILTERS = [c for c in CASES if c.paths is None] + [
    Case("event_type=pageView&from=07:00&to=24:00", types=frozenset({"pageView"}), minutes=(7 * 60, 1440))
]


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@pytest.mark.parametrize("case", FILTERS, ids=[c.query for c in FILTERS])
def test_the_manifest_counts_only_the_filtered_events(pull: Server, users: Users, tmp_path: Path, case: Case) -> None:
    got = curl(_url(pull, case.query, "/manifest"), "-g", "-u", users.admin, tmp=tmp_path)
    assert got.status == 200, got.body[:300]
    manifest = orjson.loads(got.body)
    day = _independent_manifest(pull.files)
    kept = {}
    for key, (_events, invalid) in day["objects"].items():
        events = [orjson.loads(raw) for raw in data.expected_events({key: pull.files[key]}, data.DAY, 1)]
        kept[key] = ([e for e in events if case.keeps(e)], invalid)
    wanted = [event for events, _ in kept.values() for event in events]
    assert manifest["total"] == len(wanted) > 0
    hours = {f"{h:02d}": sum(1 for e in wanted if minute_of(e) // 60 == h) for h in range(24)}
    assert manifest["hours"] == hours
    types = sorted({e["event_type"] for e in wanted})
    assert manifest["event_types"] == {name: sum(1 for e in wanted if e["event_type"] == name) for name in types}
    objects = {o["key"]: (o["events"], o["invalid_line_numbers"]) for o in manifest["objects"]}
    assert objects == {key: (len(events), invalid) for key, (events, invalid) in kept.items()}
    late = "2026/11/26/01/analytics-1-2026-11-26-01-15-00-eeee"
    assert manifest["late_objects"] == ([{"key": late, "events": len(kept[late][0])}] if kept[late][0] else [])
    assert manifest["filters"] == {
        "event_type": None if case.types is None else sorted(case.types),
        "from": _clock(case.minutes[0]),
        "to": _clock(case.minutes[1]),
    }
    # The same filters on the events: the same total; the digest is the day's, filtered or not.
    events = curl(_url(pull, case.query + "&format=ndjson"), "-g", "-u", users.admin, tmp=tmp_path)
    assert events.headers["x-wp-total"] == str(manifest["total"])
    whole = orjson.loads(curl(_url(pull, suffix="/manifest"), "-u", users.admin, tmp=tmp_path).body)
    assert manifest["digest"] == whole["digest"]
    assert whole["filters"] == {"event_type": None, "from": "00:00", "to": "24:00"}


def test_fields_applies_to_the_manifest(pull_local: Server, users: Users, tmp_path: Path) -> None:
    """WordPress applies ``_fields`` to any route's JSON; unknown fields are absent."""
    hour7 = sum(1 for _, event in day_events(pull_local.files) if minute_of(event) // 60 == 7)
    got = curl(_url(pull_local, "hour=7&_fields=total,hours.07,nope", "/manifest"), "-u", users.admin, tmp=tmp_path)
    assert (got.status, orjson.loads(got.body)) == (200, {"total": hour7, "hours": {"07": hour7}})
    got = curl(_url(pull_local, "_fields=nothing.here", "/manifest"), "-u", users.admin, tmp=tmp_path)
    assert (got.status, orjson.loads(got.body)) == (200, {})


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("hour=24", "hour"),
        ("hour=7.5", "hour"),
        ("hour=7&from=07:00", "hour"),
        ("from=7", "from"),
        ("to=24:01", "to"),
        ("from=10:00&to=09:00", "to"),
        ("csv_bom=maybe", "csv_bom"),
        ("event_type[a][b]=x", "event_type"),
        ("format=parquet2", "format"),
    ],
)
def test_bad_selections_are_rest_invalid_param(
    pull_local: Server, users: Users, tmp_path: Path, query: str, param: str
) -> None:
    got = curl(_url(pull_local, query), "-g", "-u", users.admin, tmp=tmp_path)
    body = orjson.loads(got.body)
    assert (got.status, body["code"], list(body["data"]["params"])) == (400, "rest_invalid_param", [param])


def test_a_range_past_the_end_is_416_in_wordpress_shape(pull_local: Server, users: Users, tmp_path: Path) -> None:
    full = curl(_url(pull_local, "format=csv"), "-u", users.admin, tmp=tmp_path)
    got = curl(_url(pull_local, "format=csv"), "-H", f"Range: bytes={len(full.body)}-", "-u", users.admin, tmp=tmp_path)
    assert got.status == 416
    assert got.headers["content-range"] == f"bytes */{len(full.body)}"
    assert orjson.loads(got.body)["code"] == "rest_range_not_satisfiable"
    part = curl(_url(pull_local, "format=csv"), "-H", "Range: bytes=10-19", "-u", users.admin, tmp=tmp_path)
    assert (part.status, part.body) == (206, full.body[10:20])
    assert part.headers["content-range"] == f"bytes 10-19/{len(full.body)}"
    tail = curl(_url(pull_local, "format=csv"), "-H", "Range: bytes=-5", "-u", users.admin, tmp=tmp_path)
    assert (tail.status, tail.body) == (206, full.body[-5:])
    several = curl(_url(pull_local, "format=csv"), "-H", "Range: bytes=0-1,5-6", "-u", users.admin, tmp=tmp_path)
    assert (several.status, several.body) == (200, full.body)  # a list of ranges is not honoured: the whole body
    assert io.BytesIO(full.body).read(3) != b"\xef\xbb\xbf"
    assert "Traceback" not in pull_local.log.read_text()


@pytest.fixture(scope="module")
def damaged_s3(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    """The endpoint tests' objects and ``data.DAMAGED`` (gzip cut in half) in S3, served by gunicorn."""
    files = {**data.day_files(), data.DAMAGED: data.damaged_object()[0]}
    yield from test_endpoint_e2e.serve_from_s3(
        s3_endpoint, tmp_path_factory.mktemp("damaged-s3"), files, "pull-api-e2e-damaged", S3_PREFIX
    )


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_a_damaged_s3_object_serves_its_events_up_to_the_damage_through_curl(
    damaged_s3: Server, users: Users, tmp_path: Path, fmt: str
) -> None:
    # README: "complete is false for a damaged gzip object (its events up to the damage are counted and
    # served)": curl gets every one of them, whole (exit 0), plain, --compressed, enveloped or resumed.
    complete_lines = data.damaged_object()[1]
    expected = data.expected_events({**data.day_files(), data.DAMAGED: complete_lines}, data.DAY, 1)
    body = data.json_body(expected) if fmt == "json" else data.ndjson_body(expected)
    url = _url(damaged_s3, f"format={fmt}")
    plain = curl(url, "-u", users.admin, tmp=tmp_path)
    assert (plain.exit_code, plain.status, plain.body) == (0, 200, body)
    assert plain.headers["x-wp-total"] == str(len(expected))
    coded = curl(url, "--compressed", "-u", users.admin, tmp=tmp_path)
    assert (coded.exit_code, coded.headers["content-encoding"], coded.body) == (0, "gzip", body)
    enveloped = curl(url + "&_envelope", "-u", users.admin, tmp=tmp_path)
    inner = orjson.loads(enveloped.body)["body"]
    assert enveloped.exit_code == 0 and inner == (orjson.loads(body) if fmt == "json" else body.decode())
    half = len(body) // 2
    ranged = curl(url, "-H", f"Range: bytes={half}-", "-u", users.admin, tmp=tmp_path)
    assert (ranged.exit_code, ranged.status, ranged.body) == (0, 206, body[half:])
    assert "Traceback" not in damaged_s3.log.read_text()
