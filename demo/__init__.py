"""Realistic demo data: AWS Pinpoint web events in Kinesis Firehose layout.

``generate()`` writes what the real pipeline leaves in its bucket, with the
awkward parts that the exporter must handle: objects named after the arrival
hour of their *oldest* record (so a buffer that flushes after the hour ends is
written "late" under an earlier folder), some objects gzipped without a
``.gz`` name, events whose client timestamp falls on the previous UTC day of
their folder (clocks that are behind, phones that upload a backlog after
midnight), and attribute sets that differ between sites and days.

The same arguments and seed give byte-identical files and the same mtimes:
every random choice comes from seeded ``random.Random`` instances, gzip
headers carry ``mtime=0`` and nothing reads the clock. Nothing is written at or
after ``until`` (the CLI passes the time it runs): no event dated or arrived
later, no object written later, so no future hour folder either. A subscriber
starting "now" would otherwise jump to a future folder and leave the current
hour behind its listing window.

Speed matters (a million events must take seconds, not minutes), so lines are
assembled from pre-built byte fragments with one ``%``-format per event
instead of building and serialising a dict per event. The test suite parses
every line with orjson to keep the fragments honest.

- ``_vocabulary``: what events are made of (devices, sites, pages, the line template).
- ``_firehose``: objects written as Firehose writes them.
- ``_generator``: sessions and their events; ``generate``.
- ``cli``: ``flask --app wsgi demo-data``.

It writes events and reads none, so it is no part of ``events`` (which reads
them); it uses only ``events.layout``, the key layout it writes. Importable
without Flask (only ``cli`` imports it).
"""

from __future__ import annotations

from demo._generator import DemoSummary, generate

__all__ = ["DemoSummary", "generate"]
