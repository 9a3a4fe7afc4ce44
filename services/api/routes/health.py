"""`GET /api/health`: is the API up, and can it reach the broker and the database?"""

from __future__ import annotations

from aiohttp import web

from services.api.database import DATABASE, check_database
from services.api.errors import RETRY_AFTER_S
from services.api.openapi import describe
from services.common.web import MQTT

routes = web.RouteTableDef()

HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "broker", "database"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "broker": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}, "url": {"type": "string"}},
        },
        "database": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    },
}


@routes.get("/api/health")
@describe(
    "Is the API up, and can it reach the broker and the database?",
    responses={200: HEALTH_SCHEMA, 503: HEALTH_SCHEMA},
    tag="meta",
)
async def health(request: web.Request) -> web.Response:
    broker_ok = request.app[MQTT].connected.is_set()
    database_ok = check_database(request.app[DATABASE])
    ok = broker_ok and database_ok
    return web.json_response(
        {
            "status": "ok" if ok else "degraded",
            "broker": {"ok": broker_ok, "url": request.app[MQTT].config.mqtt.url},
            "database": {"ok": database_ok},
        },
        status=200 if ok else 503,
        headers=None if ok else {"Retry-After": str(RETRY_AFTER_S)},
    )
