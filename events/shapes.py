"""When code is compiled per shape of object (``csv_rows``, ``field_kinds``).

Both compile, per (path, tuple of keys), a function that unpacks an object's
values in C: worth it for the few shapes real events come in, ruinous for
objects whose keys differ every time (an id used as a key): each would pay a
compile, about a hundred walks' worth, never used again, and keep its code.
So a shape is compiled the second time it is met (``SeenOnce.ready``), and
never when its function would unpack more than ``MAX_SHAPE_KEYS`` values;
until then, and past that, its objects are walked key by key.
"""

from __future__ import annotations

import typing as t

#: Most values one compiled function unpacks (its object's and those of the objects inlined in it).
MAX_SHAPE_KEYS = 256
#: Shapes remembered as met once, at most: then they are forgotten, to be met again.
MAX_SEEN_ONCE = 1024


class SeenOnce:
    """The shapes met once and not yet compiled, at most ``MAX_SEEN_ONCE``
    (a set of keys; safe to share between threads: one shape compiled twice
    by two of them is still right)."""

    def __init__(self) -> None:
        self._shapes: set[t.Hashable] = set()

    def ready(self, prefix: str, keys: tuple[str, ...]) -> bool:
        """Whether to compile the shape of an object at ``prefix`` with
        ``keys``: met for the second time, and not wider than
        ``MAX_SHAPE_KEYS`` (the caller also checks what it inlines)."""
        return len(keys) <= MAX_SHAPE_KEYS and not self.first((prefix, keys))

    def first(self, shape: t.Hashable) -> bool:
        """Whether ``shape`` is met for the first time since it was last
        compiled or forgotten (then it is remembered); False the second time
        (then it is forgotten: the caller compiles it)."""
        if shape in self._shapes:
            self._shapes.discard(shape)
            return False
        if len(self._shapes) >= MAX_SEEN_ONCE:
            self._shapes.clear()
        self._shapes.add(shape)
        return True
