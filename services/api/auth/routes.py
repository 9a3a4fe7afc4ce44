"""`/api/auth/…` (setup, login, logout, status, password), `/api/users`, `/api/tokens`."""

from __future__ import annotations

import hmac
import logging
import math
from typing import Literal

import aiohttp_session
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.api.auth.middleware import from_loopback
from services.api.auth.policy import Role
from services.api.auth.principal import Principal, principal_of
from services.api.auth.state import AUTH, AuthState
from services.api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from services.api.models import TokenRow, UserRow
from services.api.openapi import describe
from services.api.validation import SQLITE_MAX_INT, read_object, validate

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

RoleName = Literal["viewer", "brewer", "admin"]
NAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
PASSWORD = Field(min_length=8, max_length=1024, description="At least 8 characters.")
USER_ID = {"id": {"type": "integer", "minimum": 1}}
TOKEN_ID = {"id": {"type": "string", "pattern": "^[0-9a-f]{12}$"}}


class TooManyTries(ApiError):
    status = 429
    error = "too many failed logins"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetupBody(Strict):
    name: str = NAME
    password: str = PASSWORD
    code: str | None = Field(
        None, description="The setup code from the API's log; not needed from this machine."
    )


class LoginBody(Strict):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PasswordBody(Strict):
    current: str = Field(max_length=1024)
    new: str = PASSWORD


class NewUser(Strict):
    name: str = NAME
    password: str = PASSWORD
    role: RoleName


class UserPatch(Strict):
    role: RoleName | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=1024)


class User(BaseModel):
    id: int
    name: str
    role: RoleName
    disabled: bool
    created_at: float
    updated_at: float


class NewToken(Strict):
    name: str = NAME
    role: RoleName


class Token(BaseModel):
    id: str
    name: str
    role: RoleName
    created_by: str
    created_at: float
    last_used_at: float | None


class IssuedToken(Token):
    token: str = Field(description="The secret: shown this once, stored only as a hash.")


class Me(BaseModel):
    name: str
    role: RoleName
    kind: str


class Status(BaseModel):
    auth: Literal["on", "off"]
    setup_required: bool = Field(description="No owner yet: the UI shows the setup page.")
    setup_from_here: bool = Field(description="This client may set up without the code.")
    user: Me | None
    csrf: str | None = Field(description="Send as X-CSRF-Token with every change.")


def _user(row: UserRow) -> dict[str, object]:
    return User(
        id=row.id,
        name=row.name,
        role=row.role,
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    ).model_dump()


def _token(row: TokenRow) -> dict[str, object]:
    return Token(
        id=row.id,
        name=row.name,
        role=row.role,
        created_by=row.created_by,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    ).model_dump()


def _me(principal: Principal | None) -> dict[str, object] | None:
    if principal is None:
        return None
    return {"name": principal.name, "role": principal.role.name, "kind": principal.kind}


def _status(request: web.Request, principal: Principal | None, csrf: str | None) -> web.Response:
    state = request.app[AUTH]
    return web.json_response(
        Status(
            auth="on" if state.enabled else "off",
            setup_required=state.enabled and state.first_run(),
            setup_from_here=from_loopback(request),
            user=_me(principal),  # type: ignore[arg-type]
            csrf=csrf,
        ).model_dump()
    )


async def _log_in(request: web.Request, state: AuthState, user: UserRow) -> str:
    session_id, csrf = state.store.start_session(user)
    session = await aiohttp_session.new_session(request)
    session["sid"] = session_id
    return csrf


@routes.get("/api/auth/status")
@describe(
    "Who am I; is authentication on; is the first-run setup pending?",
    responses={200: Status},
    tag="auth",
)
async def status(request: web.Request) -> web.Response:
    principal = principal_of(request)
    return _status(request, principal, principal.csrf if principal else None)


@routes.post("/api/auth/setup")
@describe(
    "First run: create the owner (an admin), once",
    description="Accepted from this machine, or with the setup code the API printed in "
    "its log. Logs the owner in.",
    body=SetupBody,
    responses={201: Status},
    errors=(403, 409),
    tag="auth",
)
async def setup(request: web.Request) -> web.Response:
    state = request.app[AUTH]
    body = validate(SetupBody, await read_object(request, "setup"), "setup")
    if not state.enabled:
        raise Conflict("authentication is off", "MAELSTROM_AUTH=off: there are no users")
    if not state.first_run():
        raise Conflict("already set up", "an owner exists: log in, or ask an admin")
    if not from_loopback(request) and not (
        body.code and hmac.compare_digest(body.code.encode(), state.setup_code.encode())
    ):
        raise Forbidden(
            "setup code needed",
            {"field": "code", "message": "from another machine, give the code in the API's log"},
        )
    user = await state.store.create_user(body.name, body.password, Role.admin)
    state.owner_created()
    log.warning("owner %r created; the API now requires logging in", user.name)
    csrf = await _log_in(request, state, user)
    principal = Principal(name=user.name, role=Role.admin, kind="user", user_id=user.id)
    response = _status(request, principal, csrf)
    response.set_status(201)
    return response


@routes.post("/api/auth/login")
@describe(
    "Log in: sets the session cookie",
    description="5 failures per name, or 20 per address, within 15 minutes → 429 for a while.",
    body=LoginBody,
    responses={200: Status},
    errors=(401, 429),
    tag="auth",
)
async def login(request: web.Request) -> web.Response:
    state = request.app[AUTH]
    body = validate(LoginBody, await read_object(request, "login"), "login")
    address = request.remote or "?"
    wait = state.limits.retry_after(body.name, address)
    if wait > 0:
        raise TooManyTries(
            "too many failed logins", {"retry_after": math.ceil(wait), "field": "name"}
        )
    user = await state.store.check_password(body.name, body.password)
    if user is None:
        state.limits.failed(body.name, address)
        log.warning("failed login for %r from %s", body.name[:64], address)
        return web.json_response(
            {"error": "unauthorized", "detail": {"message": "wrong name or password"}}, status=401
        )
    state.limits.succeeded(body.name)
    csrf = await _log_in(request, state, user)
    principal = Principal(name=user.name, role=Role.parse(user.role), kind="user", user_id=user.id)
    return _status(request, principal, csrf)


@routes.post("/api/auth/logout")
@describe("Log out: ends the session", responses={204: None}, tag="auth")
async def logout(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal is not None and principal.session_id:
        request.app[AUTH].store.end_session(principal.session_id)
    if request.app[AUTH].cookie_name in request.cookies:
        (await aiohttp_session.get_session(request)).invalidate()
    return web.Response(status=204)


@routes.post("/api/auth/password")
@describe(
    "Change my password (ends my other sessions)",
    body=PasswordBody,
    responses={204: None},
    errors=(401, 403),
    tag="auth",
)
async def change_password(request: web.Request) -> web.Response:
    state = request.app[AUTH]
    body = validate(PasswordBody, await read_object(request, "password"), "password")
    principal = principal_of(request)
    user = state.store.user(principal.user_id) if principal and principal.user_id else None
    if user is None:
        raise BadRequest("not a user", "tokens and local access have no password")
    if await state.store.check_password(user.name, body.current) is None:
        raise Forbidden("wrong password", {"field": "current", "message": "not your password"})
    await state.store.set_password(user, body.new)
    csrf = await _log_in(request, state, user)  # this browser stays logged in
    return web.Response(status=204, headers={"X-CSRF-Token": csrf})


# users ------------------------------------------------------------------------------------
def _user_row(request: web.Request) -> UserRow:
    text = request.match_info["id"]
    known = text.isascii() and text.isdigit() and int(text) <= SQLITE_MAX_INT
    user = request.app[AUTH].store.user(int(text)) if known else None
    if user is None:
        raise NotFound("no such user", {"id": text[:40]})
    return user


@routes.get("/api/users")
@describe("List users", responses={200: list[User]}, tag="users")
async def list_users(request: web.Request) -> web.Response:
    return web.json_response([_user(u) for u in request.app[AUTH].store.users()])


@routes.post("/api/users")
@describe("Create a user", body=NewUser, responses={201: User}, errors=(409,), tag="users")
async def create_user(request: web.Request) -> web.Response:
    store = request.app[AUTH].store
    body = validate(NewUser, await read_object(request, "user"), "user")
    if store.user_named(body.name) is not None:
        raise Conflict("name taken", {"field": "name", "message": f"{body.name!r} exists"})
    user = await store.create_user(body.name, body.password, Role.parse(body.role))
    request.app[AUTH].owner_created()
    return web.json_response(_user(user), status=201)


@routes.get("/api/users/{id}")
@describe("Read a user", responses={200: User}, path=USER_ID, tag="users")
async def get_user(request: web.Request) -> web.Response:
    return web.json_response(_user(_user_row(request)))


@routes.patch("/api/users/{id}")
@describe(
    "Change a user's role, password, or disable them (their sessions end)",
    body=UserPatch,
    responses={200: User},
    errors=(409,),
    path=USER_ID,
    tag="users",
)
async def patch_user(request: web.Request) -> web.Response:
    store = request.app[AUTH].store
    user = _user_row(request)
    body = validate(UserPatch, await read_object(request, "user"), "user")
    demoted = body.role is not None and body.role != "admin"
    if user.role == "admin" and not user.disabled and (demoted or body.disabled):
        _keep_an_admin(request)
    if body.password is not None:
        await store.set_password(user, body.password)
    return web.json_response(_user(store.update_user(user, _role(body.role), body.disabled)))


@routes.delete("/api/users/{id}")
@describe("Delete a user", responses={204: None}, errors=(409,), path=USER_ID, tag="users")
async def delete_user(request: web.Request) -> web.Response:
    user = _user_row(request)
    if user.role == "admin" and not user.disabled:
        _keep_an_admin(request)
    request.app[AUTH].store.delete_user(user)
    return web.Response(status=204)


def _role(name: str | None) -> Role | None:
    return Role.parse(name) if name else None


def _keep_an_admin(request: web.Request) -> None:
    if request.app[AUTH].store.active_admins() <= 1:
        raise Conflict("the last admin", "make another admin first: someone must own the system")


# tokens ------------------------------------------------------------------------------------
def _token_row(request: web.Request) -> TokenRow:
    token = request.app[AUTH].store.token(request.match_info["id"])
    if token is None:
        raise NotFound("no such token", {"id": request.match_info["id"][:40]})
    return token


@routes.get("/api/tokens")
@describe("List API tokens (never their secrets)", responses={200: list[Token]}, tag="tokens")
async def list_tokens(request: web.Request) -> web.Response:
    return web.json_response([_token(t) for t in request.app[AUTH].store.tokens()])


@routes.post("/api/tokens")
@describe(
    "Issue an API token (for Home Assistant, scripts, curl)",
    description="The response holds the secret, once. Use it as `Authorization: Bearer …`.",
    body=NewToken,
    responses={201: IssuedToken},
    tag="tokens",
)
async def create_token(request: web.Request) -> web.Response:
    body = validate(NewToken, await read_object(request, "token"), "token")
    principal = principal_of(request)
    created_by = principal.name if principal else "anonymous"
    row, secret = request.app[AUTH].store.create_token(body.name, Role.parse(body.role), created_by)
    return web.json_response({**_token(row), "token": secret}, status=201)


@routes.get("/api/tokens/{id}")
@describe("Read an API token (not its secret)", responses={200: Token}, path=TOKEN_ID, tag="tokens")
async def get_token(request: web.Request) -> web.Response:
    return web.json_response(_token(_token_row(request)))


@routes.delete("/api/tokens/{id}")
@describe(
    "Revoke an API token (refused at once)", responses={204: None}, path=TOKEN_ID, tag="tokens"
)
async def revoke_token(request: web.Request) -> web.Response:
    request.app[AUTH].store.revoke_token(_token_row(request))
    return web.Response(status=204)
