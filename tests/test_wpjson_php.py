"""PHP's ``$_GET`` and ``is_numeric`` as ``wpjson._php`` reproduces them.
Expected values worked by hand from PHP's rules (``php_register_variable_ex``,
the PHP 8 "Saner numeric strings" grammar), not from the code."""

from __future__ import annotations

import pytest

from wpjson._php import is_numeric, parse_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("format=csv&format=xml", {"format": "xml"}),  # the last value wins
        ("a=1&&b", {"a": "1", "b": ""}),
        ("a+b=c+d&x=%2F%20", {"a_b": "c d", "x": "/ "}),  # names: " " becomes "_"
        ("chunk.size=5", {"chunk_size": "5"}),  # and "." too
        ("%20a=1", {"a": "1"}),  # leading spaces dropped
        ("=x&%20=y", {}),  # empty names ignored
        ("a[=1", {"a_": "1"}),  # a "[" without its "]"
        ("a[]=1&a[]=2", {"a": {"0": "1", "1": "2"}}),
        ("a[x]=1&a[y][z]=2", {"a": {"x": "1", "y": {"z": "2"}}}),
        ("a=1&a[]=2", {"a": {"0": "2"}}),
        ("a[]=1&a=2", {"a": "2"}),
        ("_envelope", {"_envelope": ""}),
        ("t=%E2%9C%93", {"t": "\u2713"}),
    ],
)
def test_parse_query_as_php_fills_get(query: str, expected: dict[str, object]) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(
    "value", ["0", "-5", "+3", "1.5", ".5", "5.", "5e3", "1E-2", " 7", "7 ", "\t\n7\r\x0b\x0c", "9" * 5000]
)
def test_numeric_strings(value: str) -> None:
    assert is_numeric(value)


@pytest.mark.parametrize(
    "value", ["", " ", ".", "abc", "0x10", "0b1", "NaN", "INF", "1e", "1_000", "1,5", "--1", "\u0661", "\u00a07", "5 5"]
)
def test_not_numeric_strings(value: str) -> None:
    assert not is_numeric(value)


def test_an_array_is_not_numeric() -> None:
    assert not is_numeric({"0": "5"})
