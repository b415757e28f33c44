"""The events of one site's day in one object, as a download reads them.

Where the catalog knows which lines of an object hold the day's events of the
site (its line selector, true of one version of the object: its ETag), only
those lines are taken, and a raw copy parses none of them; any other object,
or a version other than the one summarized, is parsed and filtered
(``records.event_in``). Shared by the response body (``wpjson._stream``) and
the worker processes that write an object's CSV or Parquet cells
(``csv_objects``, ``parquet``): ``object_events`` gives what a download
writes of one object, its events filtered (``EventFilter``) and cut down to
``_fields`` (``fields.select``; ``projection`` where the catalog selected the
lines and no filter needs whole events).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import operator
import typing as t

from events.fields import FieldTree, select
from events.projection import projection
from events.records import JSON_WHITESPACE, event_in, iter_events, loads, timestamp_ms
from events.sources import ObjectChangedError

if t.TYPE_CHECKING:
    from events.catalog import EventFilter
    from events.sources import Source

logger = logging.getLogger(__name__)

#: A line without the JSON whitespace around it (its newline included).
strip_line = operator.methodcaller("strip", JSON_WHITESPACE)


@contextlib.contextmanager
def object_lines(
    source: Source, key: str, selection: tuple[bytes, str] | None, version: str | None, strict: bool = False
) -> t.Iterator[tuple[t.Iterator[bytes], bytes | None]]:
    """An object's lines and the catalog's selector of the site's day in them,
    or None. ``selection`` is ``(selector, etag)`` (``DaySummary.selection``):
    the selector is used only on the version it was computed from (``open_lines``
    with its ETag); an object replaced since is parsed and filtered, so a
    cached line map never picks another site's lines. ``strict``: only the
    version summarized (``version``) is read (ObjectChangedError, a
    SourceError, otherwise)."""
    if strict:
        with source.open_lines(key, version) as lines:
            yield lines, selection[0] if selection is not None else None
        return
    if selection is not None:
        selector, etag = selection
        try:
            opened = source.open_lines(key, etag)
        except ObjectChangedError as exc:
            logger.warning("parsing and filtering instead of using the summary: %s", exc)
        else:
            with opened as lines:
                yield lines, selector
            return
    with source.open_lines(key) as lines:
        yield lines, None


def events_of(
    lines: t.Iterator[bytes], key: str, selector: bytes | None, start: int, end: int, blog_id: int, raw: bool
) -> t.Iterator[t.Any]:
    """The events of the site's day in one open object: raw texts (``raw``)
    or parsed dicts. With the catalog's ``selector`` only the selected lines
    are taken (and none parsed for ``raw``); otherwise every line is parsed
    and filtered (``start``/``end``: the day's bounds in ms)."""
    if selector is None:
        return _parsed(lines, key, start, end, blog_id, raw)
    # filter(None): a line blanked in place (same ETag) must not become an empty event.
    selected = filter(None, map(strip_line, itertools.compress(lines, selector)))
    return selected if raw else map(loads, selected)


def _parsed(lines: t.Iterator[bytes], key: str, start: int, end: int, blog_id: int, raw: bool) -> t.Iterator[t.Any]:
    for event in iter_events(lines, key):
        if event_in(event.data, start, end, blog_id):
            yield event.raw if raw else event.data


def wanted_by(wanted: EventFilter, start: int) -> t.Callable[[dict[str, t.Any]], bool]:
    """Whether a parsed event of the day starting at ``start`` (ms) is one
    ``wanted`` keeps, as the catalog counts it (``EventFilter.wants``: its
    ``event_type`` and minute of the day, from ``event_timestamp`` or, where
    that is not an integer, ``records.timestamp_ms``)."""
    wants = wanted.wants

    def keeps(data: dict[str, t.Any]) -> bool:
        ts = data.get("event_timestamp")
        if type(ts) is not int:
            ts = timestamp_ms(data) or 0
        return wants(data.get("event_type"), (ts - start) // 60_000)

    return keeps


def cut_events(
    lines: t.Iterator[bytes], key: str, selector: bytes | None, start: int, end: int, blog_id: int, tree: FieldTree
) -> t.Iterator[dict[str, t.Any]]:
    """``events_of``'s parsed events of one open object, each cut down to
    ``tree`` (``select``). The lines the catalog's ``selector`` picks are read
    only as far as ``tree`` goes (``projection``); others are parsed whole to be filtered."""
    if selector is None:
        return (select(data, tree) for data in events_of(lines, key, None, start, end, blog_id, raw=False))
    # filter(None): a line blanked in place (same ETag) must not become an empty event.
    return map(projection(tree).cut, filter(None, map(strip_line, itertools.compress(lines, selector))))


def object_events(
    lines: t.Iterator[bytes],
    key: str,
    selector: bytes | None,
    start: int,
    end: int,
    blog_id: int,
    wanted: EventFilter,
    tree: FieldTree | None,
) -> t.Iterator[dict[str, t.Any]]:
    """The parsed events of the site's day in one open object that
    ``wanted`` keeps (``wanted_by``), each cut down to ``tree`` (None: whole)."""
    if wanted.everything:
        if tree is not None:
            return cut_events(lines, key, selector, start, end, blog_id, tree)
        return events_of(lines, key, selector, start, end, blog_id, raw=False)
    events = filter(wanted_by(wanted, start), events_of(lines, key, selector, start, end, blog_id, raw=False))
    return events if tree is None else (select(data, tree) for data in events)
