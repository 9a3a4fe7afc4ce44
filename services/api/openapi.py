"""The OpenAPI 3.1 document, generated from the routes and the pydantic models.

Each handler says what it does with `@describe(...)`: its request body and
responses as pydantic types (or JSON Schema), its query parameters and the
errors it can return. `build_spec(app)` walks the router, so a route is in the
document exactly when it is registered, and `undocumented(app)` lists any `/api/`
route that forgot to describe itself (a test keeps that list empty).

Usage, in a resource module::

    @routes.get("/api/things/{id}")
    @describe("Read a thing", responses={200: Thing}, errors=(404,))
    async def get_thing(request: web.Request) -> web.Response: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from services.api.auth.policy import OPEN, describe_rule, required
from services.api.validation import ID_PATTERN

F = TypeVar("F", bound=Callable[..., Any])

REF = "#/components/schemas/{model}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error: what went wrong, and details naming the field.",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {}},
}

ERROR_TEXT = {
    400: "Bad request: malformed JSON, a bad path id or query parameter.",
    404: "No such object.",
    401: "Not logged in, or the token is not valid.",
    403: "Your role may not do this, a cookie-authenticated change without its CSRF token, "
    "or a request from another site's page.",
    409: "Conflict: a stale `version`, an id already taken, an object still in use, or a "
    "command the loop's controller refused (its reason in `detail.message`).",
    413: "Request body too large.",
    415: "Unsupported content type (send application/json).",
    422: "The body does not validate; `detail` names each field.",
    503: "The database or broker is unavailable; retry.",
    504: "No controller answered for the loop (none runs it, or it is down).",
}


RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


@dataclass(frozen=True)
class Param:
    name: str
    schema: Mapping[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str = ""
    body: Any = None
    body_content: Mapping[str, Any] | None = None
    body_required: bool = True
    responses: Mapping[int, Any] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    query: tuple[Param, ...] = ()
    path: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tag: str | None = None


def describe(
    summary: str,
    *,
    description: str = "",
    body: Any = None,
    body_content: Mapping[str, Any] | None = None,
    body_required: bool = True,
    responses: Mapping[int, Any] | None = None,
    errors: Iterable[int] = (),
    query: Iterable[Param] = (),
    path: Mapping[str, Mapping[str, Any]] | None = None,
    tag: str | None = None,
) -> Callable[[F], F]:
    """Attach the OpenAPI operation to a handler.

    `body` and `responses` values are pydantic models or types, a JSON Schema dict,
    `None` for no body, or (for responses) `{"content-type": schema}` mappings via
    `body_content`/a dict with a "content" key.
    """
    op = Operation(
        summary=summary,
        description=description,
        body=body,
        body_content=body_content,
        body_required=body_required,
        responses=dict(responses or {200: None}),
        errors=tuple(errors),
        query=tuple(query),
        path=dict(path or {}),
        tag=tag,
    )

    def mark(handler: F) -> F:
        handler.__openapi__ = op  # type: ignore[attr-defined]
        return handler

    return mark


@dataclass(frozen=True)
class KeyInPath:
    """A request body of `model` that may leave out `key`: the path names the object.

    `PUT /api/loops/fv1` with no `id` in the body means `fv1`; the document must
    say so, or a client (or a fuzzer) reading it would think the body invalid.
    """

    model: type[BaseModel]
    key: str = "id"


class _Schemas:
    """Collects component schemas from pydantic types (validation mode throughout)."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def of(self, spec: Any) -> dict[str, Any]:
        if spec is None:
            return {}
        if isinstance(spec, dict):  # JSON Schema, possibly with models inside
            return {k: self._inner(v) for k, v in spec.items()}
        if isinstance(spec, KeyInPath):
            name = spec.model.__name__
            self.of(spec.model)
            schema = dict(self.components[name])
            schema["required"] = [r for r in schema.get("required", []) if r != spec.key]
            self.components[f"{name}InPath"] = schema
            return {"$ref": REF.format(model=f"{name}InPath")}
        schema = TypeAdapter(spec).json_schema(ref_template=REF)
        self.components.update(schema.pop("$defs", {}))
        if isinstance(spec, type) and issubclass(spec, BaseModel):
            self.components[spec.__name__] = schema
            return {"$ref": REF.format(model=spec.__name__)}
        return schema

    def _inner(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._inner(v) for v in value]
        if isinstance(value, dict):
            return {k: self._inner(v) for k, v in value.items()}
        if isinstance(value, type) and issubclass(value, BaseModel):
            return self.of(value)
        return value


def _content(schemas: _Schemas, spec: Any) -> dict[str, Any]:
    if isinstance(spec, dict) and "content" in spec:
        return {ctype: {"schema": schemas.of(s)} for ctype, s in spec["content"].items()}
    return {"application/json": {"schema": schemas.of(spec)}}


def _operation(op: Operation, path: str, method: str, schemas: _Schemas) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(method, path)}
    if op.description:
        out["description"] = op.description
    out["tags"] = [op.tag or path.split("/")[2]]
    # Who may call it (services/api/auth/policy.py): the tests are generated from this.
    rule = required(method, path)
    out["x-maelstrom-role"] = describe_rule(rule)
    if rule != OPEN:
        out["security"] = [{"bearer": []}, {"session": []}]
    params: list[dict[str, Any]] = []
    for name in re.findall(r"{(\w+)}", path):
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(op.path.get(name, {"type": "string", "pattern": ID_PATTERN})),
            }
        )
    for q in op.query:
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": dict(q.schema),
            }
        )
    if params:
        out["parameters"] = params
    has_body = op.body is not None or op.body_content is not None
    if has_body:
        content = (
            {ctype: {"schema": schemas.of(s)} for ctype, s in op.body_content.items()}
            if op.body_content is not None
            else {"application/json": {"schema": schemas.of(op.body)}}
        )
        out["requestBody"] = {"required": op.body_required, "content": content}
    responses: dict[str, Any] = {}
    for status, spec in op.responses.items():
        entry: dict[str, Any] = {"description": _status_text(status)}
        if spec is not None:
            entry["content"] = _content(schemas, spec)
        responses[str(status)] = entry
    errors = {400, 503, *op.errors}
    if rule != OPEN:
        errors |= {401, 403}
    if has_body:
        errors |= {413, 415, 422}
    if "{" in path:
        errors.add(404)
    for status in sorted(errors):
        if str(status) in responses:
            continue
        responses[str(status)] = {
            "description": ERROR_TEXT.get(status, "Error."),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
        if status == 503:
            responses[str(status)]["headers"] = RETRY_AFTER_HEADER
    out["responses"] = responses
    return out


def _status_text(status: int) -> str:
    return {
        200: "OK",
        201: "Created",
        202: "Accepted: sent to the broker",
        204: "Done; no body",
    }.get(status, "OK")


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}") for w in path.removeprefix("/api/").split("/") if w]
    return "_".join([method.lower(), *(re.sub(r"\W", "_", w) for w in words)])


def _api_routes(app: web.Application) -> Iterable[tuple[str, str, Any]]:
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        path = route.resource.canonical if route.resource else ""
        if not path.startswith("/api/"):
            continue
        yield path, route.method, route.handler


def undocumented(app: web.Application) -> list[str]:
    """`METHOD /path` of every /api/ route without `@describe`."""
    return [
        f"{method} {path}"
        for path, method, handler in _api_routes(app)
        if not hasattr(handler, "__openapi__")
    ]


def build_spec(app: web.Application, version: str = "0.1.0") -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler in _api_routes(app):
        op = getattr(handler, "__openapi__", None)
        if op is None:
            continue
        paths.setdefault(path, {})[method.lower()] = _operation(op, path, method, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Maelstrom API",
            "version": version,
            "description": "Configuration (the source of truth), commands, alarms and "
            "publishing for Maelstrom, the brewery temperature controller. "
            'Errors are `{"error", "detail"}` with a 4xx status. See docs/api.md.',
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token."},
                "session": {"type": "apiKey", "in": "cookie", "name": "maelstrom_session"},
            },
        },
    }
