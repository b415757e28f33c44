"""Reading a destination's own settings from the environment, validated the way
``config.py`` validates the service's: a malformed value raises
``config.ConfigError`` with one line naming the variable and the form it
expects, so ``ANALYTICS_INTEGRATIONS`` fails at start-up, not mid-export.

Private to ``integrations``: each destination module reads its variables at
import, through these helpers, from ``os.environ``.
"""

from __future__ import annotations

import os
import re
import typing as t

from config import ConfigError, int_in

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
#: An S3 bucket name (the same rule ``config.parse_source`` applies to ``ANALYTICS_SOURCE``).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def text(name: str, default: str = "", environ: t.Mapping[str, str] | None = None) -> str:
    """The variable's value without surrounding whitespace, or ``default``."""
    env = os.environ if environ is None else environ
    return env.get(name, default).strip()


def flag(name: str, default: bool, environ: t.Mapping[str, str] | None = None) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); empty gives ``default``."""
    value = text(name, "", environ).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} is {value!r}: expected 1, true, yes, on, 0, false, no or off")


def number(name: str, default: float, low: float, high: float, environ: t.Mapping[str, str] | None = None) -> float:
    """A decimal number of seconds (or any unit) from ``low`` to ``high``."""
    value = text(name, "", environ)
    if not value:
        return default
    try:
        result = float(value)
    except ValueError:
        result = low - 1
    if not low <= result <= high:  # also refuses nan
        raise ConfigError(f"{name} is {value!r}: expected a number from {low:g} to {high:g}")
    return result


def whole(name: str, default: int, low: int, high: int, environ: t.Mapping[str, str] | None = None) -> int:
    """A whole number from ``low`` to ``high``."""
    value = text(name, "", environ)
    if not value:
        return default
    return int_in(name, value, low, high)


def choice(name: str, default: str, allowed: t.Sequence[str], environ: t.Mapping[str, str] | None = None) -> str:
    """One of ``allowed`` (case-insensitive)."""
    value = text(name, "", environ).lower() or default
    if value not in allowed:
        raise ConfigError(f"{name} is {value!r}: expected one of {', '.join(allowed)}")
    return value


def s3_url(name: str, value: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` as ``(bucket, prefix)``, the prefix empty or ending in ``/``."""
    if not value.startswith("s3://"):
        raise ConfigError(f"{name} is {value!r}: expected s3://bucket[/prefix]")
    bucket, _, prefix = value[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"{name} has an invalid S3 bucket name {bucket!r}: expected s3://bucket[/prefix]")
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""
