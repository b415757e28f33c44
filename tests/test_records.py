"""NDJSON lines to events (tolerant of what real Firehose files hold) and
events to the CSV fields the original export produced."""

from __future__ import annotations

import gzip
import logging
import tracemalloc
from pathlib import Path

import orjson
import pytest

from config import SourceLocation
from events.records import (
    MAX_EVENT_BYTES,
    MAX_REPORTED_INVALID,
    Event,
    InvalidLine,
    ParseReport,
    add_field_kinds,
    event_in,
    flatten,
    flatten_into,
    iter_events,
)
from events.sources import MAX_LINE_BYTES, LocalSource

REFERENCE = Path("/work/shared/reference/pinpoint-events.ndjson")
KEY = "2022/02/01/00/firehose-test"


def parse(data: bytes, key: str = KEY) -> tuple[list[Event], ParseReport]:
    report = ParseReport()
    events = list(iter_events(data.splitlines(keepends=True), key, report))
    return events, report


@pytest.fixture(scope="module")
def reference_bytes() -> bytes:
    return REFERENCE.read_bytes()


@pytest.fixture(scope="module")
def reference_events(reference_bytes: bytes) -> list[Event]:
    return list(iter_events(reference_bytes.splitlines(keepends=True), KEY))


# ----------------------------------------------------------------------------- iter_events


def test_reference_file_skips_and_reports_line_3(reference_bytes: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="events.records")
    events, report = parse(reference_bytes)
    physical = reference_bytes.splitlines()
    assert [e.raw for e in events] == [physical[0], physical[1], physical[3]]
    assert [e.data["event_type"] for e in events] == ["_session.start", "_session.stop", "pageView"]
    assert report.events == 3
    assert report.invalid_count == 1
    assert report.invalid[0].key == KEY
    assert report.invalid[0].line_no == 3
    assert "not JSON" in report.invalid[0].reason
    assert any(KEY in r.getMessage() and " 3 " in r.getMessage() for r in caplog.records)


def test_raw_is_the_exact_event_text_and_data_its_parse(reference_events: list[Event]) -> None:
    for event in reference_events:
        assert not event.raw.endswith((b"\n", b"\r"))
        assert orjson.loads(event.raw) == event.data


def test_blank_lines_crlf_bom_and_missing_final_newline() -> None:
    data = b'\xef\xbb\xbf{"n":1}\r\n\r\n   \n{"n":2}\r\n\n{"n":3}'
    events, report = parse(data)
    assert [e.data for e in events] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [e.raw for e in events] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    assert report.invalid_count == 0 and report.events == 3


def test_lines_may_come_without_newlines() -> None:
    report = ParseReport()
    events = list(iter_events([b'{"a":1}', b"", b'{"b":2}'], KEY, report))
    assert [e.raw for e in events] == [b'{"a":1}', b'{"b":2}']


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"n":1}{"n":2}', [{"n": 1}, {"n": 2}]),
        (b'{"n":1}{"n":2}{"n":3}\n', [{"n": 1}, {"n": 2}, {"n": 3}]),
        (b'{"a":{"b":1}}{"c":[{"d":2}]}', [{"a": {"b": 1}}, {"c": [{"d": 2}]}]),
        # A "}{" inside a string is not a boundary.
        (b'{"s":"x}{y"}{"t":"}{"}', [{"s": "x}{y"}, {"t": "}{"}]),
        (b'{"n":1} {"n":2}\r\n', [{"n": 1}, {"n": 2}]),
    ],
)
def test_several_objects_on_one_line_are_split(line: bytes, expected: list[dict[str, object]]) -> None:
    events, report = parse(line)
    assert [e.data for e in events] == expected
    assert [orjson.loads(e.raw) for e in events] == expected
    assert b"".join(e.raw for e in events).replace(b" ", b"") == line.strip().replace(b" ", b"")
    assert report.invalid_count == 0 and report.events == len(expected)


@pytest.mark.parametrize(
    "line",
    [b"[1, 2]", b'"text"', b"42", b"null", b"true", b"not json", b'{"a":1', b'{"a":1}x', b"{}{", b'{"a":}{"b":1}'],
)
def test_invalid_lines_are_skipped_and_reported(line: bytes) -> None:
    events, report = parse(b'{"ok":1}\n' + line + b'\n{"ok":2}\n')
    assert [e.data for e in events if "ok" in e.data] == [{"ok": 1}, {"ok": 2}]
    assert report.invalid_count == 1
    assert report.invalid[0].line_no == 2


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_stay_invalid_where_pythons_json_reads_the_line(constant: bytes) -> None:
    """README: a line orjson refuses (a lone surrogate escape) is read by
    Python's ``json`` instead, but ``NaN`` and ``Infinity``, which ``json``
    would take, stay invalid: RFC 8259 has no such numbers."""
    line = b'{"title":"Great news \\ud83d","score":' + constant + b"}"
    events, report = parse(b'{"ok":1}\n' + line + b'\n{"ok":2}\n')
    assert [e.data for e in events] == [{"ok": 1}, {"ok": 2}]
    assert (report.invalid_count, report.invalid[0].line_no) == (1, 2)


def test_valid_objects_before_a_broken_concatenation_are_kept() -> None:
    events, report = parse(b'{"n":1}{"n":2}{"n":')
    assert [e.data for e in events] == [{"n": 1}, {"n": 2}]
    assert report.invalid_count == 1 and report.invalid[0].line_no == 1


def test_many_invalid_lines_are_all_counted_but_few_kept_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="events.records")
    data = b"".join(b"bad %d\n" % i for i in range(100)) + b'{"n":1}\n'
    events, report = parse(data)
    assert len(events) == 1
    assert report.invalid_count == 100
    assert len(report.invalid) == MAX_REPORTED_INVALID
    assert [i.line_no for i in report.invalid] == list(range(1, MAX_REPORTED_INVALID + 1))
    assert 1 < len(caplog.records) < 20


def test_report_counts_events_even_when_the_consumer_stops_early() -> None:
    report = ParseReport()
    events = iter_events([b'{"n":%d}\n' % i for i in range(10)], KEY, report)
    assert next(events).data == {"n": 0}
    assert next(events).data == {"n": 1}
    events.close()
    assert report.events == 2


def test_one_report_given_to_two_reads_counts_the_events_of_both() -> None:
    """A report adds up what each read finds, events as invalid lines: two
    objects of 2 events and 1 event (one invalid line each) make 3 and 2."""
    report = ParseReport()
    first = list(iter_events([b'{"n":1}\n', b"not json\n", b'{"n":2}\n'], KEY, report))
    second = list(iter_events([b"[1]\n", b'{"n":3}\n'], "2022/02/01/01/other", report))
    assert len(first) + len(second) == 3
    assert (report.events, report.invalid_count) == (3, 2)


# ----------------------------------------------------------------------------- event_in

START, END = 1643673600000, 1643760000000  # 2022-02-01 UTC


@pytest.mark.parametrize(
    ("data", "blog_id", "inside"),
    [
        ({"event_timestamp": START, "attributes": {"blogId": "1"}}, 1, True),
        ({"event_timestamp": END - 1, "attributes": {"blogId": "1"}}, 1, True),
        ({"event_timestamp": END, "attributes": {"blogId": "1"}}, 1, False),
        ({"event_timestamp": START - 1, "attributes": {"blogId": "1"}}, 1, False),
        ({"event_timestamp": START, "attributes": {"blogId": "2"}}, 1, False),
        ({"event_timestamp": START, "attributes": {"blogId": 1}}, 1, True),
        ({"event_timestamp": START, "attributes": {"blogId": "2"}}, None, True),
        ({"event_timestamp": START, "attributes": {}}, 1, False),
        ({"event_timestamp": START}, 1, False),
        ({"event_timestamp": START}, None, True),
        ({"event_timestamp": str(START), "attributes": {"blogId": "1"}}, 1, True),
        ({"event_timestamp": "soon", "attributes": {"blogId": "1"}}, 1, False),
        ({"event_timestamp": None, "attributes": {"blogId": "1"}}, 1, False),
        ({"attributes": {"blogId": "1"}}, 1, False),
    ],
)
def test_event_in_day_and_site(data: dict[str, object], blog_id: int | None, inside: bool) -> None:
    assert event_in(data, START, END, blog_id) is inside


def test_reference_events_are_in_their_day(reference_events: list[Event]) -> None:
    assert all(event_in(e.data, START, END, 1) for e in reference_events)
    assert not any(event_in(e.data, START, END, 2) for e in reference_events)


# ----------------------------------------------------------------------------- flatten


def test_flatten_reference_events(reference_events: list[Event]) -> None:
    row = flatten(reference_events[0].data)
    assert row["endpoint.Attributes.DeviceType"] == "mobile"
    assert row["endpoint.Demographic.Model"] == "Mobile Safari"
    assert row["attributes.blogId"] == "1"
    assert row["event_timestamp"] == "1643673911400"
    assert row["endpoint.Metrics.sessions"] == "1.0"
    assert row["metrics.elapsed"] == "2"
    assert not any(k.startswith("application.sdk") for k in row)  # "sdk": {}
    assert row["application.version_name"] == ""
    for event in reference_events:
        assert all(isinstance(v, str) for v in flatten(event.data).values())


def test_flatten_rules() -> None:
    data = {
        "a": {"b": {"c": "deep"}},
        "pair": ["x", "y"],
        "one": ["only"],
        "mixed": [1, 2.5, True, "s"],
        "objs": [{"k": 1}, {"k": 2}],
        "nested_list": [[1, 2], [3]],
        "empty_obj": {},
        "empty_list": [],
        "none": None,
        "inner": {"none": None, "empty": {}},
        "yes": True,
        "no": False,
        "int": 7,
        "float_one": 1.0,
        "float": 0.25,
        "big": 1e20,
        "text": "unchanged ; text",
    }
    assert flatten(data) == {
        "a.b.c": "deep",
        "pair": "x;y",
        "one": "only",
        "mixed": "1;2.5;true;s",
        "objs": '[{"k":1},{"k":2}]',
        "nested_list": "[[1,2],[3]]",
        "yes": "true",
        "no": "false",
        "int": "7",
        "float_one": "1.0",
        "float": "0.25",
        "big": "1e+20",  # as orjson (JSON) spells it
        "text": "unchanged ; text",
    }


def test_flatten_does_not_change_its_input() -> None:
    data = {"a": {"b": [1, {"c": 2}]}}
    snapshot = orjson.dumps(data)
    flatten(data)
    assert orjson.dumps(data) == snapshot


def test_flatten_into_adds_the_cells_named_after_the_prefix_to_those_out_holds() -> None:
    """How a cut-down event (``_fields``) is flattened a value at a time: the
    cells of ``{"title": ..., "meta": {...}}`` found under ``attributes`` are
    named ``attributes.title``, ``attributes.meta.n``, ... (README's dotted
    paths), beside the cells already made; empty values and nulls make none."""
    out = {"event_type": "_session.start"}
    value = {"title": "Hello", "meta": {"n": 3, "empty": {}}, "tags": ["a", "b"], "gone": None, "none": []}
    flatten_into(out, "attributes.", value)
    assert out == {
        "event_type": "_session.start",
        "attributes.title": "Hello",
        "attributes.meta.n": "3",
        "attributes.tags": "a;b",
    }


# ----------------------------------------------------------------------------- very long lines


def _local_events(tmp_path: Path, data: bytes) -> tuple[list[Event], ParseReport]:
    root = tmp_path / "events"
    (root / "2026/01/01/00").mkdir(parents=True)
    (root / "2026/01/01/00/obj").write_bytes(data)
    source = LocalSource(SourceLocation(kind="local", path=root))
    report = ParseReport()
    with source.open_lines("2026/01/01/00/obj") as lines:
        return list(iter_events(lines, "2026/01/01/00/obj", report)), report


def test_one_huge_line_of_concatenated_events_is_split(tmp_path: Path) -> None:
    objects = [{"n": i, "pad": "}{" * 5 + "x" * (200 + i % 200)} for i in range(3_000)]
    one_line = b"".join(orjson.dumps(o) for o in objects)
    assert len(one_line) > 3 * MAX_LINE_BYTES
    events, report = _local_events(tmp_path, one_line + b'\n{"after":1}\nbad\n')
    assert [e.data for e in events] == [*objects, {"after": 1}]
    assert b"".join(e.raw for e in events[:-1]) == one_line
    assert report.invalid_count == 1 and report.invalid[0].line_no == 3


def test_one_event_longer_than_a_line_piece(tmp_path: Path) -> None:
    big = {"event_type": "x", "blob": "y" * (2 * MAX_LINE_BYTES + 123)}
    raw = orjson.dumps(big)
    events, report = _local_events(tmp_path, b'{"n":1}\n' + raw + b"\r\n" + raw)
    assert [e.data for e in events] == [{"n": 1}, big, big]
    assert events[1].raw == raw and events[2].raw == raw
    assert report.invalid_count == 0


def test_a_huge_broken_line_is_one_invalid_line(tmp_path: Path) -> None:
    garbage = b"{" + b"x" * (3 * MAX_LINE_BYTES)
    events, report = _local_events(tmp_path, garbage + b'\n{"n":2}\n')
    assert [e.data for e in events] == [{"n": 2}]
    assert report.invalid_count == 1 and report.invalid[0].line_no == 1


def test_a_broken_line_longer_than_any_event_is_dropped_without_holding_it(tmp_path: Path) -> None:
    garbage = b"{" + b"x" * (MAX_EVENT_BYTES + 3 * MAX_LINE_BYTES)
    events, report = _local_events(tmp_path, b'{"n":1}\n' + garbage + b'\n{"n":2}\n')
    assert [e.data for e in events] == [{"n": 1}, {"n": 2}]
    assert report.invalid_count == 1 and report.invalid[0].line_no == 2
    assert "no complete JSON object" in report.invalid[0].reason


def test_a_huge_concatenated_line_is_parsed_in_bounded_memory(tmp_path: Path) -> None:
    line = b"".join(orjson.dumps({"n": i, "pad": "p" * 900}) for i in range(20_000))  # about 18 MB
    root = tmp_path / "events"
    (root / "2026/01/01/00").mkdir(parents=True)
    (root / "2026/01/01/00/obj").write_bytes(gzip.compress(line, 1))
    del line
    source = LocalSource(SourceLocation(kind="local", path=root))
    tracemalloc.start()
    try:
        with source.open_lines("2026/01/01/00/obj") as lines:
            count = sum(1 for _ in iter_events(lines, "2026/01/01/00/obj"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 6 * 1024 * 1024, f"peak traced memory {peak} bytes"


# ----------------------------------------------------------------------------- what the report says


def test_a_json_value_that_is_not_an_object_is_reported_as_such() -> None:
    _, report = parse(b'{"ok":1}\n[1, 2]\n"text"\n')
    assert report.invalid == [
        InvalidLine(KEY, 2, "a JSON list, not an object"),
        InvalidLine(KEY, 3, "a JSON str, not an object"),
    ]


def test_a_json_value_that_is_not_an_object_behind_a_bom_is_reported_as_such() -> None:
    events, report = parse(b'{"ok":1}\n\xef\xbb\xbf[1, 2]\n')
    assert [e.data for e in events] == [{"ok": 1}]
    assert report.invalid == [InvalidLine(KEY, 2, "a JSON list, not an object")]


@pytest.mark.parametrize("line", [b"bad", b'{"a":1'])
def test_a_line_that_is_not_json_is_reported_with_the_parser_message(line: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError) as parser:
        orjson.loads(line)
    _, report = parse(b'{"ok":1}\n' + line + b"\n")
    assert report.invalid == [InvalidLine(KEY, 2, f"not JSON: {parser.value}")]


def test_a_broken_concatenation_is_reported_after_its_valid_objects() -> None:
    with pytest.raises(orjson.JSONDecodeError) as parser:
        orjson.loads(b'{"n":')
    _, report = parse(b'{"n":1}{"n":2}{"n":')
    assert report.invalid == [InvalidLine(KEY, 1, f"not JSON after some concatenated objects: {parser.value}")]


# ----------------------------------------------------------------------------- long lines: edges


def test_a_long_concatenated_line_after_a_bom_or_spaces_keeps_each_event_text(tmp_path: Path) -> None:
    objects = [{"n": i, "pad": "p" * 1000} for i in range(600)]
    one_line = b"".join(orjson.dumps(o) for o in objects)
    assert len(one_line) > 2 * MAX_LINE_BYTES
    events, report = _local_events(tmp_path, b"\xef\xbb\xbf" + one_line + b"\n  \t" + one_line + b"\n")
    assert [e.data for e in events] == objects + objects
    assert [e.raw for e in events] == [orjson.dumps(o) for o in objects] * 2
    assert report.invalid_count == 0


def test_a_last_line_ending_exactly_at_a_piece_boundary_is_read(tmp_path: Path) -> None:
    """No final newline and an event of exactly two pieces (2 * MAX_LINE_BYTES):
    the reader's last piece looks like one that continues, and the file then ends."""
    big = {"blob": ""}
    big["blob"] = "y" * (2 * MAX_LINE_BYTES - len(orjson.dumps(big)))
    raw = orjson.dumps(big)
    assert len(raw) == 2 * MAX_LINE_BYTES
    events, report = _local_events(tmp_path, b'{"n":1}\n' + raw)
    assert [e.data for e in events] == [{"n": 1}, big]
    assert events[1].raw == raw
    assert report.invalid_count == 0


def test_a_too_long_broken_last_line_ending_at_a_piece_boundary_is_one_invalid_line(tmp_path: Path) -> None:
    pieces = MAX_EVENT_BYTES // MAX_LINE_BYTES + 2
    garbage = b"{" + b"x" * (pieces * MAX_LINE_BYTES - 1)
    events, report = _local_events(tmp_path, b'{"n":1}\n' + garbage)
    assert [e.data for e in events] == [{"n": 1}]
    assert report.invalid == [
        InvalidLine("2026/01/01/00/obj", 2, f"no complete JSON object in over {MAX_EVENT_BYTES} bytes")
    ]


def test_a_huge_broken_line_names_its_object_and_line(tmp_path: Path) -> None:
    garbage = b"{" + b"x" * (3 * MAX_LINE_BYTES)
    _, report = _local_events(tmp_path, b'{"n":1}\n' + garbage + b'\n{"n":2}\n')
    assert [(i.key, i.line_no) for i in report.invalid] == [("2026/01/01/00/obj", 2)]
    assert report.invalid[0].reason.startswith("not JSON")


# ----------------------------------------------------------------------------- flatten: lists


def test_flatten_lists_of_scalars_and_lists_holding_objects() -> None:
    """README's flattening table: a list of scalars is one cell joined with ';'
    (numbers as JSON, booleans true/false, a null as nothing); a list holding
    an object is its compact JSON text, UTF-8 kept, even with a lone surrogate."""
    data = {
        "one_int": [5],
        "scalars": [1, None, False, 0.5, True],
        "objs": [{"t": "é\ud83d", "n": [1, 2]}, {"k": None}],
    }
    assert flatten(data) == {
        "one_int": "5",
        "scalars": "1;;false;0.5;true",
        "objs": '[{"t":"é\ud83d","n":[1,2]},{"k":null}]',
    }


def test_an_event_of_exactly_max_event_bytes_is_kept(tmp_path: Path) -> None:
    """MAX_EVENT_BYTES is the longest single event kept: one of exactly that
    length (a whole number of pieces) is an event, not an invalid line."""
    big = {"blob": ""}
    big["blob"] = "z" * (MAX_EVENT_BYTES - len(orjson.dumps(big)))
    raw = orjson.dumps(big)
    assert len(raw) == MAX_EVENT_BYTES and MAX_EVENT_BYTES % MAX_LINE_BYTES == 0
    events, report = _local_events(tmp_path, raw + b'\n{"n":2}\n')
    assert [e.data for e in events] == [big, {"n": 2}]
    assert report.invalid_count == 0


def test_field_kinds_follow_the_parquet_column_rule() -> None:
    """README "Parquet": a column is INT64 when every value is a JSON integer
    that fits in 64 bits, DOUBLE when some are floats, text otherwise; a null, an
    empty list and an empty object make no cell. ``add_field_kinds`` sorts names
    by that rule (the compiled ``field_kinds.FieldKinds`` is tested against it)."""
    low, high = -(2**63), 2**63 - 1
    event = {
        "low": low,
        "high": high,
        "under": low - 1,
        "over": high + 1,
        "ratio": 0.5,
        "flag": True,
        "text": "x",
        "none": None,
        "empty": [],
        "items": [1],
        "nothing": {},
        "m": {"n": 3, "deep": {"f": 1.5}},
    }
    numbers: set[str] = set()
    others: set[str] = set()
    floats: set[str] = set()
    add_field_kinds(numbers, others, floats, event)
    assert numbers == {"low", "high", "ratio", "m.n", "m.deep.f"}
    assert others == {"under", "over", "flag", "text", "items"}
    assert floats == {"ratio", "m.deep.f"}
    # Under a prefix (an object inside an event), added to what the sets hold.
    add_field_kinds(numbers, others, floats, {"n": "now text", "g": 2.0}, "m.")
    assert "m.n" in numbers and "m.n" in others and "m.g" in floats
