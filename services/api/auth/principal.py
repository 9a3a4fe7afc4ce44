"""Who a request comes from: `request["principal"]`, set by the auth middleware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from services.api.auth.policy import Role

Kind = Literal["user", "token", "legacy-token", "local", "auth-off"]

PRINCIPAL = "principal"
"""The request key: `request[PRINCIPAL]` is a Principal or None (anonymous)."""


@dataclass(frozen=True)
class Principal:
    name: str
    """What the audit and the controller's `changed_by` show: a user's name, a token's
    name ("token:home-assistant"), "local" (first run, loopback) or "lab" (auth off)."""
    role: Role
    kind: Kind
    user_id: int | None = None
    token_id: str | None = None
    session_id: str | None = None
    csrf: str | None = None
    """The session's CSRF token: cookie-authenticated mutations must echo it."""

    @property
    def by_cookie(self) -> bool:
        return self.session_id is not None


def principal_of(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL)


def who(request: web.Request) -> str:
    """The principal's name, or "anonymous"."""
    principal = principal_of(request)
    return principal.name if principal else "anonymous"
