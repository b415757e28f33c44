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

A big day's rows are made and converted to Arrow cells by the process pool,
object by object (``object_cells`` through ``csv_objects.in_order``, as CSV
text is); the download regroups them into row groups and encodes those.

A Parquet file ends with its footer (the schema and where each row group
lies), so a body cut short is not a readable file, which is the point: a
client can tell.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import itertools
import typing as t

from events.csv_objects import object_rows

if t.TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from events.csv_objects import ObjectTask, Rows
    from events.sources import Source

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


#: Cells turned into Arrow text per call: rows are made and converted a few thousand cells at a time,
#: while their strings are still in the CPU's cache (about 250 KB; 46 rows of the bench day's 89
#: columns). Converting an object's rows all at once cost its worker 1.41x the CPU of writing them as
#: CSV; 32-64 rows at a time 1.13x, 4,096 cells 1.06-1.10x (bench/FINDINGS.md, issue 14's last round).
CONVERSION_CELLS = 4096


def cells(rows: t.Iterator[t.Sequence[str | None]], width: int, most: int | None = None) -> t.Iterator[pa.Array]:
    """``rows`` (each a row's ``width`` cells; None for a null) as Arrow
    text, ``most`` rows at a time (None: all): one array of the rows' cells,
    row after row. When ``rows`` raises, the rows made before it come out
    first, then the error (a damaged object's rows up to the damage are kept,
    as in CSV)."""
    import pyarrow as pa

    row_type = pa.list_(pa.string(), width)
    step = max(1, CONVERSION_CELLS // max(width, 1))
    while True:
        converted: list[pa.Array] = []
        count = 0
        try:
            while most is None or count < most:
                want = step if most is None else min(step, most - count)
                batch: list[t.Sequence[str | None]] = []
                try:
                    # extend, not list(): the rows made before an error stay in ``batch``
                    batch.extend(itertools.islice(rows, want))
                finally:
                    if batch:
                        converted.append(_row_cells(batch, row_type))
                        count += len(batch)
                if len(batch) < want:
                    break
        except Exception:
            if converted:
                yield _joined(converted)
            raise
        if not converted:
            return
        array = _joined(converted)
        converted.clear()
        yield array
        del array
        if most is None or count < most:
            return


def _joined(arrays: list[pa.Array]) -> pa.Array:
    """``arrays`` as one (a copy, unless there is one)."""
    import pyarrow as pa

    return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays, memory_pool=pa.system_memory_pool())


def _row_cells(batch: list[t.Sequence[str | None]], row_type: pa.DataType) -> pa.Array:
    """``batch``'s cells in one call, row by row (a fixed-size list per row,
    flattened): about 4x cheaper than one conversion per column, which walks
    the cells in an order scattered over memory (bench/FINDINGS.md, issue 14's
    Parquet rows)."""
    import pyarrow as pa

    try:
        return pa.array(batch, type=row_type, memory_pool=pa.system_memory_pool()).flatten()
    except UnicodeEncodeError:
        # A lone surrogate ("Great news \ud83d", which RFC 8259 allows) has no UTF-8 form:
        # written as its JSON escape text, as the CSV body writes it.
        fixed = [[_utf8(value) for value in row] for row in batch]
        return pa.array(fixed, type=row_type, memory_pool=pa.system_memory_pool()).flatten()


def object_cells(source: Source, task: ObjectTask, rows: Rows) -> t.Iterator[pa.Array]:
    """The cells of ``task``'s rows (``csv_objects.object_rows``, with
    ``rows.missing`` None) as ``cells`` gives them, ``rows.part_rows`` rows
    at a time (None: the whole object at once, as a pool's worker returns it)."""
    with object_rows(source, task, rows) as made:
        yield from cells(made, len(rows.fields), rows.part_rows)


def pieces(
    rows: t.Iterator[t.Sequence[str | None]], columns: t.Sequence[str], kinds: t.Mapping[str, str], row_group: int
) -> t.Iterator[bytes]:
    """``file_pieces`` of ``rows``, each a row's cells under ``columns``, in
    their order; None for a null."""
    return file_pieces(cells(rows, len(columns), row_group), columns, kinds, row_group)


def file_pieces(
    arrays: t.Iterator[pa.Array], columns: t.Sequence[str], kinds: t.Mapping[str, str], row_group: int
) -> t.Iterator[bytes]:
    """The bytes of the file: the header magic, then one piece per row group
    of ``row_group`` rows, then the footer. ``arrays`` are rows' cells as
    ``cells`` makes them (each holding whole rows of ``columns``, any number);
    with no column nothing is read (the file has no row). Raises pyarrow's
    ArrowInvalid if a number column holds a value that is not a number (the
    catalog said it would not). Arrow allocates from the system's allocator,
    which gives memory back between row groups.

    Row group N is typed and encoded (casts, dictionary, Snappy: Arrow's C++,
    without the GIL) in a thread of its own while group N+1 is gathered, so
    memory holds at most two groups and the arrays not yet grouped; an error
    there is raised here, at the next group or at the end. The writer thread
    makes few Python calls (its output stays in a C++ buffer until this
    generator moves it to the response): each waits for the GIL, up to the
    interpreter's switch interval (5 ms). Closing the generator (a client
    gone) waits for the group being written, then ends the thread."""
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
            for count, group in _regrouped(arrays if columns else iter(()), len(columns), row_group):
                strings = groups.strings(group, count)
                del group
                if writing is not None:
                    writing.result()
                    writing = None
                    stream.flush()
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


def _regrouped(arrays: t.Iterator[pa.Array], width: int, row_group: int) -> t.Iterator[tuple[int, pa.Array]]:
    """``(rows, cells)`` of each group of ``row_group`` rows of ``arrays``
    (the last group: what is left), each group's cells in one array. Only a
    group's own cells are copied: what an array holds beyond it stays a
    zero-copy slice for the next."""
    import pyarrow as pa

    held: list[pa.Array] = []
    held_rows = 0
    want = row_group * width
    for array in arrays:
        if not len(array):
            continue
        held.append(array)
        held_rows += len(array) // width
        while held_rows >= row_group:
            taken: list[pa.Array] = []
            cells = 0
            while cells < want:
                first = held[0]
                need = want - cells
                if len(first) <= need:
                    taken.append(held.pop(0))
                    cells += len(first)
                else:
                    taken.append(first.slice(0, need))
                    held[0] = first.slice(need)
                    cells = want
            held_rows -= row_group
            yield row_group, taken[0] if len(taken) == 1 else pa.concat_arrays(taken)
    if held_rows:
        yield held_rows, held[0] if len(held) == 1 else pa.concat_arrays(held)


class _RowGroups:
    """Arrow data of row groups under one schema. ``strings`` puts a
    group's cells (row after row) in column order by one ``take``; ``table``
    casts the number columns from their text, all in one call."""

    def __init__(self, file_schema: pa.Schema, pool: pa.MemoryPool) -> None:
        import pyarrow as pa

        self._schema = file_schema
        self._pool = pool
        self._width = len(file_schema)
        self._text_fields = [field.with_type(pa.string()) for field in file_schema]
        self._typed = pa.struct(list(file_schema))
        self._numbers = any(field.type != pa.string() for field in file_schema)
        self._orders: dict[int, pa.Array] = {}

    def strings(self, cells: pa.Array, count: int) -> pa.StructArray:
        """``count`` rows' ``cells`` (row after row, as ``cells`` makes them)
        as text columns, the fields of one struct array: one ``take`` puts
        them in column order, then each column is a zero-copy slice."""
        import pyarrow as pa
        import pyarrow.compute as pc  # type: ignore[import-untyped]

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
