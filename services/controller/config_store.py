"""The configuration the API publishes (retained) on `<prefix>/config/<kind>/<id>`.

Every payload is validated with the shared schema before anything sees it; an
invalid one is logged and dropped, and the last valid version stays in force
(a typo in a loop's configuration must not stop the loop). An empty payload
deletes the object.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from services.common.mqtt import Message, MqttClient
from services.common.schema.config import CONFIG_MODELS, Device, Loop, Profile
from services.controller.validation import why

log = logging.getLogger(__name__)

ChangeHandler = Callable[[str, str, Any], Awaitable[None] | None]
"""(kind, id, new object or None when deleted)."""
InvalidHandler = Callable[[str, str, str | None], None]
"""(kind, id, why it was refused — or None once a valid one arrived)."""


class ConfigStore:
    def __init__(self, mqtt: MqttClient, on_invalid: InvalidHandler | None = None) -> None:
        self.mqtt = mqtt
        self._on_invalid = on_invalid or (lambda kind, object_id, reason: None)
        self.devices: dict[str, Device] = {}
        self.profiles: dict[str, Profile] = {}
        self.loops: dict[str, Loop] = {}
        self.settings: dict[str, Any] = {}
        self._handlers: list[ChangeHandler] = []

    def start(self) -> None:
        self.mqtt.subscribe(self.mqtt.topics.all_config(), self._on_message)

    def on_change(self, handler: ChangeHandler) -> None:
        self._handlers.append(handler)

    def _table(self, kind: str) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "profiles": self.profiles,
            "loops": self.loops,
            "settings": self.settings,
        }[kind]

    async def _on_message(self, message: Message) -> None:
        parts = self.mqtt.topics.parts(message.topic)
        if len(parts) != 3 or parts[1] not in ("devices", "profiles", "loops", "settings"):
            log.warning("dropped configuration on unexpected topic %s", message.topic)
            return
        _, kind, object_id = parts
        table = self._table(kind)
        if not message.payload.strip():
            if table.pop(object_id, None) is not None:
                log.info("%s %s deleted", kind, object_id)
                await self._emit(kind, object_id, None)
            return
        try:
            value = self.parse(kind, object_id, message)
        except (ValueError, ValidationError) as exc:
            log.warning("dropped configuration on %s: %s", message.topic, why(exc))
            self._on_invalid(kind, object_id, why(exc))  # configuration is on an open topic
            return
        self._on_invalid(kind, object_id, None)
        if table.get(object_id) == value:
            return  # the API re-publishing what we have: nothing to do
        table[object_id] = value
        await self._emit(kind, object_id, value)

    @staticmethod
    def parse(kind: str, object_id: str, message: Message) -> Any:
        data = message.json()
        if kind == "settings":
            return data
        if not isinstance(data, dict):
            raise ValueError(f"a {kind[:-1]} is a JSON object")
        obj = CONFIG_MODELS[kind].model_validate(data)
        if obj.id != object_id:
            raise ValueError(f"id {obj.id!r} does not match the topic's {object_id!r}")
        return obj

    async def _emit(self, kind: str, object_id: str, value: Any) -> None:
        for handler in self._handlers:
            try:
                result = handler(kind, object_id, value)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("applying %s %s failed", kind, object_id)
