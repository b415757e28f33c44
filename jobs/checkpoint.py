"""A copy of each subscriber's position kept in the object store, so that a
Redis that comes back empty (no persistence, a flush, a new instance) does not
make the export start every subscriber again "from now" and silently skip
what arrived in between (issue 12).

At the end of every run, one JSON object is written (``write``): per
subscriber its start (``since``), its position, its partly delivered objects
and the ledger of objects delivered within its look-back window -- exactly
what the next run reads of its state. At the start of a run (``restore``),
a hooked subscriber that Redis does not know but the checkpoint does is put
back as the checkpoint has it, with its history starting at its look-back
window (the reconciliation pass cannot tell older deliveries from missed
ones), and the run logs it at ``E_USER_WARNING``. Objects delivered after the
checkpoint was written (at most one run's worth) are delivered again:
at-least-once, as after a crash, and the batches are the same, with the same
ids, when the objects are.

Where: ``ANALYTICS_EXPORT_CHECKPOINT`` (a directory or ``s3://bucket/prefix``);
by default beside the raw events, ``.analytics-export/`` in a local source
directory (a hidden directory: sources skip it) or ``_analytics-export/``
under an S3 source's prefix (not a Firehose hour folder: never listed as
events). The object is named after ``ANALYTICS_REDIS_PREFIX``, so deployments
sharing a store keep theirs apart. A checkpoint that cannot be written is
logged and the run goes on; one that cannot be read while a subscriber is
missing from Redis stops the run (it is retried), because starting that
subscriber afresh could skip events.

Production Redis still needs AOF persistence: the checkpoint keeps positions,
not the quarantine, the read failures, the backoff or the users.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
import typing as t
from pathlib import Path

import orjson

from events.sources import s3_client_config

from .plan import lookback_prefix
from .state import hour_score

if t.TYPE_CHECKING:
    import config

    from .state import DeliveryState

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
LOCAL_DIR = ".analytics-export"
S3_DIR = "_analytics-export/"


class CheckpointError(Exception):
    """The checkpoint could not be read or written; the message names where."""


@dataclasses.dataclass(frozen=True)
class Where:
    """A checkpoint object: a local file, or a bucket and key."""

    path: Path | None = None
    bucket: str = ""
    key: str = ""

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"s3://{self.bucket}/{self.key}"


def location(settings: config.Settings, source: config.SourceLocation) -> Where:
    """Where the checkpoint of ``settings``' deployment lives (``ANALYTICS_EXPORT_CHECKPOINT``,
    else beside ``source``, the export's source)."""
    base = settings.export_checkpoint or source
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", settings.redis_prefix).strip("-") + "-subscribers.json"
    custom = settings.export_checkpoint is not None
    if base.kind == "local":
        assert base.path is not None
        return Where(path=base.path / (name if custom else f"{LOCAL_DIR}/{name}"))
    return Where(bucket=base.bucket, key=base.prefix + (name if custom else S3_DIR + name))


def read(where: Where) -> dict[str, dict[str, t.Any]] | None:
    """The subscribers of the checkpoint at ``where``; None when there is none yet.
    Raises CheckpointError when it cannot be read."""
    try:
        raw: bytes | None
        if where.path is not None:
            try:
                raw = where.path.read_bytes()
            except FileNotFoundError:
                raw = None
        else:
            raw = _s3_get(where)
        if raw is None:
            return None
        data = orjson.loads(raw)
        return t.cast("dict[str, dict[str, t.Any]]", data["subscribers"])
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"cannot read the export checkpoint {where.describe()}: {exc}") from exc


def write(where: Where, subscribers: t.Mapping[str, t.Mapping[str, t.Any]], now: float) -> None:
    """Replace the checkpoint at ``where`` (atomically: a temporary file renamed, or one PUT)."""
    body = orjson.dumps(
        {"version": FORMAT_VERSION, "written": now, "subscribers": subscribers}, option=orjson.OPT_SORT_KEYS
    )
    try:
        if where.path is not None:
            where.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=where.path.parent, prefix=".checkpoint-", suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, where.path)
        else:
            _s3_client().put_object(Bucket=where.bucket, Key=where.key, Body=body, ContentType="application/json")
    except Exception as exc:
        raise CheckpointError(f"cannot write the export checkpoint {where.describe()}: {exc}") from exc


def snapshot(state: DeliveryState, names: t.Iterable[str], late_hours: int) -> dict[str, dict[str, t.Any]]:
    """What the checkpoint keeps of each of ``names`` known to Redis."""
    kept: dict[str, dict[str, t.Any]] = {}
    for name in names:
        progress = state.get(name)
        if progress is None:
            continue
        start = lookback_prefix(progress, late_hours)
        kept[name] = {
            "since": progress.since,
            "position": progress.position,
            "lookback": start,
            "delivered": sorted(state.delivered(name, hour_score(start) if start else 0.0)),
            "partials": state.partials(name),
        }
    return kept


def restore(state: DeliveryState, saved: t.Mapping[str, t.Any], name: str, now: float) -> str:
    """Put ``name`` back into Redis as ``saved`` has it; returns its new start."""
    since = str(max(saved["since"], saved.get("lookback") or ""))
    state.restore(name, since, saved["position"], saved.get("delivered", []), saved.get("partials", {}), now)
    return since


def _s3_client() -> t.Any:
    import boto3

    return boto3.client("s3", config=s3_client_config())


def _s3_get(where: Where) -> bytes | None:
    client = _s3_client()
    try:
        response = client.get_object(Bucket=where.bucket, Key=where.key)
    except client.exceptions.NoSuchKey:
        return None
    return t.cast(bytes, response["Body"].read())
