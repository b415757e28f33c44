"""``_fields`` read straight from an event's JSON text: only the tree's paths
are decoded (issue 14: a five-column ``_fields`` CSV at >= 2x the full CSV's
events/s).

``select(loads(text), tree)`` builds every object, string and number of the
event (some 90 fields) to keep five. ``Projection.cut`` hands the text to
msgspec's decoder with a ``TypedDict`` per object node of the tree
(``total=False``): its C parser skips every key the tree does not name
without building anything, and builds a plain dict of the rest, keys in the
text's order, a repeated key keeping its first place and its last value (as
a dict filled by orjson). A ``True`` node's value is decoded whole; where the
tree goes deeper the value may be an object (the node's ``TypedDict``), a list
(decoded whole, then cut by ``select`` as the full path cuts it) or a scalar
(kept as it is).

The result is ``select(loads(text), tree)``, the same dict. Where msgspec's
reading could differ from ``records.loads`` (orjson, then the standard
library's ``json`` for what orjson refuses), the event takes the full path:

- a text msgspec refuses (a lone surrogate escape, a number beyond a float's
  range, anything malformed): ``loads`` reads it as it always did;
- an integer outside orjson's 64-bit range (orjson reads ``2**64`` as a
  float, msgspec as an int): found by ``orjson.dumps`` of the result, which
  refuses such integers (and the result is small, so this check is cheap);
- a tree with a key that is not ASCII: not projected at all. msgspec 0.22's
  ``TypedDict`` lookup reads a key's cached UTF-8 form without making it
  first (``TypedDictInfo_lookup_key`` calls ``unicode_str_and_size_nocheck``),
  so a non-ASCII key built at run time matches nothing, or the empty key.

tests/test_projection.py holds the two readings equal on generated events.
"""

from __future__ import annotations

import functools
import typing as t

import msgspec
import orjson

from events.fields import FieldTree, select
from events.records import loads

#: Projections kept per process, by tree (the ``_fields`` of recent downloads).
PROJECTIONS_KEPT = 32
#: Deepest tree projected (keys on a path): WordPress sets no limit, but each level is a nested
#: ``TypedDict`` and a recursive call here; a deeper tree (``a.b.c...`` of thousands) takes the full path.
MAX_DEPTH = 64

#: What a value may be where the tree goes deeper, besides an object.
_NOT_OBJECT = t.Union[list[t.Any], str, int, float, bool, None]  # noqa: UP007 (a runtime type for msgspec)

#: Object nodes under which a decoded list must still be cut: ``(key, subtree, deeper)``.
_Deep = list[tuple[str, FieldTree, "_Deep"]]


class Projection:
    """Cuts event texts down to one ``_fields`` tree (``cut``). ``fast`` is
    False for a tree not projected (asked so, deeper than ``MAX_DEPTH``, or
    with a non-ASCII key): its events take the full path."""

    def __init__(self, tree: FieldTree, fast: bool = True) -> None:
        self.tree = tree
        self.fast = fast and not _deeper_than(tree, MAX_DEPTH) and _ascii(tree)
        self._decode: t.Callable[[bytes], t.Any] | None = None
        if self.fast:
            self._decode = msgspec.json.Decoder(_typed(tree, [0])).decode
        self._deep = _deep(tree) if self.fast else []

    def cut(self, text: bytes) -> dict[str, t.Any]:
        """``select(records.loads(text), tree)`` for one event's JSON text (an
        object). Only for texts ``loads`` reads: of one it refuses, the result
        may be a cut (msgspec skips an unwanted string without checking its
        UTF-8) or orjson's ``JSONDecodeError``. The catalog's selected lines
        (``DaySummary.selector``) are such texts: it read each of them so."""
        decode = self._decode
        if decode is not None:
            try:
                data = decode(text)
                orjson.dumps(data)  # an integer beyond 64 bits: orjson reads it as a float
            except (msgspec.DecodeError, ValueError, orjson.JSONEncodeError):
                pass  # UnicodeDecodeError is a ValueError
            else:
                if self._deep:
                    _cut_lists(data, self._deep)
                return data  # type: ignore[no-any-return]
        return select(loads(text), self.tree)  # type: ignore[no-any-return]


def _ascii(tree: FieldTree) -> bool:
    return all(key.isascii() and (node is True or _ascii(t.cast(FieldTree, node))) for key, node in tree.items())


def _typed(tree: FieldTree, counter: list[int]) -> t.Any:
    """The ``TypedDict`` of an object node: each key's type is ``Any`` for a
    whole value, else its own node's ``TypedDict`` or any other JSON value."""
    fields: dict[str, t.Any] = {}
    for key, node in tree.items():
        if node is True:
            fields[key] = t.Any
        else:
            fields[key] = t.Union[_typed(t.cast(FieldTree, node), counter), _NOT_OBJECT]  # noqa: UP007
    counter[0] += 1
    return t.TypedDict(f"Node{counter[0]}", fields, total=False)  # type: ignore[operator]


def _deep(tree: FieldTree) -> _Deep:
    return [(key, node, _deep(node)) for key, node in tree.items() if isinstance(node, dict)]


def _cut_lists(data: dict[str, t.Any], deep: _Deep) -> None:
    """Where the tree goes deeper than a list, ``select`` the list in place
    (msgspec decoded it whole); objects were already cut by their ``TypedDict``."""
    for key, node, deeper in deep:
        value = data.get(key)
        if type(value) is list:
            data[key] = select(value, node)
        elif deeper and type(value) is dict:
            _cut_lists(value, deeper)


@functools.lru_cache(maxsize=PROJECTIONS_KEPT)
def _projection(frozen: str) -> Projection:
    return Projection(orjson.loads(frozen))


def projection(tree: FieldTree) -> Projection:
    """The process's ``Projection`` of ``tree``, shared by the downloads (and
    threads) asking the same ``_fields``: its decoder is built once. A tree
    deeper than ``MAX_DEPTH`` gets a projection of its own that takes the full path."""
    if _deeper_than(tree, MAX_DEPTH):
        return Projection(tree, fast=False)  # not cached: its key would be a text of the whole tree
    return _projection(orjson.dumps(tree).decode())


def _deeper_than(tree: FieldTree, depth: int) -> bool:
    """Whether ``tree`` has a path of more than ``depth`` keys (walked without
    recursion: ``_fields`` paths may have thousands)."""
    level: list[FieldTree] = [tree]
    for _ in range(depth):
        level = [node for parent in level for node in parent.values() if isinstance(node, dict)]
        if not level:
            return False
    return True
