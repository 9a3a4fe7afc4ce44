"""The API's errors: one JSON shape, `{"error": "...", "detail": ...}`, always 4xx.

Parts of the API raise `ApiError` subclasses (the store, request parsing, loop
commands); `error_middleware` turns them, and aiohttp's own HTTP errors (unknown
route, wrong method, body too large), into that shape for every `/api/` path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import peewee
from aiohttp import web
from pydantic import ValidationError

from services.common.web import json_error

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    status = 400
    error = "bad request"

    def __init__(self, error: str | None = None, detail: Any = None) -> None:
        super().__init__(error or self.error)
        self.error = error or self.error
        self.detail = detail

    def response(self) -> web.Response:
        return json_error(self.status, self.error, self.detail)


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403
    error = "forbidden"


class NotFound(ApiError):
    status = 404
    error = "not found"


class Conflict(ApiError):
    status = 409
    error = "conflict"


class UnsupportedMediaType(ApiError):
    status = 415
    error = "unsupported media type"


class Invalid(ApiError):
    status = 422
    error = "invalid"


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic's errors as `[{"field": "points.0.temperature", "message": ...}]`."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(part) for part in err["loc"])
        field = ".".join(p for p in (prefix, loc) if p) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append({"field": field, "message": message})
    return out


def invalid(what: str, exc: ValidationError, prefix: str = "") -> Invalid:
    return Invalid(f"invalid {what}", field_errors(exc, prefix))


_REASONS = {
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
        if isinstance(response, web.FileResponse) and request.path.startswith("/api/"):
            # The web UI's static route owns "/", so an unknown /api/ path lands there.
            return json_error(404, "not found", {"path": request.path})
        return response
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        if exc.content_type == "application/json":
            raise  # already in our shape (services.common.web.http_error)
        detail: Any = exc.reason
        if exc.status == 405:
            detail = {
                "method": request.method,
                "allowed": sorted(getattr(exc, "allowed_methods", ())),
            }
        elif exc.status == 413:
            detail = exc.text  # "Maximum request body size … exceeded, actual body size …"
        return json_error(exc.status, _REASONS.get(exc.status, exc.reason.lower()), detail)
    except peewee.OperationalError as exc:
        # The database is locked for longer than busy_timeout, or PostgreSQL is gone:
        # the request did nothing and can be retried.
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        return web.json_response(
            {"error": "database unavailable", "detail": str(exc)},
            status=503,
            headers={"Retry-After": "2"},
        )
