"""`GET /api/openapi.json`: the OpenAPI 3.1 document of every /api route."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from services.api.openapi import build_spec, describe

routes = web.RouteTableDef()


def _version() -> str:
    try:
        return version("maelstrom")
    except PackageNotFoundError:
        return "0.0.0"


@routes.get("/api/openapi.json")
@describe("This document (OpenAPI 3.1)", responses={200: {"type": "object"}}, tag="meta")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app, _version()))
