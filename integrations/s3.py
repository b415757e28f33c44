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
- ``_manifest.json`` is written after the partition's objects: it lists every
  object with its rows, bytes and ETag, so a reader knows which objects are
  complete. A writer adds its object to the manifest it last wrote for the
  partition, then lists the partition; concurrent or stale writers converge
  because whoever's manifest does not match that listing writes it again from
  the listing, so the last manifest written is never missing an object written
  before it. A batch costs two requests per partition (object, manifest) plus
  one listing per site and day it touches (its hours of that day at once).

A batch whose objects or manifests could not all be written raises (boto3's
error), so the export retries it; the redelivery rewrites the same objects.
"""

from __future__ import annotations

import collections
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
#: One object of a manifest: ``{"key": str, "rows": int, "bytes": int, "etag": str}``.
Entry: t.TypeAlias = dict[str, t.Any]

#: The export's hook (``jobs.export_hooks.DATA_PROCESS``; integrations sit below jobs).
DATA_PROCESS = "altis.analytics.export.data.process"
FORMATS = ("ndjson.gz", "parquet")
MANIFEST = "_manifest.json"
#: Hive's name for the partition of a missing value.
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
#: Partitions of one batch written at once (each is an object, then its manifest).
PARALLEL_PARTITIONS = 8
#: Rounds of "write the manifest, list the partition" before giving up on a busy partition.
MANIFEST_ROUNDS = 20
#: Partitions whose last manifest a process remembers (a few hundred bytes per object listed).
MANIFEST_CACHE = 1024
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


def split_batch(data: str, keep_events: bool = True) -> dict[str, list[tuple[str, dict[str, t.Any] | None]]]:
    """The batch's lines by partition path, in batch order: ``(line, event)``
    (event None for a line that is not a JSON object, filed under the default
    partitions rather than dropped; None for every line unless ``keep_events``).

    ``keep_events=False`` is for ``ndjson.gz``, which needs the lines only:
    keeping thousands of parsed events alive makes the cyclic garbage
    collector walk them again and again (3.5x the time of the split itself)."""
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
        rows.append((line, event if keep_events else None))
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


def _day(path: str) -> str:
    """``site=../dt=../`` of a partition path ``site=../dt=../hour=../``."""
    return path[: path.rindex("hour=")]


class S3Destination:
    """Writes batches under one ``s3://bucket/prefix``. ``write_batch`` is the subscriber."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._client: S3Client | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()
        #: The manifest this process last wrote per partition (a hint: checked by a listing).
        self._manifests: collections.OrderedDict[str, dict[str, Entry]] = collections.OrderedDict()

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
        """Write the batch's objects, then their partitions' manifests, then
        check the manifests against listings; returns the object keys. Raises
        ``S3DestinationError`` naming the first partition that failed (the
        others may be written: a redelivery overwrites them).

        Requests per batch: one PUT per partition object, one PUT per
        manifest, and one listing per site and day the batch touches (not one
        per partition: a batch cut by arrival time holds a few consecutive
        hours of each site)."""
        client, pool = self._resources()
        batch_id = str(batch["id"])
        parts = split_batch(data, keep_events=self.settings.format == "parquet")
        failed: dict[str, BaseException] = {}

        def each(work: t.Callable[[str], t.Any], paths: t.Iterable[str]) -> dict[str, t.Any]:
            futures = {pool.submit(work, path): path for path in paths}
            done: dict[str, t.Any] = {}
            for future in concurrent.futures.as_completed(futures):
                exc = future.exception()
                if exc is not None:
                    failed[futures[future]] = exc
                else:
                    done[futures[future]] = future.result()
            return done

        # Every object before any manifest: a manifest only lists objects already written.
        objects: dict[str, Entry] = each(lambda path: self._put_part(client, path, parts[path], batch_id), parts)
        manifests: dict[str, dict[str, Entry]] = each(
            lambda path: self._put_first_manifest(client, path, objects[path]), objects
        )
        days = {_day(path) for path in manifests}
        listed = each(lambda day: self._list_hours(client, day, sorted(manifests)), days)
        listings: dict[str, dict[str, tuple[str, int]]] = {}
        for folders in listed.values():
            listings.update(folders)
        for day in days - listed.keys():  # the listing failed: that day's manifests are unconfirmed
            exc = failed.pop(day)
            for path in manifests.keys() - listings.keys():
                if _day(path) == day:
                    failed[path] = exc
                    self._forget(self.settings.prefix + path + MANIFEST)
        each(lambda path: self._settle(client, path, manifests[path], listings[path]), listings.keys() - failed.keys())
        if failed:
            path, exc = min(failed.items(), key=lambda f: f[0])
            raise S3DestinationError(
                f"{len(failed)} of {len(parts)} partition(s) of batch {batch_id} not written to "
                f"{self.settings.describe()}, first {path}: {type(exc).__name__}: {exc}"
            ) from exc
        return sorted(objects[path]["key"] for path in parts)

    def _put_part(
        self, client: S3Client, path: str, rows: list[tuple[str, dict[str, t.Any] | None]], batch_id: str
    ) -> Entry:
        """The partition's object of this batch; its manifest entry."""
        ext = self.settings.format
        body = ndjson_gz(rows) if ext == "ndjson.gz" else parquet(rows)
        key = f"{self.settings.prefix}{path}part-{batch_id}.{ext}"
        # No Content-Encoding: the object is a .gz file, not a compressed transfer
        # that an HTTP client would undo on download.
        put = client.put_object(
            Bucket=self.settings.bucket,
            Key=key,
            Body=body,
            ContentType="application/gzip" if ext == "ndjson.gz" else "application/vnd.apache.parquet",
            Metadata={"rows": str(len(rows)), "batch-id": batch_id},
        )
        return {"key": key, "rows": len(rows), "bytes": len(body), "etag": put["ETag"]}

    def _put_first_manifest(self, client: S3Client, path: str, ours: Entry) -> dict[str, Entry]:
        """Add our object to the manifest this process last wrote for the
        partition (one GET when it has none) and write it; the entries written.

        With one export job per destination that is the stored manifest, so
        this costs one request; a stale start (another writer, a restart) is
        caught by the listing that follows, like any race (``_settle``)."""
        manifest_key = self.settings.prefix + path + MANIFEST
        try:
            entries = self._cached(manifest_key)
            if entries is None:
                entries = self._read_manifest(client, manifest_key)
            entries = {**entries, ours["key"]: ours}
            self._put_manifest(client, manifest_key, path, entries)
        except BaseException:
            self._forget(manifest_key)
            raise
        return entries

    def _list_hours(self, client: S3Client, day: str, paths: list[str]) -> dict[str, dict[str, tuple[str, int]]]:
        """The objects of the batch's partitions under ``day`` (``site=../dt=../``):
        path -> the partition's listing (``_listing``'s shape). One listing of
        the day from the first of these hours, stopped after the last: hours
        sort as text, and a batch's hours of a day are consecutive or nearly."""
        mine = [path for path in paths if _day(path) == day]
        if len(mine) == 1:
            return {mine[0]: self._listing(client, self.settings.prefix + mine[0])}
        prefix = self.settings.prefix
        found: dict[str, dict[str, tuple[str, int]]] = {path: {} for path in mine}
        last = prefix + mine[-1]
        paginator = client.get_paginator("list_objects_v2")
        # StartAfter is exclusive: the first hour's folder name without its "/" precedes all its keys.
        pages = paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix + day, StartAfter=prefix + mine[0][:-1])
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                # A partition's keys are the ones under its folder, as ``_listing`` has them.
                site, dt_, hour, *rest = key[len(prefix) :].split("/", 3)
                listing = found.get(f"{site}/{dt_}/{hour}/") if rest else None
                if listing is not None and not key.endswith("/" + MANIFEST):
                    listing[key] = (item["ETag"], item["Size"])
            contents = page.get("Contents", [])
            if contents and contents[-1]["Key"] > last and not contents[-1]["Key"].startswith(last):
                break  # past the batch's last hour of the day
        return found

    def _listing(self, client: S3Client, folder: str) -> dict[str, tuple[str, int]]:
        """The partition's objects: key -> (ETag, size), the manifest excluded."""
        found: dict[str, tuple[str, int]] = {}
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=folder):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/" + MANIFEST):
                    found[item["Key"]] = (item["ETag"], item["Size"])
        return found

    def _read_manifest(self, client: S3Client, manifest_key: str) -> dict[str, Entry]:
        """The objects the stored manifest lists, by key (none when there is none yet)."""
        try:
            body = client.get_object(Bucket=self.settings.bucket, Key=manifest_key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return {}
        objects = json.loads(body).get("objects", [])
        entries: dict[str, Entry] = {}
        for item in objects if isinstance(objects, list) else []:
            if isinstance(item, dict) and {"key", "rows", "bytes", "etag"} <= item.keys():
                entries[str(item["key"])] = item
        return entries

    def _settle(
        self, client: S3Client, path: str, entries: dict[str, Entry], listing: dict[str, tuple[str, int]]
    ) -> None:
        """Done when the manifest we wrote (``entries``) matches the listing
        taken after it; else write it again from a listing, and list again.

        Why this converges on a complete manifest whatever the concurrency: the
        last manifest written was followed by its writer's listing, which holds
        every object written before that manifest and matched it; an object
        written after it would have made its own writer write a later manifest."""
        folder = self.settings.prefix + path
        manifest_key = folder + MANIFEST
        try:
            for attempt in range(MANIFEST_ROUNDS):
                if attempt:
                    self._put_manifest(client, manifest_key, path, entries)
                    listing = self._listing(client, folder)
                if {key: e["etag"] for key, e in entries.items()} == {key: etag for key, (etag, _s) in listing.items()}:
                    self._remember(manifest_key, entries)
                    return
                stored = self._read_manifest(client, manifest_key)
                if all(stored.get(key, {}).get("etag") == etag for key, (etag, _s) in listing.items()):
                    self._remember(manifest_key, stored)
                    return  # a later writer's manifest already covers what is there now
                entries = self._from_listing(client, listing, {**entries, **stored})
                time.sleep(random.uniform(0.0, 0.05 * (attempt + 1)))  # let a burst of writers settle
        except BaseException:
            self._forget(manifest_key)
            raise
        self._forget(manifest_key)
        raise S3DestinationError(f"{manifest_key}: the partition kept changing while its manifest was written")

    def _from_listing(
        self, client: S3Client, listing: dict[str, tuple[str, int]], known: dict[str, Entry]
    ) -> dict[str, Entry]:
        """Manifest entries for exactly the listed objects: rows from ``known``
        when its ETag matches, else from the object's ``x-amz-meta-rows``."""
        entries: dict[str, Entry] = {}
        for key, (etag, size) in listing.items():
            item = known.get(key)
            if item is None or item["etag"] != etag:  # written by another batch since the manifest we read
                head = client.head_object(Bucket=self.settings.bucket, Key=key)
                item = {"key": key, "rows": int(head.get("Metadata", {}).get("rows", "0")), "etag": head["ETag"]}
            entries[key] = {"key": key, "rows": int(item["rows"]), "bytes": size, "etag": etag}
        return entries

    def _put_manifest(self, client: S3Client, manifest_key: str, path: str, entries: dict[str, Entry]) -> None:
        objects = [entries[key] for key in sorted(entries)]
        manifest = {
            "partition": dict(part.partition("=")[::2] for part in path.rstrip("/").split("/")),
            "format": self.settings.format,
            "objects": objects,
            "rows": sum(int(o["rows"]) for o in objects),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        }
        client.put_object(
            Bucket=self.settings.bucket,
            Key=manifest_key,
            Body=orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
            ContentType="application/json",
        )

    def _cached(self, manifest_key: str) -> dict[str, Entry] | None:
        with self._lock:
            return self._manifests.get(manifest_key)

    def _remember(self, manifest_key: str, entries: dict[str, Entry]) -> None:
        with self._lock:
            self._manifests[manifest_key] = entries
            self._manifests.move_to_end(manifest_key)
            while len(self._manifests) > MANIFEST_CACHE:
                self._manifests.popitem(last=False)

    def _forget(self, manifest_key: str) -> None:
        with self._lock:
            self._manifests.pop(manifest_key, None)


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
    # boto3 takes ~0.2 s to import: paid here, once per worker, rather than
    # in each forked work horse's first batch.
    import boto3  # noqa: F401

    add_action(DATA_PROCESS, write_batch, 10, 2)
