"""Users, roles, sessions and API tokens; the Host/Origin checks; one authorization check.

`setup_auth(app)` installs it all; `request["principal"]` then names who sent a
request (see `principal.py`), and `policy.RULES` says what each role may do.
See docs/security.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_session import session_middleware

from services.api.auth import routes
from services.api.auth.middleware import auth_middleware, safety_middleware
from services.api.auth.policy import Role
from services.api.auth.principal import PRINCIPAL, Principal, principal_of, who
from services.api.auth.ratelimit import LoginLimits
from services.api.auth.state import AUTH, AuthState, DeferredCookieStorage
from services.api.auth.store import AuthStore
from services.api.database import DATABASE
from services.common.config import Config
from services.common.web import CONFIG
from services.common.websafety import WebSafety

__all__ = ["AUTH", "PRINCIPAL", "Principal", "Role", "principal_of", "setup_auth", "who"]

log = logging.getLogger(__name__)


def auth_middlewares(config: Config) -> tuple[list, DeferredCookieStorage]:
    """The middlewares, outermost first: Host/Origin, session cookie, authorization."""
    storage = DeferredCookieStorage(secure=config.cookie_secure)
    return [safety_middleware, session_middleware(storage), auth_middleware], storage


def setup_auth(app: web.Application, storage: DeferredCookieStorage) -> None:
    """Needs the database (after `setup_database`)."""
    config = app[CONFIG]
    state = AuthState(
        enabled=config.auth,
        legacy_token=config.api_token,
        safety=WebSafety(config.allowed_hosts, config.allowed_origins),
        limits=LoginLimits(time.monotonic),
        storage=storage,
    )
    app[AUTH] = state

    async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
        state.store = AuthStore(app[DATABASE], time.time)
        storage.open(state.store.cookie_key())
        if not state.enabled:
            log.warning(
                "MAELSTROM_AUTH=off: NO AUTHENTICATION. Anyone who can reach port %d can "
                "change setpoints, switch heaters on and change the configuration. "
                "Only for a closed lab network.",
                config.http_port,
            )
        elif config.api_token:
            log.warning(
                "MAELSTROM_API_TOKEN is deprecated: it acts as an admin token. Create "
                "named tokens instead (POST /api/tokens, see docs/security.md)."
            )
        if state.enabled and state.first_run():
            log.warning(
                "No owner yet. Open the web UI to create one: from this machine "
                "http://localhost:%d/ , from another one with the setup code %s",
                config.http_port,
                state.setup_code,
            )
        yield

    app.cleanup_ctx.append(auth_ctx)
    app.add_routes(routes.routes)
