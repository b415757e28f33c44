"""Read the export's next objects in a thread while the current batch is
parsed and delivered (issue 15: "read the next object while the current
batch is delivered").

What the thread does in parallel is what releases the GIL: the file or HTTP
reads and zlib's inflate of gzipped objects. Parsing stays in the export's
loop (``jobs.batch``), so line numbers, batches and progress are exactly what
they are without read-ahead.

Guarantees the export relies on:

- The lines of each object arrive in order, as ``Source.open_lines`` gives
  them (a line longer than ``MAX_LINE_BYTES`` still comes in pieces).
- A ``SourceError`` (or any error) raised while opening or reading an object
  is raised by that object's line iterator after the lines read before it,
  where a direct read would have raised it; the other objects are unaffected.
- Memory: at most ``ahead_bytes`` of lines wait in the queue, plus the one
  chunk being added (``CHUNK_LINES`` lines; each at most ``MAX_LINE_BYTES``).
- Nothing is recorded by the thread: progress is still recorded only by the
  export after a subscriber's callback returns.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import typing as t

#: Lines handed over at a time: one lock round trip per chunk, not per line.
CHUNK_LINES = 64
#: Bytes of lines the thread may read ahead of the export's loop (one
#: gzipped Firehose object of the demo data is about 1 MB unpacked).
AHEAD_BYTES = 8 * 1024 * 1024

OpenLines = t.Callable[[str], t.ContextManager[t.Iterator[bytes]]]


class _Item(t.NamedTuple):
    key: str
    lines: list[bytes] | None  # None: the object starts (``error`` None) or failed (``error`` set)
    size: int
    error: BaseException | None = None
    end: bool = False


class Prefetcher:
    """A context manager over ``keys`` (the order the export reads them):
    ``open_lines(key)`` has the same contract as ``Source.open_lines``; a key
    asked for out of that order is read directly, without read-ahead.
    Leaving the context stops the thread (an export that stops early)."""

    def __init__(self, open_lines: OpenLines, keys: t.Sequence[str], ahead_bytes: int = AHEAD_BYTES) -> None:
        self._open = open_lines
        self._keys = list(keys)
        self._next = 0  # index in ``_keys`` of the next key the consumer may ask for
        self._ahead = ahead_bytes
        self._items: collections.deque[_Item] = collections.deque()
        self._queued = 0  # bytes of lines in ``_items``
        self._done = False  # the thread has queued every key
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._produce, name="export-prefetch", daemon=True)

    def __enter__(self) -> Prefetcher:
        if self._keys:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._stop = True
            self._items.clear()
            self._queued = 0
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    # -- the reading thread ----------------------------------------------------
    def _produce(self) -> None:
        try:
            for key in self._keys:
                if not self._put(_Item(key, None, 0)):
                    return
                chunk: list[bytes] = []
                try:
                    with self._open(key) as lines:
                        while True:
                            # extend keeps the lines read before an error (list(...) would lose them).
                            chunk.extend(itertools.islice(lines, CHUNK_LINES))
                            if not chunk:
                                break
                            if not self._put(_Item(key, chunk, sum(map(len, chunk)))):
                                return
                            chunk = []
                except BaseException as exc:  # raised again in the consumer, where a direct read raises it
                    if chunk and not self._put(_Item(key, chunk, sum(map(len, chunk)))):
                        return
                    if not self._put(_Item(key, None, 0, exc)):
                        return
                    continue
                if not self._put(_Item(key, None, 0, end=True)):
                    return
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _put(self, item: _Item) -> bool:
        """Queue ``item``, waiting while the queue holds ``ahead_bytes``; False once stopped."""
        with self._cond:
            while self._queued and self._queued + item.size > self._ahead and not self._stop:
                self._cond.wait()
            if self._stop:
                return False
            self._items.append(item)
            self._queued += item.size
            self._cond.notify_all()
            return True

    # -- the export's side -----------------------------------------------------
    def _take(self) -> _Item | None:
        with self._cond:
            while not self._items and not self._done:
                self._cond.wait()
            if not self._items:
                return None
            item = self._items.popleft()
            self._queued -= item.size
            self._cond.notify_all()
            return item

    def open_lines(self, key: str) -> t.ContextManager[t.Iterator[bytes]]:
        try:
            index = self._keys.index(key, self._next)
        except ValueError:
            return self._open(key)
        self._next = index + 1
        return contextlib.nullcontext(itertools.chain.from_iterable(self._chunks(key)))

    def _chunks(self, key: str) -> t.Iterator[list[bytes]]:
        # What is left of objects the export stopped reading (a read that
        # failed, a batch nobody was left for) comes before this one's start.
        while True:
            item = self._take()
            if item is None:
                raise RuntimeError(f"the read-ahead of {key} stopped")
            if item.key == key and item.lines is None and item.error is None and not item.end:
                break
        while True:
            item = self._take()
            if item is None:
                raise RuntimeError(f"the read-ahead of {key} stopped")
            if item.error is not None:
                raise item.error
            if item.end:
                return
            if item.lines is not None:
                yield item.lines
