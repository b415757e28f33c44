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


def compile_map(tree: t.Any, where: str = "map") -> Mapper:
    """``tree`` as a function of one event (see the module docstring for the
    rules). Raises ``MappingError`` for an entry that cannot be mapped or a
    callback that cannot be imported, naming it (``where`` prefixes the key)."""
    if not isinstance(tree, (dict, list, tuple)):
        raise MappingError(f"{where} must be a dict (or a list of keyless paths), got {type(tree).__name__}")
    ops: list[tuple[str | None, t.Callable[[Event], t.Any], bool]] = []  # key (None: merge), getter, nested
    for key, branch in _entries(tree):
        name = f"{where}.{key}"
        if php_empty(branch):
            continue
        if _is_keyless(key):
            if not isinstance(branch, str):
                raise MappingError(f"{name}: a keyless entry must be a path string, got {type(branch).__name__}")
            ops.append((None, compile_path(branch, name), False))
        elif isinstance(branch, (dict, list, tuple)):
            ops.append((str(key), compile_map(branch, name), True))
        elif isinstance(branch, str):
            ops.append((str(key), compile_path(branch, name), False))
        else:
            raise MappingError(
                f"{name}: expected a path string, a nested map or '' to skip, got {type(branch).__name__} {branch!r}"
            )
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


def compile_path(spec: str, where: str = "path") -> t.Callable[[Event], t.Any]:
    """``Transformer::fetch`` for one ``path[|callback]`` string, as a
    function of the event. ``value|static`` is the literal ``value``."""
    path, bar, rest = spec.partition("|")
    callback_name = rest.split("|", 1)[0] if bar else None  # PHP's list() keeps the first two parts
    if callback_name == "static":
        return _constant(path)
    segments = tuple(path.split(".")) if path not in ("", "0") else ()
    getter = _getter(segments)
    if callback_name is None:
        return getter
    callback = resolve_callback(callback_name, where)

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
