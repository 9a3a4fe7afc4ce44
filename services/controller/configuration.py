"""The configuration the API publishes (retained) on `<prefix>/config/<kind>/<id>`.

Every payload is validated with the shared schema before anything sees it; an
invalid one is logged and dropped, and the last valid version stays in force
(a typo in a loop's configuration must not stop the loop). An empty payload
deletes the object.

The configuration is kept on the controller's disk (`state_file`), so it starts
with what it ran last. The broker's retained copy may be older than that — it
restores its last autosave after a crash — so a *retained* object older than the
one on disk, or one deleted since (a tombstone), is ignored; the API's live
publishes always apply. After each full publish the API sends an index of every
id it has, so an object deleted while this controller was away is dropped too.

With a configuration key (`MAELSTROM_CONFIG_KEY`) only what the API signed is
obeyed — retained or live, objects, deletions and the index alike; anything else
is logged (to the logs channel), raises the object's configuration alarm, and
changes nothing (services/common/signing.py).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from services.common.mqtt import Message, MqttClient
from services.common.schema.config import CONFIG_MODELS, Device, Loop, Profile
from services.common.signing import signed_by_api
from services.controller.state_file import Snapshot
from services.controller.validation import why

log = logging.getLogger(__name__)

InvalidHandler = Callable[[str, str, str | None], None]
"""(kind, id, why it was refused — or None once a valid one arrived)."""
ChangeHandler = Callable[[str, str, Any], Awaitable[None] | None]
"""(kind, id, new object or None when deleted)."""

KINDS = ("settings", "devices", "profiles", "loops")


class RunningConfig:
    def __init__(
        self,
        mqtt: MqttClient,
        save: Callable[[], None] = lambda: None,
        on_invalid: InvalidHandler | None = None,
        key: bytes | None = None,
    ) -> None:
        self.mqtt = mqtt
        self._key = key
        self._on_invalid = on_invalid or (lambda kind, object_id, reason: None)
        self.devices: dict[str, Device] = {}
        self.profiles: dict[str, Profile] = {}
        self.loops: dict[str, Loop] = {}
        self.settings: dict[str, Any] = {}
        self.tombstones: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self._save = save
        self._handlers: list[ChangeHandler] = []

    # disk ------------------------------------------------------------------------------------
    def restore(self, snapshot: Snapshot) -> int:
        """Start from the configuration on disk (before any handler is registered)."""
        count = 0
        for kind in KINDS:
            table = self._table(kind)
            for object_id, data in snapshot.config.get(kind, {}).items():
                try:
                    table[object_id] = self._validate(kind, object_id, data)
                    count += 1
                except (ValueError, ValidationError) as exc:
                    log.warning("stored %s %s does not load: %s", kind, object_id, why(exc))
            self.tombstones[kind] = {
                k: int(v) for k, v in snapshot.tombstones.get(kind, {}).items()
            }
        return count

    def snapshot_into(self, snapshot: Snapshot) -> None:
        snapshot.config = {
            kind: {
                object_id: (obj if kind == "settings" else obj.model_dump(mode="json"))
                for object_id, obj in self._table(kind).items()
            }
            for kind in KINDS
        }
        snapshot.tombstones = {kind: dict(t) for kind, t in self.tombstones.items() if t}

    # MQTT --------------------------------------------------------------------------------------
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
        unsigned = self._key is not None and signed_by_api(self._key, message)
        if message.topic == self.mqtt.topics.config_index:
            if unsigned:
                log.warning("refused the configuration index: %s", unsigned)
                return
            await self._on_index(message)
            return
        parts = self.mqtt.topics.parts(message.topic)
        if len(parts) != 3 or parts[1] not in KINDS:
            log.warning("dropped configuration on unexpected topic %s", message.topic)
            return
        _, kind, object_id = parts
        if unsigned:
            log.warning("refused configuration on %s: %s", message.topic, unsigned)
            self._on_invalid(kind, object_id, unsigned)
            return
        table = self._table(kind)
        if not message.payload.strip():
            if message.retain:
                return  # only a live delete from the API deletes: the broker may be stale
            await self._delete(kind, object_id)
            return
        try:
            value = self.parse(kind, object_id, message)
        except (ValueError, ValidationError) as exc:
            log.warning("dropped configuration on %s: %s", message.topic, why(exc))
            self._on_invalid(kind, object_id, why(exc))  # configuration is on an open topic
            return
        self._on_invalid(kind, object_id, None)
        current = table.get(object_id)
        if current == value:
            return  # the API re-publishing what we have: nothing to do
        if message.retain and kind != "settings" and self._is_stale(kind, object_id, value):
            log.warning(
                "ignored the broker's retained %s %s version %d: this controller has %s",
                kind,
                object_id,
                value.version,
                "deleted it" if current is None else f"version {current.version}",
            )
            return
        table[object_id] = value
        self.tombstones[kind].pop(object_id, None)
        self._save()
        await self._emit(kind, object_id, value)

    def _is_stale(self, kind: str, object_id: str, value: Any) -> bool:
        current = self._table(kind).get(object_id)
        if current is not None:
            return bool(value.version < current.version)
        deleted_at = self.tombstones[kind].get(object_id)
        return deleted_at is not None and value.version <= deleted_at

    async def _delete(self, kind: str, object_id: str) -> None:
        gone = self._table(kind).pop(object_id, None)
        if gone is None:
            return
        if kind != "settings":
            self.tombstones[kind][object_id] = gone.version
        self._save()
        log.info("%s %s deleted", kind, object_id)
        await self._emit(kind, object_id, None)

    async def _on_index(self, message: Message) -> None:
        """The API's full list of ids (sent live after it published everything)."""
        if message.retain:
            return
        try:
            index = message.json()
            if not isinstance(index, dict):
                raise ValueError("the index is a JSON object of kind → ids")
            listed = {kind: set(index[kind]) for kind in KINDS if kind in index}
        except (ValueError, TypeError) as exc:
            log.warning("dropped configuration index: %s", exc)
            return
        for kind in ("loops", "profiles", "devices", "settings"):  # users before what they use
            for object_id in set(self._table(kind)) - listed.get(kind, set(self._table(kind))):
                log.warning("%s %s is no longer configured (deleted while away)", kind, object_id)
                await self._delete(kind, object_id)

    @staticmethod
    def parse(kind: str, object_id: str, message: Message) -> Any:
        return RunningConfig._validate(kind, object_id, message.json())

    @staticmethod
    def _validate(kind: str, object_id: str, data: Any) -> Any:
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
