"""The `/ws` endpoint: each browser's subscriptions, carried over the service's MQTT client."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from services.bridge.protocol import (
    FrameError,
    Publish,
    Subscribe,
    Unsubscribe,
    error_frame,
    message_frame,
    parse_client_frame,
    payload_from_browser,
)
from services.common.mqtt import Message, MqttClient
from services.common.web import MQTT

log = logging.getLogger(__name__)


class BrowserSession:
    """One browser socket and the filters it holds."""

    def __init__(self, ws: web.WebSocketResponse, mqtt: MqttClient) -> None:
        self.ws = ws
        self.mqtt = mqtt
        self.filters: set[str] = set()

    async def deliver(self, message: Message) -> None:
        if not self.ws.closed:
            await self.ws.send_json(message_frame(message.topic, message.payload, message.retain))

    async def handle(self, text: str) -> None:
        try:
            op = parse_client_frame(text)
        except FrameError as exc:
            await self.ws.send_json(error_frame(str(exc)))
            return
        if isinstance(op, Subscribe):
            if op.topic not in self.filters:
                self.filters.add(op.topic)
                self.mqtt.subscribe(op.topic, self.deliver)
        elif isinstance(op, Unsubscribe):
            if op.topic in self.filters:
                self.filters.discard(op.topic)
                self.mqtt.unsubscribe(op.topic, self.deliver)
        elif isinstance(op, Publish):
            if any(c in op.topic for c in "+#"):
                await self.ws.send_json(
                    error_frame("cannot publish to a wildcard topic", topic=op.topic)
                )
                return
            self.mqtt.publish(
                op.topic, payload_from_browser(op.payload), qos=op.qos, retain=op.retain
            )

    def close(self) -> None:
        for topic_filter in self.filters:
            self.mqtt.unsubscribe(topic_filter, self.deliver)
        self.filters.clear()


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=256 * 1024)
    await ws.prepare(request)
    session = BrowserSession(ws, request.app[MQTT])
    try:
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                await session.handle(frame.data)
            elif frame.type == WSMsgType.BINARY:
                await ws.send_json(error_frame("binary frames are not supported; send JSON text"))
    finally:
        session.close()
    return ws


def setup_bridge(app: web.Application) -> None:
    app.router.add_get("/ws", websocket)
