"""A subscriber that does nothing with the data, so the export benchmark
measures the export alone. Loaded through ``ANALYTICS_INTEGRATIONS`` with
``bench/`` on ``PYTHONPATH``; counts what it was handed for the report."""

from __future__ import annotations

from hooks import add_action

#: The documented hook (``jobs.export_hooks.DATA_PROCESS``), spelled here so this
#: module loads even where jobs/ is incomplete.
DATA_PROCESS = "altis.analytics.export.data.process"

calls = 0
events = 0
size = 0


def process_analytics_data(data: str) -> None:
    """Count the batch's events (lines) and characters; nothing else."""
    global calls, events, size
    calls += 1
    size += len(data)
    events += data.count("\n") + (1 if data and not data.endswith("\n") else 0)


add_action(DATA_PROCESS, process_analytics_data)
