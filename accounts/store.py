"""``Accounts``: users, their sign-in password and their application passwords, kept in Redis.

One module (over 400 lines) because every operation reads or writes the same
user hash and login/email indexes, often in one WATCH transaction.

Knows nothing of HTTP. Redis connection errors are not caught here: the HTTP
layer answers them with a 503 and the CLI with a one-line message.

Writes that belong together (a user and its indexes, a user and their
passwords) go in one MULTI/EXEC, guarded by WATCH where a check must still
hold when the write lands (a login taken meanwhile, a user deleted meanwhile).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import typing as t
import uuid as uuid_lib

from accounts import app_passwords as pw
from accounts import passwords as signin
from accounts.errors import AccountError, IncorrectPassword, InvalidUsername
from accounts.roles import NO_ROLE
from accounts.users import User, sanitize_user, validate_blog_id, validate_email, validate_login, validate_role
from config import redis_text, redis_transaction

if t.TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: Hash of one user: id, login, email, role, super_admin ("1"/"0"), site_roles (JSON {"blog_id": role}),
#: and ``pass``, the Argon2id hash of the sign-in password (absent until one is set).
USER_KEY = "{prefix}user:{id}"
#: Lower-cased login -> user id.
USER_LOGIN_KEY = "{prefix}user:login:{login}"
#: Lower-cased email -> user id.
USER_EMAIL_KEY = "{prefix}user:email:{email}"
#: Sorted set of user ids (score = id): the order of ``list_users``.
USER_IDS_KEY = "{prefix}user:ids"
#: Counter giving the next user id.
USER_NEXT_ID_KEY = "{prefix}user:next-id"
#: Hash of one user's application passwords: uuid -> JSON (name, hash, created, last_used, last_ip).
APP_PASSWORDS_KEY = "{prefix}apppw:{user_id}"

#: Seconds between two writes of an application password's last_used / last_ip.
#: WordPress writes at most once a day; once a minute keeps "last used" useful
#: while sparing Redis a write on every request of a busy export.
USAGE_WRITE_INTERVAL = 60
#: Longest application password name we accept.
MAX_APP_PASSWORD_NAME = 200

# Record usage only if the password still exists: a revoke racing with a
# request must not bring the revoked password back.
_SET_IF_EXISTS = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


class Accounts:
    """Users, roles and application passwords of one deployment (one Redis prefix).

    ``clock`` returns unix seconds; tests replace it to move time without sleeping.
    """

    def __init__(
        self,
        redis: redis.Redis,
        prefix: str,
        secret_key: str,
        *,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self._key = pw.hash_key(secret_key)
        self._set_if_exists = redis.register_script(_SET_IF_EXISTS)

    # -- keys ---------------------------------------------------------------

    def _user_key(self, user_id: int) -> str:
        return USER_KEY.format(prefix=self.prefix, id=user_id)

    def _login_key(self, login: str) -> str:
        return USER_LOGIN_KEY.format(prefix=self.prefix, login=login.lower())

    def _email_key(self, email: str) -> str:
        return USER_EMAIL_KEY.format(prefix=self.prefix, email=email.lower())

    def _apppw_key(self, user_id: int) -> str:
        return APP_PASSWORDS_KEY.format(prefix=self.prefix, user_id=user_id)

    # -- users --------------------------------------------------------------

    def create_user(
        self,
        login: str,
        email: str,
        role: str = "subscriber",
        *,
        super_admin: bool = False,
        site_roles: t.Mapping[int, str] | None = None,
    ) -> User:
        """A new user; ``AccountError`` if an input is invalid or the login or email is taken.

        A login may not be another user's email and an email may not be
        another user's login: either would make "log in with username or
        email" ambiguous.
        """
        login = validate_login(login)
        email = validate_email(email)
        role = validate_role(role)
        roles = {validate_blog_id(b): validate_role(r) for b, r in (site_roles or {}).items()}
        login_key, email_key = self._login_key(login), self._email_key(email)
        login_as_email, email_as_login = self._email_key(login), self._login_key(email)

        def create(pipe: redis.client.Pipeline) -> int:
            if pipe.exists(login_key):
                raise AccountError(f"the login {login!r} is already taken")
            if pipe.exists(email_key):
                raise AccountError(f"the email {email!r} is already used by another user")
            if pipe.exists(login_as_email):
                raise AccountError(f"the login {login!r} is another user's email")
            if pipe.exists(email_as_login):
                raise AccountError(f"the email {email!r} is another user's login")
            user_id = int(pipe.incr(USER_NEXT_ID_KEY.format(prefix=self.prefix)))
            pipe.multi()
            pipe.hset(
                self._user_key(user_id),
                mapping={
                    "id": user_id,
                    "login": login,
                    "email": email,
                    "role": role,
                    "super_admin": "1" if super_admin else "0",
                    "site_roles": _dump_site_roles(roles),
                },
            )
            pipe.set(login_key, user_id)
            pipe.set(email_key, user_id)
            pipe.zadd(USER_IDS_KEY.format(prefix=self.prefix), {str(user_id): user_id})
            return user_id

        watched = {login_key, email_key, login_as_email, email_as_login}
        user_id = redis_transaction(self.redis, create, *watched)
        log.info("created user %s (id %s, role %s)", login, user_id, role or "none")
        return User(user_id, login, email, role, roles, super_admin)

    def get_user(self, login_or_email: str) -> User | None:
        """The user with this login, or else with this email (both case-insensitive), or None."""
        user_id = self._find_id(login_or_email)
        if user_id is None:
            return None
        return _parse_user(self.redis.hgetall(self._user_key(user_id)))

    def list_users(self) -> list[User]:
        """Every user, by id."""
        ids = t.cast("list[bytes]", self.redis.zrange(USER_IDS_KEY.format(prefix=self.prefix), 0, -1))
        pipe = self.redis.pipeline(transaction=False)
        for raw in ids:
            pipe.hgetall(self._user_key(int(raw)))
        return [user for user in map(_parse_user, pipe.execute()) if user is not None]

    def set_role(self, login: str, role: str, *, blog_id: int | None = None) -> User:
        """Set the default role (``blog_id`` None) or the role on one site.

        ``role`` may be ``none`` (no capabilities there); with a ``blog_id``,
        ``default`` removes the site's override so the default role applies again.
        """
        if blog_id is None:
            name = validate_role(role)

            def change(fields: dict[str, str]) -> None:
                fields["role"] = name

        else:
            blog = validate_blog_id(blog_id)
            remove = role.strip().lower() == "default"
            name = NO_ROLE if remove else validate_role(role)

            def change(fields: dict[str, str]) -> None:
                roles = _load_site_roles(fields.get("site_roles", ""))
                if remove:
                    roles.pop(blog, None)
                else:
                    roles[blog] = name
                fields["site_roles"] = _dump_site_roles(roles)

        user = self._update_user(login, change)
        log.info("set role of %s to %s (blog %s)", user.login, role, blog_id or "default")
        return user

    def set_super_admin(self, login: str, flag: bool) -> User:
        """Grant (or take away) every capability on every site."""

        def change(fields: dict[str, str]) -> None:
            fields["super_admin"] = "1" if flag else "0"

        user = self._update_user(login, change)
        log.info("super admin of %s set to %s", user.login, flag)
        return user

    def delete_user(self, login: str) -> None:
        """Delete the user and all their application passwords; ``AccountError`` if unknown."""
        user = self._require_user(login)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(
            self._user_key(user.id),
            self._login_key(user.login),
            self._email_key(user.email),
            self._apppw_key(user.id),
        )
        pipe.zrem(USER_IDS_KEY.format(prefix=self.prefix), str(user.id))
        pipe.execute()
        log.info("deleted user %s (id %s)", user.login, user.id)

    def _find_id(self, login_or_email: str) -> int | None:
        """As ``wp_authenticate_application_password``: ``get_user_by( 'login' )``
        (which applies ``sanitize_user``), then, for an email, ``get_user_by( 'email' )``
        (which only trims)."""
        login = sanitize_user(login_or_email)
        raw = self.redis.get(self._login_key(login)) if login else None
        email = login_or_email.strip()
        if raw is None and "@" in email:
            raw = self.redis.get(self._email_key(email))
        return None if raw is None else int(raw)

    def _require_user(self, login: str) -> User:
        user = self.get_user(login)
        if user is None:
            raise AccountError(f"no user has the login or email {login.strip()!r}")
        return user

    def _update_user(self, login: str, change: t.Callable[[dict[str, str]], None]) -> User:
        """Read, change and write the user's hash, retried if it changes meanwhile."""
        user_id = self._find_id(login)
        if user_id is None:
            raise AccountError(f"no user has the login or email {login.strip()!r}")
        key = self._user_key(user_id)

        def update(pipe: redis.client.Pipeline) -> User:
            fields = _decode(pipe.hgetall(key))
            if not fields:
                raise AccountError(f"no user has the login or email {login.strip()!r}")
            change(fields)
            pipe.multi()
            pipe.hset(key, mapping={name: value for name, value in fields.items()})
            user = _parse_user(fields)
            assert user is not None
            return user

        return redis_transaction(self.redis, update, key)

    # -- sign-in passwords ---------------------------------------------------

    def set_password(self, login: str, password: str) -> User:
        """Set the user's sign-in password (``wp_set_password``), hashed with
        Argon2id; ``AccountError`` for an unknown user or an unacceptable password
        (``passwords.validate_password``). Sessions signed in with the old one end."""
        hashed = signin.hash_password(signin.validate_password(password))

        def change(fields: dict[str, str]) -> None:
            fields["pass"] = hashed

        user = self._update_user(login, change)
        log.info("set the sign-in password of %s", user.login)
        return user

    def check_password(self, login: str, password: str) -> User:
        """The user signing in with ``login`` (username or email) and their own
        password (``wp_authenticate_username_password``).

        Raises ``InvalidUsername`` for an unknown login and ``IncorrectPassword``
        for a wrong password or a user who has none, with WordPress's sign-in
        messages. An unknown login costs one hash verification too. A hash made
        with older parameters is upgraded on success.
        """
        name = login.strip()
        user_id = self._find_id(name)
        raw = self.redis.hgetall(self._user_key(user_id)) if user_id is not None else {}
        fields = _decode(raw)
        stored = fields.get("pass") or None
        matched = signin.verify_password(stored, password)
        user = _parse_user(fields)
        if user is None:
            if "@" in name:
                raise InvalidUsername("Unknown email address. Check again or try your username.")
            raise InvalidUsername(
                f"The username {name} is not registered on this site. "
                "If you are unsure of your username, try your email address instead."
            )
        if not matched:
            log.info("sign-in failed: incorrect password for %s", user.login)
            raise IncorrectPassword(f"The password you entered for the username {user.login} is incorrect.")
        if stored is not None and signin.needs_rehash(stored):
            self.redis.hset(self._user_key(user.id), "pass", signin.hash_password(password))
        return user

    def password_fingerprint(self, user_id: int) -> str | None:
        """A short digest of the user's current sign-in password hash, or None
        if the user or the password is gone: a session keeps it and ends when
        it changes (WordPress puts ``substr( $user->user_pass, 8, 4 )`` in its
        auth cookie for the same reason)."""
        stored = self.redis.hget(self._user_key(user_id), "pass")
        if not stored:
            return None
        return hashlib.sha256(stored if isinstance(stored, bytes) else stored.encode()).hexdigest()[:16]

    def get_user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        return _parse_user(self.redis.hgetall(self._user_key(user_id)))

    # -- application passwords ---------------------------------------------

    def create_app_password(self, login: str, name: str) -> tuple[str, pw.AppPassword]:
        """A new application password for the user: the plain password (shown once,
        "abcd efgh ijkl mnop qrst uvwx") and its details. Names are unique per user,
        as in WordPress."""
        name = " ".join(name.split())
        if not name:
            raise AccountError("the application password needs a name, e.g. the tool that will use it")
        if len(name) > MAX_APP_PASSWORD_NAME:
            raise AccountError(f"the application password name is longer than {MAX_APP_PASSWORD_NAME} characters")
        user = self._require_user(login)
        password = pw.generate_password()
        item = pw.AppPassword(str(uuid_lib.uuid4()), name, int(self.clock()), None, None)
        # "seq" orders passwords created within the same second, in creation order.
        record = {**_item_to_record(item), "seq": time.time_ns(), "hash": pw.hash_password(self._key, password)}
        user_key, apppw_key = self._user_key(user.id), self._apppw_key(user.id)

        def create(pipe: redis.client.Pipeline) -> None:
            if not pipe.exists(user_key):
                raise AccountError(f"no user has the login or email {login.strip()!r}")
            if any(json.loads(raw)["name"] == name for raw in pipe.hvals(apppw_key)):
                raise AccountError(f"{user.login} already has an application password named {name!r}")
            pipe.multi()
            pipe.hset(apppw_key, item.uuid, json.dumps(record))

        self.redis.transaction(create, user_key, apppw_key)
        log.info("created application password %r (%s) for %s", name, item.uuid, user.login)
        return pw.chunk_password(password), item

    def list_app_passwords(self, login: str) -> list[pw.AppPassword]:
        """The user's application passwords, oldest first."""
        user = self._require_user(login)
        records = sorted((json.loads(raw) for raw in self.redis.hvals(self._apppw_key(user.id))), key=_creation_order)
        return [_record_to_item(record) for record in records]

    def revoke_app_password(self, login: str, uuid: str) -> bool:
        """Revoke one password by uuid; False if the user has no such password."""
        user = self._require_user(login)
        removed = bool(self.redis.hdel(self._apppw_key(user.id), uuid.strip().lower()))
        if removed:
            log.info("revoked application password %s of %s", uuid, user.login)
        return removed

    def revoke_all_app_passwords(self, login: str) -> int:
        """Revoke all the user's passwords; returns how many there were."""
        user = self._require_user(login)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hlen(self._apppw_key(user.id))
        pipe.delete(self._apppw_key(user.id))
        count = int(pipe.execute()[0])
        log.info("revoked all %s application passwords of %s", count, user.login)
        return count

    def authenticate(self, login: str, password: str, ip: str | None = None) -> User:
        """The user whose application password this is (``wp_authenticate_application_password``).

        ``login`` is the username or the email. Characters outside
        ``[A-Za-z0-9]`` in ``password`` are ignored. Raises ``InvalidUsername``
        for an unknown login and ``IncorrectPassword`` for a wrong or revoked
        one. Records ``last_used``/``last_ip`` at most once a minute.
        """
        user_id = self._find_id(login)
        if user_id is None:
            log.info("application password login failed: unknown user %r", login)
            raise InvalidUsername()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self._user_key(user_id))
        pipe.hvals(self._apppw_key(user_id))
        raw_user, records = pipe.execute()
        user = _parse_user(raw_user)
        if user is None:
            raise InvalidUsername()
        digest = pw.hash_password(self._key, password)
        match: dict[str, t.Any] | None = None
        for raw in records:  # every record compared, in constant time each
            record = json.loads(raw)
            if hmac.compare_digest(record["hash"], digest):
                match = record
        if match is None:
            log.info("application password login failed: incorrect password for %s", user.login)
            raise IncorrectPassword()
        self._record_usage(user.id, match, ip)
        return user

    def _record_usage(self, user_id: int, record: dict[str, t.Any], ip: str | None) -> None:
        now = int(self.clock())
        last = record.get("last_used")
        if last is not None and now - int(last) < USAGE_WRITE_INTERVAL:
            return
        updated = {**record, "last_used": now, "last_ip": ip}
        self._set_if_exists(keys=[self._apppw_key(user_id)], args=[record["uuid"], json.dumps(updated)])


def _decode(raw: t.Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {redis_text(k): redis_text(v) for k, v in raw.items()}


def _parse_user(raw: t.Mapping[t.Any, t.Any]) -> User | None:
    fields = _decode(raw)
    if not fields:
        return None
    return User(
        id=int(fields["id"]),
        login=fields["login"],
        email=fields["email"],
        role=fields.get("role", NO_ROLE),
        site_roles=_load_site_roles(fields.get("site_roles", "")),
        super_admin=fields.get("super_admin") == "1",
    )


def _load_site_roles(text: str) -> dict[int, str]:
    return {int(blog): role for blog, role in json.loads(text).items()} if text else {}


def _dump_site_roles(roles: t.Mapping[int, str]) -> str:
    return json.dumps({str(blog): roles[blog] for blog in sorted(roles)})


def _item_to_record(item: pw.AppPassword) -> dict[str, t.Any]:
    return {
        "uuid": item.uuid,
        "name": item.name,
        "created": item.created,
        "last_used": item.last_used,
        "last_ip": item.last_ip,
    }


def _creation_order(record: t.Mapping[str, t.Any]) -> tuple[int, int]:
    return int(record["created"]), int(record.get("seq", 0))


def _record_to_item(record: t.Mapping[str, t.Any]) -> pw.AppPassword:
    return pw.AppPassword(
        uuid=record["uuid"],
        name=record["name"],
        created=int(record["created"]),
        last_used=None if record.get("last_used") is None else int(record["last_used"]),
        last_ip=record.get("last_ip"),
    )
