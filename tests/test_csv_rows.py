"""The CSV fast paths against the general ones (issue 15): rows compiled per
shape of event (``events.csv_rows.RowMaker``) against ``records.flatten``, and
rows joined without the csv module (``_Csv.writerow``) against the C writer.

The general paths are the references: ``flatten``'s rules are pinned case by
case in test_records.py from the README's table, and the C csv writer is the
standard library's RFC 4180 writer. Hypothesis makes events of few shapes
(as real data has) whose values change kind under the same keys, and cells
holding every character the CSV quoting rule cares about.
"""

from __future__ import annotations

import csv
import io
import itertools
import typing as t

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import csv_rows
from events.csv_rows import RowMaker
from events.fields import parse_fields, select, select_columns
from events.records import flatten, flatten_into
from wpjson._stream import _Csv

# Few key names, dots included (their flattened names can collide), so shapes repeat.
KEYS = st.sampled_from(["a", "b", "c", "a.b", "b.c", "", "x"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["\ud83d", "x,y", 'q"q', "=1+2"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
EVENTS = st.dictionaries(KEYS, VALUES, max_size=5)


def _reference(event: dict[str, t.Any], columns: list[str]) -> list[str]:
    flat = flatten(event)
    return [flat.get(name, "") for name in columns]


def _variants(event: dict[str, t.Any], replacements: list[t.Any]) -> t.Iterator[dict[str, t.Any]]:
    """``event`` again, then with each top-level or nested value in turn replaced
    (the same keys, another kind of value: what the compiled code must notice)."""
    yield event
    for index, (key, value) in enumerate(event.items()):
        replacement = replacements[index % len(replacements)]
        yield {**event, key: replacement}
        if type(value) is dict and value:
            inner = next(iter(value))
            yield {**event, key: {**value, inner: replacement}}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    templates=st.lists(EVENTS, min_size=1, max_size=4),
    replacements=st.lists(VALUES, min_size=1, max_size=3),
    extra=st.lists(st.text(max_size=4), max_size=3),
    drop=st.integers(min_value=0, max_value=3),
)
def test_compiled_rows_equal_flatten(
    templates: list[dict[str, t.Any]], replacements: list[t.Any], extra: list[str], drop: int
) -> None:
    events = [variant for template in templates for variant in _variants(template, replacements)]
    names = sorted({name for event in events for name in flatten(event)} | set(extra))
    columns = names[drop:]  # a header may lack a name an event has (an object written since the summary)
    maker = RowMaker(columns)
    for _round in range(2):  # the second round runs the code the first one compiled
        for event in events:
            assert maker.row(event) == _reference(event, columns), event


def test_a_dotted_key_and_a_nested_one_of_the_same_name_keep_the_later_value() -> None:
    """``{"a.b": 1, "a": {"b": 2}}`` has one ``a.b`` field: the value that comes
    later in the event (``flatten`` stores them in one dict, in walk order)."""
    maker = RowMaker(["a.b"])
    for _ in range(3):
        assert maker.row({"a.b": "first", "a": {"b": "second"}}) == ["second"]
        assert maker.row({"a": {"b": "first"}, "a.b": "second"}) == ["second"]
        assert maker.row({"x": {"a.b": "x.a.b"}, "a": {"b": "second"}}) == ["second"]
        assert maker.row({"a": {"b": "kept"}, "a.b": None}) == ["kept"]  # a null is no field: nothing replaced
        assert maker.row({"a.b": 1.5, "a": {"b": []}}) == ["1.5"]


def test_a_value_of_another_kind_under_the_same_keys_is_written_by_its_own_rule() -> None:
    """The same keys, values of every kind in turn: text, a number (JSON's
    spelling), a boolean (true/false), a list (joined with ';', or JSON text
    when it holds objects), an object (dotted names), null and empties (no cell)."""
    columns = ["e", "k", "k.z"]
    maker = RowMaker(columns)
    expected = [
        ("text", ["", "text", ""]),
        (7, ["", "7", ""]),
        (2.5, ["", "2.5", ""]),
        (1e16, ["", "1e+16", ""]),  # orjson's spelling, as every JSON number cell
        (True, ["", "true", ""]),
        (["p", "q"], ["", "p;q", ""]),
        (["p"], ["", "p", ""]),
        ([1, None, False], ["", "1;;false", ""]),
        ([{"z": 1}], ["", '[{"z":1}]', ""]),
        ({"z": "inner"}, ["", "", "inner"]),
        ({"z": 3}, ["", "", "3"]),
        (None, ["", "", ""]),
        ([], ["", "", ""]),
        ({}, ["", "", ""]),
    ]
    for _round in range(2):
        for value, cells in expected:
            assert maker.row({"e": {}, "k": value}) == cells, value


def test_shapes_past_the_limit_are_still_exact(monkeypatch: t.Any) -> None:
    monkeypatch.setattr(csv_rows, "MAX_SHAPES", 2)
    columns = ["a", "b", "c.d"]
    maker = RowMaker(columns)
    events = [{"a": 1}, {"b": "x"}, {"a": 2, "b": True}, {"c": {"d": 1.5}}, {"c": {"d": [1, 2]}, "a": None}]
    for event in events * 2:
        assert maker.row(event) == _reference(event, columns)


def test_a_deeply_nested_event_is_flattened_like_the_others() -> None:
    """An object nested 300 deep (orjson reads up to 1024): one dotted column."""
    event: dict[str, t.Any] = {"leaf": "bottom", "n": 1}
    for _ in range(300):
        event = {"d": event}
    name = "d." * 300 + "leaf"
    maker = RowMaker([name, "d." * 300 + "n"])
    assert maker.row(event) == ["bottom", "1"]
    assert maker.row(event) == ["bottom", "1"]


def test_row_makers_are_kept_per_header() -> None:
    assert csv_rows.row_maker(["a", "b"]) is csv_rows.row_maker(("a", "b"))
    assert csv_rows.row_maker(["a"]) is not csv_rows.row_maker(["a", "b"])


# ----------------------------------------------------------------------------- rows without the csv module

CELLS = st.text(alphabet=st.sampled_from(["a", ",", '"', "\r", "\n", "\x00", " ", "é", "\ud83d", "=", "'"]), max_size=5)


def _c_writer_bytes(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
    return text.getvalue().encode("utf-8", "backslashreplace")


@settings(max_examples=300, deadline=None)
@given(width=st.integers(min_value=1, max_value=4), data=st.data())
def test_joined_rows_equal_the_c_writers(width: int, data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=6))
    out = _Csv([f"h{i}" for i in range(width)])
    for row in rows:
        out.writerow(row)
    assert out.take() == _c_writer_bytes(rows)


def test_one_empty_cell_is_a_quoted_empty_field() -> None:
    """RFC 4180: a row of one empty field is written ``""`` (a bare empty line
    would be no record); the C writer does so, and so must the joined row."""
    out = _Csv(["only"])
    out.writerow([""])
    out.writerow(["x"])
    assert out.take() == b'""\r\nx\r\n'


def test_csv_safe_rows_are_neutralised_then_quoted() -> None:
    out = _Csv(["a", "b"], safe=True)
    out.writerow(["=1+2", "-3,4"])
    out.writerow(["plain", "@x"])
    assert out.take() == b"'=1+2,\"'-3,4\"\r\nplain,'@x\r\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates=st.lists(EVENTS, min_size=1, max_size=4), replacements=st.lists(VALUES, min_size=1, max_size=3))
def test_compiled_rows_with_nulls_equal_flatten(templates: list[dict[str, t.Any]], replacements: list[t.Any]) -> None:
    """Parquet's rows: None (a null) where the event has no such field, an empty
    string where it has one holding ``""``."""
    events = [variant for template in templates for variant in _variants(template, replacements)]
    columns = sorted({name for event in events for name in flatten(event)} | {"absent"})
    maker = RowMaker(columns, missing=None)
    for _round in range(2):
        for event in events:
            flat = flatten(event)
            assert maker.row(event) == [flat.get(name) for name in columns], event


# ``_fields`` paths over KEYS' names (dots split them into nested paths, as WordPress does) and list indexes.
FIELD_PATHS = st.lists(st.sampled_from(["a", "b", "c", "x", "a.b", "b.c", "a.0", "a.b.c", "c.1", "b.a.x"]), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    templates=st.lists(EVENTS, min_size=1, max_size=4),
    replacements=st.lists(VALUES, min_size=1, max_size=3),
    paths=FIELD_PATHS,
    missing=st.sampled_from(["", None]),
)
def test_fields_rows_equal_flatten_of_the_cut_events(
    templates: list[dict[str, t.Any]], replacements: list[t.Any], paths: list[str], missing: str | None
) -> None:
    """The ``_fields`` CSV and Parquet rows (csv_objects.object_rows: compiled
    rows of the cut-down event) against the generic path they replaced:
    ``flatten_into`` of ``select(event, tree)`` looked up per kept column."""
    tree = parse_fields(",".join(paths))
    if tree is None:
        return
    events = [variant for template in templates for variant in _variants(template, replacements)]
    header = sorted({name for event in events for name in flatten(event)})
    columns = select_columns(header, tree)
    maker = csv_rows.row_maker(columns, missing)
    for _round in range(2):
        for event in events:
            out: dict[str, str] = {}
            flatten_into(out, "", select(event, tree))
            assert maker.row(select(event, tree)) == [out.get(name, missing) for name in columns], (event, tree)


def test_row_makers_for_csv_and_parquet_each_have_their_own_missing_cell() -> None:
    assert csv_rows.row_maker(["p", "q"], None).row({"p": "1"}) == ["1", None]
    assert csv_rows.row_maker(["p", "q"]).row({"p": "1"}) == ["1", ""]


def test_a_parquet_download_reuses_the_code_a_csv_download_of_its_header_compiled() -> None:
    # A process's first Parquet download of a site compiled every shape again (about 0.35 s of a worker's
    # CPU for half the bench day); the functions never read the missing cell, so one header's code serves both.
    columns = ["a", "b.c", "b.d", "e"]
    events = [{"a": "x", "b": {"c": 1, "d": ""}}, {"a": "y", "b": {"c": 2, "d": "z"}}, {"e": [1, 2]}] * 2
    csv = csv_rows.row_maker(columns)
    assert [csv.row(event) for event in events][:3] == [["x", "1", "", ""], ["y", "2", "z", ""], ["", "", "", "1;2"]]
    compiled = csv._compiled[0]
    assert compiled > 0
    parquet = csv_rows.row_maker(columns, None)
    assert [parquet.row(event) for event in events][:3] == [
        ["x", "1", "", None],
        ["y", "2", "z", None],
        [None, None, None, "1;2"],
    ]
    assert parquet._compiled == [compiled]  # nothing compiled again
    assert csv_rows.row_maker(columns, None) is parquet and csv_rows.row_maker(columns) is csv
    assert csv.row(events[0]) == ["x", "1", "", ""]  # the CSV maker's own missing cell is untouched


def _pieces_row_by_row(rows: list[bytes], size: int, cap: int) -> list[bytes]:
    """The rule of a response's pieces, read row by row: as many rows as fit
    in ``size`` rows and ``cap`` bytes; a row longer than ``cap`` alone."""
    pieces: list[bytes] = []
    piece: list[bytes] = []
    for row in rows:
        if piece and (len(piece) == size or sum(map(len, piece)) + len(row) > cap):
            pieces.append(b"".join(piece))
            piece = []
        piece.append(row)
    if piece:
        pieces.append(b"".join(piece))
    return pieces


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.binary(min_size=1, max_size=12), max_size=40),
    splits=st.lists(st.integers(min_value=0, max_value=40), max_size=4),
    size=st.integers(min_value=1, max_value=6),
    cap=st.integers(min_value=1, max_value=30),
)
def test_pieces_are_cut_at_the_same_rows_however_the_text_is_split_in_parts(
    rows: list[bytes], splits: list[int], size: int, cap: int
) -> None:
    """A gzip-coded body is flushed per piece and its ETag promises its bytes:
    the text of one object from a worker, or of parts written here, must be
    cut at the same rows (``_stream._Cut``)."""
    import array

    from events.csv_text import Part
    from wpjson._stream import _cut_parts

    bounds = sorted({0, len(rows), *(min(s, len(rows)) for s in splits)})
    parts = []
    for first, last in itertools.pairwise(bounds):
        chosen = rows[first:last]
        ends = array.array("q", [sum(map(len, chosen[: i + 1])) for i in range(len(chosen))])
        parts.append(Part(b"".join(chosen), ends))
    assert list(_cut_parts((part for part in parts), size, cap)) == _pieces_row_by_row(rows, size, cap)


def test_keys_that_differ_every_time_are_written_by_key_not_compiled() -> None:
    """An id used as a key: each event's keys its own. Compiling each (the
    code never used again, and kept) made such a day many times slower; such
    objects and objects wider than ``shapes.MAX_SHAPE_KEYS`` are written key
    by key, with the same cells (events/shapes.py)."""
    from events import shapes

    events = [{"attributes": {f"id-{index}": index, "blogId": "1"}, "n": index} for index in range(300)]
    wide = {"attributes": {f"k{index}": str(index) for index in range(shapes.MAX_SHAPE_KEYS + 1)}}
    columns = sorted({name for event in [*events, wide] for name in flatten(event)})
    maker = RowMaker(columns)
    for event in [*events, wide, wide, wide]:
        assert maker.row(event) == _reference(event, columns)
    # The events' top shape ("attributes", "n") compiled once met twice; none of the 300 attribute shapes;
    # the wide object's top shape found too wide with what it inlines (counted, kept as by-key).
    assert maker._compiled == [2]
