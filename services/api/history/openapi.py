"""OpenAPI metadata for the history routes, in the shape the API's generator reads.

`services/api/openapi.py` (the Config API's) builds `/api/openapi.json` from a
`__openapi__` attribute on each handler with these fields; describing ours the
same way puts them in the document without this package importing that one.
Query parameters come from the same pydantic models that validate them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from .schemas import TIME_HELP

F = TypeVar("F", bound=Callable[..., Any])

_AS_TEXT = {"from", "to", "series"}
"""Parameters whose model type is richer than what the query string carries."""


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


def query_params(model: type[BaseModel]) -> tuple[Param, ...]:
    """One parameter per field of a query model, named as the query string names it."""
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    params = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key in _AS_TEXT:
            schema: dict[str, Any] = {"type": "string"}
        else:
            schema = {k: v for k, v in properties.get(key, {}).items() if k != "title"}
        description = info.description or (TIME_HELP if key in ("from", "to") else "")
        params.append(Param(key, schema, description, info.is_required()))
    return tuple(params)


def describe(
    summary: str,
    *,
    description: str = "",
    query: type[BaseModel] | None = None,
    body: Any = None,
    responses: Mapping[int, Any] | None = None,
    errors: Iterable[int] = (),
    path: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Attach the OpenAPI operation to a handler (apply it outside any wrapper)."""
    op = Operation(
        summary=summary,
        description=description,
        body=body,
        responses=dict(responses or {200: None}),
        errors=tuple(errors),
        query=query_params(query) if query is not None else (),
        path=dict(path or {}),
    )

    def mark(handler: F) -> F:
        handler.__openapi__ = op  # type: ignore[attr-defined]
        return handler

    return mark
