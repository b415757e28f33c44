"""CSV text of rows: RFC 4180 (CRLF, quotes doubled), UTF-8, in pieces of bytes.

Written where the rows are made: in a download's thread, or in a worker
process that writes a whole object's rows (``csv_objects``). ``CsvText.parts``
gives the text in parts with the end offset of every row, so whoever cuts the
response into pieces (``wpjson._stream``) cuts at the same rows wherever the
text was written.
"""

from __future__ import annotations

import array
import csv
import io
import typing as t

#: Bytes of text a part holds (about; it ends at the first row end past this).
PART_BYTES = 256 * 1024


class Part(t.NamedTuple):
    """Consecutive rows' text and, per row, where it ends in ``data`` (a byte offset)."""

    data: bytes
    ends: array.array[int]


#: OWASP's CSV injection rule: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise_formula(cell: str) -> str:
    """``cell`` with a ``'`` before it when it starts like a formula (``=``,
    ``+``, ``-``, ``@``, tab, carriage return), as OWASP's "CSV Injection" page
    recommends; spreadsheets then show it as text. The price: a number such as
    ``-3`` is text too, and the ``'`` is in the file for any other reader."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


class CsvText:
    """RFC 4180 rows (CRLF, quotes doubled) through the C csv writer into a
    byte buffer (``buffer``: its ``tell`` is the piece's size in bytes) that
    ``take`` empties once per piece. The header row is written
    even when no row follows (an empty day); no columns at all (a site with
    no event summarized on any day, ``_fields`` naming none) means an empty body.

    Text is written as UTF-8. A lone surrogate (from a JSON string such as
    ``"Great news \\ud83d"``, which RFC 8259 allows) has no UTF-8 form: it is
    written as its JSON escape text (``\\ud83d``, Python's ``backslashreplace``),
    so the body stays valid UTF-8 for BI tools and keeps what the event said.

    ``safe``: every cell, header names too (they come from the events), goes
    through ``neutralise_formula`` before it is written."""

    def __init__(self, fields: t.Sequence[str], safe: bool = False) -> None:
        self.fields = list(fields)
        #: The encoded rows; ``tell`` is the exact byte count of the piece so far.
        self.buffer = io.BytesIO()
        text = io.TextIOWrapper(self.buffer, "utf-8", "backslashreplace", newline="", write_through=True)
        self.writer = csv.writer(text, lineterminator="\r\n")
        self._text = text  # the writer's file: kept so that collecting it does not close ``buffer``
        self._commas = len(self.fields) - 1
        self._safe = safe

    def writerow(self, cells: t.Iterable[str]) -> None:
        """One row. A row none of whose cells needs quotes (no comma, quote,
        CR, LF or NUL in it: the C writer's ``QUOTE_MINIMAL`` test; the usual
        case) is joined and encoded here, in two C calls instead of the
        writer's cell-by-cell pass; any other row goes through the C writer
        (tests/test_csv_rows.py compares the two on generated rows)."""
        if self._safe:
            cells = list(map(neutralise_formula, cells))
        elif type(cells) is not list:
            cells = list(cells)
        line = ",".join(cells)
        if (
            line
            and line.count(",") == self._commas
            and '"' not in line
            and "\r" not in line
            and "\n" not in line
            and "\x00" not in line
        ):
            self.buffer.write((line + "\r\n").encode("utf-8", "backslashreplace"))
        else:
            self.writer.writerow(cells)

    def take(self) -> bytes:
        """The bytes written since the last ``take``."""
        data = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return data

    def opening(self) -> bytes:
        if not self.fields:
            return b""
        self.writerow(self.fields)
        return self.take()

    def parts(
        self, rows: t.Iterable[t.Iterable[str]], size: int = PART_BYTES, count: int | None = None
    ) -> t.Iterator[Part]:
        """``rows`` written, in parts of about ``size`` bytes or ``count`` rows
        (a response's chunk size: a piece goes out as soon as it is full, not
        when ``size`` bytes of short pieces are ready). When ``rows`` raises,
        the rows written before it come out first as a part, then the error:
        a reader gets every row made before a failure, as it would have row
        by row."""
        most = count or -1
        writerow = self.writerow
        tell = self.buffer.tell
        ends = array.array("q")
        end = ends.append
        try:
            for cells in rows:
                writerow(cells)
                at = tell()
                end(at)
                if at >= size or len(ends) == most:
                    yield Part(self.take(), ends)
                    ends = array.array("q")
                    end = ends.append
        except Exception:
            if ends:
                yield Part(self.take(), ends)
            raise
        if ends:
            yield Part(self.take(), ends)
