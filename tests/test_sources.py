"""One suite for both sources: the same objects written to a local directory
and to S3 (moto's server over HTTP, under a ``firehose/`` prefix) must list,
stat and read the same way."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
import subprocess
import sys
import textwrap
import time
import typing as t
import zlib
from pathlib import Path

import psutil
import pytest

from config import SourceLocation, parse_source
from events.sources import (
    CorruptObjectError,
    KeyEscapeError,
    LocalSource,
    S3Source,
    SourceError,
    open_source,
    s3_client_config,
)
from tests.conftest import aws_env, free_port

ROOT = Path(__file__).resolve().parent.parent
S3_PREFIX = "firehose/"


class Store(t.NamedTuple):
    """A source under test, how to put an object into it, and its ANALYTICS_SOURCE value."""

    kind: str
    source: LocalSource | S3Source
    put: t.Callable[[str, bytes], None]
    url: str


@pytest.fixture(params=["local", "s3"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        root = tmp_path / "events"
        root.mkdir()

        def put_local(key: str, data: bytes) -> None:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        return Store("local", LocalSource(parse_source(str(root))), put_local, str(root))

    bucket = request.getfixturevalue("s3_bucket")
    # Outside the configured prefix: must never show up.
    bucket.put_object(Key="elsewhere/2026/01/01/00/stray", Body=b"{}\n")
    bucket.put_object(Key="firehose", Body=b"{}\n")

    def put_s3(key: str, data: bytes) -> None:
        bucket.put_object(Key=S3_PREFIX + key, Body=data)

    url = f"s3://{bucket.name}/{S3_PREFIX.rstrip('/')}"
    return Store("s3", S3Source(parse_source(url)), put_s3, url)


def read_all(store: Store, key: str) -> list[bytes]:
    with store.source.open_lines(key) as lines:
        return [line.rstrip(b"\r\n") for line in lines]


LINES = [b'{"n":1}', b'{"n":2,"s":"caf\xc3\xa9"}', b'{"n":3}']
PLAIN = b"\n".join(LINES) + b"\n"

KEYS = [
    "2026/01/01/10/a",
    "2026/01/01/09/b",
    "2026/01/02/00/c",
    "2025/12/31/23/d",
    "2026/01/01/00/x-1",  # '-' sorts before '/', so before x/y in byte order
    "2026/01/01/00/x/y",
    "2026/01/01/00/Z",  # upper case sorts before lower case
    "2026/01/01/00/\u00e9t\u00e9",  # non-ASCII sorts after ASCII (UTF-8 byte order)
]


@pytest.fixture
def filled(source: Store) -> Store:
    for key in KEYS:
        source.put(key, PLAIN)
    return source


def keys(store: Store, **kwargs: t.Any) -> list[str]:
    return [info.key for info in store.source.list(**kwargs)]


# ----------------------------------------------------------------------------- listing


def test_open_source_picks_the_backend(filled: Store) -> None:
    picked = open_source(parse_source(filled.url))
    assert type(picked) is type(filled.source)
    assert keys(Store(filled.kind, picked, filled.put, filled.url)) == sorted(KEYS)


def test_lists_every_key_in_byte_order_relative_to_the_root(filled: Store) -> None:
    listed = keys(filled)
    assert listed == sorted(KEYS, key=lambda k: k.encode())
    assert listed.index("2026/01/01/00/x-1") < listed.index("2026/01/01/00/x/y")


@pytest.mark.parametrize(
    "start_after",
    ["2026/01/01/00/x-1", "2026/01/01/05", "2026/01/01/", "2026/01/01/10/a", "2026/01/02/00/c", "0", "9"],
)
def test_lists_after_a_key(filled: Store, start_after: str) -> None:
    expected = [k for k in sorted(KEYS) if k > start_after]
    assert keys(filled, start_after=start_after) == expected


@pytest.mark.parametrize("prefix", ["2026/01/01/", "2026/01/0", "2026/01/01/00/x", "2025/", "2027/", ""])
def test_lists_under_a_prefix(filled: Store, prefix: str) -> None:
    assert keys(filled, prefix=prefix) == [k for k in sorted(KEYS) if k.startswith(prefix)]


def test_prefix_and_start_after_together(filled: Store) -> None:
    got = keys(filled, prefix="2026/01/01/", start_after="2026/01/01/00/x-1")
    assert got == ["2026/01/01/00/x/y", "2026/01/01/00/\u00e9t\u00e9", "2026/01/01/09/b", "2026/01/01/10/a"]


def test_limit_stops_the_listing(filled: Store) -> None:
    assert keys(filled, limit=2) == sorted(KEYS)[:2]
    assert keys(filled, start_after="2026/01/01/00/x-1", limit=1) == ["2026/01/01/00/x/y"]
    assert keys(filled, limit=0) == []
    assert keys(filled, limit=100) == sorted(KEYS)


def test_listing_pages_through_many_keys(source: Store) -> None:
    many = [f"2026/03/01/00/obj-{i:03d}" for i in range(23)]
    for key in many:
        source.put(key, b"{}\n")
    if source.kind == "s3":  # small pages, so paging and StartAfter across pages are exercised
        source = source._replace(source=S3Source(parse_source(source.url), page_size=5))
    assert keys(source) == many
    assert keys(source, start_after=many[6], limit=8) == many[7:15]
    assert keys(source, prefix="2026/03/01/00/obj-01", limit=20) == many[10:20]


def test_empty_store_lists_nothing(source: Store) -> None:
    assert keys(source) == []


# ----------------------------------------------------------------------------- stat


def test_stat_gives_size_etag_and_utc_time(filled: Store) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    info = filled.source.stat("2026/01/01/10/a")
    assert info.key == "2026/01/01/10/a"
    assert info.size == len(PLAIN)
    assert info.last_modified.utcoffset() == dt.timedelta(0)
    assert before < info.last_modified < dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    if filled.kind == "s3":
        assert info.etag == hashlib.md5(PLAIN).hexdigest()
    else:
        assert info.etag.endswith(f"-{len(PLAIN):x}")
    listed = {i.key: i for i in filled.source.list(prefix="2026/01/01/10/")}
    assert listed["2026/01/01/10/a"] == info


def test_etag_changes_when_an_object_is_rewritten(filled: Store) -> None:
    before = filled.source.stat("2026/01/01/10/a")
    filled.put("2026/01/01/10/a", PLAIN + b'{"n":4}\n')
    after = filled.source.stat("2026/01/01/10/a")
    assert after.etag != before.etag and after.size == len(PLAIN) + 8


def test_missing_key_is_a_source_error(source: Store) -> None:
    with pytest.raises(SourceError, match="2026/01/01/00/nope") as stat_err:
        source.source.stat("2026/01/01/00/nope")
    assert isinstance(stat_err.value.__cause__, FileNotFoundError)
    with pytest.raises(SourceError, match="2026/01/01/00/nope") as open_err:
        source.source.open_lines("2026/01/01/00/nope").__enter__()
    assert isinstance(open_err.value.__cause__, FileNotFoundError)
    assert not isinstance(open_err.value, CorruptObjectError)


# ----------------------------------------------------------------------------- reading


def test_reads_plain_lines(source: Store) -> None:
    source.put("2026/01/01/00/plain", PLAIN)
    assert read_all(source, "2026/01/01/00/plain") == LINES


def test_reads_a_gzipped_object_without_gz_in_its_name(source: Store) -> None:
    source.put("2026/01/01/00/firehose-1-2026-01-01-00-00-00-uuid", gzip.compress(PLAIN))
    assert read_all(source, "2026/01/01/00/firehose-1-2026-01-01-00-00-00-uuid") == LINES


def test_a_gz_name_holding_plain_text_is_read_as_plain(source: Store) -> None:
    source.put("2026/01/01/00/data.gz", PLAIN)
    assert read_all(source, "2026/01/01/00/data.gz") == LINES


def test_reads_multi_member_gzip(source: Store) -> None:
    members = gzip.compress(LINES[0] + b"\n") + gzip.compress(b"") + gzip.compress(b"\n".join(LINES[1:]) + b"\n")
    source.put("2026/01/01/00/multi", members + b"\x00" * 16)  # zero padding after the last member is allowed
    assert read_all(source, "2026/01/01/00/multi") == LINES


def test_member_boundary_inside_a_line(source: Store) -> None:
    source.put("2026/01/01/00/split", gzip.compress(b'{"n":1}\n{"n"') + gzip.compress(b":2}\n"))
    assert read_all(source, "2026/01/01/00/split") == [b'{"n":1}', b'{"n":2}']


def test_empty_and_tiny_objects(source: Store) -> None:
    source.put("2026/01/01/00/empty", b"")
    source.put("2026/01/01/00/one-byte", b"\x1f")
    source.put("2026/01/01/00/empty-gz", gzip.compress(b""))
    assert read_all(source, "2026/01/01/00/empty") == []
    assert read_all(source, "2026/01/01/00/one-byte") == [b"\x1f"]
    assert read_all(source, "2026/01/01/00/empty-gz") == []


def test_missing_final_newline_and_crlf_lines_come_through(source: Store) -> None:
    source.put("2026/01/01/00/crlf", b'{"n":1}\r\n{"n":2}')
    with source.source.open_lines("2026/01/01/00/crlf") as lines:
        assert list(lines) == [b'{"n":1}\r\n', b'{"n":2}']


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x1f\x8b" + b"not deflate at all" * 10, id="garbage-after-magic"),
        pytest.param(gzip.compress(PLAIN * 200)[:-40], id="truncated"),
        pytest.param(gzip.compress(PLAIN)[:-8] + b"\0\0\0\0" + gzip.compress(PLAIN)[-4:], id="bad-crc"),
        pytest.param(gzip.compress(PLAIN) + b"trailing garbage", id="trailing-garbage"),
    ],
)
def test_corrupt_gzip_is_a_corrupt_object_error(source: Store, data: bytes) -> None:
    source.put("2026/01/01/00/bad", data)
    with pytest.raises(CorruptObjectError, match="2026/01/01/00/bad"):
        read_all(source, "2026/01/01/00/bad")


def test_leaving_early_releases_the_stream(source: Store) -> None:
    body = b"".join(b'{"n":%d}\n' % i for i in range(200_000))
    source.put("2026/01/01/00/big", gzip.compress(body, 1))
    key_path = None if source.kind == "s3" else str(Path(source.url, "2026/01/01/00/big"))
    with source.source.open_lines("2026/01/01/00/big") as lines:
        assert next(lines) == b'{"n":0}\n'
        if key_path:
            assert key_path in {f.path for f in psutil.Process().open_files()}
    with pytest.raises(ValueError):
        next(lines)  # closed: nothing more is read
    if key_path:
        assert key_path not in {f.path for f in psutil.Process().open_files()}


def test_an_error_in_the_consumer_still_releases_the_stream(source: Store) -> None:
    source.put("2026/01/01/00/plain", PLAIN)
    with pytest.raises(RuntimeError), source.source.open_lines("2026/01/01/00/plain") as lines:
        next(lines)
        raise RuntimeError("consumer failed")
    with pytest.raises(ValueError):
        next(lines)


_STREAM_SCRIPT = textwrap.dedent(
    """
    import sys, tracemalloc, zlib
    from config import parse_source
    from events.sources import open_source
    source = open_source(parse_source(sys.argv[1]))
    tracemalloc.start()
    count = total = crc = 0
    with source.open_lines(sys.argv[2]) as lines:
        for line in lines:
            count += 1
            total += len(line)
            crc = zlib.crc32(line, crc)
    print(count, total, crc, tracemalloc.get_traced_memory()[1])
    """
)


def test_large_gzipped_object_is_streamed_in_bounded_memory(source: Store) -> None:
    """A 20 MB gzipped object (about 40 MB of lines) read with a small peak: measured
    in a process of its own, so moto's copy of the object does not count."""
    lines = [os.urandom(500).hex().encode() + b"\n" for _ in range(40_000)]
    body = b"".join(lines)
    compressed = gzip.compress(body, 1)
    assert len(compressed) > 20_000_000
    source.put("2026/01/01/00/large", compressed)
    del compressed
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if source.kind == "s3":
        env.update(aws_env(os.environ["AWS_ENDPOINT_URL_S3"]))
    out = subprocess.run(
        [sys.executable, "-c", _STREAM_SCRIPT, source.url, "2026/01/01/00/large"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    count, total, crc, peak = map(int, out)
    assert (count, total, crc) == (len(lines), len(body), zlib.crc32(body))
    assert peak < 4 * 1024 * 1024, f"peak traced memory {peak} bytes"


# ----------------------------------------------------------------------------- S3 only


def test_s3_unreachable_endpoint_is_a_source_error(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    quick = s3_client_config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1})
    source = S3Source(parse_source("s3://some-bucket/firehose"), config=quick)
    started = time.monotonic()
    with pytest.raises(SourceError, match="s3://some-bucket/firehose/"):
        list(source.list())
    with pytest.raises(SourceError, match="2026/01/01/00/x"):
        source.stat("2026/01/01/00/x")
    with pytest.raises(SourceError, match="2026/01/01/00/x"):
        source.open_lines("2026/01/01/00/x")
    assert time.monotonic() - started < 10


def test_s3_missing_bucket_is_a_source_error(s3_endpoint: str) -> None:
    source = S3Source(parse_source("s3://no-such-bucket-here"))
    with pytest.raises(SourceError, match="no-such-bucket-here"):
        list(source.list())


def test_s3_source_without_prefix_sees_the_whole_bucket(s3_bucket: t.Any) -> None:
    s3_bucket.put_object(Key="2026/01/01/00/a", Body=PLAIN)
    s3_bucket.put_object(Key="2026/01/01/00/", Body=b"")  # a console "folder": not an object
    source = S3Source(parse_source(f"s3://{s3_bucket.name}"))
    assert [i.key for i in source.list()] == ["2026/01/01/00/a"]
    with source.open_lines("2026/01/01/00/a") as lines:
        assert [line.rstrip() for line in lines] == LINES


# ----------------------------------------------------------------------------- local only


@pytest.fixture
def local(tmp_path: Path) -> tuple[LocalSource, Path]:
    root = tmp_path / "events"
    (root / "2026/01/01/00").mkdir(parents=True)
    (root / "2026/01/01/00/a").write_bytes(PLAIN)
    (tmp_path / "secret").write_bytes(b'{"secret":true}\n')
    return LocalSource(SourceLocation(kind="local", path=root)), root


@pytest.mark.parametrize(
    "key", ["../secret", "2026/../../secret", "/etc/passwd", "2026/01/01/00/../../../../../secret"]
)
def test_local_refuses_keys_that_escape(local: tuple[LocalSource, Path], key: str) -> None:
    source, _ = local
    with pytest.raises(KeyEscapeError):
        source.stat(key)
    with pytest.raises(KeyEscapeError):
        source.open_lines(key)


@pytest.mark.parametrize("prefix", ["../", "..", "/etc", "2026/../.."])
def test_local_refuses_prefixes_that_escape(local: tuple[LocalSource, Path], prefix: str) -> None:
    source, _ = local
    with pytest.raises(KeyEscapeError):
        list(source.list(prefix=prefix))


def test_local_refuses_symlinks_that_lead_outside(local: tuple[LocalSource, Path], tmp_path: Path) -> None:
    source, root = local
    (root / "2026/01/01/00/link").symlink_to(tmp_path / "secret")
    (root / "2026/01/01/01").symlink_to(tmp_path, target_is_directory=True)
    (root / "2026/01/01/00/inside").symlink_to(root / "2026/01/01/00/a")
    with pytest.raises(KeyEscapeError):
        source.open_lines("2026/01/01/00/link")
    with pytest.raises(KeyEscapeError):
        source.stat("2026/01/01/01/secret")
    assert [i.key for i in source.list()] == ["2026/01/01/00/a", "2026/01/01/00/inside"]
    with source.open_lines("2026/01/01/00/inside") as lines:
        assert [line.rstrip() for line in lines] == LINES


def test_local_skips_hidden_and_temporary_files(local: tuple[LocalSource, Path]) -> None:
    source, root = local
    (root / "2026/01/01/00/.partial").write_bytes(b"{}\n")
    (root / "2026/01/01/00/b.tmp").write_bytes(b"{}\n")
    (root / ".cache").mkdir()
    (root / ".cache/x").write_bytes(b"{}\n")
    assert [i.key for i in source.list()] == ["2026/01/01/00/a"]


def test_local_missing_directory_is_a_source_error(tmp_path: Path) -> None:
    source = LocalSource(SourceLocation(kind="local", path=tmp_path / "nowhere"))
    with pytest.raises(SourceError, match="nowhere"):
        list(source.list())


def test_local_listing_after_a_key_only_reads_directories_that_can_follow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "events"
    for day in range(1, 29):
        for hour in range(24):
            folder = root / f"2026/02/{day:02d}/{hour:02d}"
            folder.mkdir(parents=True)
            (folder / "obj").write_bytes(b"{}\n")
    source = LocalSource(SourceLocation(kind="local", path=root))
    scanned: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: t.Any) -> t.Any:
        scanned.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    got = [i.key for i in source.list(start_after="2026/02/28/21/obj")]
    assert got == ["2026/02/28/22/obj", "2026/02/28/23/obj"]
    # root, year, month, day 28, and its hours 21-23: not the other 27 days.
    assert len(scanned) <= 7, scanned
    scanned.clear()
    assert [i.key for i in source.list(prefix="2026/02/03/04/")] == ["2026/02/03/04/obj"]
    assert len(scanned) == 1


def test_unknown_source_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown source kind"):
        open_source(SourceLocation(kind="ftp"))  # type: ignore[arg-type]


def _s3_error(code: str, message: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'


@pytest.fixture
def failing_s3(s3_endpoint: str, httpserver: t.Any, monkeypatch: pytest.MonkeyPatch) -> tuple[S3Source, t.Any]:
    """An S3 source whose endpoint is a plain HTTP server answering with S3 errors."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{httpserver.port}")
    quick = s3_client_config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    return S3Source(parse_source("s3://events-bucket/firehose"), config=quick), httpserver


def test_s3_server_error_is_a_source_error(failing_s3: tuple[S3Source, t.Any]) -> None:
    source, server = failing_s3
    server.expect_request(re.compile(".*")).respond_with_data(
        _s3_error("InternalError", "try again"), status=500, content_type="application/xml"
    )
    with pytest.raises(SourceError, match="listing s3://events-bucket/firehose/2026/") as listing:
        list(source.list(prefix="2026/"))
    assert "InternalError" in str(listing.value)
    with pytest.raises(SourceError, match="2026/01/01/00/x") as reading:
        source.open_lines("2026/01/01/00/x")
    assert not isinstance(reading.value, CorruptObjectError)


def test_s3_permission_error_says_to_check_permissions(failing_s3: tuple[S3Source, t.Any]) -> None:
    source, server = failing_s3
    server.expect_request(re.compile(".*")).respond_with_data(
        _s3_error("AccessDenied", "Access Denied"), status=403, content_type="application/xml"
    )
    with pytest.raises(SourceError, match="permissions") as reading:
        source.open_lines("2026/01/01/00/x")
    assert "s3://events-bucket/firehose/2026/01/01/00/x" in str(reading.value)
    with pytest.raises(SourceError, match="permissions"):
        list(source.list())


def test_s3_connection_lost_while_streaming_is_a_source_error(failing_s3: tuple[S3Source, t.Any]) -> None:
    from werkzeug import Request, Response

    source, server = failing_s3
    part = b'{"n":1}\n' * 50_000

    def cut_short(request: Request) -> Response:
        def body() -> t.Iterator[bytes]:
            yield part
            raise ConnectionAbortedError("dropped mid-object")

        return Response(body(), headers={"Content-Length": str(len(part) * 2), "ETag": '"x"'})

    server.expect_request(re.compile(".*")).respond_with_handler(cut_short)
    seen = 0
    with (
        pytest.raises(SourceError, match="2026/01/01/00/x") as streaming,
        source.open_lines("2026/01/01/00/x") as lines,
    ):
        for _ in lines:
            seen += 1
    assert seen > 0  # the failure came while streaming, not when opening
    assert str(streaming.value).startswith("reading s3://events-bucket/firehose/2026/01/01/00/x failed")
    assert not isinstance(streaming.value, CorruptObjectError)
