"""The export's read-ahead (jobs/prefetch.py) over real files: same lines as
a direct read, errors where a direct read raises them, bounded memory, and a
clean stop when the export stops early."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import typing as t
from pathlib import Path

import pytest

from config import SourceLocation
from events.sources import MAX_LINE_BYTES, CorruptObjectError, open_source
from jobs.prefetch import CHUNK_LINES, Prefetcher


def _line(i: int) -> bytes:
    return b'{"event_type":"e","n":%d,"pad":"%s"}\n' % (i, b"x" * 200)


def _write(root: Path, key: str, data: bytes) -> str:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


class _Counting:
    """``LocalSource.open_lines`` that counts the lines it has handed out and
    which objects are open (a counting wrapper, the reads are the real ones)."""

    def __init__(self, root: Path) -> None:
        self.source = open_source(SourceLocation("local", path=root))
        self.read = 0
        self.open: set[str] = set()
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def open_lines(self, key: str) -> t.Iterator[t.Iterator[bytes]]:
        with self.source.open_lines(key) as lines:
            self.open.add(key)
            try:
                yield self._count(lines)
            finally:
                self.open.discard(key)

    def _count(self, lines: t.Iterator[bytes]) -> t.Iterator[bytes]:
        for line in lines:
            with self.lock:
                self.read += 1
            yield line


def test_lines_and_errors_arrive_as_a_direct_read_gives_them(tmp_path: Path) -> None:
    plain = [_line(i) for i in range(300)]
    long_line = b'{"big":"' + b"y" * (MAX_LINE_BYTES + 10) + b'"}\n'
    good_gz = gzip.compress(b"".join(plain[:50]))
    keys = [
        _write(tmp_path, "2024/03/05/10/a", b"".join(plain)),
        _write(tmp_path, "2024/03/05/10/b", good_gz[: len(good_gz) // 2]),  # truncated gzip
        _write(tmp_path, "2024/03/05/10/c", long_line + plain[0]),
        _write(tmp_path, "2024/03/05/10/d", good_gz),
    ]
    source = open_source(SourceLocation("local", path=tmp_path))
    with Prefetcher(source.open_lines, keys) as ahead:
        with ahead.open_lines(keys[0]) as lines:
            assert list(lines) == plain
        got: list[bytes] = []
        with pytest.raises(CorruptObjectError), ahead.open_lines(keys[1]) as lines:
            got.extend(lines)
        with source.open_lines(keys[1]) as direct, contextlib.suppress(CorruptObjectError):
            expected_before_error = []
            for line in direct:
                expected_before_error.append(line)
        assert got == expected_before_error
        with ahead.open_lines(keys[2]) as lines:
            pieces = list(lines)
        # The long line still comes in pieces of MAX_LINE_BYTES (the resume offsets count physical lines).
        assert b"".join(pieces) == long_line + plain[0]
        assert len(pieces[0]) == MAX_LINE_BYTES
        with ahead.open_lines(keys[3]) as lines:
            assert list(lines) == plain[:50]


def test_read_ahead_is_bounded_and_stops_with_the_export(tmp_path: Path) -> None:
    lines = [_line(i) for i in range(5000)]  # about 1.1 MB per object
    keys = [_write(tmp_path, f"2024/03/05/10/o{i}", b"".join(lines)) for i in range(6)]
    counting = _Counting(tmp_path)
    ahead_bytes = 64 * 1024
    with (
        Prefetcher(counting.open_lines, keys, ahead_bytes=ahead_bytes) as ahead,
        ahead.open_lines(keys[0]) as first,
    ):
        taken = [next(first) for _ in range(10)]
        assert taken == lines[:10]
        # Wait until the thread stops reading (it must: the budget is full), with a deadline.
        deadline = time.monotonic() + 10
        before = -1
        while counting.read != before and time.monotonic() < deadline:
            before = counting.read
            threading.Event().wait(0.05)
        # Queued bytes <= the budget, plus the chunk waiting to be queued and the one being consumed.
        held = (counting.read - 10) * len(lines[0])
        assert held <= ahead_bytes + 2 * CHUNK_LINES * len(lines[0])
        assert counting.read < 5000  # nowhere near the whole object, let alone the next ones
    # Leaving early (nobody left to deliver to) stops the thread and closes the object it was reading.
    assert not [th for th in threading.enumerate() if th.name == "export-prefetch"]
    assert counting.open == set()


def test_a_key_out_of_order_is_read_directly(tmp_path: Path) -> None:
    lines = [_line(i) for i in range(20)]
    keys = [_write(tmp_path, f"2024/03/05/10/o{i}", b"".join(lines[i:])) for i in range(3)]
    source = open_source(SourceLocation("local", path=tmp_path))
    with Prefetcher(source.open_lines, keys[:2]) as ahead:
        with ahead.open_lines(keys[2]) as rest:
            assert list(rest) == lines[2:]
        with ahead.open_lines(keys[1]) as second:  # the first one was skipped: its read-ahead is dropped
            assert list(second) == lines[1:]
