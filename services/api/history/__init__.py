"""History: every reading kept, queried fast for charts, exported as CSV (docs/history.md).

`setup(app)` adds the recorder (MQTT → batched writes) and the REST routes to the
API. Parts: `models` (tables), `writer` (what is stored, one transaction per
batch), `tiers` (1-minute rollups, retention), `recorder` (MQTT subscriber and
batch loop), `downsample` + `query` (reading back), `schemas` + `routes` (REST).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from services.api.database import DATABASE
from services.common.clock import RealClock
from services.common.config import Config
from services.common.mqtt import MqttClient
from services.common.web import CONFIG

from .changes import setup_changes
from .recorder import Recorder
from .routes import CLOCK, READERS, RECORDER, routes

__all__ = ["CLOCK", "RECORDER", "setup"]

SESSION_EXPIRY_S = 7 * 86_400
"""How long the broker keeps the recorder's session (and queues readings for it) while
the API is away; Mosquitto's `max_queued_messages` bounds what it queues."""


def recorder_client_id(config: Config) -> str:
    """Fixed across restarts of one installation, different for two on one broker
    (another prefix or database): the broker hands the session back to its owner."""
    digest = hashlib.sha256(f"{config.topic_prefix}|{config.database_url}".encode()).hexdigest()
    return f"maelstrom-history-{digest[:12]}"


def setup(app: web.Application) -> None:
    """Record history and serve it. Call after the database and MQTT are set up."""
    app.add_routes(routes)
    app.cleanup_ctx.append(_history_ctx)
    setup_changes(app)  # who changed what, beside the alarms


async def _history_ctx(app: web.Application) -> AsyncIterator[None]:
    if CLOCK not in app:
        app[CLOCK] = RealClock()
    # A client of its own, on a persistent session with QoS 1 subscriptions: what is
    # published while the API restarts or reconnects is queued by the broker, not lost.
    mqtt = MqttClient(
        app[CONFIG],
        "history",
        announce=False,
        client_id=recorder_client_id(app[CONFIG]),
        session_expiry_s=SESSION_EXPIRY_S,
    )
    recorder = Recorder(mqtt, app[DATABASE], app[CLOCK])
    app[RECORDER] = recorder
    app[READERS] = ThreadPoolExecutor(2, thread_name_prefix="history-reader")
    await recorder.start()
    await mqtt.start()
    yield
    await mqtt.stop()  # first: the broker queues what comes next for the next start
    await recorder.stop()
    app[READERS].shutdown(wait=True)
