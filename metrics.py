"""The service's Prometheus metrics (``prometheus_client``), shared by every
process: gunicorn web workers, RQ workers, the CLI.

Multiprocess mode (prometheus_client's "Multiprocess Mode (E.g. Gunicorn)"):
each process writes its samples to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums them. The variable must be
set before ``prometheus_client`` is first imported in a process, so this
module -- the only one that imports it -- sets it first: the environment's
value, else ``MULTIPROC_DIR_DEFAULT`` (the checkout's ``.run/prometheus``,
which ``scripts/run`` clears at start). Child processes inherit it.

Names follow Prometheus's conventions (``<namespace>_<name>_<unit>``,
counters end in ``_total``, base units: seconds, bytes). Imports nothing of
ours, like ``config``: every layer may count.
"""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

#: Where samples go when ``PROMETHEUS_MULTIPROC_DIR`` is not set.
MULTIPROC_DIR_DEFAULT = Path(__file__).resolve().parent / ".run" / "prometheus"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

os.environ.setdefault(MULTIPROC_ENV, str(MULTIPROC_DIR_DEFAULT))
Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

from prometheus_client import (  # noqa: E402  (the directory must be chosen first)
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

NAMESPACE = "analytics_export"
#: Seconds: from a few ms (a warm small day) to minutes (a cold large day).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# -- downloads (the events route) --------------------------------------------
DOWNLOADS = Counter(
    "downloads", "Event downloads answered, by format and HTTP status.", ["format", "status"], namespace=NAMESPACE
)
DOWNLOAD_EVENTS = Counter("download_events", "Events served by downloads.", ["format"], namespace=NAMESPACE)
DOWNLOAD_BYTES = Counter(
    "download_bytes", "Body bytes served by downloads (as sent: gzip counts compressed).", ["format"],
    namespace=NAMESPACE,
)  # fmt: skip
DOWNLOAD_FIRST_BYTE = Histogram(
    "download_first_byte_seconds", "Time from the request to the first body byte of a download.", ["format"],
    namespace=NAMESPACE, buckets=_LATENCY_BUCKETS,
)  # fmt: skip
DOWNLOAD_DURATION = Histogram(
    "download_duration_seconds", "Time from the request to the last body byte of a download.", ["format"],
    namespace=NAMESPACE, buckets=_LATENCY_BUCKETS,
)  # fmt: skip
FAILED_LOGINS = Counter(
    "failed_logins", "Failed sign-ins (REST Basic auth and the admin page), by error code.", ["code"],
    namespace=NAMESPACE,
)  # fmt: skip
THROTTLED_LOGINS = Counter(
    "throttled_logins", "Sign-ins refused because of too many failures (throttled).", namespace=NAMESPACE
)

# -- the scheduled export ------------------------------------------------------
DELIVERED_EVENTS = Counter(
    "delivered_events", "Events delivered to a subscriber (callback returned).", ["subscriber"], namespace=NAMESPACE
)
DELIVERED_BATCHES = Counter(
    "delivered_batches", "Batches delivered to a subscriber (callback returned).", ["subscriber"], namespace=NAMESPACE
)
DELIVERY_FAILURES = Counter(
    "delivery_failures", "Batches a subscriber's callback failed on.", ["subscriber"], namespace=NAMESPACE
)
CONSECUTIVE_FAILURES = Gauge(
    "consecutive_failures", "A subscriber's failed deliveries in a row (0 after a success).", ["subscriber"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)  # fmt: skip
RETRY_AT = Gauge(
    "retry_at_timestamp_seconds", "When a subscriber in backoff is retried (Unix time; 0: not in backoff).",
    ["subscriber"], namespace=NAMESPACE, multiprocess_mode="mostrecent",
)  # fmt: skip
PAUSED = Gauge(
    "paused", "1 while a subscriber is paused (ANALYTICS_EXPORT_PAUSE_AFTER failures in a row).", ["subscriber"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)  # fmt: skip
LAG = Gauge(
    "lag_seconds", "Age of a subscriber's oldest undelivered object at its last run (0: caught up).", ["subscriber"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)  # fmt: skip
QUARANTINED = Counter("quarantined_objects", "Objects set aside as unreadable.", namespace=NAMESPACE)
RUNS = Counter("runs", "Export runs finished, by mode (run, reconcile, keys).", ["mode"], namespace=NAMESPACE)
RUN_DURATION = Histogram(
    "run_duration_seconds", "Duration of an export run, by mode.", ["mode"], namespace=NAMESPACE,
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
)  # fmt: skip


def exposition() -> tuple[bytes, str]:
    """Every process's samples summed, in Prometheus's text format: (body, content type)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn's ``child_exit`` hook)."""
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


__all__: t.Sequence[str] = (
    "CONSECUTIVE_FAILURES", "DELIVERED_BATCHES", "DELIVERED_EVENTS", "DELIVERY_FAILURES", "DOWNLOADS",
    "DOWNLOAD_BYTES", "DOWNLOAD_DURATION", "DOWNLOAD_EVENTS", "DOWNLOAD_FIRST_BYTE", "FAILED_LOGINS", "LAG",
    "PAUSED", "QUARANTINED", "RETRY_AT", "RUNS", "RUN_DURATION", "THROTTLED_LOGINS", "exposition",
    "mark_process_dead",
)  # fmt: skip
