"""The `/ws` endpoint and `setup_bridge(app)`, which mounts it on any aiohttp app."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator

from aiohttp import WSMsgType, web

from services.bridge.hub import Hub, reply
from services.bridge.protocol import error_text
from services.bridge.session import BrowserSession
from services.bridge.settings import BridgeSettings
from services.common.web import CONFIG, http_error
from services.common.websafety import WebSafety, host_refused, origin_refused

log = logging.getLogger(__name__)

HUB = web.AppKey("bridge_hub", Hub)
SAFETY = web.AppKey("bridge_safety", WebSafety)
ROLE = "bridge_role"
"""Set by the API's auth middleware when it mounts the bridge: the browser's role
(viewer, brewer, admin). Absent when the bridge runs alone (then its token rules)."""


def check_token(request: web.Request, token: str | None) -> None:
    """With `MAELSTROM_API_TOKEN` set, require it: `?token=` (browsers cannot set headers
    on a WebSocket) or `Authorization: Bearer …`."""
    if not token:
        return
    offered = request.query.get("token", "")
    header = request.headers.get("Authorization", "")
    if not offered and header.lower().startswith("bearer "):
        offered = header[7:].strip()
    if not offered:
        raise http_error(
            web.HTTPUnauthorized,
            "unauthorized",
            "this server requires a token: add ?token=… or an Authorization: Bearer header",
        )
    if not hmac.compare_digest(offered.encode(), token.encode()):
        raise http_error(web.HTTPUnauthorized, "unauthorized", "the token is not valid")


async def websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    settings = hub.settings
    # A page of another site may open a WebSocket to us (no CORS for sockets), with the
    # brewer's cookie: the Origin is the only thing that tells it apart.
    safety = request.app[SAFETY]
    if not safety.host_ok(request):
        return host_refused(request)
    if not safety.origin_ok(request):
        return origin_refused(request)
    role = request.get(ROLE)
    if role is None:
        check_token(request, settings.api_token)
    # No permessage-deflate: compressing the same message once per browser costs more CPU
    # than a LAN saves; and the session writes its frames itself.
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat,
        max_msg_size=settings.max_frame_bytes,
        timeout=5.0,
        compress=False,
    )
    if not ws.can_prepare(request).ok:
        raise http_error(
            web.HTTPBadRequest, "not a WebSocket request", "connect with a WebSocket client"
        )
    await ws.prepare(request)
    session = BrowserSession(ws, request, settings, hub.pace, hub.flusher)
    session.role = role or "admin"
    principal = request.get("principal")  # set by the API's auth middleware
    if principal is not None:
        session.who = principal.name
    hub.attach(session)
    try:
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                try:
                    hub.handle(session, frame.data)
                except Exception:  # a bug must cost one frame, not the socket
                    log.exception("frame from %s failed: %.200s", session.peer, frame.data)
                    session.offer(reply(error_text("internal_error", "the bridge failed on it")))
            elif frame.type == WSMsgType.BINARY:
                hub.stats.invalid_frames += 1
                session.offer(
                    reply(
                        error_text(
                            "invalid_frame", "binary frames are not supported; send JSON text"
                        )
                    )
                )
            elif frame.type == WSMsgType.ERROR:
                log.info("browser %s: %s", session.peer, ws.exception())
    finally:
        hub.detach(session)
        await session.close()
    return ws


async def stats(request: web.Request) -> web.Response:
    """`GET /ws/stats`: browsers, upstream filters, retained cached, drops."""
    hub = request.app[HUB]
    if request.get(ROLE) is None:
        check_token(request, hub.settings.api_token)
    return web.json_response(hub.snapshot())


def setup_bridge(app: web.Application, settings: BridgeSettings | None = None) -> None:
    """Mount `/ws` (and `/ws/stats`) with their own MQTT connection; needs `app[CONFIG]`."""

    async def bridge_ctx(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        hub = Hub(config, settings or BridgeSettings.from_config(config))
        app[SAFETY] = WebSafety(config.allowed_hosts, config.allowed_origins)
        app[HUB] = hub
        await hub.start()
        yield
        await hub.stop()

    async def close_browsers(app: web.Application) -> None:
        # Before graceful shutdown waits for handlers: open sockets would hold it up.
        if HUB in app:
            await app[HUB].close_browsers()

    app.cleanup_ctx.append(bridge_ctx)
    app.on_shutdown.append(close_browsers)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/ws/stats", stats)
