"""The object store misbehaving (a fault-injecting proxy in front of moto's S3
server): 500, 503 SlowDown, time-outs, connection resets and bodies cut short.

- The export retries (boto3's own retries for one bad answer; the next run for
  an object that stays unreadable) and in the end delivers every event once.
- A download fails cleanly: before the first byte it is a 503 WordPress error;
  after it, the connection ends without the final chunk, so curl exits
  non-zero and the body is detectably incomplete, in every format.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from pathlib import Path

import boto3
import orjson
import pytest

import config
import hooks
from accounts import Accounts
from events.sources import S3Source, s3_client_config
from jobs import export_hooks
from jobs.export import run_export
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX, aws_env
from tests.faults.conftest import report
from tests.faults.proxy import FaultProxy
from tests.integrations_fixtures.objects import Store, event_lines, hour_ago, tags
from tests.test_endpoint_e2e import SECRET, curl, start_gunicorn, stop

if t.TYPE_CHECKING:
    import redis as redis_lib

received: list[tuple[str, dict[str, t.Any]]] = []


def collect(batch_data: str, batch: dict[str, t.Any]) -> None:
    received.append((batch_data, batch))


@pytest.fixture(autouse=True)
def _received() -> None:
    received.clear()


# boto3 tries a request 4 times (events.sources.S3_MAX_ATTEMPTS): a fault 4 times
# in a row makes the object unreadable for this run, once is absorbed by a retry.
PERSISTENT = 4
FAULTS: list[tuple[str, int]] = [
    ("500", PERSISTENT),
    ("503", PERSISTENT),
    ("timeout", PERSISTENT),
    ("reset", PERSISTENT),
    ("truncate", 1),  # a body cut short is not retried by boto3 (it is already streaming)
    ("500", 1),
    ("503", 2),
    ("timeout", 1),
    ("reset", 1),
]


def test_export_rides_out_every_store_fault_and_delivers_everything_once(
    redis: redis_lib.Redis,
    make_settings: t.Callable[..., config.Settings],
    s3_bucket: t.Any,
    fault_proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store("s3", bucket=s3_bucket)
    expected: list[str] = []
    planned: dict[str, tuple[str, int]] = {}
    for i, (fault, times) in enumerate(FAULTS):
        # 40 events of ~250 bytes: several batches of 4 KiB, so a cut lands mid-object.
        key = store.put(hour_ago(3), f"obj-{i:02d}-{fault}-x{times}", event_lines(f"o{i}", 40, pad=200))
        planned[key] = (fault, times)
        expected += [f"o{i}-{j}" for j in range(40)]
    clean = store.put(hour_ago(2), "obj-clean", event_lines("clean", 10))
    expected += [f"clean-{j}" for j in range(10)]
    for key, (fault, times) in planned.items():
        fault_proxy.fail(fault, "GET", key, times)  # type: ignore[arg-type]

    settings = make_settings(
        ANALYTICS_SOURCE=store.source_setting, ANALYTICS_EXPORT_START="beginning", ANALYTICS_EXPORT_BATCH_BYTES="4096"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", fault_proxy.url)
    # A 1 s read time-out instead of 60 s, so a request the store never answers fails quickly.
    source = S3Source(settings.source, config=s3_client_config(read_timeout=1, connect_timeout=1))
    hooks.add_action(export_hooks.DATA_PROCESS, collect, 10, 2)

    first = run_export(settings, source=source)
    unreadable = {k for k, (f, n) in planned.items() if n >= PERSISTENT or f == "truncate"}
    assert set(first.read_errors) == unreadable, first.read_errors
    assert clean in first.delivered[f"{__name__}.collect"]
    injected_first = len(fault_proxy.injected)

    second = run_export(settings, source=source)
    assert not second.read_errors, second.read_errors
    assert sorted(second.delivered[f"{__name__}.collect"]) == sorted(unreadable)

    delivered = [tag for batch_data, _ in received for tag in tags(batch_data)]
    assert Counter(delivered) == Counter(expected), "every event exactly once"
    report(
        "object store faults during export runs",
        f"injected {injected_first} faults: " + ", ".join(f"{f} x{n}" for f, n in FAULTS),
        f"run 1: {len(first.read_errors)} objects unreadable (the persistent faults and the cut body), "
        f"{sum(len(v) for v in first.delivered.values())} delivered; transient faults absorbed by boto3's retries",
        f"run 2: the {len(second.delivered[f'{__name__}.collect'])} remaining objects delivered",
        f"checked: all {len(expected)} events delivered exactly once, none from a cut body",
    )


# ------------------------------------------------------------------ downloads

BUCKET = "faults-endpoint-events"


@pytest.fixture
def proxied_server(
    s3_endpoint: str, fault_proxy: FaultProxy, tmp_path: Path
) -> t.Iterator[tuple[str, dict[str, bytes], Path]]:
    files = data.day_files()
    bucket = boto3.resource("s3", endpoint_url=s3_endpoint).Bucket(BUCKET)
    bucket.create()
    data.upload(bucket, "", files)
    env = {**aws_env(fault_proxy.url), "ANALYTICS_SOURCE": f"s3://{BUCKET}"}
    base, proc = start_gunicorn(tmp_path / "gunicorn.log", env)
    try:
        yield base, files, tmp_path / "gunicorn.log"
    finally:
        stop(proc)
        bucket.objects.all().delete()
        bucket.delete()


def _count(fmt: str, body: bytes) -> int:
    """Events in a (possibly cut) body, counted the way a client would."""
    if fmt == "csv":
        return max(0, len(body.split(b"\r\n")) - 2)
    if fmt == "ndjson":
        return body.count(b"\n")
    return body.count(b'"event_type"')


def test_a_download_hit_by_a_store_fault_fails_detectably(
    proxied_server: tuple[str, dict[str, bytes], Path], fault_proxy: FaultProxy, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    base, files, log = proxied_server
    accounts = Accounts(redis, TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    password, _ = accounts.create_app_password("admin", "curl")
    auth = ("-u", f"admin:{password}")
    url = f"{base}/wp-json/analytics/v1/events/{data.DAY.isoformat()}"
    expected = data.expected_events(files, data.DAY, 1)
    # The day's objects in key order; a fault on a later one lands after the first bytes went out.
    day_keys = sorted(k for k in files if k.startswith(data.DAY.strftime("%Y/%m/%d/")))
    later = day_keys[len(day_keys) // 2]
    checked: list[str] = []

    # Cold: the day is summarized before the answer starts, so a store that stays down is a 503.
    fault_proxy.fail("503", "GET", day_keys[0], PERSISTENT)
    cold = curl(url, *auth, tmp=tmp_path)
    assert cold.status == 503 and orjson.loads(cold.body)["code"] == "analytics_source_unavailable"
    checked.append("cold day, 503 SlowDown x4 -> 503 analytics_source_unavailable with Retry-After")
    fault_proxy.clear()
    warm = curl(url, *auth, tmp=tmp_path)
    assert (warm.exit_code, warm.body) == (0, data.json_body(expected))

    cases: list[tuple[str, int, str, tuple[str, ...]]] = [
        ("truncate", 1, "json", ()),
        ("truncate", 1, "ndjson", ()),
        ("truncate", 1, "csv", ()),
        ("truncate", 1, "csv", ("--compressed",)),
        ("500", PERSISTENT, "ndjson", ()),
        ("503", PERSISTENT, "csv", ()),
        ("reset", PERSISTENT, "json", ("--compressed",)),
    ]
    for fault, times, fmt, extra in cases:
        fault_proxy.fail(fault, "GET", later, times)  # type: ignore[arg-type]
        got = curl(f"{url}?format={fmt}&chunk_size=1", *auth, *extra, tmp=tmp_path)
        fault_proxy.clear()
        total = int(got.headers["x-wp-total"])
        assert got.status == 200 and total == len(expected)
        assert got.exit_code != 0, (fault, fmt, "curl must see the transfer as incomplete")
        assert _count(fmt, got.body) < total, (fault, fmt)
        checked.append(
            f"{fault} x{times} on {later} as {fmt}{' gzip' if extra else ''}: 200, "
            f"curl exit {got.exit_code}, {_count(fmt, got.body)} of {total} events, no final chunk"
        )

    # One bad answer is retried by boto3 inside the download: the client never notices.
    for fault in ("500", "503", "reset"):
        fault_proxy.fail(fault, "GET", later, 1)  # type: ignore[arg-type]
        got = curl(f"{url}?format=ndjson", *auth, tmp=tmp_path)
        assert (got.exit_code, got.body) == (0, data.ndjson_body(expected)), fault
        checked.append(f"{fault} x1 on {later}: retried, complete and exact")
    text = log.read_text()
    assert "events stream aborted" in text and later in text
    assert "internal_server_error" not in text
    report(
        "object store faults during downloads (gunicorn, curl)",
        f"injected {len(fault_proxy.injected)} faults",
        *checked,
    )
