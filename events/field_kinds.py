"""The kinds of an object's flattened fields, by code compiled once per shape.

A summary sorts every field name of every event by the kind of its value
(``records.add_field_kinds``: a JSON number, a float, anything else), for the
CSV header and Parquet's column types. Walking each key in Python was most of
a cold day's time (about half of summarizing, bench/FINDINGS.md "Cold first
byte"), though events come in few shapes. ``FieldKinds`` compiles, per
(path, tuple of keys), a function that unpacks the object's values in C
(``a, b = obj.values()``), checks that each has the kind it had when compiled,
and then only notes the shape as seen (one ``set.add``); the names of a shape
are added once, by ``sets``.

Correctness rests on the checks, not on the dispatch, as in ``csv_rows``: a
value of another kind than compiled (a number where text was, an integer
outside INT64, an empty list where one with items was, an object of other
keys where one was unpacked inline) sends the whole object to
``records.add_field_kinds``. So ``sets`` always equals what that function
gives over the same events (tests/test_field_kinds.py compares them on
generated events).
"""

from __future__ import annotations

import typing as t

from events.records import INT64_MAX, add_field_kinds
from events.shapes import MAX_SHAPE_KEYS, SeenOnce

#: Most shapes compiled (or found too wide) per process; objects of further shapes are walked key by key.
MAX_SHAPES = 1024
#: Nested objects checked inline in one function, at most (deeper ones are dispatched, one call
#: each), so generated code stays far from CPython's indentation limit (100 levels).
MAX_INLINE_DEPTH = 8

#: The names one compiled block adds: (numbers, others, floats) as ``add_field_kinds`` sorts them.
Shape = tuple[frozenset[str], frozenset[str], frozenset[str]]
_Check = t.Callable[[dict[str, t.Any], t.Callable[[Shape], None], "FieldKinds"], None]

#: Per path prefix ("" for the event, "attributes." ...): keys -> compiled function. Shared by
#: every ``FieldKinds`` of the process (a summary is one object's; the shapes recur across objects).
_tables: dict[str, dict[tuple[str, ...], _Check]] = {"": {}}
_compiled = [0]
_seen_once = SeenOnce()


class FieldKinds:
    """``add_field_kinds`` over many events: ``add(data)`` each event, then
    ``sets()`` gives ``(numbers, others, floats)``, the sets that function
    would have filled (flattened names: ``a.b``)."""

    def __init__(self) -> None:
        self.numbers: set[str] = set()
        self.others: set[str] = set()
        self.floats: set[str] = set()
        self._seen: set[Shape] = set()
        self._see = self._seen.add
        self._top = _tables[""]

    def add(self, data: dict[str, t.Any]) -> None:
        (self._top.get(tuple(data)) or _build("", data))(data, self._see, self)

    def walk(self, obj: dict[str, t.Any], prefix: str) -> None:
        """An object not of its compiled kinds: key by key (``add_field_kinds``)."""
        add_field_kinds(self.numbers, self.others, self.floats, obj, prefix)

    def sets(self) -> tuple[set[str], set[str], set[str]]:
        """``(numbers, others, floats)`` of every event added so far."""
        for numbers, others, floats in self._seen:
            self.numbers |= numbers
            self.others |= others
            self.floats |= floats
        self._seen.clear()
        return self.numbers, self.others, self.floats


def _build(prefix: str, obj: dict[str, t.Any]) -> _Check:
    """The function checking an object at ``prefix`` with ``obj``'s keys in
    ``obj``'s order, compiled for the kinds of ``obj``'s values the second
    time these keys are met (``shapes``: the first time, and past
    ``MAX_SHAPES`` or ``MAX_SHAPE_KEYS``, a function walking it key by key)."""

    def walk(obj: dict[str, t.Any], _see: t.Callable[[Shape], None], kinds: FieldKinds) -> None:
        kinds.walk(obj, prefix)

    keys = tuple(obj)
    if _compiled[0] >= MAX_SHAPES or not _seen_once.ready(prefix, keys):
        return walk
    scope: dict[str, t.Any] = {"build": _build}
    lines: list[str] = []
    counter = [0]
    _emit(lines, scope, "obj", obj, prefix, " ", counter, f"kinds.walk(obj, {prefix!r})")
    table = _tables.setdefault(prefix, {})
    _compiled[0] += 1
    if counter[0] > MAX_SHAPE_KEYS:  # wide with what it inlines: walked, and not emitted again
        table[keys] = walk
        return walk
    source = "def check(obj, see, kinds, type=type, dict=dict, list=list, str=str, int=int, float=float, bool=bool,"
    source += " tuple=tuple):\n" + "\n".join(lines) + "\n"
    exec(compile(source, f"<field kinds {prefix!r}>", "exec"), scope)  # names are repr() literals: any text
    check: _Check = scope["check"]
    table[keys] = check
    return check


def _emit(
    lines: list[str],
    scope: dict[str, t.Any],
    var: str,
    obj: dict[str, t.Any],
    prefix: str,
    indent: str,
    counter: list[int],
    fallback: str,
) -> None:
    """The statements checking ``var``, an object with ``obj``'s keys in
    order: each value of its compiled kind, or ``return`` the ``fallback``
    (the whole compiled object walked key by key); then ``see`` this block's
    names. A nested object of the same keys as in ``obj`` is checked inline,
    one of other keys dispatched to its own function."""
    numbers: set[str] = set()
    others: set[str] = set()
    floats: set[str] = set()
    if not obj:
        lines.append(f"{indent}pass")
        return
    names = []
    for _ in obj:
        counter[0] += 1
        names.append(f"v{counter[0]}")
    lines.append(f"{indent}{', '.join(names)}{',' if len(names) == 1 else ''} = {var}.values()")
    bail = f"{indent} return {fallback}"
    wrong: list[str] = []  # per value, the test that it is not of its compiled kind: one `if` for them all
    blocks: list[str] = []  # the nested objects' statements, after that `if`
    for item, key, value in zip(names, obj, obj.values(), strict=True):
        path = prefix + key
        kind = type(value)
        if kind is str or kind is bool:
            wrong.append(f"type({item}) is not {kind.__name__}")
            others.add(path)
        elif kind is float:
            wrong.append(f"type({item}) is not float")
            numbers.add(path)
            floats.add(path)
        elif kind is int and -INT64_MAX - 1 <= value <= INT64_MAX:
            wrong.append(f"type({item}) is not int or not {-INT64_MAX - 1} <= {item} <= {INT64_MAX}")
            numbers.add(path)
        elif kind is list:
            # an empty list has no cell (``flatten``), one with items is text
            wrong.append(f"type({item}) is not list or {'not ' if value else ''}{item}")
            if value:
                others.add(path)
        elif value is None:
            wrong.append(f"{item} is not None")
        elif kind is dict:
            sub = path + "."
            scope[f"t_{item}"] = _tables.setdefault(sub, {})
            dispatch = f"(t_{item}.get(tuple({item})) or build({sub!r}, {item}))({item}, see, kinds)"
            if value and len(indent) <= MAX_INLINE_DEPTH:
                scope[f"k_{item}"] = tuple(value)
                blocks.append(f"{indent}if type({item}) is dict and tuple({item}) == k_{item}:")
                _emit(blocks, scope, item, value, sub, indent + " ", counter, fallback)
                blocks += [f"{indent}elif type({item}) is not dict:", bail, f"{indent}elif {item}: {dispatch}"]
            else:
                wrong.append(f"type({item}) is not dict")
                blocks.append(f"{indent}if {item}: {dispatch}")
        else:  # an integer outside INT64 (text in Parquet), or no JSON kind: never compiled
            lines.append(f"{indent}return {fallback}")
            return
    if wrong:
        lines += [f"{indent}if {' or '.join(wrong)}:", bail]
    lines += blocks
    if numbers or others:
        scope[f"s_{var}"] = (frozenset(numbers), frozenset(others), frozenset(floats))
        lines.append(f"{indent}see(s_{var})")
