"""PHP 8's ``json_encode`` of a value decoded by ``json_decode($text, true)``,
byte for byte, for the Segment ``messageId``.

The original's ``messageId`` is ``md5(json_encode($event))`` of the decoded
event; Segment deduplicates by it, so a redelivered event must get the same
id as the original would have given it. PHP's default flags differ from
Python's ``json.dumps`` in five ways, all handled here:

- ``/`` is escaped as ``\\/`` (no ``JSON_UNESCAPED_SLASHES``);
- a float is written with the shortest round-trip digits (``serialize_precision
  = -1``) and no ``.0`` when whole (no ``JSON_PRESERVE_ZERO_FRACTION``):
  ``1.0`` -> ``1``; exponents are ``1.0e-5``/``1.0e+25`` (``php_gcvt``: an
  exponent below -4 or at least 17 positions);
- an empty JSON object decodes to an empty PHP array, written ``[]``;
- an object whose keys are exactly ``"0"``, ``"1"``, ... in order decodes to
  a list (numeric-string keys become integers) and is written as a JSON list;
- an integer outside PHP's 64-bit range decodes to a float.

Non-ASCII is ``\\uXXXX`` (lower-case hex, surrogate pairs), control characters
``\\b \\f \\n \\r \\t`` or ``\\u00XX``: the same as ``json.dumps(ensure_ascii=True)``.

Non-ASCII and control characters are escaped as ``json.dumps(ensure_ascii=True)``
does (lower-case hex, surrogate pairs), except DEL (0x7f), which PHP leaves as is.

Three ways to the same bytes, fastest first, each taking only the values it
provably writes as PHP does (``tests/test_segment_php.py`` compares each with
the exact encoder on generated values):

1. orjson's text, rewritten byte by byte (``_via_orjson``): taken when the
   text has no backslash (no escaped quote or control character), no object
   that could be a PHP list (``{"0":``), no ``null`` (orjson's text for NaN
   and infinity, which PHP refuses), no ``.0000`` (a float under 1e-4, an
   exponent in PHP) and, outside strings, no exponent and no run of 19
   digits (beyond 64 bits PHP reads a float); then
   a whole float's ``.0`` is dropped, ``{}`` becomes ``[]``, non-ASCII becomes
   ``\\uXXXX`` (the Basic Multilingual Plane only) and ``/`` becomes ``\\/``;
2. a copy with PHP's decoding applied (whole floats as ints, ``{}`` as
   ``[]``), written by the standard library's C encoder (``_via_stdlib``);
3. the exact pure-Python encoder, value by value, for what only PHP's own
   float text can write (an exponent, a float under 1e-4 or a huge one,
   ``-0.0``), an integer beyond 64 bits, or a DEL character.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import typing as t

import orjson

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

#: Below this magnitude a whole float is an exact integer whose digits are
#: its shortest round-trip representation (what PHP writes).
_EXACT_WHOLE = 2.0**53
_encode_ascii = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False).encode
#: An escaped backslash, or DEL escaped by json.dumps (PHP writes DEL as is).
_ESCAPED_DEL = re.compile(r"(\\\\)|\\u007f")


class _NeedsExactText(Exception):
    """A value whose PHP text the fast path cannot produce."""


def php_json_encode(value: t.Any) -> str:
    """``json_encode($value)`` of PHP 8 with default flags, where ``value`` is
    what ``orjson.loads``/``json.loads`` made of a JSON text (dict, list, str,
    int, float, bool, None). Raises ``ValueError`` for NaN or infinity (PHP
    returns ``false``; a JSON text cannot hold them)."""
    text = _via_orjson(value)
    return _via_stdlib(value) if text is None else text.decode("ascii")


def md5_hex(value: t.Any) -> str:
    """``hash('md5', json_encode($value))``: the original's ``hash_event``."""
    text = _via_orjson(value)
    return hashlib.md5(_via_stdlib(value).encode("ascii") if text is None else text).hexdigest()


# --------------------------------------------------------------------------- orjson path

#: Types orjson would write but the standard library refuses (the slower
#: paths then raise TypeError, as before): left to them.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
#: Every digit as ``0`` and ``+`` as ``-``: orjson writes an exponent as a
#: digit, ``e`` and a sign (``1e+16``, ``1e-7``), so ``0e-`` finds them all.
_NUMBER_SHAPES = bytes.maketrans(b"0123456789+", b"0000000000-")
#: An integer of 19 digits or more may be beyond PHP's 64 bits (a float there).
_LONG_INTEGER = b"0" * 19
_CLOSERS = (b",", b"}", b"]")


def _via_orjson(value: t.Any) -> bytes | None:
    """PHP's text as ASCII bytes, rewritten from orjson's, or ``None`` when
    the text holds something this rewrite does not cover (module docstring).

    Without a backslash in the text no string holds an escaped quote, so a
    position is inside a string exactly when an odd number of quotes precede
    it; each rule below tests that before rewriting or refusing a match,
    counting the quotes from one match to the next (counting from the start
    for each match was a tenth of the hash's cost: UUIDs hold ``3e-``)."""
    try:
        raw = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return None
    # null may be orjson's NaN or infinity; {"0": may open a PHP list; .0000 a
    # float under 1e-4. Rare enough to leave to the slower paths wherever found.
    if b"\\" in raw or b"null" in raw or b'{"0":' in raw or b".0000" in raw:
        return None
    shapes = raw.translate(_NUMBER_SHAPES)
    if _outside_strings(raw, shapes, b"0e-") or _outside_strings(raw, shapes, _LONG_INTEGER):
        return None
    pieces = raw.split(b".0")
    if len(pieces) > 1:
        raw = _whole_floats_as_integers(pieces)
    if b"{}" in raw:
        raw = _empty_objects_as_lists(raw)
    if not raw.isascii():
        raw = raw.decode().encode("ascii", "backslashreplace")
        if b"\\U" in raw:  # outside the BMP: PHP writes a surrogate pair
            return None
        raw = raw.replace(b"\\x", b"\\u00")  # backslashreplace writes U+0080-U+00FF as \xNN
    return raw.replace(b"/", b"\\/")


def _outside_strings(raw: bytes, shapes: bytes, needle: bytes) -> bool:
    """Whether ``needle`` occurs in ``shapes`` (``raw`` translated, so of the
    same length) at a position outside the strings of ``raw``."""
    position = shapes.find(needle)
    counted = quotes = 0
    while position >= 0:
        quotes += raw.count(b'"', counted, position)
        counted = position
        if not quotes & 1:
            return True
        position = shapes.find(needle, position + 1)
    return False


def _whole_floats_as_integers(pieces: list[bytes]) -> bytes:
    """The text split at ``.0``, joined again without the ``.0`` of a whole
    float (``1.0`` -> ``1``, ``-0.0`` -> ``-0``): one that a ``,``, ``}``,
    ``]`` or the end follows outside a string (orjson writes a fraction of 0
    only there; elsewhere ``.0`` is a longer fraction's or a string's)."""
    out = [pieces[0]]
    quotes = pieces[0].count(b'"')
    last = len(pieces) - 1
    for index in range(1, len(pieces)):
        piece = pieces[index]
        if not quotes & 1 and (piece[:1] in _CLOSERS or (index == last and not piece)):
            out.append(piece)
        else:
            out += (b".0", piece)
        quotes += piece.count(b'"')
    return b"".join(out)


def _empty_objects_as_lists(raw: bytes) -> bytes:
    """``{}`` outside strings -> ``[]`` (PHP decodes an empty object to an empty array)."""
    pieces: list[bytes] = []
    start = counted = quotes = 0
    position = raw.find(b"{}")
    while position >= 0:
        quotes += raw.count(b'"', counted, position)
        counted = position
        if not quotes & 1:
            pieces += (raw[start:position], b"[]")
            start = position + 2
        position = raw.find(b"{}", position + 2)
    pieces.append(raw[start:])
    return b"".join(pieces)


# --------------------------------------------------------------------------- standard library path


def _via_stdlib(value: t.Any) -> str:
    """PHP's text through the standard library's C encoder (module docstring, 2 and 3)."""
    try:
        prepared = _prepare(value)
    except _NeedsExactText:
        return _exact(value)
    text = _encode_ascii(prepared)
    if "u007f" in text:
        return _exact(value)
    return text.replace("/", "\\/")


def _prepare(value: t.Any) -> t.Any:
    """``value`` with PHP's decoding applied where the C encoder would write
    something else (whole floats as ints, ``{}`` as ``[]``, list-like objects
    as lists); unchanged containers are returned as they are, not copied.
    Raises ``_NeedsExactText`` for a number only the exact encoder writes."""
    kind = type(value)
    if kind is dict:
        return _prepare_dict(value)
    if kind is list:
        return _prepare_list(value)
    if kind is float:
        return _prepare_float(value)
    if kind is int and not _INT64_MIN <= value <= _INT64_MAX:
        raise _NeedsExactText
    return value


def _prepare_float(value: float) -> t.Any:
    if value.is_integer():
        if -_EXACT_WHOLE < value < _EXACT_WHOLE and (value or math.copysign(1.0, value) > 0):
            return int(value)
        raise _NeedsExactText
    if 1e-4 <= abs(value) < 1e16:  # Python's repr and php_gcvt both write fixed-point here
        return value
    raise _NeedsExactText


def _prepare_dict(value: dict[str, t.Any]) -> t.Any:
    if not value:
        return []
    if "0" in value and _is_list_keys(value):
        return _prepare_list(list(value.values()))
    copy: dict[str, t.Any] | None = None
    for key, item in value.items():
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if _INT64_MIN <= item <= _INT64_MAX:
                continue
            raise _NeedsExactText
        new = _prepare(item)
        if new is not item:
            if copy is None:
                copy = dict(value)
            copy[key] = new
    return value if copy is None else copy


def _prepare_list(value: list[t.Any]) -> t.Any:
    copy: list[t.Any] | None = None
    for index, item in enumerate(value):
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        new = _prepare(item)
        if new is not item:
            if copy is None:
                copy = list(value)
            copy[index] = new
    return value if copy is None else copy


def _is_list_keys(value: dict[str, t.Any]) -> bool:
    """PHP turns canonical decimal keys into integers; keys 0..n-1 in order
    make a list (``json_encode`` writes ``[...]``)."""
    return all(key == str(index) for index, key in enumerate(value))


def _php_string(value: str) -> str:
    text = json.dumps(value)
    if "u007f" in text:
        text = _ESCAPED_DEL.sub(lambda m: m.group(1) or "\x7f", text)
    return text.replace("/", "\\/")


# --------------------------------------------------------------------------- exact path


def _exact(value: t.Any) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: t.Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_php_string(value))
    elif isinstance(value, int):
        out.append(str(value) if _INT64_MIN <= value <= _INT64_MAX else php_float_text(float(value)))
    elif isinstance(value, float):
        out.append(php_float_text(value))
    elif isinstance(value, dict):
        if not value or _is_list_keys(value):
            _write(list(value.values()), out)
            return
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_php_string(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode a {type(value).__name__} as PHP would: {value!r}")


def php_float_text(value: float) -> str:
    """A float as PHP 8's ``json_encode`` writes it (``php_gcvt`` with
    ``serialize_precision = -1``, precision 17, ``e`` as exponent character):
    ``1.0`` -> ``1``, ``0.1`` -> ``0.1``, ``1e-5`` -> ``1.0e-5``,
    ``1.5e25`` -> ``1.5e+25``, ``-0.0`` -> ``-0``."""
    if not math.isfinite(value):
        raise ValueError(f"PHP's json_encode cannot encode {value!r} (it returns false)")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    # repr gives the shortest round-trip digits, as zend_dtoa mode 0 does.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # decpt: where the decimal point falls relative to the digits (1.5 -> 1).
    decpt = len(whole) + int(exponent or 0) if whole != "0" else int(exponent or 0) - (len(fraction) - len(digits))
    digits = digits.rstrip("0") or "0"
    if decpt < -3 or decpt > 17:  # php_gcvt's exponential form
        exp = decpt - 1
        rest = digits[1:] or "0"
        return f"{sign}{digits[0]}.{rest}e{'-' if exp < 0 else '+'}{abs(exp)}"
    if decpt <= 0:
        return f"{sign}0.{'0' * -decpt}{digits}"
    if len(digits) <= decpt:
        return sign + digits + "0" * (decpt - len(digits))
    return f"{sign}{digits[:decpt]}.{digits[decpt:]}"
