"""The API's errors: one JSON shape, `{"error": "...", "detail": ...}`, a 4xx status
(503/504 when something the API depends on is down or does not answer).

Parts of the API raise `ApiError` subclasses that say what went wrong in the
domain's terms (not found, a conflict, invalid input) and know nothing of HTTP;
`error_middleware` is the one place that maps them to a status (`STATUS`), and it
turns aiohttp's own HTTP errors (unknown route, wrong method, body too large) and
a database that cannot answer (503 with Retry-After, the one policy for every
route) into the same shape for every `/api/` path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import peewee
from aiohttp import web
from pydantic import ValidationError

from services.common.problems import problems
from services.common.web import json_error

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RETRY_AFTER_S = 2
"""What a client should wait before retrying when the database is unavailable."""


class ApiError(Exception):
    error = "bad request"

    def __init__(self, error: str | None = None, detail: Any = None) -> None:
        super().__init__(error or self.error)
        self.error = error or self.error
        self.detail = detail


class BadRequest(ApiError):
    """The request itself is malformed (not JSON, a bad path id or query parameter)."""


class Forbidden(ApiError):
    status = 403
    error = "forbidden"


class NotFound(ApiError):
    error = "not found"


class Conflict(ApiError):
    """A stale version, an id already taken, an object still in use."""

    error = "conflict"


class UnsupportedMediaType(ApiError):
    error = "unsupported media type"


class Invalid(ApiError):
    """Well-formed, but not a valid object (or command)."""

    error = "invalid"


STATUS: dict[type[ApiError], int] = {
    BadRequest: 400,
    NotFound: 404,
    Conflict: 409,
    UnsupportedMediaType: 415,
    Invalid: 422,
}


def status_of(exc: ApiError) -> int:
    """The HTTP status for a domain error: its class's, or the nearest base class's."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
        status = cls.__dict__.get("status")  # an error that names its own (504, ...)
        if isinstance(status, int):
            return status
    return 400


def error_response(exc: ApiError) -> web.Response:
    status = status_of(exc)
    response = json_error(status, exc.error, exc.detail)
    if status == 503:  # something we depend on is down (the broker): worth a retry
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def database_unavailable(request: web.Request, exc: Exception) -> web.Response:
    """The database is locked for longer than busy_timeout, or PostgreSQL is gone:
    the request did nothing and can be retried."""
    log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
    return web.json_response(
        {"error": "database unavailable", "detail": str(exc)},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """pydantic's errors as `[{"field": "points.0.temperature", "message": ...}]`."""
    return problems(exc, prefix=prefix)


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
        return error_response(exc)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        if exc.content_type == "application/json":
            raise  # already in our shape (services.common.web.http_error)
        detail: Any = exc.reason
        headers: dict[str, str] = {}
        if exc.status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", ()))
            detail = {"method": request.method, "allowed": allowed}
            headers["Allow"] = ", ".join(allowed)  # RFC 9110 §15.5.6: a 405 must say
        elif exc.status == 413:
            detail = exc.text  # "Maximum request body size … exceeded, actual body size …"
        response = json_error(exc.status, _REASONS.get(exc.status, exc.reason.lower()), detail)
        response.headers.update(headers)
        return response
    except peewee.PeeweeException as exc:
        # Whatever the driver raised (locked, gone, a connection lost mid-query), the
        # client sees one answer it can act on, never a 500.
        return database_unavailable(request, exc)
