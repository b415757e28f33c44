"""gunicorn settings of this checkout (gunicorn reads ``./gunicorn.conf.py`` by
itself; command-line options still win).

``child_exit``: a web worker that exits leaves its Prometheus sample files in
``PROMETHEUS_MULTIPROC_DIR``; prometheus_client's ``mark_process_dead`` drops
its live gauges so ``/metrics`` stops summing them (its counters stay counted).
"""

from __future__ import annotations

import typing as t


def child_exit(server: t.Any, worker: t.Any) -> None:
    import metrics

    metrics.mark_process_dead(worker.pid)
