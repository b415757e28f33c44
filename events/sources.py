"""Object stores that hold raw event files.

Keys are always relative to the source's root (a directory, or an S3 bucket
plus prefix), so a key is exactly ``YYYY/MM/DD/HH/<name>`` whatever the
deployment.

Reading is streamed: a raw byte stream (a file, or S3's HTTP body) feeds an
``io.BufferedReader`` with a large buffer, through a gunzipping raw stream when
the object starts with the gzip magic. Line splitting then runs in C, and
errors are translated where bytes are read, so a consumer sees SourceError or
CorruptObjectError whatever the backend.

Why one module of over 400 lines: the ``Source`` contract, its errors, the
streams that enforce it (gunzip, error translation, long lines in pieces) and
its two implementations are read together when the contract changes; each
backend alone is about 120 lines and depends on the shared streams.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import io
import itertools
import logging
import os
import stat as stat_mod
import threading
import typing as t
import zlib
from pathlib import Path

if t.TYPE_CHECKING:
    from botocore.config import Config

    from config import SourceLocation

logger = logging.getLogger(__name__)

#: Bytes read from the store at a time, and the line reader's buffer size:
#: 256 KiB is measurably faster than io's 8 KiB default and still small.
CHUNK_SIZE = 256 * 1024
GZIP_MAGIC = b"\x1f\x8b"
#: A line longer than this comes out of ``open_lines`` in pieces of exactly
#: this many bytes (the last piece ends with the newline or the object), so an
#: object written as one huge line of concatenated events stays in bounded
#: memory. ``records.iter_events`` joins the pieces again. Kept small because
#: orjson briefly needs about 12 times the size of what it parses.
MAX_LINE_BYTES = 256 * 1024

#: S3 client timeouts (seconds) and attempts; a hung connection must not stall an export.
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 60.0
S3_MAX_ATTEMPTS = 4


def continues_line(piece: bytes) -> bool:
    """Whether a piece from ``open_lines`` is only part of its line (a line
    longer than ``MAX_LINE_BYTES`` comes in pieces; the next one continues it)."""
    return len(piece) >= MAX_LINE_BYTES and piece[-1:] != b"\n"


class SourceError(Exception):
    """The store could not be listed or an object could not be read (transient:
    network, 5xx, missing permission). The message names the key or prefix."""


class CorruptObjectError(SourceError):
    """An object's bytes are not readable as events (bad gzip stream): retrying
    the same bytes will fail again."""


class ObjectChangedError(SourceError):
    """An object was opened for one version (``etag``) and is now another: it
    was replaced since that version was listed or summarized. Nothing has been
    read; open it again without ``etag`` to read the new bytes."""


class KeyEscapeError(ValueError):
    """A key or prefix would leave the local source's directory."""


@dataclasses.dataclass(frozen=True, order=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # S3 ETag without quotes; local: ``local_etag`` (inode, mtime, size)
    last_modified: dt.datetime  # aware, UTC


class OpenObject(t.NamedTuple):
    """An object being read: its lines (as ``Source.open_lines``) and the
    identity of the bytes they come from (the ETag and size of the version
    actually opened, which may be newer than a listing's)."""

    lines: t.Iterator[bytes]
    etag: str
    size: int


def local_etag(file_stat: os.stat_result) -> str:
    """A local file's ETag: inode, mtime (ns) and size, in hex. The inode is
    what tells a file replaced by rename (``rsync -a``, ``os.replace``) with
    the same size and mtime from the one it replaced."""
    return f"{file_stat.st_ino:x}-{file_stat.st_mtime_ns:x}-{file_stat.st_size:x}"


class Source(t.Protocol):
    location: SourceLocation

    def list(self, prefix: str = "", start_after: str = "", limit: int | None = None) -> t.Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` and sorts after ``start_after``
        (byte order, as S3), ascending, lazily, at most ``limit``."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """One object's info; SourceError (FileNotFoundError cause) if absent."""
        ...

    def open_lines(self, key: str, etag: str | None = None) -> t.ContextManager[t.Iterator[bytes]]:
        """The object's lines as bytes (newline kept or not: consumers strip),
        gunzipped when its first bytes are the gzip magic, streamed in bounded
        memory: a line longer than MAX_LINE_BYTES comes in pieces of exactly
        that size (``records.iter_events`` joins them). Closing the context
        manager releases the underlying stream.

        With ``etag``, only that version is read: ObjectChangedError when the
        object is now another one (S3: ``If-Match`` on the GET; local: the
        open file's inode, mtime and size, from ``fstat``). A reader that
        trusts something computed from a version (the catalog's line
        selections) must pass it."""
        ...

    def open_object(self, key: str, etag: str | None = None) -> t.ContextManager[OpenObject]:
        """``open_lines``, also giving the ETag and size of the version opened."""
        ...


def open_source(location: SourceLocation) -> Source:
    """The source for a configured location (LocalSource or S3Source)."""
    if location.kind == "local":
        return LocalSource(location)
    if location.kind == "s3":
        return S3Source(location)
    raise ValueError(f"unknown source kind {location.kind!r}: expected 'local' or 's3'")


# --------------------------------------------------------------------------- streams


class _ReadErrors(io.RawIOBase):
    """A raw stream over ``read(n)``-style input that fills each request as far
    as the input allows and turns backend errors into SourceError."""

    def __init__(self, read: t.Callable[[int], bytes], close: t.Callable[[], None], key: str) -> None:
        self._read = read
        self._close = close
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        filled = 0
        while filled < want:
            try:
                data = self._read(want - filled)
            except SourceError:
                raise
            except Exception as exc:  # botocore / urllib3 / OSError while streaming
                raise SourceError(f"reading {self._key} failed: {exc}") from exc
            if not data:
                break
            view[filled : filled + len(data)] = data
            filled += len(data)
        return filled

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()


class _LocalFile(io.FileIO):
    """A file read straight into the line reader's buffer (no copy), with read
    errors turned into SourceError naming the key."""

    def __init__(self, path: str, key: str) -> None:
        super().__init__(path, "r")
        self.key = key

    def readinto(self, buffer: t.Any) -> int:
        try:
            return super().readinto(buffer)
        except OSError as exc:
            raise SourceError(f"reading {self.key} failed: {exc}") from exc


class _GunzipRaw(io.RawIOBase):
    """Decompresses one or more concatenated gzip members (Firehose and ``cat``
    both make multi-member files) with bounded output per read; bad or
    truncated data raises CorruptObjectError naming the key."""

    def __init__(self, source: io.BufferedReader[io.RawIOBase], key: str) -> None:
        self._source = source
        self._key = key
        self._z = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed bytes not yet given to the decompressor
        self._eof = False

    def readable(self) -> bool:
        return True

    def _corrupt(self, why: str) -> CorruptObjectError:
        return CorruptObjectError(f"{self._key} is not a readable gzip stream: {why}")

    def readinto(self, buffer: t.Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._eof:
            if not self._pending:
                self._pending = self._source.read1(CHUNK_SIZE)
                if not self._pending:
                    if self._z.eof:
                        self._eof = True
                        break
                    raise self._corrupt("truncated (unexpected end of data)")
            try:
                data = self._z.decompress(self._pending, len(view))
            except zlib.error as exc:
                raise self._corrupt(str(exc)) from exc
            self._pending = self._z.unconsumed_tail
            if self._z.eof:
                rest = self._z.unused_data + self._pending
                self._pending = rest.lstrip(b"\x00")  # zero padding after a member is allowed
                if self._pending or not self._at_end():
                    self._z = zlib.decompressobj(wbits=31)
                else:
                    self._eof = True
            if data:
                view[: len(data)] = data
                return len(data)
        return 0

    def _at_end(self) -> bool:
        """True when the compressed input is exhausted (after skipping zero padding)."""
        while True:
            chunk = self._source.read1(CHUNK_SIZE)
            if not chunk:
                return True
            chunk = chunk.lstrip(b"\x00")
            if chunk:
                self._pending = chunk
                return False

    def close(self) -> None:
        if not self.closed:
            try:
                self._source.close()
            finally:
                super().close()


def _line_reader(raw: io.RawIOBase, key: str) -> io.BufferedReader[io.RawIOBase]:
    """A buffered line iterator over ``raw``, gunzipping if the bytes start with the gzip magic."""
    buffered = io.BufferedReader(raw, buffer_size=CHUNK_SIZE)
    try:
        head = buffered.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)]
    except BaseException:
        buffered.close()
        raise
    if head != GZIP_MAGIC:
        return buffered
    return io.BufferedReader(_GunzipRaw(buffered, key), buffer_size=CHUNK_SIZE)


@contextlib.contextmanager
def _object_of(raw: io.RawIOBase, key: str, etag: str, size: int) -> t.Iterator[OpenObject]:
    reader = _line_reader(raw, key)
    try:
        # readline(limit) through partial stays in C, as plain iteration does,
        # but hands a line longer than the limit over in pieces.
        yield OpenObject(iter(functools.partial(reader.readline, MAX_LINE_BYTES), b""), etag, size)
    finally:
        reader.close()


@contextlib.contextmanager
def _lines_only(opened: t.ContextManager[OpenObject]) -> t.Iterator[t.Iterator[bytes]]:
    with opened as obj:
        yield obj.lines


# --------------------------------------------------------------------------- local


def _is_skipped_name(name: str) -> bool:
    """Hidden files and temporary files of a writer still at work are not objects."""
    return name.startswith(".") or name.endswith(".tmp")


def _utc_from_ns(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


class LocalSource:
    """Raw event files in a directory tree; keys are paths relative to it with '/'.

    Listing walks directories in sorted order and only descends into those
    that can hold keys matching the prefix and sorting after ``start_after``,
    so resuming after a key in a large tree reads a few directories only.
    """

    def __init__(self, location: SourceLocation) -> None:
        if location.path is None:
            raise ValueError("a local source needs location.path")
        self.location = location
        self.root = Path(os.path.realpath(location.path))
        self._root_str = str(self.root)

    def __repr__(self) -> str:
        return f"LocalSource({self._root_str!r})"

    # -- validation

    def _check_relative(self, text: str, what: str) -> None:
        if "\x00" in text:
            raise KeyEscapeError(f"{what} {text!r} holds a NUL byte")
        if text.startswith("/") or os.path.isabs(text):
            raise KeyEscapeError(f"{what} {text!r} is absolute: keys are relative to {self._root_str}")
        parts = text.split("/")
        if ".." in parts:
            raise KeyEscapeError(f"{what} {text!r} contains '..': keys may not leave {self._root_str}")

    def _inside(self, real: str) -> bool:
        return real == self._root_str or real.startswith(self._root_str.rstrip("/") + "/")

    def _path_of(self, key: str) -> str:
        """The real path of a key, refusing keys that lead outside the root (also through symlinks)."""
        self._check_relative(key, "key")
        if not key or key.endswith("/"):
            raise SourceError(f"{key!r} is not an object key: it names no file")
        path = os.path.join(self._root_str, key)
        real = os.path.realpath(path)
        if not self._inside(real):
            raise KeyEscapeError(f"key {key!r} leads outside {self._root_str} (through a symlink)")
        return real

    # -- API

    def stat(self, key: str) -> ObjectInfo:
        path = self._path_of(key)
        try:
            file_stat = os.stat(path)
        except FileNotFoundError as exc:
            raise SourceError(f"object {key!r} does not exist in {self._root_str}") from exc
        except OSError as exc:
            raise SourceError(f"cannot stat {key!r} in {self._root_str}: {exc}") from exc
        if not stat_mod.S_ISREG(file_stat.st_mode):
            raise SourceError(f"{key!r} in {self._root_str} is not a regular file") from FileNotFoundError(key)
        return ObjectInfo(key, file_stat.st_size, local_etag(file_stat), _utc_from_ns(file_stat.st_mtime_ns))

    def open_lines(self, key: str, etag: str | None = None) -> t.ContextManager[t.Iterator[bytes]]:
        return _lines_only(self.open_object(key, etag))

    def open_object(self, key: str, etag: str | None = None) -> t.ContextManager[OpenObject]:
        path = self._path_of(key)
        try:
            fileio = _LocalFile(path, key)
        except FileNotFoundError as exc:
            raise SourceError(f"object {key!r} does not exist in {self._root_str}") from exc
        except IsADirectoryError as exc:
            raise SourceError(f"{key!r} in {self._root_str} is a directory, not an object") from exc
        except OSError as exc:
            raise SourceError(f"cannot open {key!r} in {self._root_str}: {exc}") from exc
        try:
            # The open handle's own identity: a path's stat could describe a
            # file renamed over it after the open.
            file_stat = os.fstat(fileio.fileno())
        except OSError as exc:
            fileio.close()
            raise SourceError(f"cannot stat the open {key!r} in {self._root_str}: {exc}") from exc
        opened = local_etag(file_stat)
        if etag is not None and opened != etag:
            fileio.close()
            raise ObjectChangedError(
                f"{key!r} in {self._root_str} was replaced: it is version {opened}, not {etag} (inode-mtime-size)"
            )
        return _object_of(fileio, key, opened, file_stat.st_size)

    def list(self, prefix: str = "", start_after: str = "", limit: int | None = None) -> t.Iterator[ObjectInfo]:
        self._check_relative(prefix, "prefix")
        if limit is not None and limit <= 0:
            return iter(())
        return self._list(prefix, start_after, limit)

    def _list(self, prefix: str, start_after: str, limit: int | None) -> t.Iterator[ObjectInfo]:
        if not os.path.isdir(self._root_str):
            raise SourceError(f"source directory {self._root_str} does not exist: create it or set ANALYTICS_SOURCE")
        # Start at the deepest directory the prefix names fully.
        base = prefix.rpartition("/")[0]
        base_key = base + "/" if base else ""
        yield from itertools.islice(self._walk(base_key, prefix, start_after), limit)

    def _walk(self, dir_key: str, prefix: str, start_after: str) -> t.Iterator[ObjectInfo]:
        directory = os.path.join(self._root_str, dir_key) if dir_key else self._root_str
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if not _is_skipped_name(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise SourceError(f"cannot list {dir_key or '/'} in {self._root_str}: {exc}") from exc
        # Keys of a directory all start with "name/": sorting by that string
        # gives S3's byte order over the whole tree (str order == UTF-8 order).
        children: list[tuple[str, os.DirEntry[str], bool]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            key = dir_key + entry.name + ("/" if is_dir else "")
            children.append((key, entry, is_dir))
        children.sort(key=lambda c: c[0])
        for key, entry, is_dir in children:
            if is_dir:
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if key <= start_after and not start_after.startswith(key):
                    continue  # every key below sorts before start_after
                yield from self._walk(key, prefix, start_after)
                continue
            if key <= start_after or not key.startswith(prefix):
                continue
            info = self._entry_info(key, entry)
            if info is not None:
                yield info

    def _entry_info(self, key: str, entry: os.DirEntry[str]) -> ObjectInfo | None:
        try:
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not self._inside(real):
                    logger.warning("skipping %s in %s: symlink leads outside the source", key, self._root_str)
                    return None
            file_stat = entry.stat()
        except FileNotFoundError:
            return None  # removed while listing
        except OSError as exc:
            raise SourceError(f"cannot stat {key!r} in {self._root_str}: {exc}") from exc
        if not stat_mod.S_ISREG(file_stat.st_mode):
            return None
        return ObjectInfo(key, file_stat.st_size, local_etag(file_stat), _utc_from_ns(file_stat.st_mtime_ns))


# --------------------------------------------------------------------------- S3


_client_lock = threading.Lock()


def s3_client_config(**overrides: t.Any) -> Config:
    """The botocore Config of S3 sources: bounded timeouts and a few retries."""
    from botocore.config import Config

    options: dict[str, t.Any] = {
        "connect_timeout": S3_CONNECT_TIMEOUT,
        "read_timeout": S3_READ_TIMEOUT,
        # botocore's "max_attempts" counts retries after the first try; "total_max_attempts" counts tries.
        "retries": {"total_max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
    }
    options.update(overrides)
    return Config(**options)


def _client_error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
#: What S3 answers a GET whose ``If-Match`` names another version.
_PRECONDITION_CODES = {"412", "PreconditionFailed"}


class S3Source:
    """Raw event files in an S3 bucket under an optional prefix (boto3 reads
    endpoint, region and credentials from its standard variables)."""

    def __init__(self, location: SourceLocation, *, config: Config | None = None, page_size: int = 1000) -> None:
        import boto3

        if not location.bucket:
            raise ValueError("an S3 source needs location.bucket")
        self.location = location
        self.bucket = location.bucket
        self.prefix = location.prefix
        self.page_size = max(1, min(page_size, 1000))
        with _client_lock:  # boto3's default session is not safe to use from several threads at once
            self.client = boto3.client("s3", config=config or s3_client_config())

    def __repr__(self) -> str:
        return f"S3Source({self.location.describe()!r})"

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _error(self, action: str, key: str, exc: Exception) -> SourceError:
        """A SourceError naming the object and saying what to check."""
        code = _client_error_code(exc)
        if code in _MISSING_CODES:
            return SourceError(f"object {self._where(key)} does not exist")
        if code in ("AccessDenied", "403"):
            return SourceError(f"{action} {self._where(key)} was refused (check the credentials' permissions): {exc}")
        return SourceError(f"{action} {self._where(key)} failed: {exc}")

    def _cause(self, key: str, exc: Exception) -> BaseException:
        """A missing object's error is caused by FileNotFoundError, as the Source contract says."""
        if _client_error_code(exc) in _MISSING_CODES:
            missing = FileNotFoundError(f"{self._where(key)}: {exc}")
            missing.__cause__ = exc
            return missing
        return exc

    def _info(self, key: str, size: int, etag: str, modified: dt.datetime) -> ObjectInfo:
        return ObjectInfo(key, int(size), etag.strip('"'), modified.astimezone(dt.UTC))

    def stat(self, key: str) -> ObjectInfo:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as exc:
            raise self._error("stat of", key, exc) from self._cause(key, exc)
        return self._info(key, head["ContentLength"], head.get("ETag", ""), head["LastModified"])

    def open_lines(self, key: str, etag: str | None = None) -> t.ContextManager[t.Iterator[bytes]]:
        return _lines_only(self.open_object(key, etag))

    def open_object(self, key: str, etag: str | None = None) -> t.ContextManager[OpenObject]:
        params = {"Bucket": self.bucket, "Key": self.prefix + key}
        if etag is not None:
            params["IfMatch"] = f'"{etag}"'  # an entity tag is quoted (RFC 9110 8.8.3)
        try:
            response = self.client.get_object(**params)
        except Exception as exc:
            if etag is not None and _client_error_code(exc) in _PRECONDITION_CODES:
                raise ObjectChangedError(f"{self._where(key)} was replaced: its ETag is no longer {etag}") from exc
            raise self._error("reading", key, exc) from self._cause(key, exc)
        body = response["Body"]
        where = self._where(key)
        opened = str(response.get("ETag", "")).strip('"')
        return _object_of(_ReadErrors(body.read, body.close, where), where, opened, int(response["ContentLength"]))

    def list(self, prefix: str = "", start_after: str = "", limit: int | None = None) -> t.Iterator[ObjectInfo]:
        if limit is not None and limit <= 0:
            return iter(())
        return self._list(prefix, start_after, limit)

    def _list(self, prefix: str, start_after: str, limit: int | None) -> t.Iterator[ObjectInfo]:
        params: dict[str, t.Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            params["StartAfter"] = self.prefix + start_after
        paging = {"PageSize": min(limit, self.page_size) if limit is not None else self.page_size}
        strip = len(self.prefix)
        count = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(**params, PaginationConfig=paging)
            for page in pages:
                for obj in page.get("Contents", ()):
                    full = obj["Key"]
                    if full.endswith("/"):
                        continue  # a "folder" placeholder, not an object
                    yield self._info(full[strip:], obj["Size"], obj.get("ETag", ""), obj["LastModified"])
                    count += 1
                    if limit is not None and count >= limit:
                        return
        except SourceError:
            raise
        except Exception as exc:
            where = prefix + ("*" if not start_after else f"* after {start_after}")
            raise self._error("listing", where, exc) from self._cause(where, exc)
