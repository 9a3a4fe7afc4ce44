"""Who changed what, when: every REST change an authenticated principal made.

`audit_middleware` sits inside the Host/Origin check and outside the
authorization check, so it sees the principal and the final status of every
POST/PUT/PATCH/DELETE under /api/ — refused ones (403, 409, 422) included, for
anyone it could name. Anonymous refusals (401) are not written: a flood of
them would only fill the disk. `GET /api/audit` reads the record (admins).
"""

from __future__ import annotations

import logging

import peewee
from aiohttp import web

from services.api.auth.policy import MUTATING
from services.api.auth.principal import principal_of
from services.api.errors import Handler
from services.api.models import AuditRow
from services.api.openapi import Param, describe
from services.api.validation import query_int

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
SKIP = frozenset({"/api/auth/login", "/api/auth/setup"})
"""Their bodies hold passwords; the login outcome is logged instead (never the body)."""


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method in MUTATING and request.path.startswith("/api/"):
        record(request, response.status)
    return response


def record(request: web.Request, status: int) -> None:
    principal = principal_of(request)
    if principal is None or request.path in SKIP:
        return
    try:
        AuditRow.create(
            who=principal.name,
            method=request.method,
            path=request.path[:500],
            status=status,
            address=request.remote or "",
        )
    except peewee.PeeweeException as exc:  # the change is done; losing its note is not fatal
        log.warning("audit record for %s %s lost: %s", request.method, request.path, exc)


AUDIT_ENTRY = {
    "type": "object",
    "properties": {
        "ts": {"type": "number"},
        "who": {"type": "string"},
        "method": {"type": "string"},
        "path": {"type": "string"},
        "status": {"type": "integer"},
        "address": {"type": "string"},
    },
}


@routes.get("/api/audit")
@describe(
    "Who changed what, newest first",
    query=(Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Default 100."),),
    responses={200: {"type": "array", "items": AUDIT_ENTRY}},
    tag="audit",
)
async def audit(request: web.Request) -> web.Response:
    limit = min(query_int(request, "limit") or 100, 1000)
    rows = AuditRow.select().order_by(AuditRow.id.desc()).limit(limit)
    return web.json_response(
        [
            {
                "ts": r.ts,
                "who": r.who,
                "method": r.method,
                "path": r.path,
                "status": r.status,
                "address": r.address,
            }
            for r in rows
        ]
    )
