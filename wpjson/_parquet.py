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

import concurrent.futures
import importlib.metadata
import itertools
import typing as t

if t.TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

#: IANA's media type for Parquet (registered 2024).
CONTENT_TYPE = "application/vnd.apache.parquet"
#: Fewest rows in a row group of a download (``chunk_size`` below this is raised to it): Arrow's
#: ``ParquetWriter`` keeps every group's footer entry (its columns' offsets and statistics, about
#: 100 KB for 89 columns) until the file closes, so one-row groups made a worker hold GBs
#: (16,000 events at ``chunk_size=1``: 2.8 GB, never given back) and a file 120x the size.
MIN_ROW_GROUP_ROWS = 1000

#: Name (prefix) of the thread that encodes a download's row groups.
WRITER_THREAD = "parquet-writer"
#: Bytes of encoded row groups held in C++ until the response takes them: more than a row group
#: (about 0.5 MB for 3,000 rows of the bench day); a bigger one is still written, piece by piece
#: through Python. Allocated untouched: only the pages used count in the resident memory.
WRITE_BUFFER_BYTES = 16 * 1024 * 1024


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
    from the system's allocator, which gives memory back between row groups.

    Row group N is typed and encoded (casts, dictionary, Snappy: Arrow's C++,
    without the GIL) in a thread of its own while group N+1's rows are made,
    so memory holds at most two groups; an error there is raised here, at
    the next group or at the end. The writer thread makes few Python calls
    (its output stays in a C++ buffer until this generator moves it to the
    response): each waits for the GIL, up to the interpreter's switch
    interval (5 ms). Closing the generator (a client gone) waits for the
    group being written, then ends the thread."""
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    pool = pa.system_memory_pool()
    file_schema = schema(columns, kinds)
    sink = _Sink()
    stream = pa.BufferedOutputStream(pa.PythonFile(sink, mode="w"), WRITE_BUFFER_BYTES, memory_pool=pool)
    writer = pq.ParquetWriter(stream, file_schema, compression="snappy", memory_pool=pool)
    groups = _RowGroups(file_schema, pool)

    def write(strings: pa.StructArray) -> None:
        writer.write_table(groups.table(strings), row_group_size=row_group)

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=WRITER_THREAD) as background:
        writing: concurrent.futures.Future[None] | None = None
        try:
            while True:
                batch = list(itertools.islice(rows, row_group))
                if not batch:
                    break
                strings = groups.strings(batch) if columns else None
                batch.clear()
                if writing is not None:
                    writing.result()
                    writing = None
                    stream.flush()
                if strings is not None:
                    writing = background.submit(write, strings)
                del strings
                piece = sink.take()
                if piece:
                    yield piece
            if writing is not None:
                writing.result()
        finally:
            if writing is not None:
                concurrent.futures.wait([writing])  # a write under way cannot be stopped: its end is awaited
            writer.close()
    stream.flush()
    yield sink.take()


class _RowGroups:
    """Arrow data of row groups under one schema. ``strings`` converts a
    group's cells in one call, row by row (a fixed-size list per row), then
    puts them in column order by one ``take``: about 4x cheaper than one
    conversion per column (bench/FINDINGS.md, issue 14's Parquet rows), which
    walks the cells in an order scattered over memory. ``table`` casts the
    number columns from their text, all in one call."""

    def __init__(self, file_schema: pa.Schema, pool: pa.MemoryPool) -> None:
        import pyarrow as pa

        self._schema = file_schema
        self._pool = pool
        self._width = len(file_schema)
        self._row_type = pa.list_(pa.string(), self._width)
        self._text_fields = [field.with_type(pa.string()) for field in file_schema]
        self._typed = pa.struct(list(file_schema))
        self._numbers = any(field.type != pa.string() for field in file_schema)
        self._orders: dict[int, pa.Array] = {}

    def strings(self, batch: list[t.Sequence[str | None]]) -> pa.StructArray:
        """``batch`` (rows of one cell per column, None for a null) as text
        columns, the fields of one struct array."""
        import pyarrow as pa
        import pyarrow.compute as pc  # type: ignore[import-untyped]

        try:
            cells = pa.array(batch, type=self._row_type, memory_pool=self._pool).flatten()
        except UnicodeEncodeError:
            # A lone surrogate ("Great news \ud83d", which RFC 8259 allows) has no UTF-8 form:
            # written as its JSON escape text, as the CSV body writes it.
            fixed = [[_utf8(value) for value in row] for row in batch]
            cells = pa.array(fixed, type=self._row_type, memory_pool=self._pool).flatten()
        count = len(batch)
        by_column = pc.take(cells, self._order(count), memory_pool=self._pool)
        arrays = [by_column.slice(index * count, count) for index in range(self._width)]
        return pa.StructArray.from_arrays(arrays, fields=self._text_fields, memory_pool=self._pool)

    def table(self, strings: pa.StructArray) -> pa.Table:
        """The row group of ``strings``, its number columns cast from their text.
        Raises ArrowInvalid where such a text is not a number."""
        import pyarrow as pa

        typed = strings.cast(self._typed, memory_pool=self._pool) if self._numbers else strings
        return pa.Table.from_struct_array(typed)

    def _order(self, count: int) -> pa.Array:
        """The positions of ``count`` rows' cells, column after column: ``take``'s indices."""
        import pyarrow as pa
        import pyarrow.compute as pc

        order = self._orders.get(count)
        if order is None:
            starts = pa.array(range(0, count * self._width, self._width), type=pa.int32())
            order = pa.concat_arrays([pc.add(starts, pa.scalar(index, pa.int32())) for index in range(self._width)])
            self._orders[count] = order  # two at most: the full group's and the last group's
        return order


@t.overload
def _utf8(value: str) -> str: ...
@t.overload
def _utf8(value: None) -> None: ...
def _utf8(value: str | None) -> str | None:
    """``value`` with each lone surrogate as its escape text (``\\ud83d``): valid UTF-8."""
    return None if value is None else value.encode("utf-8", "backslashreplace").decode("utf-8")
