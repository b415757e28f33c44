"""Resumable downloads: ``Range`` and ``If-Range`` (RFC 9110 sections 14.1.2,
13.1.5 and 15.3.7) over a streamed body that is made again for each request.

A body of this service is a pure function of the day's objects and the
request (the ``ETag`` names both), so the bytes from offset N of a new run
are the bytes from offset N of the run that was cut: a resumed download makes
the body again and skips what the client already has.

Only a single range is honoured (``bytes=N-``, ``bytes=N-M``, ``bytes=-S``):
a list of ranges, another unit or a malformed header is ignored and the whole
body is sent (a server MAY ignore ``Range``). ``If-Range`` must be the strong
``ETag`` of this answer (a date, a weak tag or another tag: the whole body,
200, so a changed day is never spliced).
"""

from __future__ import annotations

import re
import typing as t

from wpjson._stream import StreamAborted

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE | re.ASCII)


class ByteRange(t.NamedTuple):
    """``first`` to ``last`` inclusive, of a body of ``total`` bytes."""

    first: int
    last: int
    total: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.total}"


class RangeNotSatisfiable(Exception):
    """The range starts at or after the body's end (416, ``Content-Range: bytes */total``)."""

    def __init__(self, total: int) -> None:
        super().__init__(f"the body has {total} bytes")
        self.total = total


def requested(header: str | None) -> tuple[int | None, int | None] | None:
    """The one range a ``Range`` header asks for, ``(first, last)`` with
    ``(None, S)`` for the last S bytes and ``(N, None)`` for N to the end;
    None when there is none to honour (absent, several, another unit, malformed)."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header)
    if found is None:
        return None
    first, last = (int(text) if text else None for text in found.groups())
    if first is None and last is None:
        return None
    if first is not None and last is not None and last < first:
        return None  # RFC 9110 14.1.1: invalid, so ignored
    return first, last


def resolve(asked: tuple[int | None, int | None], total: int) -> ByteRange:
    """The bytes of a body of ``total`` bytes that ``asked`` covers; raises
    RangeNotSatisfiable when it starts at or after the end (or asks for the
    last 0 bytes)."""
    first, last = asked
    if first is None:
        assert last is not None
        if last == 0 or total == 0:
            raise RangeNotSatisfiable(total)
        return ByteRange(max(0, total - last), total - 1, total)
    if first >= total:
        raise RangeNotSatisfiable(total)
    return ByteRange(first, total - 1 if last is None else min(last, total - 1), total)


def if_range_allows(header: str | None, etag: str) -> bool:
    """Whether ``Range`` applies under ``If-Range`` (absent: yes; else only
    the exact strong ``etag``, quotes included)."""
    return header is None or header.strip() == etag


def exact(pieces: t.Iterator[bytes], skip: int, length: int) -> t.Iterator[bytes]:
    """The ``length`` bytes of ``pieces`` after the first ``skip``, as a
    ``Content-Length`` promises them: a body that ends sooner raises
    StreamAborted (the server drops the connection, the client sees a short
    transfer and can resume), one that goes on is cut at ``length`` (the end
    of a range, or an object changed under a 200 answer). ``pieces`` is
    closed either way."""
    try:
        sent = 0
        for piece in pieces:
            if skip:
                if len(piece) <= skip:
                    skip -= len(piece)
                    continue
                piece = piece[skip:]
                skip = 0
            if sent + len(piece) >= length:
                yield piece[: length - sent]
                sent = length
                break
            sent += len(piece)
            yield piece
        if sent < length:
            raise StreamAborted("the body", ValueError(f"it ended after {sent} of the {length} bytes announced"))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def body_length(pieces: t.Iterator[bytes]) -> int:
    """How many bytes ``pieces`` make (the body made once, sent nowhere)."""
    try:
        return sum(map(len, pieces))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
