"""The destination rows of ``bench/run``: the export of the big day's first
objects into each destination of issue 11, against the no-op subscriber's
events/s measured in the same invocation (bench/harness.py ``export``).

Each destination is real and local: S3 is moto's server in a process of its
own, over HTTP; PostgreSQL is ``BENCH_POSTGRES_DSN`` (default the machine's
``test`` database; a schema of the run's own, dropped after); the webhook
receiver is a threaded ``http.server`` in a process of its own answering 204.
Every sample starts from an empty destination and a fresh Redis prefix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
LAKE_BUCKET = "analytics-bench-lake"
S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
RECEIVER = """
import http.server, sys
class R(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), R).serve_forever()
"""

#: key -> (measure, target, minimum ratio to the no-op subscriber, minimum events/s)
ROWS: dict[str, tuple[str, str, float | None, float | None]] = {
    "dest_s3_ndjson": ("export into S3, ndjson.gz (moto server over HTTP)", "≥ 0.5x the no-op subscriber", 0.5, None),
    "dest_s3_floor": (
        "S3 floor: plain put of each partition's object, no manifest (moto server)",
        "none (what moto's per-request cost allows the ndjson row)",
        None,
        None,
    ),
    "dest_s3_parquet": ("export into S3, parquet (moto server over HTTP)", "none (for reference)", None, None),
    "dest_postgres": ("export into PostgreSQL (local, COPY + ON CONFLICT)", "≥ 30,000 events/s", None, 30_000.0),
    "dest_postgres_floor": (
        "PostgreSQL floor: COPY of each batch into an unlogged one-column jsonb table (no key, no index)",
        "none (what this server's jsonb COPY allows the PostgreSQL row)",
        None,
        None,
    ),
    "dest_webhook": ("export into a signed webhook (local receiver, gzip)", "none (for reference)", None, None),
}
#: A destination's row -> (its floor's row, how the note names the floor).
FLOORS = {
    "dest_s3_ndjson": ("dest_s3_floor", "the S3 floor (plain puts, no manifest)"),
    "dest_postgres": ("dest_postgres_floor", "the PostgreSQL floor (COPY into an unlogged jsonb table)"),
}


@dataclasses.dataclass
class Result:
    rates: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    why_not: dict[str, str] = dataclasses.field(default_factory=dict)
    events: int = 0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port}")


@contextlib.contextmanager
def _process(argv: list[str], port: int, what: str) -> t.Iterator[None]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_port(port, proc, what)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def measure(
    repeat: int,
    env_for: t.Callable[..., dict[str, str]],
    run_probe: t.Callable[[str, dict[str, str], dict[str, str]], dict[str, t.Any] | str],
) -> Result:
    """``repeat`` samples per destination. ``env_for(prefix, **extra)`` gives the
    service's environment on a fresh Redis prefix; ``run_probe(key, env, shown)``
    runs destination_probe.py and returns its JSON or why it failed."""
    result = Result()
    s3_port, hook_port = _port(), _port()
    moto = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)]
    receiver = [sys.executable, "-c", RECEIVER, str(hook_port)]
    endpoint = f"http://127.0.0.1:{s3_port}"
    with _process(moto, s3_port, "moto_server"), _process(receiver, hook_port, "webhook receiver"):
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_args())
        s3.create_bucket(Bucket=LAKE_BUCKET)
        aws = {**S3_ENV, "AWS_ENDPOINT_URL_S3": endpoint}
        for i in range(repeat):
            for fmt, key in (("ndjson.gz", "dest_s3_ndjson"), ("parquet", "dest_s3_parquet")):
                extra = {"ANALYTICS_INTEGRATIONS": "integrations.s3", "ANALYTICS_S3_FORMAT": fmt}
                extra["ANALYTICS_S3_DESTINATION"] = f"s3://{LAKE_BUCKET}/{fmt}-{i}"
                _sample(result, key, run_probe, env_for(f"dest-{key}-{i}:", **extra, **aws), extra)
            extra = {"ANALYTICS_INTEGRATIONS": "bench_s3_put_subscriber"}
            extra["BENCH_S3_FLOOR_DESTINATION"] = f"s3://{LAKE_BUCKET}/floor-{i}"
            _sample(result, "dest_s3_floor", run_probe, env_for(f"dest-s3-floor-{i}:", **extra, **aws), extra)
            schema = f"bench_{os.getpid()}_{i}"
            extra = {
                "ANALYTICS_INTEGRATIONS": "integrations.postgres",
                "ANALYTICS_POSTGRES_DSN": PG_DSN,
                "ANALYTICS_POSTGRES_TABLE": f"{schema}.events",
            }
            floor = {
                "ANALYTICS_INTEGRATIONS": "bench_pg_copy_subscriber",
                "BENCH_PG_FLOOR_DSN": PG_DSN,
                "BENCH_PG_FLOOR_TABLE": f"{schema}.floor",
            }
            why = _pg(f"CREATE SCHEMA {schema}")
            if why:
                for key in ("dest_postgres", "dest_postgres_floor"):
                    result.why_not[key] = f"PostgreSQL at {PG_DSN} unavailable: {why}"
            else:
                try:
                    _sample(result, "dest_postgres", run_probe, env_for(f"dest-pg-{i}:", **extra), extra)
                    _sample(result, "dest_postgres_floor", run_probe, env_for(f"dest-pg-floor-{i}:", **floor), floor)
                finally:
                    _pg(f"DROP SCHEMA {schema} CASCADE")
            extra = {
                "ANALYTICS_INTEGRATIONS": "integrations.webhook",
                "ANALYTICS_WEBHOOK_URL": f"http://127.0.0.1:{hook_port}/hook",
                "ANALYTICS_WEBHOOK_SECRET": "bench",
            }
            _sample(result, "dest_webhook", run_probe, env_for(f"dest-hook-{i}:", **extra), extra)
    return result


def _boto_args() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


def _pg(sql: str) -> str:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return ""


def _sample(
    result: Result,
    key: str,
    run_probe: t.Callable[[str, dict[str, str], dict[str, str]], dict[str, t.Any] | str],
    env: dict[str, str],
    shown: dict[str, str],
) -> None:
    if key in result.why_not:
        return
    probe = run_probe(key, env, shown)
    if isinstance(probe, str):
        result.why_not[key] = probe
    elif probe["failures"]:
        result.why_not[key] = f"the destination failed: {json.dumps(probe['failures'])[:300]}"
    else:
        result.rates.setdefault(key, []).append(probe["events"] / probe["seconds"])
        result.events = probe["events"]
