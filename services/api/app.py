"""Composes the API service: every part, in dependency order, on one screen."""

from __future__ import annotations

from aiohttp import web

from services.api import database, webui
from services.api.history import setup as setup_history
from services.api.routes import health
from services.bridge import setup_bridge
from services.common.config import Config
from services.common.web import CONFIG, setup_mqtt

MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = config
    # infrastructure
    setup_mqtt(app, "api")
    database.setup_database(app)
    # browser socket
    setup_bridge(app)
    # REST
    app.add_routes(health.routes)
    setup_history(app)
    # static UI last: it owns "/"
    webui.setup_webui(app)
    return app
