"""CONTRACT STUB — to be implemented. Object stores that hold raw event files.

Keys are always relative to the source's root (a directory, or an S3 bucket
plus prefix), so a key is exactly ``YYYY/MM/DD/HH/<name>`` whatever the
deployment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

if t.TYPE_CHECKING:
    from config import SourceLocation


class SourceError(Exception):
    """The store could not be listed or an object could not be read (transient:
    network, 5xx, missing permission). The message names the key or prefix."""


class CorruptObjectError(SourceError):
    """An object's bytes are not readable as events (bad gzip stream): retrying
    the same bytes will fail again."""


class KeyEscapeError(ValueError):
    """A key or prefix would leave the local source's directory."""


@dataclasses.dataclass(frozen=True, order=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # S3 ETag without quotes; local: f"{mtime_ns:x}-{size:x}"
    last_modified: dt.datetime  # aware, UTC


class Source(t.Protocol):
    location: SourceLocation

    def list(self, prefix: str = "", start_after: str = "", limit: int | None = None) -> t.Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` and sorts after ``start_after``
        (byte order, as S3), ascending, lazily, at most ``limit``."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """One object's info; SourceError (FileNotFoundError cause) if absent."""
        ...

    def open_lines(self, key: str) -> t.ContextManager[t.Iterator[bytes]]:
        """The object's lines as bytes (newline kept or not: consumers strip),
        gunzipped when its first bytes are the gzip magic, streamed in bounded
        memory. Closing the context manager releases the underlying stream."""
        ...


def open_source(location: SourceLocation) -> Source:
    """The source for a configured location (LocalSource or S3Source)."""
    raise NotImplementedError
