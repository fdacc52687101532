"""Operator accounts: argon2 passwords, a login throttle and sessions kept in Redis."""

from __future__ import annotations

import datetime as dt
import secrets
import string
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.admin.models import ROLES, AdminUser
from portal.keys import PortalKeys
from portal.passwords import Passwords
from portal.redis_clients import AsyncRedisClient
from portal.settings import AdminSettings

USERNAME_CHARS = set(string.ascii_lowercase + string.digits + "._-")
MIN_PASSWORD = 10


class AccountError(ValueError):
    """An account that cannot be created or changed; ``fields`` says why."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


@dataclass(frozen=True)
class Actor:
    """Who is acting in the console: an operator account or an API token."""

    name: str
    role: str
    user_id: int | None = None

    def allows(self, role: str) -> bool:
        """Whether this actor's role is at least ``role`` (viewer < operator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def generate_password() -> str:
    """A random password of 16 URL-safe characters, for accounts made without one."""
    return secrets.token_urlsafe(12)


def clean_username(raw: str) -> str:
    """Return the canonical (lower-case, trimmed) form of a user name."""
    return raw.strip().lower()


def check_new_account(username: str, role: str, password: str) -> None:
    """Raise AccountError naming every bad field of a new account."""
    errors: dict[str, str] = {}
    if not 3 <= len(username) <= 64 or not set(username) <= USERNAME_CHARS:
        errors["username"] = "Nama pengguna 3-64 karakter: huruf kecil, angka, titik, - atau _."
    if role not in ROLES:
        errors["role"] = "Peran tidak dikenal."
    if len(password) < MIN_PASSWORD:
        errors["password"] = "Kata sandi minimal 10 karakter."
    if errors:
        raise AccountError(errors)


def create_user(session: Session, username: str, role: str, password: str,
                passwords: Passwords) -> AdminUser:
    """Add an account (the caller commits); raise AccountError for bad or taken names."""
    username = clean_username(username)
    check_new_account(username, role, password)
    if session.scalar(select(AdminUser.id).where(AdminUser.username == username)):
        raise AccountError({"username": "Nama pengguna sudah dipakai."})
    user = AdminUser(username=username, role=role, password_hash=passwords.hash(password),
                     active=True)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str,
                 passwords: Passwords) -> AdminUser | None:
    """Return the active account whose password matches, else None (constant-ish time)."""
    user = session.scalar(select(AdminUser).where(AdminUser.username == clean_username(username)))
    if user is not None and not user.active:
        user = None
    if not passwords.check(user.password_hash if user is not None else None, password):
        return None
    assert user is not None
    if passwords.outdated(user.password_hash):
        user.password_hash = passwords.hash(password)
    user.last_login_at = dt.datetime.now(dt.UTC)
    return user


def list_users(session: Session) -> list[AdminUser]:
    """Every account, by name."""
    return list(session.scalars(select(AdminUser).order_by(AdminUser.username)))


def count_admins(session: Session) -> int:
    """How many active admin accounts exist (the last one may not be demoted)."""
    query = select(func.count()).select_from(AdminUser).where(
        AdminUser.role == "admin", AdminUser.active.is_(True))
    return int(session.scalar(query) or 0)


# --- login throttle ----------------------------------------------------------


class LoginThrottle:
    """Failed logins counted per account and per address; too many lock both for a while."""

    def __init__(self, client: AsyncRedisClient, keys: PortalKeys, settings: AdminSettings) -> None:
        self.client = client
        self.keys = keys
        self.settings = settings

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return (self.keys.login_failures("account", clean_username(username)),
                self.keys.login_failures("address", address))

    async def attempt(self, username: str, address: str) -> int:
        """Count a login attempt before its password is checked; return the seconds locked.

        Counting first, in one transaction, is what makes the limit hold when many
        attempts arrive at once: of 30 simultaneous tries with a limit of 5, only
        the first 5 counted are let through to the password check. 0 means: check it.
        """
        seconds = self.settings.lock_seconds
        account_key, address_key = self._keys(username, address)
        async with self.client.pipeline(transaction=True) as pipe:
            for key in (account_key, address_key):
                # SET NX EX then INCR: the count keeps the expiry of its first attempt
                # (EXPIRE NX needs Redis 7; the embedded server is older).
                pipe.set(key, 0, ex=seconds, nx=True)
                pipe.incr(key)
                pipe.ttl(key)
            _, account, account_ttl, _, origin, origin_ttl = await pipe.execute()
        wait = 0
        if int(account) > self.settings.account_failures:
            wait = max(wait, int(account_ttl), 1)
        if int(origin) > self.settings.address_failures:
            wait = max(wait, int(origin_ttl), 1)
        return wait

    async def succeeded(self, username: str, address: str) -> None:
        """The password was right: this attempt was no failure, and the account starts afresh.

        The address keeps its other attempts: it may be guessing other accounts.
        """
        account_key, address_key = self._keys(username, address)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(account_key)
            pipe.decr(address_key)
            await pipe.execute()


# --- sessions ----------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

SESSION_COOKIE = "antrean_admin"


class AdminSessions:
    """Console sessions in Redis: an idle timeout that activity extends, and a maximum age."""

    def __init__(self, client: AsyncRedisClient, keys: PortalKeys, settings: AdminSettings) -> None:
        self.client = client
        self.keys = keys
        self.settings = settings

    def _key(self, session_id: str) -> str:
        # Only a hash of the cookie is a key name: a leaked key list opens nothing.
        return self.keys.admin_session(session_id)

    def _user_key(self, user_id: int) -> str:
        return self.keys.admin_sessions_of(user_id)

    async def start(self, user: AdminUser) -> str:
        """Open a session for an account; return the cookie value."""
        session_id = secrets.token_urlsafe(32)
        key = self._key(session_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"user_id": user.id, "name": user.username,
                                    "role": user.role, "started": int(time.time())})
            pipe.expire(key, self.settings.session_idle_seconds)
            pipe.sadd(self._user_key(user.id), key)
            pipe.expire(self._user_key(user.id), self.settings.session_max_seconds)
            await pipe.execute()
        return session_id

    async def actor(self, session_id: str | None) -> Actor | None:
        """The actor of a live session (its idle timeout starts again), else None."""
        if not session_id or len(session_id) > 100:
            return None
        key = self._key(session_id)
        raw = await self.client.hgetall(key)
        if not raw:
            return None
        values = {_text(k): _text(v) for k, v in raw.items()}
        if int(values["started"]) + self.settings.session_max_seconds < time.time():
            await self.client.delete(key)
            return None
        await self.client.expire(key, self.settings.session_idle_seconds)
        return Actor(values["name"], values["role"], int(values["user_id"]))

    async def end(self, session_id: str | None) -> None:
        """Log out: the session is gone at once."""
        if session_id:
            await self.client.delete(self._key(session_id))

    async def end_all(self, user_id: int) -> None:
        """End every session of an account (after its role changed or it was disabled)."""
        keys = await self.client.smembers(self._user_key(user_id))
        if keys:
            await self.client.delete(*keys)
        await self.client.delete(self._user_key(user_id))
