"""The Segment mapping trees compiled to Python source: one generated
function per map, the same rules as ``_segment_map`` (its reference
closures), without a Python call per entry.

Why: mapping each event through one closure per entry (and a walk per
path) was a third of the Segment formatting time. The generated function
reads each path prefix once (``endpoint``, then ``endpoint.Demographic``,
then its fields) and inlines nested maps, so a map costs about one dict
lookup per path segment. It falls back to the reference mapper for an event
that is not a dict.

Sharing a prefix is exact only while nothing changes the event between two
reads of it, so the prefixes read so far are forgotten after each call of a
callback not marked with ``pure_callback`` (a user's callback may change the
event it is handed; the reference reads every path afresh).

Compiled functions are cached by their ``MapSpec`` (callbacks compare by
identity), so the filters can run for every batch, as the original's did,
while the source is generated once per distinct map in a process.
``tests/test_segment_codegen.py`` compares each generated mapper with the
reference on generated maps and events.
"""

from __future__ import annotations

import linecache
import threading
import typing as t

from ._segment_map import Mapper, MapSpec, PathSpec, _merge, _walk, parse_map, reference_mapper

#: Distinct compiled maps kept per process (a batch compiles three or four).
CACHE_SIZE = 64

_pure: set[t.Callable[[t.Any], t.Any]] = set()
_cache: dict[MapSpec, Mapper] = {}
_cache_lock = threading.Lock()
_compiled = 0

F = t.TypeVar("F", bound=t.Callable[[t.Any], t.Any])


def pure_callback(callback: F) -> F:
    """Mark a map callback that never changes the value it is handed, so the
    generated mappers may keep the path values read before calling it."""
    _pure.add(callback)
    return callback


def compile_mapper(tree: t.Any, where: str = "map") -> Mapper:
    """``_segment_map.compile_map(tree, where)`` as generated Python: the
    same results, in the same key order, with the same callback calls in the
    same order. Raises ``MappingError`` as ``compile_map`` does."""
    spec = parse_map(tree, where)
    try:
        hash(spec)
    except TypeError:  # an unhashable callable object: compile, do not cache
        return _generate(spec, where)[0]
    cached = _cache.get(spec)
    if cached is not None:
        return cached
    mapper, source = _generate(spec, where)
    with _cache_lock:
        if len(_cache) >= CACHE_SIZE:
            evicted = _cache.pop(next(iter(_cache)))
            linecache.cache.pop(evicted.__code__.co_filename, None)
        _cache[spec] = mapper
    filename = mapper.__code__.co_filename  # tracebacks show the generated line while it is cached
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return mapper


def _generate(spec: MapSpec, where: str) -> tuple[Mapper, str]:
    """The mapper of ``spec`` and its source."""
    global _compiled
    source = _Source()
    source.line("if type(e) is not dict:")
    source.line("    return fallback(e)")
    source.emit_map(spec, "o0")
    source.line("return o0")
    _compiled += 1
    filename = f"<segment map {where} #{_compiled}>"
    text = "def mapped(e):\n" + "".join(f"    {line}\n" for line in source.lines)
    namespace: dict[str, t.Any] = {**source.names, "fallback": reference_mapper(spec), "merge": _merge, "walk": _walk}
    # Our own source: keys and segments are repr() literals, user values are names in its globals.
    exec(compile(text, filename, "exec"), namespace)
    return t.cast(Mapper, namespace["mapped"]), text


def _reads_anything(spec: MapSpec) -> bool:
    """Whether a map can give anything but ``{}`` (a map of ``''`` skips cannot)."""
    return any(not isinstance(branch, MapSpec) or _reads_anything(branch) for _, branch in spec.entries)


class _Source:
    """The body of ``mapped(e)``, line by line. Keys and path segments go in
    as ``repr`` literals; callbacks and constants as names in its globals."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, t.Any] = {}
        self._count = 0
        #: path prefix -> the variable holding its value, while still valid
        self._read: dict[tuple[str, ...], str] = {(): "e"}

    def line(self, text: str) -> None:
        self.lines.append(text)

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def name(self, value: t.Any) -> str:
        name = self.fresh("c")
        self.names[name] = value
        return name

    def emit_map(self, spec: MapSpec, out: str) -> None:
        """Lines that build ``out`` as ``_segment_map._mapper`` does."""
        self.line(f"{out} = {{}}")
        appended = self.fresh("a")
        if any(key is None for key, _ in spec.entries):
            self.line(f"{appended} = 0")
        for key, branch in spec.entries:
            if isinstance(branch, MapSpec):
                if not _reads_anything(branch):  # always {} and so always left out
                    continue
                inner = self.fresh("o")
                self.emit_map(branch, inner)
                self.line(f"if {inner}: {out}[{key!r}] = {inner}")
            elif branch.constant is not None:
                if key is not None:  # a keyless string merges nothing
                    self.line(f"{out}[{key!r}] = {self.name(branch.constant)}")
            else:
                value = self.emit_path(branch)
                if key is None:
                    self.line(
                        f"if {value} and (type({value}) is dict or type({value}) is list): "
                        f"{appended} = merge({out}, {value}, {appended})"
                    )
                else:
                    # A str (the common value) is always kept; the rest as _segment_map._mapper.
                    self.line(
                        f"if type({value}) is str or {value} is not None and not "
                        f"((type({value}) is dict or type({value}) is list) and not {value}): {out}[{key!r}] = {value}"
                    )

    def emit_path(self, path: PathSpec) -> str:
        """Lines that read ``path`` (``_segment_map._walk``, then the
        callback); returns the variable holding the value."""
        segments = path.segments
        known = len(segments)
        while segments[:known] not in self._read:
            known -= 1
        value = self._read[segments[:known]]
        for depth in range(known, len(segments)):
            segment = segments[depth]
            step = self.fresh("p")
            if depth == 0:  # the event itself, a dict
                self.line(f"{step} = {value}.get({segment!r})")
            elif segment.isdigit() and not segment.isascii():  # int() may refuse it: as _walk does, at run time
                self.line(f"{step} = walk({value}, ({segment!r},))")
            elif segment.isdigit() and (segment == "0" or segment[0] != "0"):
                index = int(segment)
                self.line(
                    f"{step} = {value}.get({segment!r}) if type({value}) is dict else "
                    f"({value}[{index}] if type({value}) is list and len({value}) > {index} else None)"
                )
            else:
                self.line(f"{step} = {value}.get({segment!r}) if type({value}) is dict else None")
            value = step
            self._read[segments[: depth + 1]] = step
        if path.callback is None:
            return value
        result = self.fresh("v")
        self.line(f"{result} = None if {value} is None else {self.name(path.callback)}({value})")
        if path.callback not in _pure:
            self._read = {(): "e"}
        return result
