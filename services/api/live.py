"""The live picture as the broker has it: last loop state, sensor reading, service status.

One mirror of the retained data topics for the parts that read it on demand
(`/metrics`, streams), so the API subscribes to them once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from services.common.mqtt import Message, PayloadError
from services.common.web import MQTT


class Live:
    """The last retained loop state, sensor reading and service status, as the broker has them."""

    def __init__(self) -> None:
        self.loops: dict[str, dict[str, Any]] = {}
        self.sensors: dict[tuple[str, str], dict[str, Any]] = {}
        self.services: dict[str, bool] = {}

    def on_loop(self, message: Message) -> None:
        loop_id = message.topic.rsplit("/", 1)[-1]
        if not message.payload.strip():
            self.loops.pop(loop_id, None)
            return
        data = message.json()
        if not isinstance(data, dict):
            raise PayloadError(f"loop state on {message.topic} is not a JSON object")
        self.loops[loop_id] = data

    def on_sensor(self, message: Message) -> None:
        *_, device, sensor = message.topic.split("/")
        if not message.payload.strip():
            self.sensors.pop((device, sensor), None)
            return
        data = message.json()
        if not isinstance(data, dict):
            raise PayloadError(f"reading on {message.topic} is not a JSON object")
        self.sensors[(device, sensor)] = data

    def on_status(self, message: Message) -> None:
        service = message.topic.rsplit("/", 1)[-1]
        text = message.payload.decode("utf-8", "replace").strip().lower()
        if not text:
            self.services.pop(service, None)
        else:
            self.services[service] = text == "online"


LIVE = web.AppKey("live", Live)


def setup_live(app: web.Application) -> None:
    async def live_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt = app[MQTT]
        live = Live()
        app[LIVE] = live
        handlers = (
            (mqtt.topics.all_loop_states, live.on_loop),
            (mqtt.topics.all_sensor_readings, live.on_sensor),
            (mqtt.topics.all_status, live.on_status),
        )
        for topic_filter, handler in handlers:
            mqtt.subscribe(topic_filter, handler)
        yield
        for topic_filter, handler in handlers:
            mqtt.unsubscribe(topic_filter, handler)

    app.cleanup_ctx.append(live_ctx)
