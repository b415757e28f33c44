"""CONTRACT STUB — to be implemented. NDJSON lines to events; events to CSV fields."""

from __future__ import annotations

import dataclasses
import typing as t


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


class Event(t.NamedTuple):
    raw: bytes  # the event's JSON text exactly as stored (no newline, no BOM)
    data: dict[str, t.Any]


def iter_events(lines: t.Iterable[bytes], key: str, report: ParseReport | None = None) -> t.Iterator[Event]:
    """Events of an object's lines: blank lines, CRLF, a BOM and a missing final
    newline tolerated; several objects on one line split; an invalid line
    skipped and recorded in ``report`` (and logged with key and line number)."""
    raise NotImplementedError


def event_in(data: dict[str, t.Any], start_ms: int, end_ms: int, blog_id: int | None) -> bool:
    """``event_timestamp`` in [start_ms, end_ms) and ``attributes.blogId`` equal to
    ``blog_id`` (compared as text; None means any site)."""
    raise NotImplementedError


def flatten(data: dict[str, t.Any]) -> dict[str, str]:
    """CSV fields of an event, as the original: nested objects to dotted paths,
    a list of scalars joined with ';' under the list's path, a list holding
    objects to its JSON text, empty objects and nulls to no field, booleans as
    true/false, numbers as in JSON."""
    raise NotImplementedError
