"""The Parquet body's writer (``events.parquet.pieces``, ``file_pieces``): row groups encoded in
a thread of their own while the next group's rows are made.

Expected values come from the rows given (read back with pyarrow's reader)
and from pyarrow's own one-call writer (``pyarrow.parquet.write_table`` of a
table built column by column): the body's ETag covers the writer's version
and promises the bytes, so the background writer must write those bytes.
"""

from __future__ import annotations

import io
import threading
import typing as t

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from events import parquet

COLUMNS = ["event_type", "metrics.count", "metrics.ratio", "attributes.title"]
KINDS = {"metrics.count": "int", "metrics.ratio": "float"}


def make_rows(count: int) -> list[list[str | None]]:
    """``count`` rows with text, empty text, nulls and numbers as text, as the
    stream's row maker gives them."""
    rows: list[list[str | None]] = []
    for number in range(count):
        title = None if number % 3 == 0 else ("" if number % 3 == 1 else f"page {number} \u00e9t\u00e9")
        rows.append([f"type{number % 2}", str(number * 7), f"{number}.5", title])
    return rows


def writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(parquet.WRITER_THREAD)]


class Counted:
    """An iterator over rows that counts the rows taken from it."""

    def __init__(self, rows: list[list[str | None]]) -> None:
        self._rows = iter(rows)
        self.taken = 0

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> list[str | None]:
        row = next(self._rows)
        self.taken += 1
        return row


@pytest.mark.parametrize(("count", "group"), [(0, 4), (1, 4), (11, 4), (12, 4), (12, 10_000)])
def test_the_file_is_the_one_pyarrows_own_writer_writes(count: int, group: int) -> None:
    rows = make_rows(count)
    body = b"".join(parquet.pieces(iter(rows), COLUMNS, KINDS, group))

    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    types = [pa.string(), pa.int64(), pa.float64(), pa.string()]
    arrays = [pa.array(values, type=pa.string()).cast(kind) for values, kind in zip(columns, types, strict=True)]
    alone = io.BytesIO()
    if rows:
        pq.write_table(pa.table(arrays, names=COLUMNS), alone, row_group_size=group, compression="snappy")
    else:  # no row group at all (write_table would write an empty one)
        pq.ParquetWriter(alone, pa.table(arrays, names=COLUMNS).schema, compression="snappy").close()
    assert body == alone.getvalue()

    back = pq.ParquetFile(io.BytesIO(body))
    sizes = [back.metadata.row_group(index).num_rows for index in range(back.num_row_groups)]
    assert sizes == [min(group, count - start) for start in range(0, count, group)]
    table = back.read()
    assert table.column("metrics.count").to_pylist() == [number * 7 for number in range(count)]
    assert table.column("metrics.ratio").to_pylist() == [number + 0.5 for number in range(count)]
    assert table.column("attributes.title").to_pylist() == [row[3] for row in rows]
    assert writer_threads() == []


@pytest.mark.parametrize("sizes", [[5, 0, 1, 3, 7, 2], [13], [1] * 9, [4, 4, 4]])
def test_cells_from_objects_of_any_size_make_the_same_row_groups(sizes: list[int]) -> None:
    # A pool's workers return each object's cells whole, however many rows it has; the download
    # regroups them: the file must be the one written from the same rows given one by one.
    rows = make_rows(sum(sizes))
    arrays, start = [], 0
    for size in sizes:
        arrays += list(parquet.cells(iter(rows[start : start + size]), len(COLUMNS)))
        start += size
    regrouped = b"".join(parquet.file_pieces(iter(arrays), COLUMNS, KINDS, 4))
    assert regrouped == b"".join(parquet.pieces(iter(rows), COLUMNS, KINDS, 4))
    back = pq.ParquetFile(io.BytesIO(regrouped))
    assert [back.metadata.row_group(i).num_rows for i in range(back.num_row_groups)] == [
        min(4, len(rows) - first) for first in range(0, len(rows), 4)
    ]
    assert back.read().column("event_type").to_pylist() == [row[0] for row in rows]


@pytest.mark.parametrize("most", [None, 1, 999, 1024, 2500, 4000])
def test_cells_converted_in_steps_are_the_rows_cells_most_rows_at_a_time(most: int | None) -> None:
    # Rows are turned into Arrow a few thousand cells at a time (1,024 rows of these 4 columns), while
    # their strings are in the CPU's cache; what comes out must not show where one step ended.
    rows = make_rows(2500)
    got = list(parquet.cells(iter(rows), len(COLUMNS), most))
    expected = [cell for row in rows for cell in row]
    assert pa.concat_arrays(got).to_pylist() == expected
    per = most or len(rows)
    assert [len(array) // len(COLUMNS) for array in got] == [
        min(per, len(rows) - first) for first in range(0, len(rows), per)
    ]


@pytest.mark.parametrize("most", [None, 1000])
def test_rows_made_before_an_error_come_out_before_it_whatever_the_step(most: int | None) -> None:
    # A damaged object's rows up to the damage are kept (as in CSV), past a step's end too.
    rows = make_rows(2100)

    def until_damage() -> t.Iterator[list[str | None]]:
        yield from rows[:2050]
        raise ValueError("damaged at row 2051")

    got: list[pa.Array] = []
    with pytest.raises(ValueError, match="row 2051"):
        got.extend(parquet.cells(until_damage(), len(COLUMNS), most))
    assert pa.concat_arrays(got).to_pylist() == [cell for row in rows[:2050] for cell in row]


def test_a_lone_surrogate_in_a_later_group_is_written_as_its_escape_text() -> None:
    # The CSV body writes "\ud83d" as those six characters (tests/test_lone_surrogates.py); so does Parquet,
    # in whichever group the cell comes.
    rows = make_rows(9)
    rows[6][3] = "Great news \ud83d"
    table = pq.read_table(io.BytesIO(b"".join(parquet.pieces(iter(rows), COLUMNS, KINDS, 4))))
    titles = table.column("attributes.title").to_pylist()
    assert titles[6] == "Great news \\ud83d"
    assert titles[:6] + titles[7:] == [row[3] for row in rows[:6] + rows[7:]]


def test_an_error_of_the_writer_thread_ends_the_body_with_that_error() -> None:
    # "metrics.count" is said to hold integers; group 3 (rows 8-11) holds a text: the writer thread's cast
    # fails. The body raises it (the server then drops the connection: the client sees a file without a
    # footer) instead of waiting for a group that never comes, and the thread is gone.
    rows = make_rows(16)
    rows[9][1] = "lots"
    body = parquet.pieces(iter(rows), COLUMNS, KINDS, 4)
    got = []
    with pytest.raises(pa.ArrowInvalid, match="lots"):
        for piece in body:
            got.append(piece)
    assert got and got[0].startswith(b"PAR1")
    assert writer_threads() == []


def test_a_client_gone_mid_body_ends_the_writer_thread_and_stops_reading_rows() -> None:
    # A WSGI server closes the body's iterator when the client goes (PEP 3333); gunicorn does.
    rows = Counted(make_rows(40))
    body = parquet.pieces(rows, COLUMNS, KINDS, 4)
    first = next(body)
    assert first.startswith(b"PAR1")
    assert writer_threads() != []  # group 2 is being written (or was), its thread waits for more
    taken = rows.taken
    body.close()
    assert writer_threads() == []
    assert rows.taken == taken < 40
