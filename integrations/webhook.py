"""A signed webhook destination: each export batch is POSTed as NDJSON to every
URL of ``ANALYTICS_WEBHOOK_URL``.

Loaded with ``ANALYTICS_INTEGRATIONS=integrations.webhook``; it registers one
callback on ``altis.analytics.export.data.process`` per URL at import, so each
URL is its own subscriber with its own progress: one that fails is retried
later on its own while the others go on.

A request carries (scheme of Stripe's and Svix's webhooks):

- ``Content-Type: application/x-ndjson``, the batch's lines as the export hands
  them, gzip-compressed (``Content-Encoding: gzip``) unless
  ``ANALYTICS_WEBHOOK_GZIP`` is off;
- ``Idempotency-Key: <batch id>``: the same for every redelivery of the same
  batch, so a receiver that remembers keys stores each batch once;
- ``X-Analytics-Signature: t=<unix seconds>,v1=<hex>``, ``v1`` being the
  HMAC-SHA256 with ``ANALYTICS_WEBHOOK_SECRET`` of ``"<t>."`` followed by the
  NDJSON payload (before gzip, so a proxy that decompresses does not break it).

Outcome (the rules of RFC 9110 and of the Retry-After header, section 10.2.3):
2xx is delivered; 429, 5xx, a time-out or a network error is retried with
exponential backoff (honouring ``Retry-After``, seconds or an HTTP date) up to
``ANALYTICS_WEBHOOK_RETRIES`` times; any other status is logged and the batch
fails at once. A batch that was not delivered raises ``WebhookError``, so the
export keeps it and retries it after its own backoff.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import hmac
import logging
import os
import time
import typing as t
import urllib.parse

import httpx

from config import ConfigError, redacted_url
from hooks import add_action

from . import _env
from ._http import retry_after_seconds

logger = logging.getLogger(__name__)

#: The export's hook (``jobs.export_hooks.DATA_PROCESS``; integrations sit below jobs).
DATA_PROCESS = "altis.analytics.export.data.process"
SIGNATURE_HEADER = "X-Analytics-Signature"
USER_AGENT = "analytics-export-webhook/1"


class WebhookError(RuntimeError):
    """A batch was not delivered to a URL; the message names the URL and why."""


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    """The ``ANALYTICS_WEBHOOK_*`` variables, validated."""

    urls: tuple[str, ...]
    secret: str
    gzip: bool = True
    #: Seconds for connecting, and for each read or write, of one request.
    timeout: float = 30.0
    #: Attempts after the first, for 429, 5xx, time-outs and network errors.
    retries: int = 4
    #: Seconds before the first retry, doubling for each next one...
    retry_delay: float = 1.0
    #: ...up to this; a ``Retry-After`` asking for longer ends the attempts.
    retry_max_delay: float = 30.0

    @classmethod
    def from_env(cls, environ: t.Mapping[str, str] | None = None) -> WebhookSettings:
        """Raises ``ConfigError`` (one line naming the variable) for a malformed value."""
        urls = _urls(_env.text("ANALYTICS_WEBHOOK_URL", "", environ))
        secret = _env.text("ANALYTICS_WEBHOOK_SECRET", "", environ)
        if urls and not secret:
            raise ConfigError(
                "ANALYTICS_WEBHOOK_SECRET is empty: set the shared secret receivers verify X-Analytics-Signature with"
            )
        delay = _env.number("ANALYTICS_WEBHOOK_RETRY_DELAY", 1.0, 0.0, 3600.0, environ)
        return cls(
            urls=urls,
            secret=secret,
            gzip=_env.flag("ANALYTICS_WEBHOOK_GZIP", True, environ),
            timeout=_env.number("ANALYTICS_WEBHOOK_TIMEOUT", 30.0, 0.01, 3600.0, environ),
            retries=_env.whole("ANALYTICS_WEBHOOK_RETRIES", 4, 0, 100, environ),
            retry_delay=delay,
            retry_max_delay=max(delay, _env.number("ANALYTICS_WEBHOOK_RETRY_MAX_DELAY", 30.0, 0.0, 3600.0, environ)),
        )


def _urls(value: str) -> tuple[str, ...]:
    urls = tuple(u for u in value.replace(",", " ").split() if u)
    seen: dict[tuple[str, str], str] = {}
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"ANALYTICS_WEBHOOK_URL entry {redacted_url(url)!r} is not an http:// or https:// URL")
        where = (parts.netloc.rsplit("@", 1)[-1].lower(), parts.path or "/")
        if where in seen:
            raise ConfigError(f"ANALYTICS_WEBHOOK_URL lists {where[0]}{where[1]} twice: each URL is one subscriber")
        seen[where] = url
    return urls


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The ``X-Analytics-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256
    of "<timestamp>." + payload>`` (Stripe's ``Stripe-Signature`` scheme)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class Webhook:
    """One receiving URL. ``deliver`` is what its subscriber calls."""

    def __init__(self, url: str, settings: WebhookSettings, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.settings = settings
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._pid = 0
        parts = urllib.parse.urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1].lower()
        digest = hashlib.sha256(f"{host}{parts.path or '/'}".encode()).hexdigest()[:8]
        #: Stable across processes and restarts: the subscriber's name ends with it.
        self.label = f"{host}.{digest}"
        #: For messages: the URL without password or query (which may hold a token).
        self.shown = urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))

    def client(self) -> httpx.Client:
        """One keep-alive pool per process: an RQ work horse is forked from
        its worker, and sockets must not be shared across the fork."""
        if self._client is None or self._pid != os.getpid():
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.settings.timeout),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
            )
            self._pid = os.getpid()
        return self._client

    def deliver(self, data: str, batch: dict[str, t.Any]) -> None:
        """POST one batch; returns once a 2xx answered.

        Raises ``WebhookError`` when the receiver refused it (a status other
        than 2xx, 429 and 5xx), or when every attempt failed."""
        payload = data.encode("utf-8")
        body = gzip.compress(payload, compresslevel=1, mtime=0) if self.settings.gzip else payload
        headers = {
            "Content-Type": "application/x-ndjson; charset=utf-8",
            "Idempotency-Key": str(batch["id"]),
        }
        if self.settings.gzip:
            headers["Content-Encoding"] = "gzip"
        attempts = self.settings.retries + 1
        problem = ""
        for attempt in range(attempts):
            headers[SIGNATURE_HEADER] = signature(self.settings.secret, int(time.time()), payload)
            wait: float | None = None
            try:
                response = self.client().post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:  # time-outs, refused connections, resets
                problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return
                excerpt = response.text[:200].replace("\n", " ")
                if status != 429 and status < 500:
                    logger.error("webhook %s refused batch %s: HTTP %s %s", self.shown, batch["id"], status, excerpt)
                    raise WebhookError(f"{self.shown} refused the batch: HTTP {status} {excerpt}".rstrip())
                problem = f"HTTP {status} {excerpt}".rstrip()
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt + 1 == attempts:
                break
            backoff = min(self.settings.retry_delay * 2**attempt, self.settings.retry_max_delay)
            if wait is not None and wait > self.settings.retry_max_delay:
                problem += f" (Retry-After {wait:g} s is longer than ANALYTICS_WEBHOOK_RETRY_MAX_DELAY)"
                break
            delay = backoff if wait is None else wait
            logger.warning(
                "webhook %s: attempt %s of %s for batch %s failed (%s); retrying in %g s",
                self.shown,
                attempt + 1,
                attempts,
                batch["id"],
                problem,
                delay,
            )
            self._sleep(delay)
        raise WebhookError(f"{self.shown} did not take the batch after {attempt + 1} attempt(s): {problem}")


def subscriber(webhook: Webhook) -> t.Callable[[str, dict[str, t.Any]], None]:
    """The callback registered for one URL. Its ``__qualname__`` is
    ``post_batch.<host>.<digest of host and path>``, so ``hooks.callback_id``
    names it ``integrations.webhook.post_batch.<host>.<digest>``: stable across
    processes and restarts, and different for each URL (a bound method of each
    ``Webhook`` would give every URL the same name, and so the same progress)."""

    def post_batch(data: str, batch: dict[str, t.Any]) -> None:
        webhook.deliver(data, batch)

    post_batch.__qualname__ = f"post_batch.{webhook.label}"
    return post_batch


SETTINGS = WebhookSettings.from_env()
WEBHOOKS = [Webhook(url, SETTINGS) for url in SETTINGS.urls]

if not WEBHOOKS:
    logger.info("integrations.webhook: ANALYTICS_WEBHOOK_URL is not set; no webhook registered")
for _webhook in WEBHOOKS:
    add_action(DATA_PROCESS, subscriber(_webhook), 10, 2)
