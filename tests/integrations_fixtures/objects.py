"""Test helpers: raw-event objects written to a local source or to S3 (moto)."""

from __future__ import annotations

import datetime as dt
import gzip
import typing as t
from pathlib import Path

import orjson

from events import layout


def hour_ago(hours: int, now: dt.datetime | None = None) -> dt.datetime:
    """The start of the UTC hour ``hours`` before now."""
    now = now or dt.datetime.now(dt.UTC)
    return now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours)


def event_lines(tag: str, count: int, ts_ms: int = 1_764_000_000_000, pad: int = 0) -> list[bytes]:
    """``count`` Pinpoint-shaped events whose ``attributes.tag`` is
    ``tag-<i>`` (so a test can tell every event apart)."""
    return [
        orjson.dumps(
            {
                "event_type": "pageView",
                "event_timestamp": ts_ms + i,
                "arrival_timestamp": ts_ms + i + 5,
                "attributes": {"blogId": "1", "tag": f"{tag}-{i}", "pad": "x" * pad},
                "endpoint": {"Id": f"ep-{i}"},
            }
        )
        for i in range(count)
    ]


class Store:
    """Writes objects where the source under test reads them."""

    def __init__(self, kind: str, root: Path | None = None, bucket: t.Any = None) -> None:
        self.kind = kind
        self.root = root
        self.bucket = bucket

    @property
    def source_setting(self) -> str:
        return str(self.root) if self.kind == "local" else f"s3://{self.bucket.name}"

    def put(
        self,
        hour: dt.datetime,
        name: str,
        lines: list[bytes],
        gzipped: bool = False,
        raw: bytes | None = None,
        storage_class: str = "STANDARD",
    ) -> str:
        key = layout.key_for(hour, name)
        body = raw if raw is not None else b"".join(line + b"\n" for line in lines)
        if gzipped and raw is None:
            body = gzip.compress(body)
        if self.kind == "local":
            assert self.root is not None
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        else:
            self.bucket.put_object(Key=key, Body=body, StorageClass=storage_class)
        return key


def tags(data: str) -> list[str]:
    """The ``attributes.tag`` of every line of an NDJSON batch, in order."""
    assert data.endswith("\n")
    return [orjson.loads(line)["attributes"]["tag"] for line in data.splitlines()]
