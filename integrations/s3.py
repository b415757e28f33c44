"""A data-lake drop: each export batch becomes objects in S3 under Hive
partitions by event time, ready for Athena, BigQuery external tables,
Snowflake stages or DuckDB.

Loaded with ``ANALYTICS_INTEGRATIONS=integrations.s3``; configured by
``ANALYTICS_S3_DESTINATION`` (``s3://bucket[/prefix]``) and
``ANALYTICS_S3_FORMAT`` (``ndjson.gz``, the default, or ``parquet``). Endpoint,
region and credentials are boto3's own variables, as for the event source.

What lands where, for a batch with descriptor ``id``::

    <prefix>site=<blogId>/dt=YYYY-MM-DD/hour=HH/part-<id>.ndjson.gz   (or .parquet)
    <prefix>site=<blogId>/dt=YYYY-MM-DD/hour=HH/_manifest.json

- Partitions come from ``attributes.blogId`` and the UTC ``event_timestamp``
  of each event (Hive's ``__HIVE_DEFAULT_PARTITION__`` when either is
  missing); a partition value is percent-escaped as Hive escapes paths.
- An object is named by the batch id inside its partition, and its bytes
  depend only on the batch (gzip without a time stamp), so a redelivered batch
  overwrites its objects with the same content instead of adding new ones.
- ``ndjson.gz`` holds the events' lines exactly as stored; ``parquet`` (zstd)
  has one string column per flattened field, named and spelled as the CSV
  export writes them (``events.records.flatten``: ``endpoint.Location.Country``).
- Each object carries its row count as metadata (``x-amz-meta-rows``).
- ``_manifest.json`` is written after the partition's objects and derived from
  a listing of the partition, not from the batch alone: it lists every
  object with its rows, bytes and ETag, so a reader knows which objects are
  complete. Concurrent writers converge: each lists again after writing the
  manifest and rewrites it if objects appeared meanwhile, so the last manifest
  written is never missing an object written before it.

A batch whose objects or manifests could not all be written raises (boto3's
error), so the export retries it; the redelivery rewrites the same objects.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import gzip
import io
import json
import logging
import os
import random
import threading
import time
import typing as t
import urllib.parse

import orjson

from config import ConfigError
from events import records
from events.sources import s3_client_config
from hooks import add_action

from . import _env

logger = logging.getLogger(__name__)

#: boto3's S3 client (boto3 ships no type hints).
S3Client: t.TypeAlias = t.Any

#: The export's hook (``jobs.export_hooks.DATA_PROCESS``; integrations sit below jobs).
DATA_PROCESS = "altis.analytics.export.data.process"
FORMATS = ("ndjson.gz", "parquet")
MANIFEST = "_manifest.json"
#: Hive's name for the partition of a missing value.
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
#: Partitions of one batch written at once (each is an object, then its manifest).
PARALLEL_PARTITIONS = 8
#: Rounds of "list, write the manifest, list again" before giving up on a busy partition.
MANIFEST_ROUNDS = 20
_HOUR_MS = 3_600_000
#: Characters Hive leaves unescaped in a partition value (it escapes '/', '=', ':', '%', controls...).
_SAFE = "-_.~ "


class S3DestinationError(RuntimeError):
    """A batch could not be written completely; the message says which part."""


@dataclasses.dataclass(frozen=True)
class S3Settings:
    """``ANALYTICS_S3_DESTINATION`` and ``ANALYTICS_S3_FORMAT``, validated."""

    bucket: str
    prefix: str  # "" or ending in "/"
    format: str

    @classmethod
    def from_env(cls, environ: t.Mapping[str, str] | None = None) -> S3Settings | None:
        """None when no destination is set; ``ConfigError`` for a malformed value."""
        destination = _env.text("ANALYTICS_S3_DESTINATION", "", environ)
        fmt = _env.choice("ANALYTICS_S3_FORMAT", "ndjson.gz", FORMATS, environ)
        if not destination:
            return None
        bucket, prefix = _env.s3_url("ANALYTICS_S3_DESTINATION", destination)
        return cls(bucket, prefix, fmt)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def hive_value(value: str) -> str:
    """A partition value as Hive writes it in a path (``FileUtils.escapePathName``):
    characters other than letters, digits and a few marks percent-escaped."""
    return urllib.parse.quote(value, safe=_SAFE) if value else DEFAULT_PARTITION


class _Partitioner:
    """``site=<blogId>/dt=YYYY-MM-DD/hour=HH/`` of an event; an hour's path is
    computed once (a batch holds a few hours, thousands of events)."""

    def __init__(self) -> None:
        self.hours: dict[int, str] = {}
        self.sites: dict[str, str] = {}

    def __call__(self, data: dict[str, t.Any]) -> str:
        blog = records.blog_text(data)
        site = self.sites.get(blog) if blog is not None else None
        if site is None:
            site = "site=" + (hive_value(blog) if blog else DEFAULT_PARTITION) + "/"
            if blog is not None:
                self.sites[blog] = site
        ms = records.timestamp_ms(data)
        if ms is None:
            return f"{site}dt={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}/"
        hour = ms // _HOUR_MS
        when = self.hours.get(hour)
        if when is None:
            try:
                start = dt.datetime.fromtimestamp(hour * 3600, dt.UTC)
                when = f"dt={start:%Y-%m-%d}/hour={start:%H}/"
            except (OverflowError, OSError, ValueError):  # beyond the calendar
                when = f"dt={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}/"
            self.hours[hour] = when
        return site + when


def _parse(line: str) -> dict[str, t.Any] | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # the standard library accepts what orjson refuses: lone surrogate escapes
            data = json.loads(line)
        except ValueError:
            return None
    return data if type(data) is dict else None


def split_batch(data: str) -> dict[str, list[tuple[str, dict[str, t.Any] | None]]]:
    """The batch's lines by partition path, in batch order: ``(line, event)``
    (event None for a line that is not a JSON object, filed under the default
    partitions rather than dropped)."""
    partition = _Partitioner()
    parts: dict[str, list[tuple[str, dict[str, t.Any] | None]]] = {}
    default = f"site={DEFAULT_PARTITION}/dt={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}/"
    for line in data.split("\n"):
        if not line:
            continue
        event = _parse(line)
        path = partition(event) if event is not None else default
        rows = parts.get(path)
        if rows is None:
            rows = parts[path] = []
        rows.append((line, event))
    return parts


def ndjson_gz(rows: list[tuple[str, dict[str, t.Any] | None]]) -> bytes:
    """The lines as stored, gzipped with no time stamp: the same batch gives the same bytes."""
    text = "\n".join(line for line, _ in rows) + "\n"
    return gzip.compress(text.encode("utf-8", "surrogatepass"), compresslevel=6, mtime=0)


def parquet(rows: list[tuple[str, dict[str, t.Any] | None]]) -> bytes:
    """One row per event, one string column per flattened CSV field (sorted
    names), zstd-compressed; a line that is not a JSON object keeps its text
    in a ``_raw`` column."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    flat = [records.flatten(event) if event is not None else {"_raw": line} for line, event in rows]
    names: set[str] = set()
    for fields in flat:
        names.update(fields)
    table = pa.table({name: pa.array([fields.get(name) for fields in flat], pa.string()) for name in sorted(names)})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


class S3Destination:
    """Writes batches under one ``s3://bucket/prefix``. ``write_batch`` is the subscriber."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._client: S3Client | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _resources(self) -> tuple[S3Client, concurrent.futures.ThreadPoolExecutor]:
        """A client and a thread pool per process: an RQ work horse is forked
        from its worker, and neither sockets nor threads survive a fork."""
        with self._lock:
            if self._client is None or self._pool is None or self._pid != os.getpid():
                import boto3

                self._client = boto3.client("s3", config=s3_client_config(max_pool_connections=PARALLEL_PARTITIONS * 2))
                self._pool = concurrent.futures.ThreadPoolExecutor(PARALLEL_PARTITIONS, "s3-destination")
                self._pid = os.getpid()
            return self._client, self._pool

    def write_batch(self, data: str, batch: dict[str, t.Any]) -> list[str]:
        """Write the batch's objects and their partitions' manifests; returns
        the object keys. Raises ``S3DestinationError`` naming the first
        partition that failed (the others may be written: a redelivery
        overwrites them)."""
        client, pool = self._resources()
        parts = split_batch(data)
        futures = {
            pool.submit(self._write_partition, client, path, rows, str(batch["id"])): path
            for path, rows in parts.items()
        }
        keys: list[str] = []
        failed: list[tuple[str, BaseException]] = []
        for future in concurrent.futures.as_completed(futures):
            exc = future.exception()
            if exc is not None:
                failed.append((futures[future], exc))
            else:
                keys.append(future.result())
        if failed:
            path, exc = min(failed, key=lambda f: f[0])
            raise S3DestinationError(
                f"{len(failed)} of {len(parts)} partition(s) of batch {batch['id']} not written to "
                f"{self.settings.describe()}, first {path}: {type(exc).__name__}: {exc}"
            ) from exc
        return sorted(keys)

    def _write_partition(
        self, client: S3Client, path: str, rows: list[tuple[str, dict[str, t.Any] | None]], batch_id: str
    ) -> str:
        ext = self.settings.format
        body = ndjson_gz(rows) if ext == "ndjson.gz" else parquet(rows)
        folder = self.settings.prefix + path
        key = f"{folder}part-{batch_id}.{ext}"
        # No Content-Encoding: the object is a .gz file, not a compressed transfer
        # that an HTTP client would undo on download.
        put = client.put_object(
            Bucket=self.settings.bucket,
            Key=key,
            Body=body,
            ContentType="application/gzip" if ext == "ndjson.gz" else "application/vnd.apache.parquet",
            Metadata={"rows": str(len(rows)), "batch-id": batch_id},
        )
        self._write_manifest(client, folder, path, {key: (put["ETag"], len(rows))})
        return key

    def _listing(self, client: S3Client, folder: str) -> dict[str, tuple[str, int]]:
        """The partition's objects: key -> (ETag, size), the manifest excluded."""
        found: dict[str, tuple[str, int]] = {}
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=folder):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/" + MANIFEST):
                    found[item["Key"]] = (item["ETag"], item["Size"])
        return found

    def _read_manifest(self, client: S3Client, manifest_key: str) -> list[dict[str, t.Any]]:
        """The objects the stored manifest lists (none when there is none yet)."""
        try:
            body = client.get_object(Bucket=self.settings.bucket, Key=manifest_key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return []
        objects = json.loads(body).get("objects", [])
        return objects if isinstance(objects, list) else []

    def _write_manifest(self, client: S3Client, folder: str, path: str, known: dict[str, tuple[str, int]]) -> None:
        """Write the partition's manifest from a listing taken after our object
        was written, then list again: done when the manifest now stored covers
        that second listing, else write again from it.

        Why this converges on a complete manifest whatever the concurrency: the
        last manifest written was followed by its writer's second listing, which
        holds every object written before that manifest; an object written
        after it would have made its own writer write a later manifest."""
        manifest_key = folder + MANIFEST
        rows = {key: n for key, (_etag, n) in known.items()}
        etags = {key: etag for key, (etag, _n) in known.items()}
        for item in self._read_manifest(client, manifest_key):
            if item["key"] not in rows:
                rows[item["key"]], etags[item["key"]] = int(item["rows"]), item["etag"]
        listing = self._listing(client, folder)
        for attempt in range(MANIFEST_ROUNDS):
            objects: list[dict[str, t.Any]] = []
            for key, (etag, size) in sorted(listing.items()):
                if etags.get(key) != etag:  # written by another batch since the manifest we read
                    head = client.head_object(Bucket=self.settings.bucket, Key=key)
                    rows[key], etags[key] = int(head.get("Metadata", {}).get("rows", "0")), head["ETag"]
                objects.append({"key": key, "rows": rows[key], "bytes": size, "etag": etag})
            manifest = {
                "partition": dict(part.partition("=")[::2] for part in path.rstrip("/").split("/")),
                "format": self.settings.format,
                "objects": objects,
                "rows": sum(rows[key] for key in listing),
                "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            }
            client.put_object(
                Bucket=self.settings.bucket,
                Key=manifest_key,
                Body=orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
                ContentType="application/json",
            )
            again = self._listing(client, folder)
            if again == listing:
                return
            stored = {(o["key"], o["etag"]) for o in self._read_manifest(client, manifest_key)}
            if all((key, etag) in stored for key, (etag, _size) in again.items()):
                return  # a later writer's manifest already covers what is there now
            listing = again
            time.sleep(random.uniform(0.0, 0.05 * (attempt + 1)))  # let a burst of writers settle
        raise S3DestinationError(f"{manifest_key}: the partition kept changing while its manifest was written")


SETTINGS = S3Settings.from_env()
DESTINATION = S3Destination(SETTINGS) if SETTINGS is not None else None


def write_batch(data: str, batch: dict[str, t.Any]) -> None:
    """The subscriber (``integrations.s3.write_batch``): one batch into the data lake."""
    if DESTINATION is None:
        raise ConfigError("ANALYTICS_S3_DESTINATION is not set")
    DESTINATION.write_batch(data, batch)


if DESTINATION is None:
    logger.info("integrations.s3: ANALYTICS_S3_DESTINATION is not set; nothing registered")
else:
    add_action(DATA_PROCESS, write_batch, 10, 2)
