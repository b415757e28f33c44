"""The export's documented hooks: their names, their validated values, and the
log action.

Every filter result is validated here, once, because the documentation's own
examples return the wrong type (``max.files`` returns the string ``"200"``):
a bad value logs a warning through ``altis.analytics.export.log`` and the
default is used, so a typo in an integration never stops the export.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import typing as t

import hooks

if t.TYPE_CHECKING:
    from config import Settings, SourceLocation

logger = logging.getLogger(__name__)

CRON_ENABLED = "altis.analytics.export.cron.enabled"
CRON_FREQUENCY = "altis.analytics.export.cron.frequency"
CRON_SCHEDULES = "cron_schedules"
LOG = "altis.analytics.export.log"
DATA_PROCESS = "altis.analytics.export.data.process"
MAX_FILES = "altis.analytics.export.max.files"
BUCKET_ARN = "altis.analytics.export.bucket.arn"

#: PHP's user error levels, as the original passes them to the log action.
E_USER_ERROR = 256
E_USER_WARNING = 512
E_USER_NOTICE = 1024
_PY_LEVEL = {E_USER_ERROR: logging.ERROR, E_USER_WARNING: logging.WARNING, E_USER_NOTICE: logging.INFO}

DEFAULT_FREQUENCY = "ten_minutes"
DEFAULT_MAX_FILES = 100
#: WordPress's core schedules plus the module's own ``ten_minutes``.
BUILTIN_SCHEDULES: dict[str, dict[str, t.Any]] = {
    "ten_minutes": {"interval": 600, "display": "Every 10 minutes"},
    "hourly": {"interval": 3600, "display": "Once Hourly"},
    "twicedaily": {"interval": 43200, "display": "Twice Daily"},
    "daily": {"interval": 86400, "display": "Once Daily"},
    "weekly": {"interval": 604800, "display": "Once Weekly"},
}
_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def log(message: str, level: int = E_USER_NOTICE) -> None:
    """Send ``message`` to ``altis.analytics.export.log`` and to Python logging.

    A log callback that raises is reported through Python logging only: a
    broken notifier must not stop an export.
    """
    logger.log(_PY_LEVEL.get(level, logging.INFO), "%s", message)
    try:
        hooks.do_action(LOG, message, level)
    except Exception:
        logger.exception("a callback on %s raised", LOG)


def enabled() -> bool:
    """``altis.analytics.export.cron.enabled`` (default True), as a bool."""
    return bool(hooks.apply_filters(CRON_ENABLED, True))


@dataclasses.dataclass(frozen=True)
class Frequency:
    name: str
    interval: int
    display: str


def schedules() -> dict[str, dict[str, t.Any]]:
    """The WordPress schedules, with additions from ``cron_schedules``."""
    result = hooks.apply_filters(CRON_SCHEDULES, {k: dict(v) for k, v in BUILTIN_SCHEDULES.items()})
    if not isinstance(result, dict):
        log(f"The {CRON_SCHEDULES} filter returned a {type(result).__name__}, not a dict; ignored.", E_USER_WARNING)
        return dict(BUILTIN_SCHEDULES)
    return result


def frequency() -> Frequency:
    """The schedule named by ``altis.analytics.export.cron.frequency``; an
    unknown name or a schedule without a positive whole ``interval`` logs a
    warning and gives the default ``ten_minutes``."""
    name = hooks.apply_filters(CRON_FREQUENCY, DEFAULT_FREQUENCY)
    known = schedules()
    entry = known.get(name) if isinstance(name, str) else None
    if entry is None:
        log(
            f"Unknown export frequency {name!r} from {CRON_FREQUENCY}: expected one of "
            f"{', '.join(sorted(map(str, known)))} (add more with the {CRON_SCHEDULES} filter); "
            f"using {DEFAULT_FREQUENCY}.",
            E_USER_WARNING,
        )
        return _default_frequency()
    interval = _positive_int(entry.get("interval") if isinstance(entry, dict) else None)
    if interval is None:
        log(
            f"Schedule {name!r} has no positive whole 'interval' in seconds; using {DEFAULT_FREQUENCY}.",
            E_USER_WARNING,
        )
        return _default_frequency()
    return Frequency(name, interval, str(entry.get("display", name)))


def _default_frequency() -> Frequency:
    entry = BUILTIN_SCHEDULES[DEFAULT_FREQUENCY]
    return Frequency(DEFAULT_FREQUENCY, entry["interval"], entry["display"])


def max_files() -> int:
    """``altis.analytics.export.max.files`` coerced to an int (the documented
    example returns ``"200"``); not a positive whole number -> warning, 100."""
    value = hooks.apply_filters(MAX_FILES, DEFAULT_MAX_FILES)
    number = _positive_int(value)
    if number is None:
        log(
            f"{MAX_FILES} returned {value!r}, not a positive whole number; using {DEFAULT_MAX_FILES}.",
            E_USER_WARNING,
        )
        return DEFAULT_MAX_FILES
    return number


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None
    if isinstance(value, int) and value > 0:
        return value
    return None


def default_bucket_arn(location: SourceLocation) -> str:
    """The ARN the filter starts from: the configured bucket, or "" for a
    local directory source."""
    return f"arn:aws:s3:::{location.bucket}" if location.kind == "s3" else ""


def source_location(settings: Settings) -> SourceLocation:
    """Where to read: the configured source unless ``bucket.arn`` names another
    bucket (``arn:aws:s3:::bucket[/prefix]`` or a bare bucket name). An
    invalid value logs a warning and keeps the configured source."""
    from config import SourceLocation

    default = default_bucket_arn(settings.source)
    value = hooks.apply_filters(BUCKET_ARN, default)
    if value == default or value in (None, ""):
        return settings.source
    if isinstance(value, (list, tuple)) and value:  # the original's [Bucket, Key] shape
        value = value[0]
    match = _ARN.match(value) if isinstance(value, str) else None
    if match:
        bucket, prefix = match.group(1), (match.group(2) or "").strip("/")
    elif isinstance(value, str) and _BUCKET.match(value):
        bucket, prefix = value, ""
    else:
        log(
            f"{BUCKET_ARN} returned {value!r}: expected arn:aws:s3:::bucket or a bucket name; "
            f"using {settings.source.describe()}.",
            E_USER_WARNING,
        )
        return settings.source
    if settings.source.kind == "s3" and bucket == settings.source.bucket and not prefix:
        return settings.source
    return SourceLocation(kind="s3", bucket=bucket, prefix=prefix + "/" if prefix else "")
