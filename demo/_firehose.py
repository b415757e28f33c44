"""Objects written the way Kinesis Firehose writes them: buffered in arrival
order, flushed when the buffer is full or its oldest record old enough, named
after the arrival hour of that oldest record (``events.layout``), some
gzipped by content only, some written late."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import random
from pathlib import Path

from events.layout import HOUR_MS, key_for

from ._vocabulary import uuid4

#: Firehose stream name and its numeric suffix in object names.
STREAM_NAME = "analytics-1"
#: Share of objects written gzip-compressed (by content; the name has no suffix).
GZIP_SHARE = 0.25
#: Share of objects whose write is delayed well past their hour (Firehose backlog).
DELAYED_OBJECT_SHARE = 0.04
#: Events per object: Firehose flushes when the buffer reaches this many ...
OBJECT_EVENTS = (1500, 6000)
#: ... or when this many milliseconds have passed since its oldest record.
OBJECT_INTERVAL_MS = (300_000, 900_000)
#: gzip level: 1 is several times faster than 9 and still shrinks NDJSON ~10x.
GZIP_LEVEL = 1


MINUTE_MS = 60_000


# --------------------------------------------------------------------------- firehose


class Firehose:
    """Buffers events in arrival order and flushes objects the way Firehose
    does: when the buffer is full or its oldest record is old enough."""

    def __init__(self, out_dir: Path, seed: int, until_ms: int | None = None) -> None:
        self.out_dir = out_dir
        self.until_ms = until_ms
        self.rng = random.Random(f"demo:{seed}:firehose")
        self.buf: list[bytes] = []
        self.open_ms = 0
        self.last_ms = 0
        self.target = 0
        self.interval = 0
        self.objects = 0
        self.gzipped = 0
        self.late = 0
        self._dirs: set[Path] = set()

    def add(self, arrival_ms: int, line: bytes) -> None:
        if self.buf and arrival_ms - self.open_ms >= self.interval:
            self.flush(self.open_ms + self.interval)
        if not self.buf:
            self.open_ms = arrival_ms
            self.target = self.rng.randint(*OBJECT_EVENTS)
            self.interval = self.rng.randint(*OBJECT_INTERVAL_MS)
        self.buf.append(line)
        self.last_ms = arrival_ms
        if len(self.buf) >= self.target:
            self.flush(arrival_ms)

    def flush(self, due_ms: int | None = None) -> None:
        """Write the buffer as one object, atomically (temp file, rename)."""
        if not self.buf:
            return
        rng = self.rng
        write_ms = (self.last_ms if due_ms is None else due_ms) + rng.randint(200, 20_000)
        if rng.random() < DELAYED_OBJECT_SHARE:
            write_ms += rng.randint(20 * MINUTE_MS, 150 * MINUTE_MS)
        if self.until_ms is not None:  # still buffering at ``until``: written then, not in the future
            write_ms = min(write_ms, self.until_ms)
        opened = dt.datetime.fromtimestamp(self.open_ms // 1000, dt.UTC)
        name = f"{STREAM_NAME}-{opened.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid4(rng).decode()}"
        path = self.out_dir / key_for(opened, name)
        folder = path.parent
        data = b"".join(self.buf)
        if rng.random() < GZIP_SHARE:
            data = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
            self.gzipped += 1
        if folder not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        write_ns = write_ms * 1_000_000
        os.utime(path, ns=(write_ns, write_ns))
        self.objects += 1
        if write_ms // HOUR_MS > self.open_ms // HOUR_MS:
            self.late += 1
        self.buf = []
