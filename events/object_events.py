"""The events of one site's day in one object, as a download reads them.

Where the catalog knows which lines of an object hold the day's events of the
site (its line selector, true of one version of the object: its ETag), only
those lines are taken, and a raw copy parses none of them; any other object,
or a version other than the one summarized, is parsed and filtered
(``records.event_in``). Shared by the response body (``wpjson._stream``) and
the worker processes that write an object's CSV (``csv_objects``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import operator
import typing as t

from events.records import JSON_WHITESPACE, event_in, iter_events, loads
from events.sources import ObjectChangedError

if t.TYPE_CHECKING:
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
