"""The S3 data-lake destination against moto's S3 server over HTTP: the objects
are downloaded and read back with DuckDB (``read_json``, ``read_parquet``),
their counts compared with the source read independently; partitions,
manifests, redelivery, concurrent batches and a real RQ worker."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import gzip
import json
import types
import typing as t
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

import config
import hooks
from jobs import export_hooks, subscribers
from jobs.export import run_export
from tests.conftest import TEST_BUCKET, aws_env
from tests.destinations import export_env, flask, load, settings, source_events, write_demo

if t.TYPE_CHECKING:
    import redis as redis_lib

LAKE = f"s3://{TEST_BUCKET}/lake"


def s3_module(monkeypatch: pytest.MonkeyPatch, **env: str) -> types.ModuleType:
    return load("integrations.s3", monkeypatch, "ANALYTICS_S3_", **{"ANALYTICS_S3_DESTINATION": LAKE, **env})


def download(bucket: t.Any, to: Path) -> dict[str, Path]:
    """Every object under ``lake/`` saved under ``to`` by its key (what a reader
    would sync before querying; DuckDB's httpfs cannot be installed offline)."""
    saved: dict[str, Path] = {}
    for summary in bucket.objects.filter(Prefix="lake/"):
        path = to / summary.key
        path.parent.mkdir(parents=True, exist_ok=True)
        bucket.download_file(summary.key, str(path))
        saved[summary.key] = path
    return saved


def ndjson_rows(lake: Path, where: str = "true") -> list[tuple[t.Any, ...]]:
    query = (
        f"select site, dt, hour, event_timestamp, attributes.blogId from read_json('{lake}/**/*.ndjson.gz', "
        "format='newline_delimited', hive_partitioning=true, hive_types_autocast=false, union_by_name=true) "
        f"where {where}"
    )
    return duckdb.sql(query).fetchall()


def utc_partition(event: dict[str, t.Any]) -> tuple[str, str, str]:
    when = dt.datetime.fromtimestamp(event["event_timestamp"] / 1000, dt.UTC)
    return event["attributes"]["blogId"], when.strftime("%Y-%m-%d"), when.strftime("%H")


def test_ndjson_lands_in_hive_partitions_that_duckdb_reads_back(
    redis: redis_lib.Redis, s3_bucket: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir)
    source = source_events(events_dir)
    s3_module(monkeypatch)

    report = run_export(settings(events_dir, ANALYTICS_EXPORT_BATCH_BYTES="65536"))

    assert not report.failures and report.batches > 3
    saved = download(s3_bucket, tmp_path / "got")
    rows = ndjson_rows(tmp_path / "got")
    assert len(rows) == len(source), "as many rows as events in the source"
    # Each event sits in the partition of its own blog id and UTC hour.
    expected = Counter((*utc_partition(e), e["event_timestamp"]) for _, e in source)
    assert Counter((site, day, hour, ts) for site, day, hour, ts, _ in rows) == expected
    assert all(site == blog for site, _, _, _, blog in rows)
    # The lines are the stored ones, byte for byte.
    stored = Counter(
        line
        for key, path in saved.items()
        if key.endswith(".ndjson.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    )
    assert stored == Counter(line for line, _ in source)


def test_every_partition_hour_has_a_manifest_of_its_objects(
    redis: redis_lib.Redis, s3_bucket: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir, events_per_day=200)
    s3_module(monkeypatch)
    run_export(settings(events_dir, ANALYTICS_EXPORT_BATCH_BYTES="32768"))

    saved = download(s3_bucket, tmp_path / "got")
    folders: dict[str, dict[str, int]] = {}
    for key, path in saved.items():
        folder, _, name = key.rpartition("/")
        if name != "_manifest.json":
            folders.setdefault(folder, {})[key] = len(gzip.decompress(path.read_bytes()).splitlines())
    assert len(folders) > 10
    for folder, objects in folders.items():
        manifest = json.loads(saved[f"{folder}/_manifest.json"].read_bytes())
        assert {o["key"]: o["rows"] for o in manifest["objects"]} == objects
        assert manifest["rows"] == sum(objects.values())
        site, day, hour = folder.split("/")[1:]
        assert manifest["partition"] == {"site": site[5:], "dt": day[3:], "hour": hour[5:]}
        assert manifest["format"] == "ndjson.gz"
        for item in manifest["objects"]:
            assert item["bytes"] == saved[item["key"]].stat().st_size


def test_parquet_has_the_csv_columns_and_every_event(
    redis: redis_lib.Redis, s3_bucket: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir, events_per_day=300)
    source = source_events(events_dir)
    s3_module(monkeypatch, ANALYTICS_S3_FORMAT="parquet")

    report = run_export(settings(events_dir, ANALYTICS_EXPORT_BATCH_BYTES="65536"))

    assert not report.failures
    saved = download(s3_bucket, tmp_path / "got")
    assert all(k.endswith((".parquet", "/_manifest.json")) for k in saved)
    lake = tmp_path / "got"
    relation = duckdb.sql(
        f"select * from read_parquet('{lake}/**/*.parquet', hive_partitioning=true, hive_types_autocast=false, "
        "union_by_name=true)"
    )
    # Column names are the CSV export's dotted paths.
    for column in ("event_type", "attributes.blogId", "endpoint.Location.Country", "endpoint.Attributes.DeviceType"):
        assert column in relation.columns
    got = duckdb.sql(
        'select "event_timestamp", "attributes.blogId", "event_type", "endpoint.Id", site from relation'
    ).fetchall()
    assert len(got) == len(source)
    # Values as the CSV export spells them (numbers as JSON writes them).
    expected = Counter(
        (str(e["event_timestamp"]), e["attributes"]["blogId"], e["event_type"], e["endpoint"]["Id"]) for _, e in source
    )
    assert Counter(row[:4] for row in got) == expected
    assert all(row[1] == row[4] for row in got)
    devices = duckdb.sql('select distinct "endpoint.Attributes.DeviceType" from relation').fetchall()
    assert {d for (d,) in devices} <= {e["endpoint"]["Attributes"]["DeviceType"][0] for _, e in source} | {None}


calls = {"n": 0}


def writes_then_fails(data: str, batch: dict[str, t.Any]) -> None:
    """A subscriber that crashes after the destination wrote the batch."""
    import integrations.s3

    integrations.s3.write_batch(data, batch)
    calls["n"] += 1
    if calls["n"] == 2:
        raise RuntimeError("worker lost after writing")


def test_a_batch_redelivered_after_a_crash_overwrites_instead_of_duplicating(
    redis: redis_lib.Redis, s3_bucket: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir, events_per_day=200)
    source = source_events(events_dir)
    s3_module(monkeypatch)
    hooks.remove_all_actions(export_hooks.DATA_PROCESS)
    hooks.add_action(export_hooks.DATA_PROCESS, writes_then_fails, 10, 2)
    s = settings(events_dir, ANALYTICS_EXPORT_BATCH_BYTES="32768", ANALYTICS_EXPORT_RETRY_BASE="1")

    first = run_export(s)
    assert first.failures, "the second batch was written, then the subscriber failed"
    objects_after_crash = {o.key for o in s3_bucket.objects.filter(Prefix="lake/")}
    second = run_export(s, clock=lambda: dt.datetime.now(dt.UTC).timestamp() + 5)

    assert not second.failures
    assert calls["n"] > 2
    after = {o.key for o in s3_bucket.objects.filter(Prefix="lake/")}
    assert objects_after_crash <= after, "the redelivery rewrote the same keys"
    lake = tmp_path / "got"
    saved = download(s3_bucket, lake)
    assert len(ndjson_rows(lake)) == len(source), "no event twice"
    manifests = [json.loads(p.read_bytes()) for k, p in saved.items() if k.endswith("_manifest.json")]
    assert sum(m["rows"] for m in manifests) == len(source)


def test_concurrent_batches_into_one_partition_all_end_up_in_its_manifest(
    s3_bucket: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = s3_module(monkeypatch)
    hour_ms = 1_764_000_000_000 - 1_764_000_000_000 % 3_600_000

    def batch(i: int) -> None:
        lines = [
            orjson.dumps({"event_timestamp": hour_ms + i * 10 + j, "attributes": {"blogId": "4"}}) for j in range(i + 1)
        ]
        module.write_batch(b"\n".join(lines).decode() + "\n", {"id": f"batch{i:02d}"})

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        list(pool.map(batch, range(40)))

    folder = "lake/site=4/dt=2025-11-24/hour=16/"
    manifest = json.loads(s3_bucket.Object(folder + "_manifest.json").get()["Body"].read())
    assert {o["key"]: o["rows"] for o in manifest["objects"]} == {
        f"{folder}part-batch{i:02d}.ndjson.gz": i + 1 for i in range(40)
    }
    assert manifest["rows"] == sum(range(1, 41))


def test_events_without_site_or_time_and_odd_site_values_keep_a_partition(
    s3_bucket: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = s3_module(monkeypatch)
    lines = [
        b'{"event_type":"a","event_timestamp":1764000000000}',
        b'{"event_type":"b","attributes":{"blogId":"7"}}',
        b'{"event_type":"c","event_timestamp":1764000000000,"attributes":{"blogId":"x/y=z"}}',
        b'{"event_type":"d","event_timestamp":1764000000000,"attributes":{"blogId":"8","s":"\\ud83d"}}',
    ]
    module.write_batch(b"\n".join(lines).decode() + "\n", {"id": "odd"})

    saved = download(s3_bucket, tmp_path / "got")
    parts = {k.rsplit("/", 1)[0]: p for k, p in saved.items() if k.endswith(".ndjson.gz")}
    assert set(parts) == {
        "lake/site=__HIVE_DEFAULT_PARTITION__/dt=2025-11-24/hour=16",
        "lake/site=7/dt=__HIVE_DEFAULT_PARTITION__/hour=__HIVE_DEFAULT_PARTITION__",
        "lake/site=x%2Fy%3Dz/dt=2025-11-24/hour=16",
        "lake/site=8/dt=2025-11-24/hour=16",
    }
    assert gzip.decompress(parts["lake/site=8/dt=2025-11-24/hour=16"].read_bytes()) == lines[3] + b"\n"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"ANALYTICS_S3_DESTINATION": "bucket/prefix"}, "ANALYTICS_S3_DESTINATION"),
        ({"ANALYTICS_S3_DESTINATION": "s3://Bad_Bucket/x"}, "ANALYTICS_S3_DESTINATION"),
        ({"ANALYTICS_S3_FORMAT": "csv"}, "ANALYTICS_S3_FORMAT"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(config.ConfigError) as raised:
        s3_module(monkeypatch, **env)
    assert str(raised.value).startswith(variable) and "\n" not in str(raised.value)


def test_without_a_destination_nothing_is_registered(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    load("integrations.s3", monkeypatch, "ANALYTICS_S3_")
    assert subscribers.current() == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "integrations.s3"]
    assert "ANALYTICS_S3_DESTINATION is not set" in line


def test_a_real_rq_worker_exports_the_demo_data_into_the_lake(
    redis: redis_lib.Redis, s3_endpoint: str, s3_bucket: t.Any, tmp_path: Path
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir)
    source = source_events(events_dir)
    env = {
        **export_env(
            events_dir, "integrations.s3", ANALYTICS_S3_DESTINATION=LAKE, ANALYTICS_EXPORT_BATCH_BYTES="65536"
        ),
        **aws_env(s3_endpoint),
    }
    queue = Queue(env["ANALYTICS_QUEUE"], connection=redis)
    job = queue.enqueue("jobs.tasks.export_job", job_timeout=300)

    done = flask(["worker", "--burst"], env)

    assert done.returncode == 0, done.stderr
    job.refresh()
    assert job.get_status() == "finished", done.stderr[-2000:]
    [name] = job.return_value()["enqueued"]  # the scheduled export enqueues a job per subscriber
    finished = Job.fetch_many(FinishedJobRegistry(queue=queue).get_job_ids(), connection=redis)
    [delivery] = [j for j in finished if j is not None and j.func_name == "jobs.tasks.deliver_job"]
    assert delivery.args == (name, "run")
    assert delivery.return_value()["failures"] == {}
    download(s3_bucket, tmp_path / "got")
    rows = ndjson_rows(tmp_path / "got")
    assert len(rows) == len(source)
    assert Counter(site for site, *_ in rows) == Counter(e["attributes"]["blogId"] for _, e in source)


def test_a_partition_written_by_two_workers_in_turn_lists_every_object(
    s3_bucket: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each worker process starts its next manifest from the one it last wrote:
    # here worker A's is stale (B wrote in between) and must not drop B's object.
    module = s3_module(monkeypatch)
    a, b = module.S3Destination(module.SETTINGS), module.S3Destination(module.SETTINGS)
    hour_ms = 1_764_000_000_000 - 1_764_000_000_000 % 3_600_000

    def lines(i: int) -> str:
        return "".join(
            orjson.dumps({"event_timestamp": hour_ms + j, "attributes": {"blogId": "4"}}).decode() + "\n"
            for j in range(i)
        )

    a.write_batch(lines(1), {"id": "first"})
    b.write_batch(lines(2), {"id": "second"})
    a.write_batch(lines(3), {"id": "third"})

    folder = "lake/site=4/dt=2025-11-24/hour=16/"
    manifest = json.loads(s3_bucket.Object(folder + "_manifest.json").get()["Body"].read())
    assert {o["key"]: o["rows"] for o in manifest["objects"]} == {
        f"{folder}part-first.ndjson.gz": 1,
        f"{folder}part-second.ndjson.gz": 2,
        f"{folder}part-third.ndjson.gz": 3,
    }
    assert manifest["rows"] == 6
    sizes = {o.key: o.size for o in s3_bucket.objects.filter(Prefix=folder) if not o.key.endswith("_manifest.json")}
    assert {o["key"]: o["bytes"] for o in manifest["objects"]} == sizes


def test_a_stale_writer_of_several_hours_of_a_day_still_lists_every_object_of_each(
    s3_bucket: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch checks its hours of a day with one listing of the day; the hours
    # between and after them hold other batches' objects that must neither be
    # missed (B's objects in hours 16 and 18) nor be filed under another hour.
    module = s3_module(monkeypatch)
    a, b = module.S3Destination(module.SETTINGS), module.S3Destination(module.SETTINGS)
    hour_ms = 1_764_000_000_000 - 1_764_000_000_000 % 3_600_000  # 2025-11-24 16:00 UTC

    def lines(hours: list[int], n: int) -> str:
        return "".join(
            orjson.dumps({"event_timestamp": hour_ms + h * 3_600_000 + j, "attributes": {"blogId": "4"}}).decode()
            + "\n"
            for h in hours
            for j in range(n)
        )

    a.write_batch(lines([0, 2], 1), {"id": "a1"})
    b.write_batch(lines([0, 1, 2, 5], 2), {"id": "b"})
    a.write_batch(lines([0, 2], 3), {"id": "a2"})  # A's last manifests of hours 16 and 18 lack B's objects

    day = "lake/site=4/dt=2025-11-24/"
    expected = {
        16: {"a1": 1, "b": 2, "a2": 3},
        17: {"b": 2},
        18: {"a1": 1, "b": 2, "a2": 3},
        21: {"b": 2},
    }
    for hour, parts in expected.items():
        folder = f"{day}hour={hour}/"
        manifest = json.loads(s3_bucket.Object(folder + "_manifest.json").get()["Body"].read())
        assert {o["key"]: o["rows"] for o in manifest["objects"]} == {
            f"{folder}part-{batch}.ndjson.gz": rows for batch, rows in parts.items()
        }, hour
