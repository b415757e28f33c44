"""PHP 8's json_encode, fast paths against the exact encoder
(``integrations._segment_php``). The exact encoder writes value by value
from PHP's rules and is itself pinned by hand-worked cases
(``test_segment_format``) and by the original package's snapshot hashes
(``test_segment_original``); every faster path must give its bytes on
generated values, or decline."""

from __future__ import annotations

import typing as t
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import _segment_php as php

#: Strings near every rewrite rule: slashes, non-ASCII in and beyond the BMP,
#: escapes, DEL, and text that looks like the numbers and objects rewritten.
AWKWARD_TEXT = st.sampled_from(
    ["", "/", "a/b", "é", "日本", "😀", '"', "\\", "\n", "\x01", "\x7f", "1.0,", "2.0}", "x.0]", "{}", "[]",
     ':1.0}', '{"0":', "null", "3e-7f", "1e+16", "0.00001", "1234567890123456789", "\u2028"]
)  # fmt: skip
TEXT = AWKWARD_TEXT | st.text(max_size=12)
FLOATS = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1.0, -2.0, 1e15, 9007199254740992.0, 1e16, 1e17, 1e-4, 1e-5, 1.5e-7, 0.1, 123.456])
    | st.integers(-(10**6), 10**6).map(float)
)
INTEGERS = st.integers(-(2**64), 2**65) | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**63) - 1])
LEAVES = st.none() | st.booleans() | INTEGERS | FLOATS | TEXT
KEYS = TEXT | st.sampled_from(["0", "1", "2", "01", "-1"])
VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS, children, max_size=4)
        # objects PHP may read as lists: keys "0", "1", ... in order
        | st.lists(children, min_size=1, max_size=3).map(lambda items: {str(i): v for i, v in enumerate(items)})
    ),
    max_leaves=24,
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_every_path_writes_what_the_exact_encoder_writes(value: t.Any) -> None:
    exact = php._exact(value)
    fast = php._via_orjson(value)
    assert fast is None or fast.decode("ascii") == exact
    assert php._via_stdlib(value) == exact
    assert php.php_json_encode(value) == exact


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_a_value_decoded_from_json_text_too(value: t.Any) -> None:
    """What format() hands the encoder: orjson's reading of a JSON text."""
    try:
        decoded = orjson.loads(orjson.dumps(value))
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: no JSON text of orjson's
        return
    assert php.php_json_encode(decoded) == php._exact(decoded)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_refused_on_every_path(bad: float) -> None:
    """orjson writes them as null; PHP's json_encode returns false: an error here, as before."""
    for value in (bad, {"a": [1.0, bad]}, {"m": {"x": bad, "u": "/"}}):
        with pytest.raises(ValueError, match="cannot encode"):
            php.php_json_encode(value)


def test_the_orjson_path_covers_pinpoint_events() -> None:
    """The common event (whole floats, ``{}``, ``/``, an id with ``3e-7`` in
    it) takes the orjson path, so the export gets its speed."""
    lines = (Path(__file__).parent / "segment_original" / "events.ndjson").read_text().splitlines()
    events = [orjson.loads(line) for line in lines]
    events.append(
        {
            "application": {"cognito_identity_pool_id": "eu-west-1:5d1c8a3e-7f2b", "sdk": {}},
            "attributes": {"title": "Café in Zürich", "url": "https://example.com/a/b"},
            "endpoint": {"Metrics": {"sessions": 1.0, "pageViews": 2.0}, "Location": {"Latitude": 51.5074}},
        }
    )
    for event in events:
        fast = php._via_orjson(event)
        assert fast is not None
        assert fast.decode("ascii") == php._exact(event)
