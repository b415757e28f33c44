"""WordPress's global ``_fields`` parameter (``rest_filter_response_fields``)
applied to events: only the named fields, nested paths with dots.

WordPress reads ``_fields`` with ``wp_parse_list`` (a string split on commas
and whitespace, or the scalar values of a ``_fields[]=`` array), trims each,
and builds a tree of the paths (``a.b`` -> ``{"a": {"b": True}}``; a path
whose parent is already wanted whole adds nothing). Each event is then cut
down by ``_rest_array_intersect_key_recursive``: keys absent from the tree go,
a ``True`` node keeps its value whole, and a nested node recurses only where
the value is itself an object or a list; a scalar where the tree goes deeper
stays as it is. Unknown fields are simply absent.

One deliberate difference: WordPress's loop uses ``break 2`` when it meets
a sub-path of a field already wanted whole, which silently drops *every
later field* of the list (``_fields=attributes,attributes.url,event_type``
gives no ``event_type``); here only that redundant sub-path is skipped.

For CSV (and Parquet), the columns kept are the flattened names the cut-down
events can have: a column is kept when walking its dotted name through the
tree reaches a ``True`` node, or runs out where the tree goes deeper.
"""

from __future__ import annotations

import re
import typing as t

if t.TYPE_CHECKING:
    from wpjson._php import QueryValue

#: A ``_fields`` tree: each key maps to True (the whole value) or a subtree.
FieldTree = dict[str, "bool | FieldTree"]

#: ``wp_parse_list``'s separators.
_LIST_SEPARATORS = re.compile(r"[\s,]+")


def parse_fields(value: QueryValue | None) -> FieldTree | None:
    """The tree of a ``_fields`` query value, or None when it names no field
    (absent or empty: the whole events, as WordPress)."""
    if value is None:
        return None
    if isinstance(value, str):
        names = [name for name in _LIST_SEPARATORS.split(value) if name]
    else:  # ``_fields[]=a&_fields[]=b``: wp_parse_list keeps the scalar values
        names = [item for item in value.values() if isinstance(item, str)]
    names = [name.strip() for name in names]
    if not names:
        return None
    tree: FieldTree = {}
    for name in names:
        *parents, last = name.split(".")
        node = tree
        for part in parents:
            child = node.get(part)
            if child is True:
                break  # a parent already wanted whole (WordPress: break 2, see the module's docstring)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        else:
            node[last] = True
    return tree


def select(value: t.Any, node: FieldTree) -> t.Any:
    """``_rest_array_intersect_key_recursive(value, node)`` for a JSON object
    or list (a list is a PHP array with the keys ``0``, ``1``...: what is kept
    of it stays a list when its indexes are still ``0..n-1``, else it becomes
    an object keyed by them, as ``json_encode`` writes such an array)."""
    if type(value) is dict:
        return {key: _kept(item, node[key]) for key, item in value.items() if key in node}
    kept = {str(index): _kept(item, node[str(index)]) for index, item in enumerate(value) if str(index) in node}
    if list(kept) == [str(index) for index in range(len(kept))]:
        return list(kept.values())
    return kept


def _kept(value: t.Any, node: bool | FieldTree) -> t.Any:
    if node is True or type(value) not in (dict, list) or not isinstance(node, dict):
        return value
    return select(value, node)


def select_columns(columns: t.Iterable[str], tree: FieldTree) -> list[str]:
    """The flattened column names (in their order) that events cut down to
    ``tree`` can have."""
    return [column for column in columns if _column_kept(column, tree)]


def _column_kept(column: str, tree: FieldTree) -> bool:
    node: bool | FieldTree = tree
    for part in column.split("."):
        if not isinstance(node, dict):
            return True  # the tree wanted the whole value above this part
        if part not in node:
            return False
        node = node[part]
    return True  # a True node, or a scalar where the tree goes deeper (kept as it is)
