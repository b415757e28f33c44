"""What PHP itself decides before WordPress sees a request: how the query
string becomes ``$_GET``, and which strings ``is_numeric`` accepts.

WordPress clients were written against these rules, so the REST API reads its
query parameters through them instead of through Werkzeug's ``request.args``
(which keeps the *first* of a repeated parameter and knows no ``name[]``).
"""

from __future__ import annotations

import re
import typing as t
import urllib.parse

#: A ``$_GET`` value: a string, or an array for ``name[]=`` / ``name[key]=`` parameters.
QueryValue = t.Union[str, "dict[str, QueryValue]"]

#: The whitespace a PHP numeric string may have around it (``_is_numeric_string_ex``: space, \t, \n, \r, \v, \f).
_PHP_WHITESPACE = " \t\n\r\x0b\x0c"
# PHP 8's numeric strings ("Saner numeric strings" RFC): optional leading and
# trailing whitespace, a sign, decimal digits with an optional point, an
# optional exponent. No hex, no "NaN"/"INF", no "1_000", ASCII digits only.
_NUMERIC = re.compile(
    rf"[{_PHP_WHITESPACE}]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[{_PHP_WHITESPACE}]*"
)
_INDEX = re.compile(r"\[([^\]]*)\]")


def is_numeric(value: object) -> bool:
    """PHP 8's ``is_numeric`` for a ``$_GET`` value: only a string that
    reads as a decimal integer or float. ``"5e3"``, ``" 1.5 "``, ``".5"``,
    ``"-0"`` and a 5000-digit number are numeric; ``""``, ``"abc"``,
    ``"0x10"``, ``"NaN"`` and arrays are not."""
    return isinstance(value, str) and _NUMERIC.fullmatch(value) is not None


def to_float(value: str) -> float:
    """PHP's ``(float)`` of a numeric string; a number too large for a double
    is infinite, as in PHP (never Python's int-digit limit: this is a float parse)."""
    return float(value.strip(_PHP_WHITESPACE))


def parse_query(query_string: str) -> dict[str, QueryValue]:
    """``$_GET`` for a WSGI ``QUERY_STRING`` (PHP's ``php_default_treat_data``
    and ``php_register_variable_ex``).

    - Pairs split on ``&``; names and values URL-decoded (``+`` is a space);
      a pair without ``=`` has the value ``""``.
    - A repeated name keeps its LAST value (``format=csv&format=xml`` is ``xml``).
    - In a name, leading spaces are dropped, and ``" "`` and ``"."`` before the
      first ``[`` become ``"_"``; an empty name is ignored.
    - ``name[]=v`` and ``name[key]=v`` make ``name`` an array (a dict here,
      ``[]`` taking the next integer key); a ``[`` without its ``]`` becomes ``"_"``.
    """
    result: dict[str, QueryValue] = {}
    for pair in query_string.encode("latin-1").split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode(raw_name).lstrip(" ").split("\x00", 1)[0]
        value = _decode(raw_value)
        _register(result, name, value)
    return result


def _decode(raw: bytes) -> str:
    return urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def _register(target: dict[str, QueryValue], name: str, value: str) -> None:
    bracket = name.find("[")
    base = name if bracket < 0 else name[:bracket]
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return
    if bracket < 0:
        target[base] = value
        return
    rest = name[bracket:]
    keys: list[str] = []
    position = 0
    while position < len(rest) and rest[position] == "[":
        match = _INDEX.match(rest, position)
        if match is None:
            if not keys:  # "a[b" is the plain variable "a_b"
                target[base + "_" + rest[1:]] = value
                return
            break  # PHP ignores what follows the last complete [...]
        keys.append(match.group(1))
        position = match.end()
    node = target.get(base)
    if not isinstance(node, dict):
        node = target[base] = {}
    for key in keys[:-1]:
        key = key or str(_next_index(node))
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    last = keys[-1]
    node[last if last else str(_next_index(node))] = value


def _next_index(array: dict[str, QueryValue]) -> int:
    integers = [int(k) for k in array if k.lstrip("-").isdigit()]
    return max(integers) + 1 if integers else 0
