"""Configuration to the controller: every object retained on `<prefix>/config/<kind>/<id>`.

Published on start (every MQTT connect), after every change, and whenever the
controller comes `online`, so a controller that starts, restarts or missed a
message always converges on the database. A delete publishes an empty retained
payload. With `MAELSTROM_CONFIG_KEY` every message is signed (services/common/signing.py).
Retained config the database does not know (left by an earlier
database, or a restore) is cleared, so the broker never drives a deleted loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from services.api.store import KINDS, STORE, ConfigStore, Stored
from services.common.mqtt import ONLINE, Message, MqttClient, encode_payload
from services.common.schema.config import Setting
from services.common.signing import SIGNATURE, sign
from services.common.topics import CONFIG_KINDS, TopicError
from services.common.web import MQTT

log = logging.getLogger(__name__)


def config_payload(obj: Stored) -> bytes:
    if isinstance(obj, Setting):
        return json.dumps(obj.value, ensure_ascii=False).encode()
    return obj.model_dump_json().encode()


class ConfigPublisher:
    def __init__(self, mqtt: MqttClient, store: ConfigStore) -> None:
        self.mqtt = mqtt
        self.store = store

    def publish(self, kind: str, object_id: str, obj: Stored | None) -> None:
        payload = b"" if obj is None else config_payload(obj)
        self._send(self.mqtt.topics.config(kind, object_id), payload, retain=True)

    def _send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Signed when there is a key, so the controller knows it came from the API."""
        key = self.mqtt.config.config_key
        user = {SIGNATURE: sign(key, topic, payload)} if key else None
        self.mqtt.publish(topic, payload, qos=1, retain=retain, user=user)

    def publish_all(self) -> None:
        count = 0
        for setting in self.store.settings():
            self.publish("settings", setting.key, setting)
            count += 1
        for kind in KINDS:  # devices before the loops that use them
            for obj in self.store.list(kind):
                self.publish(kind, obj.id, obj)
                count += 1
        # Then every id it has, so a controller drops what was deleted while it was away.
        index: dict[str, Any] = {"settings": [s.key for s in self.store.settings()]}
        for kind in KINDS:
            index[kind] = [obj.id for obj in self.store.list(kind)]
        self._send(self.mqtt.topics.config_index, encode_payload(index), retain=False)
        log.info("published %d configuration objects", count)

    def on_controller_status(self, message: Message) -> None:
        if message.payload.strip() == ONLINE.encode():
            self.publish_all()

    def on_retained_config(self, message: Message) -> None:
        """Clear retained config for objects the database does not have.

        Live config traffic is our own publishes or another API process's on the
        same database: either way that kind changed there, so read it again."""
        parts = self.mqtt.topics.parts(message.topic)
        if len(parts) != 3 or parts[1] not in CONFIG_KINDS:
            return
        kind, object_id = parts[1], parts[2]
        if not message.retain:
            self.store.invalidate(kind)
            return
        if not message.payload:
            return  # already cleared
        if kind == "settings":
            known = any(s.key == object_id for s in self.store.settings())
        else:
            known = self.store.find(kind, object_id) is not None
        if not known:
            try:
                self.publish(kind, object_id, None)
            except TopicError:
                return
            log.info("cleared retained config for unknown %s %r", kind, object_id)


def setup_publisher(app: web.Application) -> None:
    async def publisher_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt, store = app[MQTT], app[STORE]
        publisher = ConfigPublisher(mqtt, store)
        store.add_listener(publisher.publish)
        mqtt.on_connect(publisher.publish_all)
        if mqtt.connected.is_set():
            publisher.publish_all()
        mqtt.subscribe(mqtt.topics.status("controller"), publisher.on_controller_status)
        mqtt.subscribe(mqtt.topics.all_config(), publisher.on_retained_config)
        yield
        mqtt.unsubscribe(mqtt.topics.all_config(), publisher.on_retained_config)
        mqtt.unsubscribe(mqtt.topics.status("controller"), publisher.on_controller_status)
        store.remove_listener(publisher.publish)

    app.cleanup_ctx.append(publisher_ctx)
