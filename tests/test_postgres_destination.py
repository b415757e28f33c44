"""The PostgreSQL destination against the PostgreSQL of this machine (database
``test``, a schema of each test's own, dropped after): typed columns read
back against the source read independently, redelivery, NUL and lone
surrogates, the table and its index, and the real export CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import types
import typing as t
import uuid
from pathlib import Path

import psycopg
import pytest

import config
import hooks
from jobs import export_hooks, subscribers
from jobs.export import run_export
from tests.destinations import export_env, flask, load, settings, source_events, write_demo

if t.TYPE_CHECKING:
    import redis as redis_lib

DSN = os.environ.get("ANALYTICS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def schema() -> t.Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


def pg_module(monkeypatch: pytest.MonkeyPatch, schema: str, **env: str) -> types.ModuleType:
    defaults = {"ANALYTICS_POSTGRES_DSN": DSN, "ANALYTICS_POSTGRES_TABLE": f"{schema}.events"}
    return load("integrations.postgres", monkeypatch, "ANALYTICS_POSTGRES_", **{**defaults, **env})


def query(sql: str, *args: t.Any) -> list[tuple[t.Any, ...]]:
    with psycopg.connect(DSN) as conn:
        return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def line_id(line: bytes) -> str:
    """The documented key of an event without ``event_id``: SHA-256 of its stored line, 32 hex digits."""
    return hashlib.sha256(line).hexdigest()[:32]


def ms(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC)


def test_the_demo_data_loads_once_with_typed_columns(
    redis: redis_lib.Redis, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir)
    source = source_events(events_dir)
    pg_module(monkeypatch, schema)

    report = run_export(settings(events_dir, ANALYTICS_EXPORT_BATCH_BYTES="65536"))

    assert not report.failures and report.batches > 3
    rows = {
        r[0]: r
        for r in query(
            "SELECT event_id, event_type, event_time, arrival_time, blog_id, session_id, endpoint_id, user_id, url, "
            f"country, event, raw FROM {schema}.events"
        )
    }
    assert len(rows) == len(source)
    for line, event in source:
        row = rows[line_id(line)]
        endpoint = event["endpoint"]
        assert row[1:] == (
            event["event_type"],
            ms(event["event_timestamp"]),
            ms(event["arrival_timestamp"]),
            int(event["attributes"]["blogId"]),
            event["session"]["session_id"],
            endpoint["Id"],
            endpoint.get("User", {}).get("UserId"),
            event["attributes"].get("url"),
            endpoint.get("Location", {}).get("Country"),
            event,
            None,
        )


def test_the_table_has_its_key_and_the_blog_time_index(
    redis: redis_lib.Redis, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = pg_module(monkeypatch, schema)
    module.load_batch('{"event_type":"a","event_timestamp":1764000000000}\n', {"id": "b1"})

    [(definition,)] = query(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'events' AND indexname LIKE %s",
        schema,
        "%blog_time%",
    )
    assert definition.endswith("(blog_id, event_time)")
    [(key,)] = query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary",
        f"{schema}.events",
    )
    assert key == "event_id"


calls: list[str] = []


def loads_then_fails(data: str, batch: dict[str, t.Any]) -> None:
    """A subscriber that dies after the destination committed the batch."""
    import integrations.postgres

    integrations.postgres.load_batch(data, batch)
    calls.append(batch["id"])
    if len(calls) == 2:
        raise RuntimeError("worker lost after the commit")


def test_a_batch_redelivered_after_its_commit_inserts_nothing_twice(
    redis: redis_lib.Redis, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls.clear()
    events_dir = tmp_path / "events"
    write_demo(events_dir, events_per_day=200)
    source = source_events(events_dir)
    pg_module(monkeypatch, schema)
    hooks.remove_all_actions(export_hooks.DATA_PROCESS)
    hooks.add_action(export_hooks.DATA_PROCESS, loads_then_fails, 10, 2)
    s = settings(events_dir, ANALYTICS_EXPORT_BATCH_BYTES="32768", ANALYTICS_EXPORT_RETRY_BASE="1")

    assert run_export(s).failures
    [(after_crash,)] = query(f"SELECT count(*) FROM {schema}.events")
    assert not run_export(s, clock=lambda: dt.datetime.now(dt.UTC).timestamp() + 5).failures

    assert calls[1] == calls[2], "the failed batch came again, with the same id"
    [(count,)] = query(f"SELECT count(*) FROM {schema}.events")
    assert after_crash > 0 and count == len(source)


def test_event_id_is_the_key_when_events_have_one(
    redis: redis_lib.Redis, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = pg_module(monkeypatch, schema)
    first = '{"event_id":"e-1","event_type":"a","event_timestamp":1764000000000}\n'
    again = '{"event_id":"e-1","event_type":"a","event_timestamp":1764000000000,"arrival_timestamp":1}\n'

    assert module.DESTINATION.load_batch(first + first, {"id": "b1"}) == 1
    assert module.DESTINATION.load_batch(again, {"id": "b2"}) == 0

    assert query(f"SELECT event_id, batch_id FROM {schema}.events") == [("e-1", "b1")]


def test_nul_lone_surrogates_and_odd_fields_are_kept_without_losing_the_event(
    redis: redis_lib.Redis, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = pg_module(monkeypatch, schema)
    nul = '{"event_type":"n","event_timestamp":1764000000000,"attributes":{"t":"a\\u0000b","blogId":"2"}}'
    lone = '{"event_type":"s","event_timestamp":1764000000001,"attributes":{"t":"\\ud83d!"}}'
    pair = '{"event_type":"p","event_timestamp":1764000000002,"attributes":{"t":"\\ud83d\\ude00"}}'
    odd = '{"event_type":"o","event_timestamp":"soon","attributes":{"blogId":"main","url":{"x":1}}}'
    crlf = '{"event_type":"c",\r"event_timestamp":1764000000003}'

    inserted = module.DESTINATION.load_batch("\n".join([nul, lone, pair, odd, crlf]) + "\n", {"id": "b"})

    assert inserted == 5
    got = {
        r[0]: r[1:]
        for r in query(
            "SELECT event_type, event_id, event->'attributes'->>'t', raw, event_time, blog_id, url "
            f"FROM {schema}.events"
        )
    }
    assert got["n"][:3] == (line_id(nul.encode()), "a\ufffdb", nul), "NUL: replaced in jsonb, the line kept in raw"
    assert got["s"][1:3] == ("\ufffd!", lone)
    assert got["p"][1:3] == ("\U0001f600", None), "a valid pair is stored as the character it encodes"
    assert got["o"][3:] == (None, None, '{"x": 1}'), "unusable typed values are NULL, the event is whole"
    assert got["c"][2] == crlf and got["c"][0] == line_id(crlf.encode())
    # The stored line of every event can be had back: raw when set, else the jsonb itself.
    assert json.loads(got["n"][2]) == json.loads(nul)


def test_an_event_larger_than_a_page_loads_whole(
    redis: redis_lib.Redis, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Staged events are kept uncompressed up to PostgreSQL's largest row
    # (8160 bytes); one beyond that still goes through, stored out of line.
    module = pg_module(monkeypatch, schema)
    text = hashlib.sha256(b"seed").hexdigest() * 1000  # 64,000 characters
    big = json.dumps({"event_type": "big", "event_timestamp": 1764000000000, "attributes": {"blogId": "3", "t": text}})
    small = '{"event_type":"small","event_timestamp":1764000000001}'

    assert module.DESTINATION.load_batch(f"{big}\n{small}\n", {"id": "b"}) == 2

    got = dict(query(f"SELECT event_type, event FROM {schema}.events"))
    assert got["big"] == json.loads(big)
    assert got["small"] == json.loads(small)
    assert query(f"SELECT blog_id, event_time FROM {schema}.events WHERE event_type = 'big'") == [
        (3, ms(1764000000000))
    ]


def test_a_database_that_does_not_answer_fails_the_batch(
    redis: redis_lib.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "events" / "2026" / "11" / "20" / "07").mkdir(parents=True)
    (tmp_path / "events" / "2026" / "11" / "20" / "07" / "a").write_text('{"event_type":"a"}\n')
    load(
        "integrations.postgres",
        monkeypatch,
        "ANALYTICS_POSTGRES_",
        ANALYTICS_POSTGRES_DSN="postgresql://postgres:pw@127.0.0.1:1/test",
    )
    report = run_export(settings(tmp_path / "events"))
    [error] = report.failures.values()
    assert "PostgresError" in error and "analytics_events at postgresql://postgres:***@127.0.0.1:1/test" in error


@pytest.mark.parametrize("table", ["a.b.c", "1events", "events;drop", "x-y"])
def test_a_malformed_table_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, table: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        load("integrations.postgres", monkeypatch, "ANALYTICS_POSTGRES_", ANALYTICS_POSTGRES_TABLE=table)
    assert str(raised.value).startswith("ANALYTICS_POSTGRES_TABLE") and "\n" not in str(raised.value)


def test_without_a_dsn_nothing_is_registered(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    load("integrations.postgres", monkeypatch, "ANALYTICS_POSTGRES_")
    assert subscribers.current() == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "integrations.postgres"]
    assert "ANALYTICS_POSTGRES_DSN is not set" in line


def test_the_real_export_cli_loads_the_demo_data(redis: redis_lib.Redis, schema: str, tmp_path: Path) -> None:
    events_dir = tmp_path / "events"
    write_demo(events_dir)
    source = source_events(events_dir)
    env = export_env(
        events_dir,
        "integrations.postgres",
        ANALYTICS_POSTGRES_DSN=DSN,
        ANALYTICS_POSTGRES_TABLE=f"{schema}.events",
        ANALYTICS_EXPORT_BATCH_BYTES="65536",
    )

    done = flask(["export", "run"], env)
    again = flask(["export", "replay", "--since", "2026-11-19"], env)

    assert done.returncode == 0, done.stderr
    assert again.returncode == 0, again.stderr
    ids = {r[0] for r in query(f"SELECT event_id FROM {schema}.events")}
    assert ids == {line_id(line) for line, _ in source}, "every event once, even after a replay"
    [(blogs,)] = query(f"SELECT array_agg(DISTINCT blog_id ORDER BY blog_id) FROM {schema}.events")
    assert blogs == [1, 2]
