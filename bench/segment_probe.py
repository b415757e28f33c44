"""Segment formatting throughput: the events of the given objects, cut into
NDJSON batches the size the export hands a subscriber, timed through
``integrations.segment.format`` + ``prepare`` (the CPU work of ``process``
before any request; sending is network-bound and not measured here).

Prints one JSON line: seconds (format + prepare only, reading excluded),
events, calls, bodies. Run with ``bench/`` and the checkout on
``PYTHONPATH``; a dummy write key is set so the module enables itself.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path


def batches(root: Path, keys: list[str], limit: int) -> list[str]:
    """Whole lines, at most ``limit`` bytes per batch, as the export cuts them."""
    out: list[str] = []
    current: list[bytes] = []
    size = 0
    for key in keys:
        data = (root / key).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for line in data.split(b"\n"):
            line = line.strip()
            if not line:
                continue
            if current and size + len(line) + 1 > limit:
                out.append(b"\n".join(current).decode() + "\n")
                current, size = [], 0
            current.append(line)
            size += len(line) + 1
    if current:
        out.append(b"\n".join(current).decode() + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--keys-file", type=Path, required=True)
    parser.add_argument("--batch-bytes", type=int, default=8 * 1024 * 1024)
    args = parser.parse_args()
    os.environ.setdefault("SEGMENT_API_WRITE_KEY", "bench-not-sent")
    import integrations.segment as segment

    work = batches(args.root, args.keys_file.read_text().split(), args.batch_bytes)
    events = sum(data.count("\n") for data in work)
    calls = bodies = 0
    started = time.perf_counter()
    for data in work:
        formatted = segment.format(data)
        bodies += len(segment.prepare(formatted))
        calls += sum(len(c) for c in formatted)
    seconds = time.perf_counter() - started
    json.dump({"seconds": seconds, "events": events, "calls": calls, "bodies": bodies}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
