"""The PostgreSQL floor of bench/run: a subscriber that COPYs each batch's
lines as they are into an UNLOGGED table of one ``jsonb`` column, one
transaction per batch, and nothing else (no staging table, no typed columns,
no key, no index, no WAL for the rows). Its events/s is what the server's own
``jsonb`` COPY allows ``integrations.postgres`` at best on this machine.
Loaded through ``ANALYTICS_INTEGRATIONS`` with ``bench/`` on ``PYTHONPATH``;
writes into ``BENCH_PG_FLOOR_TABLE`` (``schema.table``, created) at
``BENCH_PG_FLOOR_DSN``."""

from __future__ import annotations

import os
import typing as t

import psycopg

from hooks import add_action

DATA_PROCESS = "altis.analytics.export.data.process"
DSN = os.environ.get("BENCH_PG_FLOOR_DSN", "")
TABLE = os.environ.get("BENCH_PG_FLOOR_TABLE", "")
#: CSV with a delimiter and quote JSON text never holds raw: a line goes in unchanged
#: (the same trick as integrations.postgres, without its per-line key and checks).
COPY = f"COPY {TABLE} (e) FROM STDIN (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"

_CONNECTIONS: list[psycopg.Connection[t.Any]] = []


def copy_batch(data: str, batch: dict[str, t.Any]) -> None:
    """One COPY of the batch's text (one event per line) in one transaction."""
    conn = _connection()
    with conn.transaction(), conn.cursor() as cur, cur.copy(COPY) as copy:
        copy.write(data if data.endswith("\n") else data + "\n")


def _connection() -> psycopg.Connection[t.Any]:
    if not _CONNECTIONS:
        assert DSN and TABLE, "BENCH_PG_FLOOR_DSN and BENCH_PG_FLOOR_TABLE must be set"
        conn = psycopg.connect(DSN, autocommit=True)
        conn.execute(f"CREATE UNLOGGED TABLE IF NOT EXISTS {TABLE} (e jsonb)")
        _CONNECTIONS.append(conn)
    return _CONNECTIONS[0]


add_action(DATA_PROCESS, copy_batch, 10, 2)
