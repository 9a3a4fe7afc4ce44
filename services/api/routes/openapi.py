"""`GET /api/openapi.json`: the OpenAPI 3.1 document of every /api route.

Built on the first request and kept: the routes cannot change once the app runs,
and building it walks every pydantic model (~150 ms of blocked event loop, which
every browser socket the API carries would feel, on each request).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from services.api.openapi import build_spec, describe

routes = web.RouteTableDef()


class Document:
    """The serialized document, built once per app."""

    def __init__(self) -> None:
        self._body: bytes | None = None

    def body(self, app: web.Application) -> bytes:
        if self._body is None:
            self._body = json.dumps(build_spec(app, _version())).encode()
        return self._body


DOCUMENT = web.AppKey("openapi_document", Document)


def setup_openapi(app: web.Application) -> None:
    app[DOCUMENT] = Document()
    app.add_routes(routes)


def _version() -> str:
    try:
        return version("maelstrom")
    except PackageNotFoundError:
        return "0.0.0"


@routes.get("/api/openapi.json")
@describe("This document (OpenAPI 3.1)", responses={200: {"type": "object"}}, tag="meta")
async def openapi(request: web.Request) -> web.Response:
    body = request.app[DOCUMENT].body(request.app)
    return web.Response(body=body, content_type="application/json")
