"""The one place a request's author is found and its permission checked.

`safety_middleware` (every path, auth on or off): Host allow-list, Origin check on
changes and on `/ws`. `auth_middleware` (`/api/` and `/ws`): finds the principal —
a Bearer token (an API token, or the deprecated MAELSTROM_API_TOKEN), else the
session cookie, else, before any user exists, "local" for a loopback client — then
applies the route's rule from `policy.RULES`, and for cookie-authenticated changes
requires the session's CSRF token in `X-CSRF-Token`.
"""

from __future__ import annotations

import hmac
from typing import Any

import aiohttp_session
from aiohttp import web

from services.api.auth.policy import AUTHENTICATED, MUTATING, OPEN, Role, describe_rule, required
from services.api.auth.principal import PRINCIPAL, Principal
from services.api.auth.state import AUTH, AuthState
from services.api.errors import Handler
from services.common.web import json_error
from services.common.websafety import host_refused, is_loopback, origin_refused

CSRF_HEADER = "X-CSRF-Token"
BRIDGE_ROLE = "bridge_role"
"""What the browser socket reads to apply a role (see services/bridge/socket.py)."""
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

AUTH_OFF = Principal(name="lab", role=Role.admin, kind="auth-off")
LOCAL = Principal(name="local", role=Role.admin, kind="local")
LEGACY = Principal(name="token:MAELSTROM_API_TOKEN", role=Role.admin, kind="legacy-token")


@web.middleware
async def safety_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    safety = request.app[AUTH].safety
    if not safety.host_ok(request):
        return host_refused(request)
    changes = request.method in MUTATING or request.path == "/ws"
    if changes and not safety.origin_ok(request):
        return origin_refused(request)
    return await handler(request)


SOCKET_PATHS = frozenset({"/ws", "/ws/stats"})


def _guarded(path: str) -> bool:
    return path.startswith("/api/") or path in SOCKET_PATHS


def offered_token(request: web.Request) -> str | None:
    """`Authorization: Bearer …`; or `?token=` on a GET (a download link, a WebSocket)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method == "GET" and request.query.get("token"):
        return request.query["token"]
    return None


def from_loopback(request: web.Request) -> bool:
    """A client on this machine, not a reverse proxy passing someone else's request on."""
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    return is_loopback(request.remote)


async def authenticate(request: web.Request, state: AuthState) -> Principal | str | None:
    """The principal; None for nobody; or a string saying why a token was refused."""
    if not state.enabled:
        return AUTH_OFF
    token = offered_token(request)
    if token is not None:
        legacy = state.legacy_token
        if legacy and hmac.compare_digest(token.encode(), legacy.encode()):
            return LEGACY
        principal = state.store.token_principal(token)
        if principal is None and state.first_run() and from_loopback(request):
            return LOCAL  # before the owner exists no token is valid, and loopback is trusted
        return principal or "the token is not valid (revoked, or never issued)"
    if state.cookie_name in request.cookies:
        session = await aiohttp_session.get_session(request)
        session_id = session.get("sid")
        if isinstance(session_id, str):
            principal = state.store.session_principal(session_id)
            if principal is not None:
                return principal
    if state.first_run() and from_loopback(request):
        return LOCAL
    return None


def unauthorized(state: AuthState, why: str | None = None) -> web.Response:
    detail: dict[str, Any] = {
        "field": "Authorization",
        "message": why
        or (
            "log in, or send 'Authorization: Bearer <token>' (see docs/security.md)"
            if not state.legacy_token
            else "send 'Authorization: Bearer <MAELSTROM_API_TOKEN>' or an API token"
        ),
    }
    if state.first_run():
        detail["setup"] = "no owner yet: open the web UI to create one (docs/security.md)"
    return json_error(401, "unauthorized", detail)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _guarded(request.path):
        return await handler(request)  # the UI's files are not secrets
    state = request.app[AUTH]
    found = await authenticate(request, state)
    principal = found if isinstance(found, Principal) else None
    request[PRINCIPAL] = principal
    if request.path in SOCKET_PATHS:
        if principal is None:
            return unauthorized(state, found if isinstance(found, str) else None)
        request[BRIDGE_ROLE] = principal.role.name
        return await handler(request)
    route = request.match_info.route
    canonical = route.resource.canonical if route.resource else request.path
    rule = required(request.method, canonical)
    if rule != OPEN:
        if isinstance(found, str):
            return unauthorized(state, found)  # a bad token is never taken as anonymous
        if principal is None:
            return unauthorized(state)
        if rule != AUTHENTICATED and principal.role < rule:
            return json_error(
                403,
                "forbidden",
                {
                    "role": principal.role.name,
                    "needs": describe_rule(rule),
                    "message": f"{principal.name} is a {principal.role.name}; "
                    f"{request.method} {canonical} needs {describe_rule(rule)}",
                },
            )
    if principal is not None and principal.by_cookie and request.method in MUTATING:
        offered = request.headers.get(CSRF_HEADER, "")
        if not (principal.csrf and hmac.compare_digest(offered.encode(), principal.csrf.encode())):
            return json_error(
                403,
                "csrf token missing or wrong",
                {
                    "field": CSRF_HEADER,
                    "message": "a change made with the session cookie must carry the "
                    "session's CSRF token (GET /api/auth/status gives it)",
                },
            )
    return await handler(request)
