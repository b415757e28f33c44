"""Every setting of the service, read once from environment variables.

One module (over 400 lines) because it is the one place that names, documents and
validates every setting (ARCHITECTURE.md: ``config`` owns every setting).

Each setting has a typed default and a validator whose one-line error names the
variable and the form it expects, so a typo fails at start-up instead of in the
middle of a night's export. S3 endpoint, region and credentials are not here:
boto3 reads its own standard variables (``AWS_ENDPOINT_URL_S3``,
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ...).

``Settings.from_env()`` builds the settings from a mapping (``os.environ`` by
default); ``get_settings()`` caches the process-wide instance and
``reset_settings()`` drops it (tests, or after changing the environment).

The checkout's ``.env`` file (``DOTENV_PATH``) counts as environment: the
``flask`` CLI loads it by itself (python-dotenv, Flask's convention), and
``get_settings()`` loads it the same way for the other entry points (gunicorn
``wsgi:app``, a plain ``rq worker``), so every command of a checkout agrees
with the server ``scripts/run`` started (it writes its choices there).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress
import os
import re
import typing as t
import urllib.parse
from pathlib import Path

if t.TYPE_CHECKING:
    import redis
    import redis.client

_T = t.TypeVar("_T")

#: The checkout's dotenv file: ``KEY=value`` lines, read by python-dotenv.
DOTENV_PATH = Path(__file__).resolve().parent / ".env"

#: The settings this module reads, with their defaults, in README order.
DEFAULTS: dict[str, str] = {
    "ANALYTICS_SOURCE": "./data/events",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ANALYTICS_REDIS_PREFIX": "analytics:",
    "ANALYTICS_INTEGRATIONS": "",
    "ANALYTICS_SITES": "",
    "ANALYTICS_LATE_HOURS": "2",
    "ANALYTICS_SECRET_KEY": "",
    "ANALYTICS_EXPORT_BATCH_BYTES": str(8 * 1024 * 1024),
    "ANALYTICS_EXPORT_RETRY_BASE": "60",
    "ANALYTICS_EXPORT_RETRY_MAX": "3600",
    "ANALYTICS_EXPORT_START": "now",
    "ANALYTICS_RECONCILE_DAYS": "7",
    "ANALYTICS_QUEUE": "",  # derived from ANALYTICS_REDIS_PREFIX: see _queue_name
    "ANALYTICS_EXPORT_LOCK_TTL": "60",
    "ANALYTICS_LOG_LEVEL": "INFO",
    "ANALYTICS_LOGIN_LIMIT": "10",
    "ANALYTICS_LOGIN_WINDOW": "300",
    # Security (issue 12): trusted proxies, plain HTTP for Basic auth, CSV formula neutralising.
    "ANALYTICS_TRUSTED_PROXIES": "",
    "ANALYTICS_ALLOW_HTTP": "0",
    "ANALYTICS_CSV_SAFE": "0",
    # Faults and load (issue 12)
    "ANALYTICS_SEND_TIMEOUT": "60",
    "ANALYTICS_REQUEST_TIMEOUT": "15",
    "ANALYTICS_EXPORT_CHECKPOINT": "",
    # Operations (issue 16): auto-pause, lag alert, /metrics access.
    "ANALYTICS_EXPORT_PAUSE_AFTER": "20",
    "ANALYTICS_ALERT_LAG": "3600",
    "ANALYTICS_METRICS_TOKEN": "",
    "ANALYTICS_HEALTH_CACHE": "5",
}

_MODULE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?$")


class ConfigError(ValueError):
    """A setting has a value of the wrong form; the message is one line."""


@dataclasses.dataclass(frozen=True)
class SourceLocation:
    """Where raw events live: a local directory or an S3 bucket with a prefix."""

    kind: t.Literal["local", "s3"]
    path: Path | None = None
    bucket: str = ""
    prefix: str = ""

    def describe(self) -> str:
        if self.kind == "local":
            return str(self.path)
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The typed, validated settings. Build with ``Settings.from_env``."""

    source: SourceLocation
    redis_url: str
    redis_prefix: str
    integrations: tuple[str, ...]
    #: host (lower case, without port) -> blog id; empty means every host is blog 1.
    sites: dict[str, int]
    late_hours: int
    #: Key for the application-password hashes; empty means derived from nothing
    #: secret (fine for the demo, documented as required in production).
    secret_key: str
    export_batch_bytes: int
    export_retry_base: int
    export_retry_max: int
    #: "now", "beginning", or a date: where a new subscriber starts.
    export_start: str | dt.date
    reconcile_days: int
    queue_name: str
    #: Seconds a killed worker's export lock outlives it (renewed while a run lives).
    export_lock_ttl: int
    #: Level of this service's own log lines on stderr (when nothing else configured logging).
    log_level: str
    #: Failed logins allowed per client IP and per account within ``login_window`` seconds.
    login_limit: int
    login_window: int
    #: Peers whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed (werkzeug's ProxyFix, one hop).
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: Accept HTTP Basic credentials over plain HTTP from any client (default: HTTPS or loopback only).
    allow_http: bool = False
    #: Neutralise spreadsheet formulas in every CSV body (OWASP's CSV injection rule).
    csv_safe: bool = False
    #: Seconds one chunk of a response may take to go out before the server
    #: drops the connection (a client that stopped reading; ``send_timeout``).
    send_timeout: int = 60
    #: Seconds a client may take to send each piece of its request line,
    #: headers and body before the server closes the connection (a client that
    #: sent part of a request and went quiet; ``send_timeout``).
    request_timeout: int = 15
    #: Where the export keeps its checkpoint of subscriber positions (``jobs.checkpoint``);
    #: None: beside the raw events.
    export_checkpoint: SourceLocation | None = None
    # Operations (issue 16).
    #: Consecutive failed deliveries after which a subscriber is paused (0: never).
    export_pause_after: int = 20
    #: Seconds of lag (age of the oldest undelivered object) that raise the ``lag`` alert.
    alert_lag: int = 3600
    #: Bearer token for ``/metrics`` from other hosts; empty: loopback only.
    metrics_token: str = ""
    #: Seconds the health route reuses its last probe of Redis and the event store.
    health_cache: int = 5

    @classmethod
    def from_env(cls, environ: t.Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, DEFAULTS[name]).strip()

        retry_base = _positive_int("ANALYTICS_EXPORT_RETRY_BASE", get("ANALYTICS_EXPORT_RETRY_BASE"))
        retry_max = _positive_int("ANALYTICS_EXPORT_RETRY_MAX", get("ANALYTICS_EXPORT_RETRY_MAX"))
        if retry_max < retry_base:
            raise ConfigError(
                f"ANALYTICS_EXPORT_RETRY_MAX ({retry_max}) must be at least ANALYTICS_EXPORT_RETRY_BASE ({retry_base})"
            )
        return cls(
            source=parse_source(get("ANALYTICS_SOURCE")),
            redis_url=_redis_url(get("REDIS_URL")),
            redis_prefix=_prefix(get("ANALYTICS_REDIS_PREFIX")),
            integrations=_integrations(get("ANALYTICS_INTEGRATIONS")),
            sites=_sites(get("ANALYTICS_SITES")),
            late_hours=int_in("ANALYTICS_LATE_HOURS", get("ANALYTICS_LATE_HOURS"), 0, 48),
            secret_key=get("ANALYTICS_SECRET_KEY"),
            export_batch_bytes=int_in(
                "ANALYTICS_EXPORT_BATCH_BYTES", get("ANALYTICS_EXPORT_BATCH_BYTES"), 1024, 1 << 31
            ),
            export_retry_base=retry_base,
            export_retry_max=retry_max,
            export_start=_export_start(get("ANALYTICS_EXPORT_START")),
            reconcile_days=int_in("ANALYTICS_RECONCILE_DAYS", get("ANALYTICS_RECONCILE_DAYS"), 1, 366),
            queue_name=_queue_name(get("ANALYTICS_QUEUE"), get("ANALYTICS_REDIS_PREFIX")),
            export_lock_ttl=int_in("ANALYTICS_EXPORT_LOCK_TTL", get("ANALYTICS_EXPORT_LOCK_TTL"), 1, 86400),
            log_level=_log_level(get("ANALYTICS_LOG_LEVEL")),
            login_limit=int_in("ANALYTICS_LOGIN_LIMIT", get("ANALYTICS_LOGIN_LIMIT"), 1, 10**6),
            login_window=int_in("ANALYTICS_LOGIN_WINDOW", get("ANALYTICS_LOGIN_WINDOW"), 1, 86400),
            trusted_proxies=_networks("ANALYTICS_TRUSTED_PROXIES", get("ANALYTICS_TRUSTED_PROXIES")),
            allow_http=_flag("ANALYTICS_ALLOW_HTTP", get("ANALYTICS_ALLOW_HTTP")),
            csv_safe=_flag("ANALYTICS_CSV_SAFE", get("ANALYTICS_CSV_SAFE")),
            send_timeout=int_in("ANALYTICS_SEND_TIMEOUT", get("ANALYTICS_SEND_TIMEOUT"), 1, 3600),
            request_timeout=int_in("ANALYTICS_REQUEST_TIMEOUT", get("ANALYTICS_REQUEST_TIMEOUT"), 1, 3600),
            export_checkpoint=_checkpoint(get("ANALYTICS_EXPORT_CHECKPOINT")),
            export_pause_after=int_in("ANALYTICS_EXPORT_PAUSE_AFTER", get("ANALYTICS_EXPORT_PAUSE_AFTER"), 0, 10**6),
            alert_lag=int_in("ANALYTICS_ALERT_LAG", get("ANALYTICS_ALERT_LAG"), 1, 10**8),
            metrics_token=get("ANALYTICS_METRICS_TOKEN"),
            health_cache=int_in("ANALYTICS_HEALTH_CACHE", get("ANALYTICS_HEALTH_CACHE"), 0, 3600),
        )

    def blog_id_for_host(self, host: str) -> int | None:
        """The blog id served at ``host`` (``Host`` header, port ignored).

        With no ``ANALYTICS_SITES`` every host is blog 1; with it, an unknown
        host has no site (``None``).
        """
        if not self.sites:
            return 1
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
        return self.sites.get(name.lower())


def parse_source(value: str) -> SourceLocation:
    """A directory path, a ``file://`` URL, or ``s3://bucket[/prefix]``."""
    if not value:
        raise ConfigError("ANALYTICS_SOURCE is empty: give a directory, file:///path or s3://bucket[/prefix]")
    if value.startswith("s3://"):
        rest = value[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ConfigError(
                f"ANALYTICS_SOURCE has an invalid S3 bucket name {bucket!r}: expected s3://bucket[/prefix]"
            )
        prefix = prefix.strip("/")
        return SourceLocation(kind="s3", bucket=bucket, prefix=prefix + "/" if prefix else "")
    if value.startswith("file://"):
        value = value[len("file://") :]
        if not value.startswith("/"):
            raise ConfigError("ANALYTICS_SOURCE file:// URL must be absolute: file:///path/to/events")
    elif "://" in value:
        raise ConfigError(
            f"ANALYTICS_SOURCE scheme of {value!r} is not supported: expected a directory, file:///path or s3://bucket"
        )
    return SourceLocation(kind="local", path=Path(value).expanduser().resolve())


def _checkpoint(value: str) -> SourceLocation | None:
    """``ANALYTICS_EXPORT_CHECKPOINT``: a directory or ``s3://bucket[/prefix]``; empty: beside the source."""
    if not value:
        return None
    try:
        return parse_source(value)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("ANALYTICS_SOURCE", "ANALYTICS_EXPORT_CHECKPOINT")) from None


def _redis_url(value: str) -> str:
    if not re.match(r"^(redis|rediss|unix)://", value):
        raise ConfigError(f"REDIS_URL {value!r} is not a Redis URL: expected redis://host:port/db")
    return value


def _prefix(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ConfigError("ANALYTICS_REDIS_PREFIX must be a non-empty string without spaces, e.g. analytics:")
    return value


def _integrations(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    for name in names:
        if not _MODULE_PATH.match(name):
            raise ConfigError(
                f"ANALYTICS_INTEGRATIONS entry {name!r} is not a module path: expected e.g. integrations.segment"
            )
    return names


def _sites(value: str) -> dict[str, int]:
    sites: dict[str, int] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        host, sep, blog = pair.partition("=")
        host = host.strip().lower()
        if not sep or not _HOSTNAME.match(host) or not blog.strip().isdigit() or int(blog) < 1:
            raise ConfigError(
                f"ANALYTICS_SITES entry {pair!r} is not host=blog_id: expected e.g. example.com=1,shop.example.com=2"
            )
        sites[host.split(":")[0]] = int(blog)
    return sites


def int_in(name: str, value: str, low: int, high: int) -> int:
    """``value`` as a whole number from ``low`` to ``high``; ConfigError naming
    ``name`` and the range otherwise (the one message of every such setting)."""
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ConfigError(f"{name} is {value!r}: expected a whole number from {low} to {high}")
    return number


def _positive_int(name: str, value: str) -> int:
    return int_in(name, value, 1, 10**9)


def _networks(name: str, value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR blocks (``10.0.0.0/8,::1``), as ``ipaddress`` reads them."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name} entry {item!r} is not an IP address or CIDR block: expected e.g. 10.0.0.0/8,127.0.0.1"
            ) from None
    return tuple(networks)


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} is {value!r}: expected 1 or 0")


def _export_start(value: str) -> str | dt.date:
    if value in ("now", "beginning"):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"ANALYTICS_EXPORT_START is {value!r}: expected now, beginning or a date YYYY-MM-DD"
        ) from None


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"ANALYTICS_LOG_LEVEL is {value!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _queue_name(value: str, prefix: str) -> str:
    """The RQ queue of the periodic jobs. RQ's own keys (``rq:...``) cannot
    carry our prefix, so by default the queue name does: two deployments
    sharing one Redis under different prefixes never run each other's jobs
    (``analytics:`` gives ``analytics-export``)."""
    if not value:
        value = re.sub(r"[^A-Za-z0-9_.-]", "-", prefix) + "export"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
        raise ConfigError(f"ANALYTICS_QUEUE is {value!r}: expected letters, digits, '-', '_', '.' or ':'")
    return value


def redacted_url(url: str) -> str:
    """``url`` without its password, fit for a message or a log line."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def redis_unreachable(url: str, exc: BaseException) -> str:
    """The one-line message every command prints when Redis does not answer."""
    return f"cannot reach Redis at {redacted_url(url)}: {exc} (is it running? check REDIS_URL)"


def redis_full(url: str, exc: BaseException) -> str:
    """The one-line message every command prints when Redis refuses a write
    because it reached ``maxmemory`` (with ``maxmemory-policy noeviction``,
    which the service needs: an evicting policy would drop its state)."""
    return (
        f"Redis at {redacted_url(url)} is full and refuses writes ({exc}): raise its maxmemory or free memory; "
        "nothing delivered was lost, the next run resumes where this one stopped"
    )


def load_dotenv(path: Path = DOTENV_PATH) -> bool:
    """Set the variables of ``path`` that the environment does not set, as the
    ``flask`` CLI does with ``.env`` (``flask.cli.load_dotenv``: the environment
    wins), unless ``FLASK_SKIP_DOTENV`` is true (Flask's switch; the test
    suite sets it). Returns whether the file set anything. A missing file is
    no error; its syntax is python-dotenv's (``KEY=value``, quotes, ``#``)."""
    skip = os.environ.get("FLASK_SKIP_DOTENV", "")
    if skip and skip.lower() not in ("0", "false", "no"):
        return False
    import dotenv

    return dotenv.load_dotenv(path, override=False, encoding="utf-8")


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use from the environment and
    the checkout's ``.env`` (``load_dotenv``)."""
    load_dotenv()
    return Settings.from_env()


def reset_settings() -> None:
    """Forget the cached settings so the next ``get_settings()`` reads again."""
    get_settings.cache_clear()
    redis_connection.cache_clear()


#: Seconds a Redis command may wait for its answer: a frozen Redis (a stopped
#: process, a partitioned host) fails a request in this time (issue 12: <= 5 s).
REDIS_SOCKET_TIMEOUT = 4.0
#: Seconds to open a connection to Redis.
REDIS_CONNECT_TIMEOUT = 2.0
#: Retries of a command whose connection broke (a Redis restart): the pool
#: reconnects and sends it again after 0.5 s, 1 s, 1 s. A time-out is not
#: retried, so a frozen Redis costs one ``REDIS_SOCKET_TIMEOUT``, not four.
REDIS_RECONNECT_RETRIES = 3


@functools.lru_cache(maxsize=4)
def redis_connection(url: str) -> redis.Redis:
    """One shared client (and connection pool) per Redis URL in this process,
    with bounded time-outs (``REDIS_SOCKET_TIMEOUT``) and reconnection after a
    restart (``REDIS_RECONNECT_RETRIES``; redis-py's default also retries
    time-outs three times, which made a frozen Redis cost 20 s). Its replies
    are bytes (``decode_responses`` off: the catalog stores binary blobs);
    ``redis_text`` turns a reply into text."""
    import redis as redis_lib
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    retry = Retry(
        ExponentialBackoff(cap=1.0, base=0.25),
        REDIS_RECONNECT_RETRIES,
        supported_errors=(redis_lib.ConnectionError,),
    )
    return redis_lib.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        health_check_interval=30,
        retry=retry,
    )


def redis_transaction(client: redis.Redis, func: t.Callable[[redis.client.Pipeline], _T], *watched: str) -> _T:
    """redis-py's ``transaction``: WATCH ``watched``, call ``func`` (which reads,
    then calls ``pipe.multi()`` and queues its writes), EXEC, and start over on
    ``WatchError``. Returns what the successful call of ``func`` returned."""
    returned: list[_T] = []

    def attempt(pipe: redis.client.Pipeline) -> None:
        returned[:] = [func(pipe)]

    client.transaction(attempt, *watched)
    return returned[0]


def redis_text(reply: bytes | str) -> str:
    """A Redis reply as text: UTF-8 bytes decoded (a client's replies are typed
    ``bytes | str`` because ``decode_responses`` may be on)."""
    return reply.decode() if isinstance(reply, bytes) else reply
