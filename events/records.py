"""NDJSON lines to events; events to CSV fields.

The common line costs one ``orjson.loads``: repairs (BOM, stray whitespace,
several objects concatenated on one line by Firehose) are only tried when that
fails, so clean data parses at orjson's speed.

Where orjson refuses a text, the standard library's ``json`` gets a chance
(``loads``): orjson rejects strings holding an unpaired surrogate escape
(``"Great news \\ud83d"``, a title a browser cut in the middle of an emoji),
which RFC 8259 section 8.2 allows and ``json`` reads.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import typing as t

import orjson

from events.sources import continues_line

logger = logging.getLogger(__name__)

#: How many invalid lines a ParseReport keeps (all are counted).
MAX_REPORTED_INVALID = 20
#: How many invalid lines of one object are logged one by one.
MAX_LOGGED_INVALID = 10
#: How many invalid line numbers a ParseReport keeps (the catalog's manifest lists them).
MAX_INVALID_LINE_NUMBERS = 1000

_BOM = b"\xef\xbb\xbf"
#: What is stripped around a line and an event's raw text: JSON's whitespace
#: (RFC 8259 section 2: space, tab, LF, CR) and the vertical tab and form feed,
#: which ``bytes.strip()`` also strips and a hand-edited file may hold.
JSON_WHITESPACE = b" \t\r\n\x0b\x0c"
#: Longest single event kept while joining the pieces of a very long line
#: (a Firehose record is at most 1000 KiB).
MAX_EVENT_BYTES = 4 * 1024 * 1024
#: Where one object may end and the next begin on a concatenated line.
_BOUNDARY = re.compile(rb"\}[ \t]*\{")


@dataclasses.dataclass(frozen=True)
class InvalidLine:
    key: str
    line_no: int  # 1-based physical line number in the object
    reason: str


@dataclasses.dataclass
class ParseReport:
    """What parsing one object found; ``invalid`` keeps the first few only."""

    events: int = 0
    invalid_count: int = 0
    invalid: list[InvalidLine] = dataclasses.field(default_factory=list)
    #: Non-blank lines that did not parse as one object as they are (set by ``iter_indexed_events``).
    repaired: int = 0
    #: The 1-based numbers of the first ``MAX_INVALID_LINE_NUMBERS`` invalid lines.
    invalid_lines: list[int] = dataclasses.field(default_factory=list)

    def add_invalid(self, key: str, line_no: int, reason: str) -> None:
        """Count an invalid line, keep it if there is room, and log it (capped per object)."""
        self.invalid_count += 1
        if len(self.invalid) < MAX_REPORTED_INVALID:
            self.invalid.append(InvalidLine(key, line_no, reason))
        if len(self.invalid_lines) < MAX_INVALID_LINE_NUMBERS:
            self.invalid_lines.append(line_no)
        if self.invalid_count <= MAX_LOGGED_INVALID:
            logger.warning("skipped invalid line %s of %s: %s", line_no, key, reason)
        elif self.invalid_count == MAX_LOGGED_INVALID + 1:
            logger.warning("more invalid lines in %s; not logging each of them", key)


def _not_json(constant: str) -> t.NoReturn:
    raise ValueError(f"{constant} is not JSON (RFC 8259 has no NaN or Infinity)")


def loads(text: bytes) -> t.Any:
    """One JSON text: orjson's reading, or, only where orjson refuses it, the
    standard library's (``json.loads`` of the strictly decoded UTF-8, without
    the NaN and Infinity it would otherwise allow). A string may then hold a
    lone surrogate (``"\\ud83d"`` -> ``"\ud83d"``). Raises orjson's
    ``JSONDecodeError`` when neither reads it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(text.decode("utf-8"), parse_constant=_not_json)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise exc from None


class Event(t.NamedTuple):
    raw: bytes  # the event's JSON text exactly as stored (no newline, no BOM)
    data: dict[str, t.Any]


def iter_events(lines: t.Iterable[bytes], key: str, report: ParseReport | None = None) -> t.Iterator[Event]:
    """Events of an object's lines: blank lines, CRLF, a BOM and a missing final
    newline tolerated; several objects on one line split; an invalid line
    skipped and recorded in ``report`` (and logged with key and line number)."""
    if report is None:
        report = ParseReport()
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    new = tuple.__new__  # Event(...) goes through a Python-level __new__; this is the C one
    events = 0
    rest = iter(lines)
    try:
        for line_no, line in enumerate(rest, 1):
            try:
                data = loads(line)
            except decode_error:
                if continues_line(line):
                    repaired = _long_line(line, rest, key, line_no, report)
                else:
                    repaired = _repair(line, key, line_no, report)
                for event in repaired:
                    events += 1
                    yield event
                continue
            if type(data) is dict:
                events += 1
                # strip() returns the same object when there is nothing to strip.
                yield new(Event, (line.strip(JSON_WHITESPACE), data))
            else:
                report.add_invalid(key, line_no, f"a JSON {type(data).__name__}, not an object")
    finally:
        report.events += events


def iter_indexed_events(
    lines: t.Iterable[bytes], key: str, report: ParseReport
) -> t.Iterator[tuple[int, dict[str, t.Any], int]]:
    """The events of ``iter_events`` as ``(index, data, size)``, for the catalog:
    ``index`` is the 0-based position in ``lines`` of a line that held exactly
    this one object and parsed as it is (its stripped bytes are the event's
    raw text), or -1 for an event that needed a repair; ``size`` is the length
    in bytes of the event's raw text (``Event.raw``) either way. Each line that
    needed a repair (BOM, concatenated objects, pieces of a long line, invalid)
    counts in ``report.repaired``; after a long line, later indexes no longer
    match positions, so a consumer must not use them once ``report.repaired`` is set."""
    fast_loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    events = 0
    rest = iter(lines)
    try:
        for index, line in enumerate(rest):
            try:
                data = fast_loads(line)
            except decode_error:
                if not line.strip(JSON_WHITESPACE):
                    continue  # a blank line holds nothing in either path
                if not continues_line(line):
                    # One whole object that only the standard library reads
                    # (a lone surrogate escape) is still a line of its own.
                    try:
                        data = loads(line)
                    except decode_error:
                        data = None
                    if type(data) is dict:
                        events += 1
                        yield index, data, len(line.strip(JSON_WHITESPACE))
                        continue
                report.repaired += 1
                if continues_line(line):
                    repaired = _long_line(line, rest, key, index + 1, report)
                else:
                    repaired = _repair(line, key, index + 1, report)
                for event in repaired:
                    events += 1
                    yield -1, event.data, len(event.raw)
                continue
            if type(data) is dict:
                events += 1
                yield index, data, len(line.strip(JSON_WHITESPACE))
            else:
                report.add_invalid(key, index + 1, f"a JSON {type(data).__name__}, not an object")
    finally:
        report.events += events


#: Largest integer a Parquet INT64 column holds; a larger JSON integer is kept as text.
INT64_MAX = 2**63 - 1


def add_field_kinds(
    numbers: set[str], others: set[str], floats: set[str], data: dict[str, t.Any], prefix: str = ""
) -> None:
    """Sort the names ``flatten(data)`` would have by the kind of their value,
    without converting any value: a JSON number (an integer within INT64, or a
    float) goes to ``numbers`` (a float also to ``floats``), anything else
    (text, a boolean, a list) to ``others``. A name seen only in ``numbers``
    over many events is a number column (Parquet INT64 or DOUBLE); the union
    of the two sets is the names of ``flatten(data)``."""
    for name, value in data.items():
        kind = type(value)
        if kind is str:
            others.add(prefix + name)
        elif kind is dict:
            if value:
                add_field_kinds(numbers, others, floats, value, prefix + name + ".")
        elif kind is int:
            (numbers if -INT64_MAX - 1 <= value <= INT64_MAX else others).add(prefix + name)
        elif kind is float:
            numbers.add(prefix + name)
            floats.add(prefix + name)
        elif value is not None and (kind is not list or value):
            others.add(prefix + name)


def _leading_objects(text: bytes, rest_at: list[int]) -> t.Iterator[Event]:
    """The complete objects at the start of ``text`` that a `}{` boundary ends;
    ``rest_at[0]`` is set to where the unparsed rest begins. A boundary inside
    a string cannot end a parseable piece (the string would be unterminated)."""
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + 1
        try:
            data = loads(text[start:end])
        except orjson.JSONDecodeError:
            continue
        yield Event(text[start:end], data)
        start = rest_at[0] = match.end() - 1


def _long_line(first: bytes, rest: t.Iterator[bytes], key: str, line_no: int, report: ParseReport) -> t.Iterator[Event]:
    """Events of a line longer than MAX_LINE_BYTES, which arrives in pieces:
    complete objects are yielded as pieces come, so only the unfinished one is
    held. Pieces are pulled from ``rest`` so later line numbers stay right."""
    buffer = first.lstrip(JSON_WHITESPACE)
    if buffer.startswith(_BOM):
        buffer = buffer[len(_BOM) :]
    piece = first
    while True:
        rest_at = [0]
        yield from _leading_objects(buffer, rest_at)
        buffer = buffer[rest_at[0] :]
        if not continues_line(piece):
            break
        if len(buffer) > MAX_EVENT_BYTES:
            report.add_invalid(key, line_no, f"no complete JSON object in over {MAX_EVENT_BYTES} bytes")
            while continues_line(piece):
                piece = next(rest, b"")
            return
        piece = next(rest, b"")
        if not piece:
            break
        buffer += piece
    yield from _repair(buffer, key, line_no, report)


def _repair(line: bytes, key: str, line_no: int, report: ParseReport) -> t.Iterator[Event]:
    """The events of a line ``orjson`` refused as a whole: without BOM and
    whitespace, or split where objects were concatenated (``{...}{...}``)."""
    text = line.strip(JSON_WHITESPACE)
    if text.startswith(_BOM):
        text = text[len(_BOM) :].strip(JSON_WHITESPACE)
    if not text:
        return  # a blank line is not an error
    try:
        data = loads(text)
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    else:
        if type(data) is dict:
            yield Event(text, data)
        else:
            report.add_invalid(key, line_no, f"a JSON {type(data).__name__}, not an object")
        return
    if text[:1] != b"{":
        report.add_invalid(key, line_no, f"not JSON: {first_error}")
        return
    # Grow each piece from one `}{` boundary to the next until it parses: a
    # boundary inside a string value just makes the piece longer.
    rest_at = [0]
    yield from _leading_objects(text, rest_at)
    start = rest_at[0]
    if start == 0:
        report.add_invalid(key, line_no, f"not JSON: {first_error}")
        return
    try:
        data = loads(text[start:])
    except orjson.JSONDecodeError as exc:
        report.add_invalid(key, line_no, f"not JSON after some concatenated objects: {exc}")
        return
    yield Event(text[start:], data)


def timestamp_ms(data: dict[str, t.Any]) -> int | None:
    """``event_timestamp`` as integer milliseconds (numbers and numeric text
    accepted), or None when it has none usable."""
    ts = data.get("event_timestamp")
    if type(ts) is int:
        return ts
    if isinstance(ts, bool) or not isinstance(ts, (int, float, str)):
        return None
    try:
        return int(ts)
    except (ValueError, OverflowError):
        return None


def blog_text(data: dict[str, t.Any]) -> str | None:
    """``attributes.blogId`` as the text a site's blog id is compared with, or None."""
    attributes = data.get("attributes")
    if type(attributes) is not dict:
        return None
    value = attributes.get("blogId")
    if value is None:
        return None
    if type(value) is str:
        return value.strip()
    return str(value)


def event_in(data: dict[str, t.Any], start_ms: int, end_ms: int, blog_id: int | None) -> bool:
    """``event_timestamp`` in [start_ms, end_ms) and ``attributes.blogId`` equal to
    ``blog_id`` (compared as text; None means any site)."""
    ts = data.get("event_timestamp")
    if type(ts) is not int:  # the common case is an int: checked inline, for speed
        ts = timestamp_ms(data)
        if ts is None:
            return False
    if not start_ms <= ts < end_ms:
        return False
    return blog_id is None or blog_text(data) == str(blog_id)


def _scalar(value: t.Any) -> str:
    """A scalar as CSV text: JSON's spelling for numbers and booleans."""
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _dumps(value).decode()
    if value is None:
        return ""
    return str(value)


def flatten(data: dict[str, t.Any]) -> dict[str, str]:
    """CSV fields of an event, as the original: nested objects to dotted paths,
    a list of scalars joined with ';' under the list's path, a list holding
    objects to its JSON text, empty objects, empty lists and nulls to no field,
    booleans as true/false, numbers as in JSON."""
    out: dict[str, str] = {}
    _flatten_into(out, "", data)
    return out


_dumps = orjson.dumps


def flatten_into(out: dict[str, str], prefix: str, data: dict[str, t.Any]) -> None:
    """``flatten`` adding to ``out``, each name after ``prefix``: a caller
    flattening a cut-down event (``_fields``) gets exactly ``flatten``'s cells."""
    _flatten_into(out, prefix, data)


def json_text(value: t.Any) -> str:
    """``value`` as compact JSON text (orjson's), or the standard library's
    where orjson refuses it (a string holding a lone surrogate stays one)."""
    try:
        return _dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _flatten_into(out: dict[str, str], prefix: str, data: dict[str, t.Any]) -> None:
    # Branches ordered by how often Pinpoint events hit them (strings, objects,
    # ints, one-string lists); this runs once per field of every CSV row.
    for name, value in data.items():
        kind = type(value)
        if kind is str:
            out[prefix + name] = value
        elif kind is dict:
            if value:
                _flatten_into(out, prefix + name + ".", value)
        elif kind is int:
            out[prefix + name] = str(value)
        elif kind is list:
            if not value:
                continue
            if len(value) == 1 and type(value[0]) is str:
                out[prefix + name] = value[0]
            elif all([type(item) is str for item in value]):
                out[prefix + name] = ";".join(value)
            elif any([type(item) is dict or type(item) is list for item in value]):
                out[prefix + name] = json_text(value)
            else:
                out[prefix + name] = ";".join([_scalar(item) for item in value])
        elif kind is float:
            out[prefix + name] = _dumps(value).decode()
        elif kind is bool:
            out[prefix + name] = "true" if value else "false"
        elif value is not None:
            out[prefix + name] = str(value)
