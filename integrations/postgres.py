"""A PostgreSQL destination: each export batch is loaded into one table, with
typed columns BI users filter on and the whole event as ``jsonb``.

Loaded with ``ANALYTICS_INTEGRATIONS=integrations.postgres``; configured by
``ANALYTICS_POSTGRES_DSN`` (a libpq connection string or URL) and
``ANALYTICS_POSTGRES_TABLE`` (``[schema.]table``, default
``analytics_events``). The table and its index are created when missing.

Loading (psycopg 3), one transaction per batch: the batch's lines are copied
with ``COPY`` into a temporary table (the server parses each once, as
``jsonb``), then one ``INSERT ... SELECT ... ON CONFLICT (event_id) DO
NOTHING`` extracts the typed columns. ``event_id`` is the event's
``event_id`` when it has one, else the first 32 hex digits of the SHA-256 of
its stored line, so a redelivered batch inserts nothing twice. Values are
TOAST-compressed with lz4 when the server has it (several times faster than
pglz for events over ~2 KB). A batch that could not be committed raises
``PostgresError``, so the export retries it.

PostgreSQL refuses two things JSON allows: ``\\u0000`` in ``jsonb`` and
``text``, and lone surrogate escapes (``\\ud83d``) in ``jsonb``. Such an event
is still loaded: ``event`` holds it with those characters replaced by U+FFFD,
and ``raw`` holds its stored line unchanged (``raw`` is NULL for every other
event, whose ``event`` is exact).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import typing as t

import orjson

from config import ConfigError, redacted_url
from hooks import add_action

from . import _env

if t.TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

#: The export's hook (``jobs.export_hooks.DATA_PROCESS``; integrations sit below jobs).
DATA_PROCESS = "altis.analytics.export.data.process"
DEFAULT_TABLE = "analytics_events"
#: PostgreSQL's unquoted identifiers (at most 63 bytes, NAMEDATALEN - 1).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: The session's staging table (temporary, emptied at every commit).
_STAGING = "analytics_export_staging"
#: COPY in CSV with a delimiter and quote that JSON text never holds raw (JSON
#: escapes every control character), so a stored line goes in as it is.
_DELIMITER, _QUOTE = "\x02", "\x01"
#: A line with one of these needs a closer look: ``\u0000``, a surrogate
#: escape (maybe lone), or a carriage return (CSV would end a row).
_CAREFUL = re.compile(r"\\u0000|\\u[dD][89a-fA-F]|\r")
#: The escapes of ``_CAREFUL`` alone: a pattern starting with a literal, which
#: ``re`` finds with a fast scan (the alternation above reads 8 MB in ~25 ms).
_CAREFUL_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
#: What PostgreSQL cannot store in jsonb: NUL and lone surrogates.
_REFUSED = re.compile("[\x00\ud800-\udfff]")

COLUMNS = """
    event_id     text PRIMARY KEY,
    event_type   text,
    event_time   timestamptz,
    arrival_time timestamptz,
    blog_id      bigint,
    session_id   text,
    endpoint_id  text,
    user_id      text,
    url          text,
    country      text,
    event        jsonb NOT NULL,
    raw          text,
    batch_id     text NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now()
"""


def _ms_to_time(path: str) -> str:
    """SQL for a millisecond time stamp (number or numeric text) as timestamptz,
    NULL when it is anything else or beyond PostgreSQL's calendar."""
    return f"CASE WHEN ({path}) ~ '^[0-9]{{1,15}}(\\.[0-9]+)?$' THEN to_timestamp(({path})::numeric / 1000) END"


_BLOG = "e->'attributes'->>'blogId'"
#: The staging table holds each event parsed once (jsonb, at COPY) with the
#: hash of its stored line, computed in Python where it costs a few us.
_SELECT = f"""
    SELECT coalesce(nullif(e->>'event_id', ''), line_id),
           e->>'event_type',
           {_ms_to_time("e->>'event_timestamp'")},
           {_ms_to_time("e->>'arrival_timestamp'")},
           CASE WHEN ({_BLOG}) ~ '^ *[0-9]{{1,18}} *$' THEN trim({_BLOG})::bigint END,
           e->'session'->>'session_id',
           e->'endpoint'->>'Id',
           e->'endpoint'->'User'->>'UserId',
           e->'attributes'->>'url',
           e->'endpoint'->'Location'->>'Country',
           e,
           raw,
           %(batch_id)s
      FROM {_STAGING}
"""


class PostgresError(RuntimeError):
    """A batch was not committed; the message names the table and why."""


@dataclasses.dataclass(frozen=True)
class PostgresSettings:
    """``ANALYTICS_POSTGRES_DSN`` and ``ANALYTICS_POSTGRES_TABLE``, validated."""

    dsn: str
    schema: str | None
    table: str

    @classmethod
    def from_env(cls, environ: t.Mapping[str, str] | None = None) -> PostgresSettings | None:
        """None when no DSN is set; ``ConfigError`` for a malformed table name."""
        dsn = _env.text("ANALYTICS_POSTGRES_DSN", "", environ)
        name = _env.text("ANALYTICS_POSTGRES_TABLE", "", environ) or DEFAULT_TABLE
        parts = name.split(".")
        if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
            raise ConfigError(
                f"ANALYTICS_POSTGRES_TABLE is {name!r}: expected table or schema.table "
                "(letters, digits and _, not starting with a digit)"
            )
        if not dsn:
            return None
        return cls(dsn, parts[0] if len(parts) == 2 else None, parts[-1])

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.table}"' if self.schema else f'"{self.table}"'

    def describe(self) -> str:
        shown = redacted_url(self.dsn) if "://" in self.dsn else re.sub(r"password=\S+", "password=***", self.dsn)
        return f"{self.schema + '.' if self.schema else ''}{self.table} at {shown}"


def sanitized(line: str) -> tuple[str, str | None]:
    """``(json text PostgreSQL accepts, the stored line or None)``: the line
    itself and None when it holds neither NUL nor a lone surrogate; else the
    event with those replaced by U+FFFD, and the line kept unchanged."""
    event = json.loads(line)  # the standard library keeps lone surrogates; orjson refuses them
    if not _has_refused(event):
        return line, None
    return orjson.dumps(_replace_refused(event)).decode(), line


def _has_refused(value: t.Any) -> bool:
    if isinstance(value, str):
        return _REFUSED.search(value) is not None
    if isinstance(value, dict):
        return any(_has_refused(k) or _has_refused(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_refused(v) for v in value)
    return False


def _replace_refused(value: t.Any) -> t.Any:
    if isinstance(value, str):
        return _REFUSED.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_REFUSED.sub("\ufffd", k): _replace_refused(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_refused(v) for v in value]
    return value


def line_id(line: str) -> str:
    """The key of an event without ``event_id``: the first 32 hex digits of
    the SHA-256 of its stored line (UTF-8)."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()[:32]


def staging_rows(data: str) -> str:
    """The batch as COPY CSV text for the staging table: per line its
    ``line_id``, the JSON text PostgreSQL parses, and the stored line when
    that text had to differ from it (NUL, lone surrogates, carriage returns)."""
    careful = "\r" in data or _CAREFUL_ESCAPE.search(data) is not None
    rows: list[str] = []
    for line in data.split("\n"):
        if not line:
            continue
        if careful and _CAREFUL.search(line):
            text, raw = sanitized(line)
            if "\r" in text:  # whitespace between tokens: the same event without it, the line kept
                text, raw = orjson.dumps(orjson.loads(text)).decode(), line
            if raw is not None:
                rows.append(f"{line_id(line)}{_DELIMITER}{text}{_DELIMITER}{_QUOTE}{raw}{_QUOTE}\n")
                continue
        rows.append(f"{line_id(line)}{_DELIMITER}{line}{_DELIMITER}\n")
    return "".join(rows)


class PostgresDestination:
    """Loads batches into one table. ``load_batch`` is the subscriber."""

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self._conn: psycopg.Connection[t.Any] | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def connection(self) -> psycopg.Connection[t.Any]:
        """One connection per process (an RQ work horse is forked from its
        worker), made ready once: table, index and staging table."""
        import psycopg

        if self._conn is not None and (self._conn.closed or self._pid != os.getpid()):
            self._conn = None
        if self._conn is None:
            conn = psycopg.connect(self.settings.dsn, autocommit=True, connect_timeout=10)
            try:
                self._prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _prepare(self, conn: psycopg.Connection[t.Any]) -> None:
        import psycopg

        table = self.settings.qualified
        index = f"{self.settings.table[:50]}_blog_time_idx"
        with conn.transaction():
            # Several workers starting at once must not race on CREATE TABLE.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({COLUMNS})")
            conn.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON {table} (blog_id, event_time)')
        # lz4 compresses the large values (an event over ~2 KB) several times
        # faster than the default pglz; a server built without it keeps pglz.
        with contextlib.suppress(psycopg.errors.InvalidParameterValue):
            conn.execute("SET default_toast_compression = 'lz4'")
        # toast_tuple_target at its maximum keeps a staged event (its jsonb is
        # over the 2 KB TOAST threshold) uncompressed: the INSERT reads ten
        # fields of each, and a compressed value is decompressed for every one.
        conn.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (line_id text, e jsonb, raw text) "
            "WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS"
        )

    def load_batch(self, data: str, batch: dict[str, t.Any]) -> int:
        """COPY the batch into staging and insert what is new, in one
        transaction. Returns the rows inserted (0 for a redelivered batch).
        Raises ``PostgresError`` when the transaction did not commit."""
        import psycopg

        text = staging_rows(data)
        copy_sql = f"COPY {_STAGING} (line_id, e, raw) FROM STDIN (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
        insert_sql = (
            f"INSERT INTO {self.settings.qualified} (event_id, event_type, event_time, arrival_time, blog_id, "
            f"session_id, endpoint_id, user_id, url, country, event, raw, batch_id) {_SELECT} "
            "ON CONFLICT (event_id) DO NOTHING"
        )
        with self._lock:
            try:
                conn = self.connection()
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy(copy_sql) as copy:
                        copy.write(text)
                    cur.execute(insert_sql, {"batch_id": str(batch["id"])})
                    inserted = cur.rowcount
            except psycopg.Error as exc:
                if self._conn is not None and self._conn.broken:
                    self._conn = None
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                raise PostgresError(
                    f"batch {batch['id']} not loaded into {self.settings.describe()}: {reason}"
                ) from exc
        return inserted


SETTINGS = PostgresSettings.from_env()
DESTINATION = PostgresDestination(SETTINGS) if SETTINGS is not None else None


def load_batch(data: str, batch: dict[str, t.Any]) -> None:
    """The subscriber (``integrations.postgres.load_batch``): one batch into the table."""
    if DESTINATION is None:
        raise ConfigError("ANALYTICS_POSTGRES_DSN is not set")
    DESTINATION.load_batch(data, batch)


if DESTINATION is None:
    logger.info("integrations.postgres: ANALYTICS_POSTGRES_DSN is not set; nothing registered")
else:
    add_action(DATA_PROCESS, load_batch, 10, 2)
