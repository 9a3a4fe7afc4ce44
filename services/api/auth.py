"""`MAELSTROM_API_TOKEN`: when set, every /api/ request must carry it.

`Authorization: Bearer <token>`, or `?token=<token>` where a header cannot be set
(a download link). `/api/health` stays open for monitoring, and
`/api/ingest/ispindel` checks the iSpindel's own token instead. The browser socket
(`/ws`) checks the same token in the bridge.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.api.errors import Handler
from services.common.web import json_error

OPEN_PATHS = frozenset({"/api/health", "/api/ingest/ispindel"})
"""`/api/ingest/ispindel` checks the device's own token: an iSpindel cannot send a header."""


def supplied_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token", "")


def token_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        guarded = request.path.startswith("/api/") and request.path not in OPEN_PATHS
        if guarded and not hmac.compare_digest(supplied_token(request).encode(), expected):
            return json_error(
                401,
                "unauthorized",
                {
                    "field": "Authorization",
                    "message": "send 'Authorization: Bearer <MAELSTROM_API_TOKEN>'",
                },
            )
        return await handler(request)

    return require_token
