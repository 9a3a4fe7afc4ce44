"""aiohttp building blocks shared by the API and the standalone bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from .clock import Clock, RealClock
from .config import Config
from .logs import attach_mqtt_logging, detach_mqtt_logging
from .mqtt import MqttClient

CONFIG = web.AppKey("config", Config)
MQTT = web.AppKey("mqtt", MqttClient)
CLOCK = web.AppKey("clock", Clock)
"""Set before start to run the app's timed parts (notifications, streams) on a SimClock."""


def app_clock(app: web.Application) -> Clock:
    """The app's clock: the one a test put there, else wall-clock time."""
    return app.get(CLOCK) or RealClock()


def setup_mqtt(app: web.Application, service: str) -> None:
    """Give the app one MQTT client (birth, will, WARNING+ logs to the logs channel)."""

    async def mqtt_ctx(app: web.Application) -> AsyncIterator[None]:
        client = MqttClient(app[CONFIG], service)
        app[MQTT] = client
        await client.start()
        handler = attach_mqtt_logging(client, service)
        yield
        detach_mqtt_logging(handler)
        await client.stop()

    app.cleanup_ctx.append(mqtt_ctx)


def json_error(status: int, error: str, detail: Any = None) -> web.Response:
    """The API's error shape: `{"error": "...", "detail": ...}` with a 4xx status."""
    return web.json_response({"error": error, "detail": detail}, status=status)


def http_error(
    cls: Callable[..., web.HTTPException], error: str, detail: Any = None
) -> web.HTTPException:
    """An aiohttp HTTP exception whose body is the API's JSON error shape."""
    import json

    return cls(text=json.dumps({"error": error, "detail": detail}), content_type="application/json")
