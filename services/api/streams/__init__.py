"""Streams: readings pushed to Brewfather, Brewer's Friend or any webhook.

`setup_streams(app)` runs the streamer on the app's clock, reading the live
picture (`services.api.live`) and the stream definitions in the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import ValidationError

from services.api.live import LIVE
from services.api.models import StreamRow
from services.api.store import STORE
from services.api.streams.schema import Stream
from services.api.streams.streamer import Streamer
from services.common.schema.config import Loop
from services.common.web import app_clock

STREAMER = web.AppKey("streamer", Streamer)

__all__ = ["STREAMER", "Streamer", "load_streams", "setup_streams"]


def load_streams() -> list[Stream]:
    out = []
    for row in StreamRow.select().order_by(StreamRow.id):
        try:
            out.append(Stream.model_validate_json(row.data))
        except ValidationError:
            continue
    return out


def setup_streams(app: web.Application) -> None:
    async def streams_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[STORE]

        def loop_name(loop_id: str) -> str:
            loop = store.find("loops", loop_id)
            return loop.name if isinstance(loop, Loop) else ""

        streamer = Streamer(app_clock(app), app[LIVE], load_streams, loop_name)
        app[STREAMER] = streamer
        await streamer.start()
        yield
        await streamer.stop()

    app.cleanup_ctx.append(streams_ctx)
