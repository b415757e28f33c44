"""The events endpoint end to end: real gunicorn (gthread worker) serving
``wsgi:app``, real ``curl`` running the documented command, bodies compared
with an independent reading of the files, for a local directory and for S3
over HTTP (moto's server); plus unreachable backends, a client that goes
away, a failure mid-stream, and flat memory on a day ten times larger."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import http.client
import io
import os
import subprocess
import time
import typing as t
import zlib
from pathlib import Path

import boto3
import orjson
import psutil
import pytest

from accounts import Accounts
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL, aws_env, free_port

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
SECRET = "e2e-secret"
SITES = "127.0.0.1=1,localhost=2"
DATE = data.DAY.isoformat()
S3_BUCKET = "endpoint-e2e-events"
S3_PREFIX = "firehose/"


class Server(t.NamedTuple):
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    files: dict[str, bytes]

    @property
    def worker(self) -> psutil.Process:
        return psutil.Process(self.proc.pid).children()[0]


def start_gunicorn(
    log: Path, env: t.Mapping[str, str], threads: int = 4, workers: int = 1
) -> tuple[str, subprocess.Popen[bytes]]:
    """gunicorn on a free port with ``workers`` gthread workers (one by default), once it answers HTTP."""
    port = free_port()
    full_env = {
        **os.environ,
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SECRET_KEY": SECRET,
        "ANALYTICS_SITES": SITES,
        **env,
    }
    command = [
        str(GUNICORN),
        "-b",
        f"127.0.0.1:{port}",
        "-k",
        "gthread",
        "--threads",
        str(threads),
        "-w",
        str(workers),
        "--no-control-socket",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen([*command, "wsgi:app"], cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/wp-json/")
            conn.getresponse().read()
            conn.close()
            return f"http://127.0.0.1:{port}", proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gunicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    tmp = tmp_path_factory.mktemp("local")
    files = data.day_files()
    data.write_local(tmp / "events", files)
    base, proc = start_gunicorn(tmp / "gunicorn.log", {"ANALYTICS_SOURCE": str(tmp / "events")})
    yield Server(base, proc, tmp / "gunicorn.log", files)
    stop(proc)


def serve_from_s3(
    s3_endpoint: str, tmp: Path, files: dict[str, bytes], bucket_name: str = S3_BUCKET, prefix: str = S3_PREFIX
) -> t.Iterator[Server]:
    """gunicorn over ``files`` uploaded under ``prefix`` to a fresh bucket of the
    moto server; the bucket is emptied and removed after (a module fixture's body)."""
    bucket = boto3.resource("s3", endpoint_url=s3_endpoint).Bucket(bucket_name)
    bucket.create()
    data.upload(bucket, prefix, files)
    env = {**aws_env(s3_endpoint), "ANALYTICS_SOURCE": f"s3://{bucket_name}/{prefix}"}
    base, proc = start_gunicorn(tmp / "gunicorn.log", env)
    yield Server(base, proc, tmp / "gunicorn.log", files)
    stop(proc)
    bucket.objects.all().delete()
    bucket.delete()


@pytest.fixture(scope="module")
def s3_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    yield from serve_from_s3(s3_endpoint, tmp_path_factory.mktemp("s3"), data.day_files())


@pytest.fixture(params=["local", "s3"])
def server(request: pytest.FixtureRequest) -> Server:
    return t.cast(Server, request.getfixturevalue(f"{request.param}_server"))


class Users(t.NamedTuple):
    admin: str  # "login:password" for curl -u
    editor: str
    accounts: Accounts


@pytest.fixture
def users(redis: redis_lib.Redis) -> Users:
    accounts = Accounts(redis, TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    accounts.create_user("editor", "editor@example.com", role="editor")
    admin, _ = accounts.create_app_password("admin", "curl")
    editor, _ = accounts.create_app_password("editor", "curl")
    return Users(f"admin:{admin}", f"editor:{editor}", accounts)


class Fetched(t.NamedTuple):
    exit_code: int
    status: int
    headers: dict[str, str]
    body: bytes


def curl(url: str, *args: str, tmp: Path) -> Fetched:
    """Run curl; the headers of the final response (lower-case names) and the body."""
    head, body = tmp / "headers.txt", tmp / "body.bin"
    for path in (head, body):
        path.unlink(missing_ok=True)
    done = subprocess.run(
        ["curl", "-sS", "-D", str(head), "-o", str(body), *args, url], capture_output=True, timeout=60, check=False
    )
    answered = head.exists() and head.stat().st_size > 0  # not when curl gave up before the status line
    lines = head.read_bytes().decode("latin-1").split("\r\n") if answered else ["HTTP/1.1 000"]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return Fetched(done.returncode, int(lines[0].split()[1]), headers, body.read_bytes() if body.exists() else b"")


# ------------------------------------------------------------------ the documented command and the bodies


def test_the_documented_curl_command_downloads_the_days_csv(server: Server, users: Users, tmp_path: Path) -> None:
    command = f'curl -o {DATE}.csv -u "{users.admin}" {server.base}/wp-json/analytics/v1/events/{DATE}?format=csv'
    subprocess.run(command, shell=True, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    expected = data.expected_csv(data.expected_events(server.files, data.DAY, 1))
    assert len(expected) > 10
    assert data.parse_csv((tmp_path / f"{DATE}.csv").read_bytes()) == expected


def test_json_ndjson_head_and_gzip_bodies(server: Server, users: Users, tmp_path: Path) -> None:
    expected = data.expected_events(server.files, data.DAY, 1)
    url = f"{server.base}/wp-json/analytics/v1/events/{DATE}"
    got = curl(url, "-u", users.admin, tmp=tmp_path)
    assert (got.exit_code, got.status) == (0, 200)
    assert got.body == data.json_body(expected)
    assert orjson.loads(got.body) == [orjson.loads(raw) for raw in expected]
    assert got.headers["content-type"] == "application/json; charset=UTF-8"
    assert got.headers["x-wp-total"] == str(len(expected))
    assert got.headers["x-accel-buffering"] == "no"
    assert got.headers["cache-control"] == "no-store"
    # The day's bounds, read by hand from the fixture: 00:00:00.000 and
    # 23:59:59.999 are in, one millisecond outside either bound is not.
    sessions = [event["session"]["session_id"] for event in orjson.loads(got.body)]
    assert {"session-901", "session-902", "session-905", "session-906"} <= set(sessions)
    assert {"session-900", "session-903", "session-904", "session-907"}.isdisjoint(sessions)
    assert got.headers["content-length"] == str(len(got.body))  # known from the catalog (issue 14)

    ndjson = curl(url + "?format=ndjson&chunk_size=2", "-u", users.admin, tmp=tmp_path)
    assert ndjson.body == data.ndjson_body(expected)
    assert ndjson.headers["content-type"] == "application/x-ndjson; charset=UTF-8"

    head = curl(url + "?format=csv", "-I", "-u", users.admin, tmp=tmp_path)
    assert head.status == 200
    assert head.body.endswith(b"\r\n\r\n") and head.body.count(b"\r\n\r\n") == 1  # curl -I: headers only
    assert head.headers["x-wp-total"] == str(len(expected))
    assert head.headers["content-type"] == "text/csv; charset=UTF-8"
    assert head.headers["content-disposition"] == f"attachment; filename={DATE}.csv"

    compressed = curl(url + "?format=csv&chunk_size=5", "--compressed", "-u", users.admin, tmp=tmp_path)
    assert compressed.headers["content-encoding"] == "gzip"
    assert data.parse_csv(compressed.body) == data.expected_csv(expected)
    raw = curl(url, "-H", "Accept-Encoding: gzip", "-u", users.admin, tmp=tmp_path)
    assert raw.body[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw.body) == data.json_body(expected)


def test_a_warm_day_reads_no_object_before_answering(server: Server, users: Users, tmp_path: Path) -> None:
    url = f"{server.base}/wp-json/analytics/v1/events/{DATE}?format=csv"
    cold = curl(url, "-u", users.admin, tmp=tmp_path)
    warm = curl(url, "-u", users.admin, tmp=tmp_path)
    assert cold.headers["x-analytics-objects-summarized"] == str(len(server.files))
    assert warm.headers["x-analytics-objects-summarized"] == "0"
    assert warm.body == cold.body and warm.headers["x-wp-total"] == cold.headers["x-wp-total"]


def test_route_forms_negotiation_sites_and_chunk_sizes(local_server: Server, users: Users, tmp_path: Path) -> None:
    base = local_server.base
    expected = data.expected_events(local_server.files, data.DAY, 1)
    auth = ("-u", users.admin)
    for path in (
        f"/wp-json/accelerate/v1/events/{DATE}",
        f"/?rest_route=/analytics/v1/events/{DATE}",
        f"/?rest_route=/accelerate/v1/events/{DATE}&chunk_size=1",
        f"/wp-json/analytics/v1/events/{DATE}?chunk_size=10000",
    ):
        assert curl(base + path, *auth, tmp=tmp_path).body == data.json_body(expected), path
    as_csv = curl(f"{base}/wp-json/analytics/v1/events/{DATE}", "-H", "Accept: text/csv", *auth, tmp=tmp_path)
    assert data.parse_csv(as_csv.body) == data.expected_csv(expected)
    as_nd = curl(
        f"{base}/?rest_route=/analytics/v1/events/{DATE}", "-H", "Accept: application/x-ndjson", *auth, tmp=tmp_path
    )
    assert as_nd.body == data.ndjson_body(expected)
    site2 = curl(f"{base}/wp-json/analytics/v1/events/{DATE}", "-H", "Host: localhost", *auth, tmp=tmp_path)
    assert site2.body == data.json_body(data.expected_events(local_server.files, data.DAY, 2))
    assert site2.body != data.json_body(expected)
    # An empty day as CSV: the header row of the site's columns of every day seen (issue 8 item 9).
    empty = curl(f"{base}/wp-json/analytics/v1/events/2031-01-01?format=csv", *auth, tmp=tmp_path)
    assert (empty.status, empty.headers["x-wp-total"]) == (200, "0")
    assert data.parse_csv(empty.body) == [data.expected_columns(local_server.files, 1)]


def test_errors_over_http(local_server: Server, users: Users, tmp_path: Path) -> None:
    url = f"{local_server.base}/wp-json/analytics/v1/events/{DATE}"
    cases: list[tuple[str, list[str], int, str]] = [
        (url, [], 401, "rest_forbidden"),
        (url, ["-u", "nobody:abcd efgh ijkl mnop qrst uvwx"], 401, "invalid_username"),
        (url, ["-u", "admin:abcd efgh ijkl mnop qrst uvwx"], 401, "incorrect_password"),
        (url, ["-u", users.editor], 403, "rest_forbidden"),
        (url + "?format=xml", ["-u", users.admin], 400, "rest_invalid_param"),
        (url + "?chunk_size=0x10", ["-u", users.admin], 400, "rest_invalid_param"),
        (url + "?chunk_size=abc", ["-u", users.admin], 400, "rest_invalid_param"),
        (url + "?format=csv&format=xml", ["-u", users.admin], 400, "rest_invalid_param"),
        (url.replace(DATE, "2026-02-30"), ["-u", users.admin], 400, "rest_invalid_param"),
        (url.replace(DATE, "2026-2-3"), ["-u", users.admin], 404, "rest_no_route"),
        (url, ["-X", "POST", "-u", users.admin], 404, "rest_no_route"),
        (f"{local_server.base}/wp-json/wp/v2/users", ["-u", users.admin], 404, "rest_no_route"),
        (url, ["-H", "Host: unknown.example", "-u", users.admin], 404, "analytics_unknown_site"),
    ]
    for target, args, status, code in cases:
        got = curl(target, *args, tmp=tmp_path)
        assert got.status == status, (args, got)
        assert got.headers["content-type"] == "application/json; charset=UTF-8"
        body = orjson.loads(got.body)
        assert (body["code"], body["data"]["status"]) == (code, status), (args, body)
        if code == "rest_invalid_param":
            assert body["data"]["params"], body
        if status == 401 and code == "rest_forbidden":
            assert got.headers["www-authenticate"].startswith("Basic realm=")
    users.accounts.revoke_all_app_passwords("admin")
    revoked = curl(url, "-u", users.admin, tmp=tmp_path)
    assert (revoked.status, orjson.loads(revoked.body)["code"]) == (401, "incorrect_password")


def test_wordpress_rest_fidelity_over_http(local_server: Server, users: Users, tmp_path: Path) -> None:
    """Issue 8, items 3-8, through gunicorn and curl: the PATHINFO form, OPTIONS,
    methods no route serves, _envelope, the method override, chunk_size clamping."""
    base = local_server.base
    expected = data.expected_events(local_server.files, data.DAY, 1)
    url = f"{base}/wp-json/analytics/v1/events/{DATE}"

    pathinfo = curl(f"{base}/index.php/wp-json/analytics/v1/events/{DATE}", "-u", users.admin, tmp=tmp_path)
    assert (pathinfo.status, pathinfo.body) == (200, data.json_body(expected))

    index = curl(f"{base}/index.php/wp-json", tmp=tmp_path)
    assert index.status == 200 and index.headers["content-type"] == "application/json; charset=UTF-8"
    assert orjson.loads(index.body)["namespaces"] == ["analytics/v1", "accelerate/v1"]

    options = curl(url, "-X", "OPTIONS", tmp=tmp_path)  # no credentials needed to read the description
    assert options.status == 200
    described = orjson.loads(options.body)
    assert described["methods"] == ["GET"]
    assert described["endpoints"][0]["args"]["format"]["enum"] == ["json", "csv", "ndjson", "parquet"]
    assert described["endpoints"][0]["args"]["chunk_size"]["default"] == 3000
    assert "allow" not in options.headers  # rest_send_allow_header: the permission callback says no
    assert curl(url, "-X", "OPTIONS", "-u", users.admin, tmp=tmp_path).headers["allow"] == "GET, HEAD"

    for method in ("PROPFIND", "TRACE", "BREW", "POST", "DELETE"):
        odd = curl(url, "-X", method, "-u", users.admin, tmp=tmp_path)
        assert odd.status == 404, method
        assert odd.headers["content-type"] == "application/json; charset=UTF-8", method
        assert orjson.loads(odd.body)["code"] == "rest_no_route", method

    enveloped = curl(url + "?_envelope", tmp=tmp_path)
    assert enveloped.status == 200 and "www-authenticate" not in enveloped.headers
    envelope = orjson.loads(enveloped.body)
    assert (envelope["status"], envelope["body"]["code"]) == (401, "rest_forbidden")
    streamed = curl(url + "?_envelope&format=ndjson", "--compressed", "-u", users.admin, tmp=tmp_path)
    envelope = orjson.loads(streamed.body)
    assert (streamed.status, envelope["status"], envelope["headers"]["X-WP-Total"]) == (200, 200, str(len(expected)))
    assert envelope["body"].encode() == data.ndjson_body(expected)

    for override in (["-X", "POST", "-H", "X-HTTP-Method-Override: GET"], ["-X", "POST"]):
        target = url if "-H" in override else url + "?_method=GET"
        got = curl(target, *override, "-u", users.admin, tmp=tmp_path)
        assert (got.status, got.body) == (200, data.json_body(expected))

    # (A 4301-digit chunk_size through gunicorn: test_bad_input.py, with gunicorn.conf.py's longer request line.)
    for chunk_size in ("0", "-5", "20000", "1.5", "5e3", "3000.0", "9" * 3000):
        got = curl(url + f"?format=csv&chunk_size={chunk_size}", "-u", users.admin, tmp=tmp_path)
        assert got.status == 200, chunk_size
        assert data.parse_csv(got.body) == data.expected_csv(expected), chunk_size
    assert "Traceback" not in local_server.log.read_text()


def test_unreachable_redis_and_object_store_are_503(tmp_path: Path, redis: redis_lib.Redis) -> None:
    closed = free_port()
    no_redis_base, no_redis = start_gunicorn(
        tmp_path / "a.log", {"ANALYTICS_SOURCE": str(tmp_path), "REDIS_URL": f"redis://127.0.0.1:{closed}/0"}
    )
    s3_env = {**aws_env(f"http://127.0.0.1:{closed}"), "ANALYTICS_SOURCE": "s3://no-such-endpoint"}
    no_s3_base, no_s3 = start_gunicorn(tmp_path / "b.log", s3_env)
    try:
        accounts = Accounts(redis, TEST_PREFIX, SECRET)
        accounts.create_user("admin", "admin@example.com", role="administrator")
        password, _ = accounts.create_app_password("admin", "curl")
        for base, code in ((no_redis_base, "analytics_unavailable"), (no_s3_base, "analytics_source_unavailable")):
            got = curl(f"{base}/wp-json/analytics/v1/events/{DATE}", "-u", f"admin:{password}", tmp=tmp_path)
            assert got.status == 503
            body = orjson.loads(got.body)
            assert (body["code"], body["data"]["status"]) == (code, 503)
            assert got.headers["retry-after"] == "30"
        assert "Traceback" not in (tmp_path / "a.log").read_text()
    finally:
        stop(no_redis)
        stop(no_s3)


# ------------------------------------------------------------------ a large day: memory, disconnects, failures

SMALL_DAY, BIG_DAY = "2026-11-20", "2026-11-21"
SMALL, BIG = 20_000, 200_000
_LINE = (
    b'{"event_type":"pageView","event_timestamp":%d,"arrival_timestamp":%d,"attributes":{"blogId":"1",'
    b'"url":"https://example.com/p/%d","title":"Post %d, \\"quoted\\""},"metrics":{"elapsed":%d},'
    b'"endpoint":{"Id":"ep-%d","Attributes":{"DeviceType":["mobile"]},"Demographic":{"Platform":"ios"}}}\n'
)


def _write_day(root: Path, day: str, events: int) -> None:
    """``events`` small events of blog 1 over the 24 hour folders of ``day``, one object per hour."""
    start = int(dt.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp() * 1000)
    per_hour = events // 24
    for hour in range(24):
        folder = root / day.replace("-", "/") / f"{hour:02d}"
        folder.mkdir(parents=True)
        base = start + hour * 3_600_000
        body = b"".join(_LINE % (base + i, base + i + 5, i, i, i % 97, i) for i in range(per_hour))
        (folder / f"analytics-1-{day}-{hour:02d}-00-00-big").write_bytes(body)


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[tuple[Server, Path]]:
    tmp = tmp_path_factory.mktemp("big")
    _write_day(tmp / "events", SMALL_DAY, SMALL)
    _write_day(tmp / "events", BIG_DAY, BIG)
    base, proc = start_gunicorn(tmp / "gunicorn.log", {"ANALYTICS_SOURCE": str(tmp / "events")}, threads=2)
    yield Server(base, proc, tmp / "gunicorn.log", {}), tmp / "events"
    stop(proc)


def _peak_rss_kib(process: psutil.Process) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_memory_stays_flat_on_a_day_ten_times_larger(
    big_server: tuple[Server, Path], users: Users, tmp_path: Path
) -> None:
    server, _ = big_server
    peaks = {}
    for day, events in ((SMALL_DAY, SMALL), (BIG_DAY, BIG)):
        url = f"{server.base}/wp-json/analytics/v1/events/{day}"
        total = events // 24 * 24
        as_json = curl(url, "-u", users.admin, tmp=tmp_path)  # cold: summarizes the day first
        assert as_json.headers["x-wp-total"] == str(total)
        assert len(orjson.loads(as_json.body)) == total
        as_csv = curl(url + "?format=csv", "--compressed", "-u", users.admin, tmp=tmp_path)
        assert as_csv.headers["content-encoding"] == "gzip"
        assert len(data.parse_csv(as_csv.body)) == total + 1
        peaks[day] = _peak_rss_kib(server.worker)
    growth = (peaks[BIG_DAY] - peaks[SMALL_DAY]) / peaks[SMALL_DAY]
    print(f"worker peak RSS: {peaks[SMALL_DAY]} KiB for {SMALL} events, {peaks[BIG_DAY]} KiB for {BIG} ({growth:+.1%})")
    assert growth < 0.20


#: README, "Streaming": a response piece holds at most 256 KiB (before gzip) or chunk_size records.
PIECE_CAP = 256 * 1024


def _http_chunks(raw: bytes) -> list[bytes]:
    """The chunks of an HTTP/1.1 chunked body as it came over the wire (RFC 9112, 7.1), the last empty one dropped."""
    chunks = []
    at = 0
    while True:
        line_end = raw.index(b"\r\n", at)
        size = int(raw[at:line_end].split(b";")[0], 16)
        if size == 0:
            return chunks
        chunks.append(raw[line_end + 2 : line_end + 2 + size])
        assert raw[line_end + 2 + size : line_end + 4 + size] == b"\r\n"
        at = line_end + 4 + size


@pytest.mark.parametrize(
    "query",
    ["", "?format=ndjson", "?format=csv", "?chunk_size=10000", "?format=parquet", "?event_type=pageView"],
)
def test_no_response_piece_holds_more_than_256_kib(
    big_server: tuple[Server, Path], users: Users, tmp_path: Path, query: str
) -> None:
    # About 20,000 events of some 400 bytes: 3,000 of them (chunk_size's default) are over a megabyte of JSON.
    # A whole JSON body has a Content-Length, so its pieces are not HTTP chunks; gzipped, each piece is a
    # chunk ending in a sync flush (README, "Compression"), so inflating chunk by chunk gives each piece.
    server, _ = big_server
    total = SMALL // 24 * 24
    url = f"{server.base}/wp-json/analytics/v1/events/{SMALL_DAY}{query}"
    fetched = curl(url, "--raw", "-H", "Accept-Encoding: gzip", "-u", users.admin, tmp=tmp_path)
    assert fetched.status == 200
    assert fetched.headers["transfer-encoding"] == "chunked"
    assert fetched.headers["content-encoding"] == "gzip"
    inflate = zlib.decompressobj(31)
    pieces = [inflate.decompress(chunk) for chunk in _http_chunks(fetched.body)]
    assert inflate.eof
    largest = max(map(len, pieces))
    print(f"{query or 'json'}: {len(pieces)} pieces, largest {largest} bytes")
    assert largest <= PIECE_CAP
    body = b"".join(pieces)
    if "parquet" not in query:  # Parquet is compressed: a smaller file, whose row groups are cut into pieces
        assert len(body) > 4 * PIECE_CAP  # so the cap, not the day's size, kept the pieces small
    assert fetched.headers["x-wp-total"] == str(total)
    if "parquet" in query:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        assert pq.read_table(io.BytesIO(body)).num_rows == total
    elif "csv" in query:
        assert len(data.parse_csv(body)) == total + 1
    elif "ndjson" in query:
        assert len(body.splitlines()) == total
        assert all(piece.endswith(b"\n") for piece in pieces if piece)  # a piece ends at a record
    else:
        assert len(orjson.loads(body)) == total


def test_a_csv_piece_holds_at_most_256_kib_on_the_wire(
    big_server: tuple[Server, Path], users: Users, tmp_path: Path
) -> None:
    server, _ = big_server
    url = f"{server.base}/wp-json/analytics/v1/events/{SMALL_DAY}?format=csv"
    fetched = curl(url, "--raw", "-u", users.admin, tmp=tmp_path)
    chunks = _http_chunks(fetched.body)
    assert max(map(len, chunks)) <= PIECE_CAP
    assert all(chunk.endswith(b"\r\n") for chunk in chunks)  # a piece ends at a row
    assert len(data.parse_csv(b"".join(chunks))) == SMALL // 24 * 24 + 1


def test_a_piece_holds_at_most_chunk_size_records(
    big_server: tuple[Server, Path], users: Users, tmp_path: Path
) -> None:
    server, _ = big_server
    url = f"{server.base}/wp-json/analytics/v1/events/{SMALL_DAY}?format=ndjson&chunk_size=50"
    fetched = curl(url, "--raw", "-H", "Accept-Encoding: gzip", "-u", users.admin, tmp=tmp_path)
    inflate = zlib.decompressobj(31)
    chunks = [inflate.decompress(chunk) for chunk in _http_chunks(fetched.body)]
    assert max(chunk.count(b"\n") for chunk in chunks) == 50
    assert sum(chunk.count(b"\n") for chunk in chunks) == SMALL // 24 * 24


def _open_event_files(process: psutil.Process, root: Path) -> list[str]:
    return [f.path for f in process.open_files() if f.path.startswith(str(root))]


def _wait_until(condition: t.Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _authorization(login_password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(login_password.encode()).decode()}


def test_a_client_going_away_stops_the_reading(big_server: tuple[Server, Path], users: Users) -> None:
    server, root = big_server
    port = int(server.base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/wp-json/analytics/v1/events/{BIG_DAY}?chunk_size=100", headers=_authorization(users.admin))
    response = conn.getresponse()
    assert response.status == 200
    assert response.read(65536).startswith(b"[")
    worker = server.worker
    assert _wait_until(lambda: len(_open_event_files(worker, root)) == 1)
    response.close()  # holds the socket: gunicorn sends Connection: close (gunicorn.conf.py)
    conn.close()
    assert _wait_until(lambda: _open_event_files(worker, root) == [])
    assert worker.is_running()


def test_a_failure_mid_stream_leaves_the_body_unterminated(
    big_server: tuple[Server, Path], users: Users, tmp_path: Path
) -> None:
    server, root = big_server
    port = int(server.base.rsplit(":", 1)[1])
    last = sorted((root / BIG_DAY.replace("-", "/")).glob("*/*"))[-1]
    saved = last.read_bytes()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/wp-json/analytics/v1/events/{BIG_DAY}?chunk_size=100", headers=_authorization(users.admin))
    response = conn.getresponse()
    first = response.read(65536)
    last.unlink()
    try:
        with pytest.raises(http.client.IncompleteRead) as aborted:
            response.read()
        body = first + aborted.value.partial
        assert body.startswith(b"[") and not body.endswith(b"]")
        key = str(last.relative_to(root))
        assert _wait_until(lambda: key in server.log.read_text())
    finally:
        conn.close()
        last.write_bytes(saved)
