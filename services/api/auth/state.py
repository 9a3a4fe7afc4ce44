"""The auth part's state on the app: `app[AUTH]`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp_session import AbstractStorage, Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from services.api.auth.ratelimit import LoginLimits
from services.api.auth.store import AuthStore
from services.common.websafety import WebSafety

COOKIE_NAME = "maelstrom_session"
COOKIE_MAX_AGE = 30 * 24 * 3600


class DeferredCookieStorage(AbstractStorage):
    """aiohttp-session's EncryptedCookieStorage, whose key is read from the database
    once it is open (the middleware list is fixed before the app starts)."""

    def __init__(self, secure: bool) -> None:
        self.params = {
            "cookie_name": COOKIE_NAME,
            "max_age": COOKIE_MAX_AGE,
            "httponly": True,
            "samesite": "Strict",
            "secure": secure,
            "path": "/",
        }
        super().__init__(**self.params)  # type: ignore[arg-type]
        self.inner: EncryptedCookieStorage | None = None

    def open(self, key: bytes) -> None:
        self.inner = EncryptedCookieStorage(key, **self.params)  # type: ignore[arg-type]

    async def load_session(self, request: web.Request) -> Session:
        assert self.inner is not None, "the session key is read at start-up"
        return await self.inner.load_session(request)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        assert self.inner is not None, "the session key is read at start-up"
        await self.inner.save_session(request, response, session)


@dataclass
class AuthState:
    enabled: bool
    legacy_token: str | None
    safety: WebSafety
    limits: LoginLimits
    storage: DeferredCookieStorage
    store: AuthStore = field(init=False)
    setup_code: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    """Lets the owner be created from another machine: printed in the API's log."""
    cookie_name: str = COOKIE_NAME
    _has_users: bool = False

    def first_run(self) -> bool:
        """No user exists yet, and no MAELSTROM_API_TOKEN stands in for one."""
        if self._has_users or self.legacy_token:
            return False
        self._has_users = self.store.has_users()
        return not self._has_users

    def owner_created(self) -> None:
        self._has_users = True


AUTH = web.AppKey("auth", AuthState)
