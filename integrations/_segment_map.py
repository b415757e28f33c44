"""The original Segment package's mapping trees (its ``Transformer`` class),
compiled once per batch into plain functions of one event.

A map is a dict (or a list, whose entries are all keyless) whose entries are,
case by case as the PHP ``Transformer::transform`` and ``fetch`` read them:

- ``"key": "path.to.value"``: the value at that path; ``path.0`` indexes a
  list. A missing path or a ``null`` on the way gives nothing (``isset``);
- ``"key": "path|callback"``: the callback applied to that value (only when
  the value exists); the callback is a callable or a dotted import path
  (``"integrations.segment.milliseconds_to_iso8601"``); an empty path (or
  ``"0"``, which PHP also reads as empty) hands the callback the whole event;
- ``"key": "value|static"``: the literal ``value``;
- ``"key": ""`` (or any PHP-``empty`` branch: ``None``, ``[]``, ``{}``,
  ``"0"``, ``0``, ``False``): skipped;
- a keyless entry (a list item, or an integer or numeric-string key, as PHP
  numbers an array's unkeyed items): the value at that path, when it is a
  non-empty dict or list, merged into the result with ``array_merge``'s
  rules, each list inside it collapsed to its first item (``false`` when
  empty, PHP's ``current([])``);
- ``"key": {...}``: a nested map, mapped recursively.

A result of ``None`` or an empty dict/list is left out; ``""``, ``0`` and
``False`` are kept (the original sends ``"app": {"version": ""}``).

Not reproduced: PHP string offsets (``attributes.url.0`` is nothing here, a
byte of the string there), and a branch that is neither string nor map nor
PHP-empty (PHP reuses the previous entry's value; here it is an error when the
map is compiled). A callback path that cannot be imported is an error when
the map is compiled, naming the key.
"""

from __future__ import annotations

import dataclasses
import pkgutil
import re
import typing as t

Event: t.TypeAlias = dict[str, t.Any]
#: A compiled map: one event in, one mapped dict out.
Mapper: t.TypeAlias = t.Callable[[Event], dict[str, t.Any]]

#: PHP's ``is_numeric`` for strings (PHP 8: leading and trailing whitespace allowed).
_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
#: Array keys PHP stores as integers (canonical decimal, no leading zero).
_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")


class MappingError(ValueError):
    """A map that cannot be compiled; the message names the key and says why."""


def php_empty(value: t.Any) -> bool:
    """PHP's ``empty()``: ``null``, ``false``, ``0``, ``0.0``, ``""``, ``"0"``
    and empty arrays are empty."""
    if value is None or value is False:
        return True
    if isinstance(value, (str, dict, list, tuple)):
        return not value or value == "0"
    if isinstance(value, (int, float)):
        return value == 0
    return False


def _is_keyless(key: t.Any) -> bool:
    """PHP's ``is_numeric($key)``: unkeyed items are numbered 0, 1, ...; a
    numeric-string key counts too."""
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return True
    return isinstance(key, str) and bool(_NUMERIC.match(key))


def _entries(branch: t.Any) -> t.Iterable[tuple[t.Any, t.Any]]:
    if isinstance(branch, dict):
        return branch.items()
    return enumerate(branch)


@dataclasses.dataclass(frozen=True)
class PathSpec:
    """One ``path[|callback]`` string, read: the path's segments (``()``:
    the whole event) and the callback, or the literal of ``value|static``."""

    segments: tuple[str, ...] = ()
    callback: t.Callable[[t.Any], t.Any] | None = None
    constant: str | None = None


@dataclasses.dataclass(frozen=True)
class MapSpec:
    """A map, read and checked: its entries in order, each a key (``None``: a
    keyless entry, merged) and a ``PathSpec`` or a nested ``MapSpec``. Equal
    specs map every event alike (callbacks compare by identity)."""

    entries: tuple[tuple[str | None, PathSpec | MapSpec], ...]


def compile_map(tree: t.Any, where: str = "map") -> Mapper:
    """``tree`` as a function of one event (see the module docstring for the
    rules). Raises ``MappingError`` for an entry that cannot be mapped or a
    callback that cannot be imported, naming it (``where`` prefixes the key).

    This is the rules' reference reading, one closure per entry;
    ``_segment_codegen.compile_mapper`` gives the same function as generated
    Python source, which the export uses."""
    return reference_mapper(parse_map(tree, where))


def parse_map(tree: t.Any, where: str = "map") -> MapSpec:
    """``tree`` read into a ``MapSpec``, callbacks imported; raises
    ``MappingError`` as ``compile_map`` does."""
    if not isinstance(tree, (dict, list, tuple)):
        raise MappingError(f"{where} must be a dict (or a list of keyless paths), got {type(tree).__name__}")
    entries: list[tuple[str | None, PathSpec | MapSpec]] = []
    for key, branch in _entries(tree):
        name = f"{where}.{key}"
        if php_empty(branch):
            continue
        if _is_keyless(key):
            if not isinstance(branch, str):
                raise MappingError(f"{name}: a keyless entry must be a path string, got {type(branch).__name__}")
            entries.append((None, parse_path(branch, name)))
        elif isinstance(branch, (dict, list, tuple)):
            entries.append((str(key), parse_map(branch, name)))
        elif isinstance(branch, str):
            entries.append((str(key), parse_path(branch, name)))
        else:
            raise MappingError(
                f"{name}: expected a path string, a nested map or '' to skip, got {type(branch).__name__} {branch!r}"
            )
    return MapSpec(tuple(entries))


def reference_mapper(spec: MapSpec) -> Mapper:
    """The mapper of a ``MapSpec``: one closure per entry, evaluated in order."""
    ops: list[tuple[str | None, t.Callable[[Event], t.Any], bool]] = []  # key (None: merge), getter, nested
    for key, branch in spec.entries:
        if isinstance(branch, MapSpec):
            ops.append((key, reference_mapper(branch), True))
        else:
            ops.append((key, path_getter(branch), False))
    return _mapper(tuple(ops))


def _mapper(ops: tuple[tuple[str | None, t.Callable[[Event], t.Any], bool], ...]) -> Mapper:
    def mapped(event: Event) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {}
        appended = 0  # integer keys array_merge has numbered so far
        for key, get, nested in ops:
            value = get(event)
            if key is None:
                if value and (type(value) is dict or type(value) is list):
                    appended = _merge(out, value, appended)
            elif nested:
                if value:
                    out[key] = value
            elif value is not None and not ((type(value) is dict or type(value) is list) and not value):
                out[key] = value
        return out

    return mapped


def _merge(out: dict[str, t.Any], value: dict[str, t.Any] | list[t.Any], appended: int) -> int:
    """``array_merge($out, $value)`` with each list inside ``value`` collapsed
    to its first item (``current()``). String keys replace in place; integer
    keys (a list's positions, or canonical decimal keys, which PHP stores as
    integers) are appended, numbered after the ones already there."""
    if type(value) is dict and _no_numbered_keys(value):
        # The common case (an event's object): no key is renumbered, so no key
        # needs a look, and without lists or objects inside nothing is collapsed.
        kinds = set(map(type, value.values()))
        if list not in kinds and dict not in kinds:
            out.update(value)
            return appended
        for key, item in value.items():
            kind = type(item)
            if kind is list:
                item = item[0] if item else False
            elif kind is dict:
                item = next(iter(item.values())) if item else False
            out[key] = item
        return appended
    items: t.Iterable[tuple[t.Any, t.Any]] = value.items() if type(value) is dict else enumerate(value)
    for key, item in items:
        kind = type(item)
        if kind is list:
            item = item[0] if item else False
        elif kind is dict:
            item = next(iter(item.values())) if item else False
        if type(key) is int or (key[:1] in _DIGIT_START and _INT_KEY.match(key)):
            out[str(appended)] = item
            appended += 1
        else:
            out[key] = item
    return appended


_DIGIT_START = frozenset("-0123456789")
_STR_ONLY = frozenset({str})


def _no_numbered_keys(value: dict[t.Any, t.Any]) -> bool:
    """Whether no key of ``value`` is one ``array_merge`` renumbers: all keys
    are ``str`` and the smallest is at least ``":"`` (a canonical decimal key
    starts with ``-`` or a digit, which sort before it)."""
    return bool(value) and set(map(type, value)) == _STR_ONLY and min(value) >= ":"


def compile_path(spec: str, where: str = "path") -> t.Callable[[Event], t.Any]:
    """``Transformer::fetch`` for one ``path[|callback]`` string, as a
    function of the event. ``value|static`` is the literal ``value``."""
    return path_getter(parse_path(spec, where))


def parse_path(spec: str, where: str = "path") -> PathSpec:
    """One ``path[|callback]`` string read into a ``PathSpec``, the callback
    imported (``MappingError`` naming ``where`` when it cannot be)."""
    path, bar, rest = spec.partition("|")
    callback_name = rest.split("|", 1)[0] if bar else None  # PHP's list() keeps the first two parts
    if callback_name == "static":
        return PathSpec(constant=path)
    segments = tuple(path.split(".")) if path not in ("", "0") else ()
    callback = None if callback_name is None else resolve_callback(callback_name, where)
    return PathSpec(segments, callback)


def path_getter(path: PathSpec) -> t.Callable[[Event], t.Any]:
    """The value of ``path`` in an event: ``None`` when it is not set."""
    if path.constant is not None:
        return _constant(path.constant)
    getter = _getter(path.segments)
    callback = path.callback
    if callback is None:
        return getter

    def fetched(event: Event) -> t.Any:
        value = getter(event)
        return None if value is None else callback(value)

    return fetched


def _constant(value: str) -> t.Callable[[Event], t.Any]:
    return lambda _event: value


def _getter(segments: tuple[str, ...]) -> t.Callable[[Event], t.Any]:
    if not segments:
        return lambda event: event
    if len(segments) == 1:
        (first,) = segments

        def one(event: Event) -> t.Any:
            return event.get(first) if type(event) is dict else _walk(event, segments)

        return one
    if len(segments) == 2:
        first, second = segments

        def two(event: Event) -> t.Any:
            # The common case (objects all the way) without a loop.
            if type(event) is dict:
                inner = event.get(first)
                if type(inner) is dict:
                    return inner.get(second)
            return _walk(event, segments)

        return two

    def deep(event: Event) -> t.Any:
        return _walk(event, segments)

    return deep


def _walk(value: t.Any, segments: tuple[str, ...]) -> t.Any:
    """``isset($value[$segment])`` down the path: dict keys, list positions
    (canonical non-negative decimal only, as PHP converts array keys); a
    ``null`` or a scalar on the way gives ``None``."""
    for segment in segments:
        kind = type(value)
        if kind is dict:
            value = value.get(segment)
        elif kind is list:
            if not (segment.isdigit() and (segment == "0" or segment[0] != "0")):
                return None
            index = int(segment)
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def resolve_callback(callback: t.Any, where: str = "map") -> t.Callable[[t.Any], t.Any]:
    """A map callback: a callable as is, or a dotted import path
    (``package.module.function``, ``package.module.Class.method``) imported
    now. Raises ``MappingError`` naming ``where`` when it cannot be found."""
    if callable(callback):
        return t.cast(t.Callable[[t.Any], t.Any], callback)
    if not isinstance(callback, str) or "." not in callback:
        raise MappingError(
            f"{where}: callback {callback!r} is not a dotted import path; use e.g. "
            "'integrations.segment.milliseconds_to_iso8601' or put a Python callable in the map"
        )
    try:
        found = pkgutil.resolve_name(callback)
    except (ImportError, AttributeError, ValueError) as exc:
        raise MappingError(f"{where}: callback {callback!r} cannot be imported: {exc}") from None
    if not callable(found):
        raise MappingError(f"{where}: callback {callback!r} names a {type(found).__name__}, not a function")
    return t.cast(t.Callable[[t.Any], t.Any], found)
