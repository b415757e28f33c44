"""The S3 floor of bench/run: a subscriber that puts each batch's
partition objects with plain boto3 ``put_object`` calls and nothing else (no
manifest, no metadata), through the same pool size as ``integrations.s3``.
Its events/s is what the S3 server's per-request cost allows the data-lake
drop at best. Loaded through ``ANALYTICS_INTEGRATIONS`` with ``bench/`` on
``PYTHONPATH``; writes under ``BENCH_S3_FLOOR_DESTINATION`` (``s3://bucket/prefix``;
not ``ANALYTICS_S3_DESTINATION``, which would register ``integrations.s3`` too)."""

from __future__ import annotations

import concurrent.futures
import os
import typing as t

import boto3

from events.sources import s3_client_config
from hooks import add_action
from integrations import s3

DATA_PROCESS = "altis.analytics.export.data.process"
SETTINGS = s3.S3Settings.from_env({"ANALYTICS_S3_DESTINATION": os.environ.get("BENCH_S3_FLOOR_DESTINATION", "")})


def put_batch(data: str, batch: dict[str, t.Any]) -> None:
    """One plain PUT of gzipped lines per partition the batch touches."""
    assert SETTINGS is not None, "BENCH_S3_FLOOR_DESTINATION is not set"
    client = _client()
    parts = s3.split_batch(data, keep_events=False)

    def put(path: str) -> None:
        key = f"{SETTINGS.prefix}{path}part-{batch['id']}.ndjson.gz"
        client.put_object(Bucket=SETTINGS.bucket, Key=key, Body=s3.ndjson_gz(parts[path]))

    with concurrent.futures.ThreadPoolExecutor(s3.PARALLEL_PARTITIONS) as pool:
        list(pool.map(put, parts))


_CLIENTS: list[t.Any] = []


def _client() -> t.Any:
    if not _CLIENTS:
        _CLIENTS.append(boto3.client("s3", config=s3_client_config(max_pool_connections=s3.PARALLEL_PARTITIONS * 2)))
    return _CLIENTS[0]


add_action(DATA_PROCESS, put_batch, 10, 2)
