"""OpenAPI for the history routes: the API's `describe`, with query parameters taken
from the same pydantic models that validate them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from services.api import openapi

from .schemas import TIME_HELP

F = TypeVar("F", bound=Callable[..., Any])

_AS_TEXT = {"from", "to", "series"}
"""Parameters whose model type is richer than what the query string carries."""


def query_params(model: type[BaseModel]) -> tuple[openapi.Param, ...]:
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
        params.append(openapi.Param(key, schema, description, info.is_required()))
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
    """`services.api.openapi.describe`, query parameters from a model (apply it outermost)."""
    return openapi.describe(
        summary,
        description=description,
        body=body,
        responses=responses,
        errors=errors,
        query=query_params(query) if query is not None else (),
        path=path,
    )
