"""CSV cells of events, flattened by code compiled once per shape of object.

``records.flatten`` walks every field of every event in Python, building a name
(``prefix + name``) and a dict entry for each, and a row then looks each column
up in that dict: most of a CSV download's time (bench/FINDINGS.md). But an
object's keys come in few combinations (``attributes`` of a page view always
has the same ones), so ``RowMaker`` compiles, per (path, tuple of keys), a
small function that unpacks the object's values in C (``a, b = obj.values()``)
and puts each straight into its column's position in the row.

Correctness rests on checks, not on the dispatch: a value of another kind than
the compiled one (a number where text was, an object where a list was) is
flattened on its own by ``records.flatten_into``. Cells are written in
``flatten``'s walk order (the event's key order, depth first), so where two
paths flatten to one name (``{"a.b": 1, "a": {"b": 2}}``) the later value wins
in both. So a row is always ``[flatten(data).get(column, "") for column in
columns]`` (tests/test_csv_rows.py compares both on generated events).
"""

from __future__ import annotations

import collections
import copy
import threading
import typing as t

import orjson

from events.records import flatten, flatten_into
from events.shapes import MAX_SHAPE_KEYS, SeenOnce

#: Most functions one RowMaker compiles; objects of further shapes are flattened key by key.
MAX_SHAPES = 2048
#: Nested objects unpacked inline in one function, at most: deeper ones are dispatched (one call each),
#: so generated code stays far from CPython's indentation limit (100 levels) however deep an event is.
MAX_INLINE_DEPTH = 8
#: RowMakers kept per process, by their columns (a site's header): the next download of the site reuses the code.
MAKERS_KEPT = 8

_Fill = t.Callable[[list[t.Any], dict[str, t.Any]], None]


def _float_text(value: float) -> str:
    return orjson.dumps(value).decode()


def _list_cell(value: list[t.Any]) -> str:
    """A non-empty list's cell, as ``records.flatten`` writes it (all text: joined
    with ``;``; other kinds are left to it)."""
    if all([type(item) is str for item in value]):
        return ";".join(value)
    return flatten({"": value})[""]


class RowMaker:
    """Rows of CSV cells under ``columns`` (flattened names): ``row(data)`` is
    ``[flatten(data).get(name, missing) for name in columns]``, the same list.
    ``missing`` is the cell of a field the event does not have: ``""`` for CSV,
    None for Parquet (a null, told apart from an empty string)."""

    def __init__(self, columns: t.Sequence[str], missing: str | None = "") -> None:
        self.columns = list(columns)
        self._position = {name: index for index, name in enumerate(self.columns)}
        #: Every path that has a column under it ("a." for column "a.b"): other objects are skipped.
        self._parents = {name[: i + 1] for name in self.columns for i, c in enumerate(name) if c == "."}
        self._empty: list[t.Any] = [missing] * len(self.columns)
        #: Per path prefix ("" for the event, "attributes." ...): keys -> compiled function.
        self._tables: dict[str, dict[tuple[str, ...], _Fill]] = {"": {}}
        self._top = self._tables[""]
        #: Functions compiled, in one list shared with every ``with_missing`` maker of this code.
        self._compiled = [0]
        self._seen_once = SeenOnce()
        #: This code's makers by their ``missing`` (the compiled functions never read it).
        self._by_missing: dict[str | None, RowMaker] = {missing: self}

    def with_missing(self, missing: str | None) -> RowMaker:
        """A maker of these columns' rows with ``missing`` for the cells of
        fields an event lacks, sharing this one's compiled code (a CSV and a
        Parquet download of one header compile each shape once between them)."""
        maker = self._by_missing.get(missing)
        if maker is None:
            maker = copy.copy(self)  # the same tables, counters and seen shapes: only the empty row differs
            maker._empty = [missing] * len(self.columns)
            self._by_missing[missing] = maker
        return maker

    def row(self, data: dict[str, t.Any]) -> list[t.Any]:
        """The event's cells, one per column (``missing`` where it has no such
        field): ``list[str]`` with ``missing=""``, ``list[str | None]`` with None."""
        row = self._empty.copy()
        (self._top.get(tuple(data)) or self._build("", data))(row, data)
        return row

    def _other(self, row: list[t.Any], path: str, value: t.Any) -> None:
        """One value of another kind than compiled, at ``path``."""
        if type(value) is dict:
            if value:
                prefix = path + "."
                table = self._tables.get(prefix)
                fill = table.get(tuple(value)) if table is not None else None
                (fill or self._build(prefix, value))(row, value)
            return
        out: dict[str, str] = {}
        flatten_into(out, "", {path: value})
        position = self._position.get(path)
        if position is not None and path in out:
            row[position] = out[path]

    def _build(self, prefix: str, obj: dict[str, t.Any]) -> _Fill:
        """The function filling a row from an object at ``prefix`` with ``obj``'s
        keys in ``obj``'s order, compiled for the kinds of ``obj``'s values the
        second time these keys are met (before, and past ``MAX_SHAPES`` or
        ``shapes.MAX_SHAPE_KEYS``: one filling it key by key)."""
        keys = tuple(obj)
        table = self._tables.setdefault(prefix, {})
        other = self._other

        def by_key(row: list[t.Any], obj: dict[str, t.Any]) -> None:
            for name, value in obj.items():
                other(row, prefix + name, value)

        if self._compiled[0] >= MAX_SHAPES or not self._seen_once.ready(prefix, keys):
            return by_key
        scope: dict[str, t.Any] = {
            "float_text": _float_text,
            "list_cell": _list_cell,
            "other": self._other,
            "build": self._build,
        }
        lines: list[str] = []
        counter = [0]
        self._emit(lines, scope, "obj", obj, prefix, " ", counter)
        if counter[0] > MAX_SHAPE_KEYS:  # wide with what it inlines: by key, and not emitted again
            table[keys] = by_key
            self._compiled[0] += 1
            return by_key
        source = "def fill(row, obj, type=type, dict=dict, list=list, str=str, tuple=tuple, len=len):\n"
        source += "\n".join(lines or [" pass"]) + "\n"
        exec(compile(source, f"<csv row {prefix!r}>", "exec"), scope)  # names are repr() literals: any text
        fill: _Fill = scope["fill"]
        table[keys] = fill
        self._compiled[0] += 1
        return fill

    def _emit(
        self,
        lines: list[str],
        scope: dict[str, t.Any],
        var: str,
        obj: dict[str, t.Any],
        prefix: str,
        indent: str,
        counter: list[int],
    ) -> None:
        """The statements filling the row from ``var``, an object with ``obj``'s
        keys in order: each value put in its column if it has the compiled kind,
        else handed to ``_other``; a nested object of the same keys as in
        ``obj`` is unpacked inline (no call), one of other keys dispatched."""
        if not obj:
            return
        names = []
        for _ in obj:
            counter[0] += 1
            names.append(f"v{counter[0]}")
        lines.append(f"{indent}{', '.join(names)}{',' if len(names) == 1 else ''} = {var}.values()")
        for item, key, value in zip(names, obj, obj.values(), strict=True):
            path = prefix + key
            position = self._position.get(path)
            kind = type(value)
            if position is None and path + "." not in self._parents:
                continue  # no column is this value's path or under it: nothing of it can be a cell
            otherwise = f"{indent}else: other(row, {path!r}, {item})"
            if kind is dict:
                sub = path + "."
                scope[f"t_{item}"] = self._tables.setdefault(sub, {})
                dispatch = f"(t_{item}.get(tuple({item})) or build({sub!r}, {item}))(row, {item})"
                if value and len(indent) <= MAX_INLINE_DEPTH:
                    scope[f"k_{item}"] = tuple(value)
                    lines.append(f"{indent}if type({item}) is dict and tuple({item}) == k_{item}:")
                    self._emit(lines, scope, item, value, sub, indent + " ", counter)
                    lines.append(f"{indent}elif type({item}) is dict: {dispatch}")
                else:
                    lines.append(f"{indent}if type({item}) is dict: {dispatch}")
                lines.append(otherwise)
            elif position is None:
                lines.append(f"{indent}if type({item}) is dict: other(row, {path!r}, {item})")
            elif kind is str:
                lines += [f"{indent}if type({item}) is str: row[{position}] = {item}", otherwise]
            elif kind is int:
                lines += [f"{indent}if type({item}) is int: row[{position}] = str({item})", otherwise]
            elif kind is float:
                lines += [f"{indent}if type({item}) is float: row[{position}] = float_text({item})", otherwise]
            elif kind is bool:
                lines += [
                    f"{indent}if type({item}) is bool: row[{position}] = 'true' if {item} else 'false'",
                    otherwise,
                ]
            elif kind is list and value:
                lines += [
                    f"{indent}if type({item}) is list and len({item}) == 1 and type({item}[0]) is str:"
                    f" row[{position}] = {item}[0]",
                    f"{indent}elif type({item}) is list and {item}: row[{position}] = list_cell({item})",
                    otherwise,
                ]
            else:  # None, an empty list: no cell, as long as it stays so
                lines.append(f"{indent}if {item} is not None and {item} != []: other(row, {path!r}, {item})")


_makers: collections.OrderedDict[tuple[str, ...], RowMaker] = collections.OrderedDict()
_makers_lock = threading.Lock()


def row_maker(columns: t.Sequence[str], missing: str | None = "") -> RowMaker:
    """The process's RowMaker of ``columns`` with ``missing``, shared by the
    downloads of one header (the last ``MAKERS_KEPT`` headers, ``_fields``
    selections and Parquet's columns included), CSV (``missing`` "") and
    Parquet (None) alike: its compiled code is kept. A RowMaker may be used by
    several threads at once: two of them may compile one shape twice, and
    either result is right."""
    key = tuple(columns)
    with _makers_lock:
        maker = _makers.get(key)
        if maker is None:
            maker = _makers[key] = RowMaker(key, missing)
            if len(_makers) > MAKERS_KEPT:
                _makers.popitem(last=False)
        else:
            _makers.move_to_end(key)
        return maker.with_missing(missing)
