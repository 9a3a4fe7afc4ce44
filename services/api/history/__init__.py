"""History: every reading kept, queried fast for charts, exported as CSV (docs/history.md).

`setup(app)` adds the recorder (MQTT → batched writes) and the REST routes to the
API. Parts: `models` (tables), `writer` (what is stored, one transaction per
batch), `tiers` (1-minute rollups, retention), `recorder` (MQTT subscriber and
batch loop), `downsample` + `query` (reading back), `schemas` + `routes` (REST).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from services.api.database import DATABASE
from services.common.clock import RealClock
from services.common.web import MQTT

from .changes import setup_changes
from .recorder import Recorder
from .routes import CLOCK, READERS, RECORDER, routes

__all__ = ["CLOCK", "RECORDER", "setup"]


def setup(app: web.Application) -> None:
    """Record history and serve it. Call after the database and MQTT are set up."""
    app.add_routes(routes)
    app.cleanup_ctx.append(_history_ctx)
    setup_changes(app)  # who changed what, beside the alarms


async def _history_ctx(app: web.Application) -> AsyncIterator[None]:
    if CLOCK not in app:
        app[CLOCK] = RealClock()
    recorder = Recorder(app[MQTT], app[DATABASE], app[CLOCK])
    app[RECORDER] = recorder
    app[READERS] = ThreadPoolExecutor(2, thread_name_prefix="history-reader")
    await recorder.start()
    yield
    await recorder.stop()
    app[READERS].shutdown(wait=True)
