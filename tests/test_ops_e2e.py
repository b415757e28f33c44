"""Operations end to end: real gunicorn (two workers), a real RQ worker, real
Redis. ``/metrics`` parsed with prometheus_client's own text parser shows the
counters of downloads served by both workers and of an export run by the RQ
worker, summed; the health route flips to 503 when a (private) Redis stops and
back when it returns; ``export/status`` over REST is for ``manage_options``."""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import os
import subprocess
import time
import typing as t
from pathlib import Path

import orjson
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from accounts import Accounts
from tests import endpoint_data as data
from tests.conftest import TEST_PREFIX, TEST_REDIS_URL, free_port

if t.TYPE_CHECKING:
    import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
FLASK = ROOT / ".venv" / "bin" / "flask"
SECRET = "ops-e2e-secret"
QUEUE = "analytics-test-ops"
DOWNLOADS = 'analytics_export_downloads_total{format="csv",status="200"}'


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": TEST_REDIS_URL,
        "ANALYTICS_REDIS_PREFIX": TEST_PREFIX,
        "ANALYTICS_SECRET_KEY": SECRET,
        "ANALYTICS_SITES": "127.0.0.1=1,localhost=2",
        "ANALYTICS_SOURCE": str(tmp / "events"),
        "ANALYTICS_QUEUE": QUEUE,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
        **extra,
    }


def start_gunicorn(tmp: Path, env: dict[str, str], workers: int = 2) -> tuple[int, subprocess.Popen[bytes]]:
    """gunicorn (sync workers: one request at a time each, so concurrent requests
    spread over the ``workers`` processes; this checkout's gunicorn.conf.py) once it answers."""
    port = free_port()
    log = (tmp / f"gunicorn-{port}.log").open("wb")
    command = [str(GUNICORN), "-b", f"127.0.0.1:{port}", "-w", str(workers), "--no-control-socket"]
    proc = subprocess.Popen([*command, "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            request(port, "GET", "/wp-json/")
            return port, proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gunicorn did not start: {(tmp / f'gunicorn-{port}.log').read_text()[-2000:]}")
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a new connection (so the kernel may hand it to either worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` through prometheus_client's parser: ``name{labels}`` -> value."""
    status, body = request(port, "GET", "/metrics")
    assert status == 200, body
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def downloads_per_process(directory: Path) -> dict[int, float]:
    """The CSV downloads each process recorded, read from its own sample file
    (prometheus_client writes ``counter_<pid>.db``), without the collector."""
    found: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, *_ = orjson.loads(key)
            if name == "analytics_export_downloads_total" and labels == {"format": "csv", "status": "200"} and value:
                found[int(path.stem.split("_")[1])] = value
    return found


@pytest.fixture
def app_password(redis: redis_lib.Redis) -> str:
    accounts = Accounts(redis, TEST_PREFIX, SECRET)
    accounts.create_user("admin", "admin@example.com", role="administrator")
    accounts.create_user("editor", "editor@example.com", role="editor")
    password, _ = accounts.create_app_password("admin", "ops")
    return password


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def test_metrics_sum_two_web_workers_and_an_rq_worker(
    redis: redis_lib.Redis, app_password: str, tmp_path: Path
) -> None:
    files = data.day_files()
    data.write_local(tmp_path / "events", files)
    expected = data.expected_events(files, data.DAY, 1)
    env = env_for(
        tmp_path,
        ANALYTICS_INTEGRATIONS="tests.integrations_fixtures.recorder",
        RECORDER_KEY=TEST_PREFIX + "ops-recorder",
        ANALYTICS_EXPORT_START="beginning",
    )
    port, proc = start_gunicorn(tmp_path, env)
    try:
        auth = basic("admin", app_password)
        path = f"/wp-json/analytics/v1/events/{data.DAY}?format=csv"
        # Four downloads at a time until both workers served some (each has its own sample file):
        # a busy worker leaves the next connection to the other one.
        made, deadline = 0, time.monotonic() + 120
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            while len(downloads_per_process(tmp_path / "prometheus")) < 2:
                for status, body in pool.map(lambda _: request(port, "GET", path, auth), range(4)):
                    assert status == 200
                    assert len(data.parse_csv(body)) == len(expected) + 1  # header + one row per event
                    made += 1
                assert time.monotonic() < deadline, "every download went to one worker"
        per_process = downloads_per_process(tmp_path / "prometheus")
        assert len(per_process) == 2 and sum(per_process.values()) == made

        wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong password").decode()}
        assert request(port, "GET", path, wrong)[0] == 401
        assert request(port, "GET", "/wp-json/analytics/v1/events/2026-02-30?format=csv", auth)[0] == 400

        samples = scrape(port)
        assert samples[DOWNLOADS] == made, "summed across both workers"
        assert samples['analytics_export_download_events_total{format="csv"}'] == made * len(expected)
        assert samples['analytics_export_download_bytes_total{format="csv"}'] > 0
        assert samples['analytics_export_download_first_byte_seconds_count{format="csv"}'] == made
        assert samples['analytics_export_download_duration_seconds_count{format="csv"}'] == made
        assert samples['analytics_export_downloads_total{format="csv",status="400"}'] == 1
        assert samples['analytics_export_failed_logins_total{code="incorrect_password"}'] == 1

        # An export run by a real RQ worker (another process) shows up in the same scrape.
        Queue(QUEUE, connection=redis).enqueue("jobs.tasks.export_job", job_timeout=300)
        done = subprocess.run(
            [str(FLASK), "--app", "wsgi", "worker", "--burst"], cwd=ROOT, env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        received = [orjson.loads(r) for r in redis.lrange(TEST_PREFIX + "ops-recorder", 0, -1)]
        delivered = sum(len(r["data"].splitlines()) for r in received)
        assert delivered > 0
        name = "tests.integrations_fixtures.recorder.record_batch"
        samples = scrape(port)
        assert samples['analytics_export_runs_total{mode="run"}'] == 1
        assert samples['analytics_export_run_duration_seconds_count{mode="run"}'] == 1
        assert samples[f'analytics_export_delivered_events_total{{subscriber="{name}"}}'] == delivered
        assert samples[f'analytics_export_delivered_batches_total{{subscriber="{name}"}}'] == len(received)
        assert samples[f'analytics_export_lag_seconds{{subscriber="{name}"}}'] == 0
        assert samples[DOWNLOADS] == made, "still the web workers' downloads"
    finally:
        stop(proc)


def test_metrics_need_the_token_from_another_host(redis: redis_lib.Redis, tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    port = free_port()
    env = env_for(tmp_path, ANALYTICS_METRICS_TOKEN="s3cret-token")
    # Bound on every address, asked through a non-loopback one of this host (if it has one).
    host = _non_loopback_address()
    if host is None:
        pytest.skip("this host has no non-loopback address")
    log = (tmp_path / "gunicorn.log").open("wb")
    command = [str(GUNICORN), "-b", f"0.0.0.0:{port}", "-w", "1", "--no-control-socket", "wsgi:app"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection(host, port, timeout=10)
                conn.request("GET", "/metrics")
                refused = conn.getresponse()
                body = refused.read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        assert refused.status == 401 and orjson.loads(body)["code"] == "analytics_metrics_unauthorized"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/metrics", headers={"Authorization": "Bearer s3cret-token"})
        allowed = conn.getresponse()
        assert allowed.status == 200 and b"analytics_export_quarantined_objects_total 0.0" in allowed.read()
        assert request(port, "GET", "/metrics")[0] == 200, "loopback needs no token"
    finally:
        stop(proc)


def _non_loopback_address() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing address
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_health_flips_to_503_when_redis_stops_and_back(tmp_path: Path) -> None:
    """A private redis-server (never the shared one) is stopped and started again."""
    (tmp_path / "events").mkdir()
    redis_port = free_port()
    redis_cmd = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def start_redis() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(redis_cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True).stdout != b"PONG\n":
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)
        return server

    private = start_redis()
    env = env_for(tmp_path, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", ANALYTICS_HEALTH_CACHE="0")
    port, proc = start_gunicorn(tmp_path, env, workers=1)
    try:
        status, body = request(port, "GET", "/wp-json/analytics/v1/health")
        assert status == 200 and orjson.loads(body)["checks"] == {"redis": "ok", "store": "ok"}

        stop(private)
        status, body = request(port, "GET", "/wp-json/analytics/v1/health")
        answer = orjson.loads(body)
        assert status == 503 and answer["code"] == "analytics_unavailable" and "Redis" in answer["message"]
        assert answer["data"]["status"] == 503 and answer["data"]["checks"]["store"] == "ok"

        private = start_redis()
        deadline = time.monotonic() + 30
        while request(port, "GET", "/wp-json/analytics/v1/health")[0] != 200:
            assert time.monotonic() < deadline, "health did not come back with Redis"
            time.sleep(0.1)
    finally:
        stop(proc)
        stop(private)
