"""Reading requests at the edge: JSON bodies into typed objects, path ids, query flags.

Everything a client can get wrong ends here as an `ApiError` naming the field:
a body that is not JSON, not UTF-8, holds NaN or a number too big for a float,
has the wrong content type, or does not fit the model.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.api.errors import BadRequest, Invalid, UnsupportedMediaType, invalid
from services.common import jsontext
from services.common.problems import problems
from services.common.schema.base import Id

M = TypeVar("M", bound=BaseModel)

_ID = TypeAdapter(Id)
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""The pattern of `services.common.schema.base.Id`, for the OpenAPI document."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is too large")
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, finite numbers only, strings that are valid Unicode."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("malformed JSON", {"field": "body", "message": "not UTF-8"}) from exc
    try:
        value = jsontext.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            "malformed JSON",
            {"field": "body", "message": exc.msg, "line": exc.lineno, "column": exc.colno},
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise BadRequest("malformed JSON", {"field": "body", "message": str(exc)[:200]}) from exc
    try:
        # Lone surrogates ("\ud800") decode fine but cannot be stored or published.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError) as exc:
        raise BadRequest(
            "malformed JSON", {"field": "body", "message": "strings must be valid Unicode"}
        ) from exc
    return value


def is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; 415 for another content type, 400 when malformed or empty."""
    body = await request.read()
    if not is_json(request.content_type):
        raise UnsupportedMediaType(
            detail={
                "field": "Content-Type",
                "message": f"send application/json, not {request.content_type}",
            }
        )
    if not body.strip():
        raise BadRequest("empty body", {"field": "body", "message": "send a JSON document"})
    return parse_json(body)


async def read_object(request: web.Request, what: str) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise Invalid(f"invalid {what}", [{"field": "body", "message": "expected a JSON object"}])
    return data


def validate(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(what, exc) from exc


async def read_model(request: web.Request, model: type[M], what: str) -> M:
    return validate(model, await read_object(request, what), what)


def path_id(request: web.Request, name: str = "id") -> str:
    """A path segment that must be a valid object id (safe in topics and URLs)."""
    value = request.match_info[name]
    try:
        return _ID.validate_python(value)
    except ValidationError as exc:
        raise BadRequest(
            f"bad {name}",
            {"field": name, "message": problems(exc)[0]["message"]},
        ) from exc


FLAG_TRUE = ("1", "true", "yes", "on")
FLAG_FALSE = ("0", "false", "no", "off")
FLAG_SCHEMA: dict[str, Any] = {"type": "string", "enum": [*FLAG_TRUE, *FLAG_FALSE]}
"""A yes/no query parameter, as the OpenAPI document states it: exactly what `query_flag` takes."""


def query_flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return False
    if raw in FLAG_TRUE:
        return True
    if raw in FLAG_FALSE:
        return False
    raise BadRequest(
        f"bad {name}", {"field": name, "message": f"expected 1 or 0, not {raw[:40]!r}"}
    )


SQLITE_MAX_INT = 2**63 - 1
"""The largest integer SQLite stores; a larger one in a query overflows inside the driver."""


def query_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(
            f"bad {name}", {"field": name, "message": f"expected an integer, not {raw[:40]!r}"}
        ) from exc
    if value < 0:
        raise BadRequest(f"bad {name}", {"field": name, "message": "must not be negative"})
    if value > SQLITE_MAX_INT:
        raise BadRequest(f"bad {name}", {"field": name, "message": f"at most {SQLITE_MAX_INT}"})
    return value
