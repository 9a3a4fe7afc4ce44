"""Users, sessions and API tokens in the database; passwords hashed with argon2id.

Nothing secret is stored in a form that lets it be used: passwords as argon2id
hashes, session ids and API tokens (high-entropy random strings) as SHA-256.
The session cookie's encryption key lives in `server_secret`, which no backup and
no response contains.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Callable

import peewee
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.api.auth.policy import Role
from services.api.auth.principal import Principal
from services.api.models import SecretRow, SessionRow, TokenRow, UserRow

TOKEN_PREFIX = "mst_"
SESSION_IDLE_LIMIT = 30 * 24 * 3600.0
"""A session nobody used for this long is over (seconds)."""
LAST_USED_RESOLUTION = 60.0
"""A token's last-used time is written at most this often (a poll every second must not
become a database write every second)."""

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
"""argon2id with OWASP's recommended minimum (19 MiB, 2 passes): ~30 ms on a Raspberry
Pi 4, and memory a Pi can spare for a few logins at once."""
_DUMMY_HASH = _hasher.hash("not a password anyone has")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class AuthStore:
    def __init__(self, db: peewee.Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    # server secrets ---------------------------------------------------------------------
    def cookie_key(self) -> bytes:
        """The 32-byte key of the session cookies, made on first use and kept in the DB
        (so every API process behind one database accepts the same cookies)."""
        row = SecretRow.get_or_none(SecretRow.name == "session_cookie_key")
        if row is None:
            value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            SecretRow.insert(name="session_cookie_key", value=value).on_conflict_ignore().execute()
            row = SecretRow.get(SecretRow.name == "session_cookie_key")
        return base64.urlsafe_b64decode(row.value)

    # users --------------------------------------------------------------------------------
    def has_users(self) -> bool:
        return UserRow.select().exists()

    def users(self) -> list[UserRow]:
        return list(UserRow.select().order_by(UserRow.id))

    def user(self, user_id: int) -> UserRow | None:
        return UserRow.get_or_none(UserRow.id == user_id)

    def user_named(self, name: str) -> UserRow | None:
        return UserRow.get_or_none(UserRow.name == name)

    async def create_user(self, name: str, password: str, role: Role) -> UserRow:
        password_hash = await hash_password(password)
        now = self.clock()
        return UserRow.create(
            name=name, password_hash=password_hash, role=role.name, created_at=now, updated_at=now
        )

    async def set_password(self, user: UserRow, password: str) -> None:
        user.password_hash = await hash_password(password)
        user.updated_at = self.clock()
        with self.db.atomic():
            user.save()
            self.end_sessions(user)

    def update_user(self, user: UserRow, role: Role | None, disabled: bool | None) -> UserRow:
        if role is not None:
            user.role = role.name
        if disabled is not None:
            user.disabled = disabled
        user.updated_at = self.clock()
        with self.db.atomic():
            user.save()
            if disabled:
                self.end_sessions(user)
        return user

    def delete_user(self, user: UserRow) -> None:
        with self.db.atomic():
            self.end_sessions(user)
            user.delete_instance()

    def active_admins(self) -> int:
        return (
            UserRow.select()
            .where((UserRow.role == Role.admin.name) & (UserRow.disabled == False))  # noqa: E712
            .count()
        )

    async def check_password(self, name: str, password: str) -> UserRow | None:
        """The user, if the password is theirs and they are not disabled. Unknown names
        cost a hash too, so timing does not tell which names exist."""
        user = self.user_named(name)
        ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not ok or user.disabled:
            return None
        return user

    # sessions ------------------------------------------------------------------------------
    def start_session(self, user: UserRow) -> tuple[str, str]:
        """A new session for `user`: (the id for the cookie, the CSRF token)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        SessionRow.create(
            id=sha256(session_id), user=user, csrf=csrf, created_at=now, last_seen_at=now
        )
        return session_id, csrf

    def session_principal(self, session_id: str) -> Principal | None:
        row = (
            SessionRow.select(SessionRow, UserRow)
            .join(UserRow)
            .where(SessionRow.id == sha256(session_id))
            .first()
        )
        now = self.clock()
        if row is None or row.user.disabled:
            return None
        if now - row.last_seen_at > SESSION_IDLE_LIMIT:
            row.delete_instance()
            return None
        if now - row.last_seen_at > LAST_USED_RESOLUTION:
            SessionRow.update(last_seen_at=now).where(SessionRow.id == row.id).execute()
        return Principal(
            name=row.user.name,
            role=Role.parse(row.user.role),
            kind="user",
            user_id=row.user.id,
            session_id=row.id,
            csrf=row.csrf,
        )

    def end_session(self, session_hash: str) -> None:
        SessionRow.delete().where(SessionRow.id == session_hash).execute()

    def end_sessions(self, user: UserRow) -> None:
        SessionRow.delete().where(SessionRow.user == user).execute()

    # API tokens ----------------------------------------------------------------------------
    def tokens(self) -> list[TokenRow]:
        return list(TokenRow.select().order_by(TokenRow.created_at))

    def token(self, token_id: str) -> TokenRow | None:
        return TokenRow.get_or_none(TokenRow.id == token_id)

    def create_token(self, name: str, role: Role, created_by: str) -> tuple[TokenRow, str]:
        """A new token: (its row, the secret — shown to the user this once)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = TokenRow.create(
            id=secrets.token_hex(6),
            name=name,
            role=role.name,
            token_hash=sha256(secret),
            created_by=created_by,
            created_at=self.clock(),
        )
        return row, secret

    def revoke_token(self, row: TokenRow) -> None:
        row.delete_instance()

    def token_principal(self, secret: str) -> Principal | None:
        row = TokenRow.get_or_none(TokenRow.token_hash == sha256(secret))
        if row is None:
            return None
        now = self.clock()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            TokenRow.update(last_used_at=now).where(TokenRow.id == row.id).execute()
        return Principal(
            name=f"token:{row.name}", role=Role.parse(row.role), kind="token", token_id=row.id
        )


async def hash_password(password: str) -> str:
    # argon2 takes tens of milliseconds on purpose: not on the event loop.
    return await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(None, verify)
