"""A subscriber that does nothing with the data, so the export benchmark
measures the export alone. Loaded through ``ANALYTICS_INTEGRATIONS`` with
``bench/`` on ``PYTHONPATH``; counts what it was handed for the report.

It takes the batch's event count from the descriptor (``accepted_args=2``)
instead of counting the lines itself: ``data.count("\\n")`` scans every
character of each 8 MiB batch (a 2-byte-per-character string: the demo events
hold non-ASCII text), 10,600 instructions per event under callgrind, 10 % of
the whole run and more than everything else the export does beyond the floor
(bench/FINDINGS.md, "the three gaps left"). The harness checks the count
against the floor's own count of the same objects' lines instead.
"""

from __future__ import annotations

import typing as t

from hooks import add_action

#: The documented hook (``jobs.export_hooks.DATA_PROCESS``), spelled here so this
#: module loads even where jobs/ is incomplete.
DATA_PROCESS = "altis.analytics.export.data.process"

calls = 0
events = 0
size = 0


def process_analytics_data(data: str, descriptor: dict[str, t.Any]) -> None:
    """Count the batch's events (from its descriptor) and characters; nothing else."""
    global calls, events, size
    calls += 1
    size += len(data)
    events += descriptor["events"]


add_action(DATA_PROCESS, process_analytics_data, accepted_args=2)
