"""Serves the browser app (`webui/`) at `/`, its npm packages under `/node_modules/`."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from services.common.web import CONFIG

WEBUI_DIR = Path(__file__).resolve().parents[2] / "webui"
PREFIX_META = '<meta name="maelstrom-prefix" content="maelstrom">'


def setup_webui(app: web.Application, root: Path = WEBUI_DIR) -> None:
    async def index(request: web.Request) -> web.Response:
        # The page learns the topic prefix (MAELSTROM_TOPIC_PREFIX) from this tag.
        prefix = html.escape(request.app[CONFIG].topic_prefix, quote=True)
        text = (root / "index.html").read_text(encoding="utf-8")
        text = text.replace(PREFIX_META, PREFIX_META.replace('"maelstrom"', f'"{prefix}"'))
        return web.Response(
            text=text, content_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    app.router.add_get("/", index)
    # Everything else is a file: our modules and css, and node_modules (uPlot) from npm ci.
    app.router.add_static("/", root, show_index=False, append_version=False)


CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # uPlot and our views set element styles; styles cannot run code
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (before its headers go out, WebSockets' too): no framing, no
    sniffing, no third-party scripts. No CORS headers: other sites' pages get nothing."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def setup_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
