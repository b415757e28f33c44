"""``_fields`` as WordPress's ``rest_filter_response_fields`` applies it, worked
by hand from its source (wp-includes/rest-api.php): ``wp_parse_list``, the
nested tree, ``_rest_array_intersect_key_recursive``."""

from __future__ import annotations

import typing as t

from events.fields import parse_fields, select, select_columns

EVENT: dict[str, t.Any] = {
    "event_type": "pageView",
    "attributes": {"url": "https://example.com/", "title": "Home", "blogId": "1"},
    "endpoint": {"Attributes": {"DeviceType": ["mobile", "tablet"]}, "Id": "e-1"},
    "metrics": {"elapsed": 3},
}


def test_wp_parse_list_splits_on_commas_and_whitespace_and_drops_empties() -> None:
    assert parse_fields(" event_type,, attributes.url \t metrics ") == {
        "event_type": True,
        "attributes": {"url": True},
        "metrics": True,
    }
    assert parse_fields({"0": "event_type", "1": "attributes.url"}) == {"event_type": True, "attributes": {"url": True}}
    assert parse_fields("") is None and parse_fields(" , ") is None and parse_fields(None) is None


def test_nested_paths_keep_the_event_order_and_unknown_fields_are_absent() -> None:
    tree = parse_fields("metrics,attributes.title,attributes.nope,event_type,nothing.at.all")
    assert tree is not None
    cut = select(EVENT, tree)
    assert cut == {"event_type": "pageView", "attributes": {"title": "Home"}, "metrics": {"elapsed": 3}}
    assert list(cut) == ["event_type", "attributes", "metrics"]  # array_intersect_key keeps the data's order


def test_a_parent_wanted_whole_wins_over_its_children_either_way() -> None:
    assert parse_fields("attributes.url,attributes") == {"attributes": True}
    assert parse_fields("attributes,attributes.url") == {"attributes": True}


def test_a_sub_path_of_a_whole_parent_does_not_drop_later_fields() -> None:
    # WordPress's `break 2` would stop at "attributes.url" and lose event_type: a deliberate difference.
    tree = parse_fields("attributes,attributes.url,event_type")
    assert tree == {"attributes": True, "event_type": True}


def test_a_scalar_where_the_tree_goes_deeper_is_kept_as_wordpress_does() -> None:
    # is_array($value) is false for "pageView", so the value stays.
    tree = parse_fields("event_type.deeper")
    assert tree is not None
    assert select(EVENT, tree) == {"event_type": "pageView"}
    assert select_columns(["event_type", "metrics.elapsed"], tree) == ["event_type"]


def test_lists_are_arrays_with_integer_keys() -> None:
    first = parse_fields("endpoint.Attributes.DeviceType.0")
    second = parse_fields("endpoint.Attributes.DeviceType.1")
    assert first is not None and second is not None
    assert select(EVENT, first) == {"endpoint": {"Attributes": {"DeviceType": ["mobile"]}}}
    # [1 => "tablet"] is not a list any more: json_encode writes it as an object.
    assert select(EVENT, second) == {"endpoint": {"Attributes": {"DeviceType": {"1": "tablet"}}}}


def test_csv_columns_kept() -> None:
    columns = [
        "attributes.blogId",
        "attributes.title",
        "attributes.url",
        "endpoint.Id",
        "event_type",
        "metrics.elapsed",
    ]
    tree = parse_fields("attributes.url,endpoint,nope")
    assert tree is not None
    assert select_columns(columns, tree) == ["attributes.url", "endpoint.Id"]
