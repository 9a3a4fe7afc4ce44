"""CRUD for one kind of configuration object (devices, profiles, loops).

GET    /api/<kind>              every object
POST   /api/<kind>              create (201; 409 if the id is taken)
GET    /api/<kind>/{id}         one object
PUT    /api/<kind>/{id}         create or replace; `version` must be the one read
PATCH  /api/<kind>/{id}         JSON merge patch (RFC 7396); `version` optional
DELETE /api/<kind>/{id}         `?version=` optional; 409 while a loop uses it
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from services.api.errors import Invalid
from services.api.openapi import KeyInPath, Param, describe
from services.api.store import SINGULAR, STORE
from services.api.validation import path_id, query_int, read_object, validate
from services.common.schema.config import Device, Loop, Profile

Obj = TypeVar("Obj", Device, Profile, Loop)

_COMMAND_OF = {"manual_output": "output", "target_revision": "target"}

MERGE_PATCH_SCHEMA = {
    "type": "object",
    "description": "JSON merge patch (RFC 7396): the fields to change; null resets a field "
    "to its default. Include `version` to refuse a stale change with 409.",
}
VERSION_PARAM = Param(
    "version",
    {"type": "integer", "minimum": 0},
    "Refuse with 409 unless the object is still at this version.",
)


def model_response(
    obj: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=obj.model_dump_json(), status=status, content_type="application/json", headers=headers
    )


def json_body(body: bytes) -> web.Response:
    """A response of JSON that is already serialized (the store's cached bodies)."""
    return web.Response(body=body, content_type="application/json")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def body_with_id(
    data: dict[str, Any], object_id: str, what: str, key: str = "id"
) -> dict[str, Any]:
    if key not in data:
        return {**data, key: object_id}
    if data[key] != object_id:
        raise Invalid(
            f"invalid {what}", [{"field": key, "message": f"must be {object_id!r} as in the path"}]
        )
    return data


def collection_routes(
    kind: str,
    model: type[Obj],
    routes: web.RouteTableDef,
    commands: Sequence[str] = (),
) -> None:
    """Add the CRUD routes for `kind` to `routes`. Fields named in `commands` are changed
    by a command of that name only: a PATCH naming one is refused, a PUT keeps them."""
    what = SINGULAR[kind]
    base = f"/api/{kind}"
    item = f"{base}/{{id}}"

    @routes.get(base)
    @describe(f"List {kind}", responses={200: list[model]})  # type: ignore[valid-type]
    async def list_objects(request: web.Request) -> web.Response:
        return json_body(request.app[STORE].list_body(kind))

    @routes.post(base)
    @describe(f"Create a {what}", body=model, responses={201: model}, errors=(409,))
    async def create_object(request: web.Request) -> web.Response:
        obj = validate(model, await read_object(request, what), what)
        saved = request.app[STORE].create(kind, obj)
        return model_response(saved, 201, {"Location": f"{base}/{saved.id}"})

    @routes.get(item)
    @describe(f"Read a {what}", responses={200: model})
    async def get_object(request: web.Request) -> web.Response:
        return json_body(request.app[STORE].body(kind, path_id(request)))

    @routes.put(item)
    @describe(
        f"Create or replace a {what}",
        description="Send back the `version` you read; a stale one gets 409. "
        "Version 0 (or none) creates. `id` may be left out: the path gives it.",
        body=KeyInPath(model),
        responses={200: model, 201: model},
        errors=(409,),
    )
    async def put_object(request: web.Request) -> web.Response:
        object_id = path_id(request)
        data = body_with_id(await read_object(request, what), object_id, what)
        saved, created = request.app[STORE].put(kind, validate(model, data, what))
        return model_response(saved, 201 if created else 200)

    @routes.patch(item)
    @describe(
        f"Change some fields of a {what}",
        body=MERGE_PATCH_SCHEMA,
        responses={200: model},
        errors=(409,),
    )
    async def patch_object(request: web.Request) -> web.Response:
        object_id = path_id(request)
        patch = body_with_id(await read_object(request, what), object_id, what)
        ruled = [field for field in commands if field in patch]
        if ruled:
            raise Invalid(
                f"invalid {what}",
                [
                    {
                        "field": field,
                        "message": f"is part of the {what}'s target, changed by a command: "
                        f"POST {base}/{object_id}/{_COMMAND_OF.get(field, field)}",
                    }
                    for field in ruled
                ],
            )
        version = patch.pop("version", None)
        if version is not None and (type(version) is not int or version < 0):
            raise Invalid(
                f"invalid {what}", [{"field": "version", "message": "must be an integer ≥ 0"}]
            )

        def change(current: Obj) -> Obj:
            data = merge_patch(json.loads(current.model_dump_json(exclude={"version"})), patch)
            return validate(model, data, what)

        return model_response(request.app[STORE].update(kind, object_id, change, version))

    @routes.delete(item)
    @describe(
        f"Delete a {what}",
        description="Publishes an empty retained payload on its config topic.",
        query=(VERSION_PARAM,),
        responses={204: None},
        errors=(409,),
    )
    async def delete_object(request: web.Request) -> web.Response:
        object_id = path_id(request)
        request.app[STORE].delete(kind, object_id, query_int(request, "version"))
        return web.Response(status=204)
