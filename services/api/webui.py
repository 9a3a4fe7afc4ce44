"""Serves the browser app (`webui/`) at `/`."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEBUI_DIR = Path(__file__).resolve().parents[2] / "webui"


def setup_webui(app: web.Application, root: Path = WEBUI_DIR) -> None:
    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index)
    app.router.add_static("/", root, show_index=False, append_version=False)
