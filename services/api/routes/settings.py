"""`/api/settings`: app settings, key → any JSON value, each with a version."""

from __future__ import annotations

from aiohttp import web

from services.api.errors import Conflict
from services.api.openapi import KeyInPath, describe
from services.api.routes.collection import (
    VERSION_PARAM,
    body_with_id,
    json_body,
    model_response,
)
from services.api.store import STORE
from services.api.validation import path_id, query_int, read_object, validate
from services.common.schema.config import Setting

routes = web.RouteTableDef()


@routes.get("/api/settings")
@describe("List app settings", responses={200: list[Setting]})
async def list_settings(request: web.Request) -> web.Response:
    return json_body(request.app[STORE].list_body("settings"))


@routes.post("/api/settings")
@describe("Create an app setting", body=Setting, responses={201: Setting}, errors=(409,))
async def create_setting(request: web.Request) -> web.Response:
    setting = validate(Setting, await read_object(request, "setting"), "setting")
    store = request.app[STORE]
    if any(s.key == setting.key for s in store.settings()):
        raise Conflict(f"setting {setting.key!r} already exists", {"field": "key"})
    saved, _ = store.put_setting(setting)
    return model_response(saved, 201, {"Location": f"/api/settings/{saved.key}"})


@routes.get("/api/settings/{key}")
@describe("Read an app setting", responses={200: Setting})
async def get_setting(request: web.Request) -> web.Response:
    return json_body(request.app[STORE].body("settings", path_id(request, "key")))


@routes.put("/api/settings/{key}")
@describe(
    "Create or replace an app setting",
    description='Body `{"value": <any JSON>, "version": <the version read>}`; '
    "a stale version gets 409, version 0 (or none) creates.",
    body=KeyInPath(Setting, "key"),
    responses={200: Setting, 201: Setting},
    errors=(409,),
)
async def put_setting(request: web.Request) -> web.Response:
    key = path_id(request, "key")
    data = body_with_id(await read_object(request, "setting"), key, "setting", key="key")
    saved, created = request.app[STORE].put_setting(validate(Setting, data, "setting"))
    return model_response(saved, 201 if created else 200)


@routes.delete("/api/settings/{key}")
@describe(
    "Delete an app setting",
    query=(VERSION_PARAM,),
    responses={204: None},
    errors=(409,),
)
async def delete_setting(request: web.Request) -> web.Response:
    request.app[STORE].delete_setting(path_id(request, "key"), query_int(request, "version"))
    return web.Response(status=204)
