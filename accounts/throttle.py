"""Throttling of failed logins: Redis counters per client IP and per account.

Every login scheme uses one ``login_throttle`` (the sign-in page and HTTP
Basic share its counters, so alternating them gains nothing): ask
``retry_after`` before checking a password, call ``record_failure`` when the
check fails and ``record_success`` when it passes; ``first_refusal`` says
whether a refusal is the first of its window (log it once, not per request).

Each counter is a fixed window: the first failure creates the key with a TTL
of ``window`` seconds, later failures only increment it. Once either counter
(the client's IP or the account) reaches ``limit`` failures, every attempt from
that IP, or for that account, is refused until the key expires; the TTL is the
``Retry-After`` (RFC 9110 section 10.2.3). Counting per IP stops one client
guessing many accounts; counting per account stops many clients (a botnet)
guessing one. A success clears the account's counter, never the IP's, so a
client cannot reset its own counter by signing in to an account of its own.

Both a login name and an email name one account: callers pass ``account_id``,
which gives the same id for both when the user exists, so alternating them
does not double the allowance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing as t

if t.TYPE_CHECKING:
    import redis as redis_lib

    from accounts.users import User
    from config import Settings

#: Failures allowed per window before attempts are refused.
DEFAULT_LIMIT = 10
#: Seconds of the window (the counter's TTL).
DEFAULT_WINDOW = 300
#: Failure counter of one client IP or account within one scope.
FAILURES_KEY = "{prefix}throttle:{scope}:{kind}:{name}"
#: Present while a refusal of that IP and account has been reported in the current window.
REPORTED_KEY = "{prefix}throttle:{scope}:reported:{name}"

# INCR, and start the window on the first failure only (a fixed window: later
# failures do not push the end further, so a refused client knows when it ends).
_RECORD = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def account_id(user: User | None, login: str) -> str:
    """The account a login names: the user's id when it names a user (by
    login or by email), else the typed name itself, lower-cased and trimmed."""
    if user is not None:
        return f"user-{user.id}"
    return "name-" + " ".join(login.split()).lower()


@dataclasses.dataclass(frozen=True)
class Throttle:
    """Failed-login counters of one ``scope`` (e.g. ``login``) under ``prefix``."""

    redis: redis_lib.Redis
    prefix: str
    scope: str = "login"
    limit: int = DEFAULT_LIMIT
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window < 1:
            raise ValueError(f"throttle limit and window must be positive, got {self.limit} and {self.window}")

    def _key(self, kind: str, name: str) -> str:
        # Hashed: a typed login may be long or hold characters a key should not.
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        return FAILURES_KEY.format(prefix=self.prefix, scope=self.scope, kind=kind, name=digest)

    def retry_after(self, ip: str | None, account: str) -> int | None:
        """Seconds until an attempt from ``ip`` for ``account`` is allowed again,
        or None when it is allowed now."""
        keys = [self._key("account", account)]
        if ip:
            keys.append(self._key("ip", ip))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        waits = [
            max(int(ttl), 1)
            for count, ttl in zip(replies[0::2], replies[1::2], strict=True)
            if count is not None and int(count) >= self.limit
        ]
        return max(waits) if waits else None

    def record_failure(self, ip: str | None, account: str) -> None:
        """Count one failed attempt against the IP and the account."""
        keys = [self._key("account", account)]
        if ip:
            keys.append(self._key("ip", ip))
        script = self.redis.register_script(_RECORD)
        pipe = self.redis.pipeline(transaction=True)
        for key in keys:
            script(keys=[key], args=[self.window], client=pipe)
        pipe.execute()

    def record_success(self, account: str) -> None:
        """The account signed in: forget its failures (the IP's stay)."""
        self.redis.delete(self._key("account", account))

    def first_refusal(self, ip: str | None, account: str, wait: int) -> bool:
        """Whether this refusal of ``ip`` for ``account`` is the first one of
        its window (then the caller logs it; later ones within ``wait``
        seconds are not, so a flood of guesses cannot flood the log)."""
        digest = hashlib.sha256(f"{ip or ''}\x00{account}".encode()).hexdigest()[:32]
        key = REPORTED_KEY.format(prefix=self.prefix, scope=self.scope, name=digest)
        return bool(self.redis.set(key, b"1", ex=max(wait, 1), nx=True))


def wait_text(seconds: int) -> str:
    """A ``Retry-After`` for people: ``1 minute``, ``5 minutes`` (rounded up)."""
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def login_throttle(redis: redis_lib.Redis, settings: Settings) -> Throttle:
    """The failed-login throttle of a deployment, shared by every login scheme
    (``ANALYTICS_LOGIN_LIMIT`` failures per ``ANALYTICS_LOGIN_WINDOW`` seconds)."""
    return Throttle(redis, settings.redis_prefix, "login", settings.login_limit, settings.login_window)
