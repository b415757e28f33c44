"""What the HTTP destinations (Segment, webhook) share: reading ``Retry-After``."""

from __future__ import annotations

import datetime as dt
import email.utils
import time


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delay-seconds or an
    HTTP-date (RFC 9110 section 10.2.3), measured from ``now`` (epoch
    seconds; default the clock); ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
