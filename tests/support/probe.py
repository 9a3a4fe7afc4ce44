"""An MQTT test client that records everything and waits for what a test expects."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from services.common.topics import matches


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttProbe:
    """Subscribes like `mosquitto_sub` and lets a test `wait_for` a message."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda *a: self._connected.set()
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError("probe could not connect to the broker")

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def subscribe(self, topic_filter: str, qos: int = 1) -> MqttProbe:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic_filter, qos)
        if not done.wait(10):
            raise TimeoutError(f"no SUBACK for {topic_filter}")
        return self

    def unsubscribe(self, *topic_filters: str) -> MqttProbe:
        """Unsubscribe and wait for the broker's UNSUBACK."""
        done = threading.Event()
        self.client.on_unsubscribe = lambda *a: done.set()
        self.client.unsubscribe(list(topic_filters))
        if not done.wait(10):
            raise TimeoutError(f"no UNSUBACK for {topic_filters}")
        return self

    def publish(self, topic: str, payload: Any = b"", retain: bool = False, qos: int = 1) -> None:
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def wait_for(
        self,
        topic_filter: str,
        predicate: Callable[[Received], bool] = lambda m: True,
        timeout: float = 10.0,
        since: int = 0,
    ) -> Received:
        """The first message (from index `since`) matching the filter and predicate."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.messages):
                    msg = self.messages[index]
                    index += 1
                    if matches(topic_filter, msg.topic) and predicate(msg):
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [m.topic for m in self.messages if matches(topic_filter, m.topic)][-5:]
                    raise TimeoutError(
                        f"no message on {topic_filter} matching within {timeout}s; saw {seen}"
                    )
                self._cond.wait(remaining)

    def mark(self) -> int:
        """An index to pass as `since`, to wait only for messages after this point."""
        with self._cond:
            return len(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def received(
    probe: MqttProbe,
    topic: str,
    predicate: Callable[[Received], bool] = lambda m: True,
    since: int = 0,
    timeout: float = 10.0,
) -> Received:
    """`probe.wait_for`, without blocking the event loop an in-process service runs in."""
    return await asyncio.to_thread(probe.wait_for, topic, predicate, timeout, since)
