"""Composes the API service: every part, in dependency order, on one screen."""

from __future__ import annotations

from aiohttp import web

from services.api import database, webui
from services.api.alarm_book import setup_alarm_book
from services.api.audit import audit_middleware
from services.api.audit import routes as audit_routes
from services.api.auth import auth_middlewares, setup_auth
from services.api.commands import setup_loop_commands
from services.api.errors import error_middleware
from services.api.history import setup as setup_history
from services.api.homeassistant import setup_homeassistant
from services.api.housekeeping import setup_housekeeping
from services.api.live import setup_live
from services.api.metrics import setup_metrics
from services.api.notifications import setup_notifications
from services.api.publisher import setup_publisher
from services.api.routes import (
    alarms,
    backup,
    devices,
    health,
    ingest,
    loops,
    notifications,
    openapi,
    profiles,
    publish,
    settings,
    streams,
)
from services.api.store import setup_store
from services.api.streams import setup_streams
from services.api.targets import setup_targets
from services.bridge import setup_bridge
from services.common.config import Config
from services.common.web import CONFIG, setup_mqtt

MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Config) -> web.Application:
    # Outermost first: errors in our shape; Host/Origin; session cookie; the audit of
    # what the authorization check (innermost) lets through or refuses.
    (safety, session, authorize), storage = auth_middlewares(config)
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[error_middleware, safety, session, audit_middleware, authorize],
    )
    app[CONFIG] = config
    # infrastructure
    setup_mqtt(app, "api")
    database.setup_database(app)
    # users, sessions, tokens (needs the database)
    setup_auth(app, storage)
    webui.setup_security_headers(app)
    # configuration: store (+ demo seed) → publisher; targets (the controller's) → commands
    setup_store(app)
    setup_publisher(app)
    setup_targets(app)
    setup_loop_commands(app)
    setup_alarm_book(app)
    # the live picture (retained loop states, readings, service status) for metrics and streams
    setup_live(app)
    # alerts: alarms and loop events → Apprise targets (after the alarms and the store)
    setup_notifications(app)
    # streams: readings to Brewfather, Brewer's Friend, webhooks (store and forward)
    setup_streams(app)
    # browser socket
    setup_bridge(app)
    # REST
    for resource in (
        health,
        settings,
        devices,
        profiles,
        loops,
        publish,
        alarms,
        notifications,
        streams,
        ingest,
        backup,
    ):
        app.add_routes(resource.routes)
    app.add_routes(audit_routes)
    openapi.setup_openapi(app)  # built once, from every route (history's too)
    # history: the recorder (MQTT → batched writes) and /api/history…, /api/logs
    setup_history(app)
    # retained live data and alarms of loops and devices that are gone (after the
    # recorder has subscribed: it keeps the last reading before it is cleared)
    setup_housekeeping(app)
    # Home Assistant discovery (from the retained config)
    setup_homeassistant(app)
    # GET /metrics for Prometheus (read at scrape time from the parts above)
    setup_metrics(app)
    # static UI last: it owns "/"
    webui.setup_webui(app)
    return app
