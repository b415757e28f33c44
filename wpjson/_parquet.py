"""``format=parquet``: one Parquet file of a day's flattened rows, written row
group by row group so memory holds one group whatever the size of the day.

Columns are the CSV's (same names, same order, same ``_fields`` choice). A
column is ``INT64`` when every value of the day's events in it is a JSON
integer within INT64, ``DOUBLE`` when every value is a number and some is a
float (the catalog's ``DaySummary.number_kinds``), and UTF-8 text otherwise,
holding exactly the CSV's cell; a missing value is null where the CSV has an
empty cell. The numbers come from the CSV text through Arrow's casts, so the
two formats cannot disagree. Compression: Snappy (Parquet's usual default).

pyarrow is imported on the first Parquet answer, not with the app: it costs
a worker some 50 MB of resident memory (its libraries), which JSON, NDJSON
and CSV answers never need.

A Parquet file ends with its footer (the schema and where each row group
lies), so a body cut short is not a readable file, which is the point: a
client can tell.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import typing as t

if t.TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

#: IANA's media type for Parquet (registered 2024).
CONTENT_TYPE = "application/vnd.apache.parquet"


def writer_version() -> str:
    """The Parquet writer's version (part of a Parquet body's ETag: another
    writer may write other bytes), read without importing it."""
    return importlib.metadata.version("pyarrow")


class _Sink:
    """A write-only file that keeps what is written until ``take``: the
    writer's output, handed to the response piece by piece."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def schema(columns: t.Sequence[str], kinds: t.Mapping[str, str]) -> pa.Schema:
    """The file's schema: each column typed as the module's docstring says."""
    import pyarrow as pa

    types = {"int": pa.int64(), "float": pa.float64()}
    # A name is valid UTF-8 in the file: a lone surrogate in it is written as its escape text, as in CSV.
    return pa.schema([pa.field(_utf8(name), types.get(kinds.get(name, ""), pa.string())) for name in columns])


def pieces(
    rows: t.Iterator[t.Sequence[str | None]], columns: t.Sequence[str], kinds: t.Mapping[str, str], row_group: int
) -> t.Iterator[bytes]:
    """The bytes of the file: the header magic, then one piece per row group
    of ``row_group`` rows (each a row's cells under ``columns``, in their
    order; None for a null), then the footer. Raises pyarrow's ArrowInvalid
    if a number column holds a value that is not a number (the catalog said
    it would not). Arrow allocates
    from the system's allocator, which gives memory back between row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    pool = pa.system_memory_pool()
    file_schema = schema(columns, kinds)
    sink = _Sink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), file_schema, compression="snappy", memory_pool=pool)
    try:
        while True:
            batch = list(itertools.islice(rows, row_group))
            if not batch:
                break
            arrays = []
            for field, values in zip(file_schema, zip(*batch, strict=True), strict=True):
                try:
                    array = pa.array(values, type=pa.string(), memory_pool=pool)
                except UnicodeEncodeError:
                    # A lone surrogate ("Great news \ud83d", which RFC 8259 allows) has no UTF-8 form:
                    # written as its JSON escape text, as the CSV body writes it.
                    array = pa.array([_utf8(v) for v in values], type=pa.string(), memory_pool=pool)
                arrays.append(array if field.type == pa.string() else array.cast(field.type, memory_pool=pool))
            batch.clear()
            if columns:
                writer.write_table(pa.Table.from_arrays(arrays, schema=file_schema), row_group_size=row_group)
            arrays.clear()
            piece = sink.take()
            if piece:
                yield piece
    finally:
        writer.close()
    yield sink.take()


@t.overload
def _utf8(value: str) -> str: ...
@t.overload
def _utf8(value: None) -> None: ...
def _utf8(value: str | None) -> str | None:
    """``value`` with each lone surrogate as its escape text (``\\ud83d``): valid UTF-8."""
    return None if value is None else value.encode("utf-8", "backslashreplace").decode("utf-8")
