"""Housekeeping on the broker: retained live data nobody owns any more is removed.

A loop's state (`<prefix>/data/<loop>`), a device's readings
(`<prefix>/data/sensors/<device>/<sensor>`) and the controller's alarms about a
loop or device (`<prefix>/alarms/<id>` with that `source`) are retained, so they
outlive what published them. After `rm data/maelstrom.db`, `MAELSTROM_DEMO=0` or a
delete, they would show as ghost loop cards and alarms. The API, which knows the
configuration, clears them: the retained ones it finds at start (delivered on
subscribe), and a deleted loop's or device's at once and again a little later
(the controller may publish one last state while it lets go).

Alarms raised by anyone else (no `source`, or an id that is not the controller's
`<source>-<what>`) are left alone: their raiser owns them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.api.store import STORE, ConfigStore, Stored
from services.common import jsontext
from services.common.mqtt import Message, MqttClient
from services.common.topics import TopicError
from services.common.web import MQTT

log = logging.getLogger(__name__)

SECOND_SWEEP_S = 3.0


class Housekeeper:
    def __init__(self, mqtt: MqttClient, store: ConfigStore) -> None:
        self.mqtt = mqtt
        self.store = store
        self.topics = mqtt.topics
        # Retained topics seen, by the id of the loop or device they belong to.
        self._owned: dict[str, set[str]] = {}
        self._later: set[asyncio.TimerHandle] = set()

    @property
    def filters(self) -> tuple[str, ...]:
        return (
            self.topics.all_loop_states,
            self.topics.all_sensor_readings,
            self.topics.all_alarms,
        )

    def owner(self, message: Message) -> tuple[tuple[str, ...], str] | None:
        """(the config kinds that could own it, the id), or None if not ours to judge."""
        parts = self.topics.parts(message.topic)
        if len(parts) == 2 and parts[0] == "data" and parts[1] != "sensors":
            return ("loops",), parts[1]
        if len(parts) == 4 and parts[:2] == ["data", "sensors"]:
            return ("devices",), parts[2]
        if len(parts) == 2 and parts[0] == "alarms":
            try:
                alarm = jsontext.loads(message.payload)  # deep nesting is a ValueError too
            except ValueError:
                return None
            if not isinstance(alarm, dict):
                return None
            source = alarm.get("source")
            # The controller names its alarms `<loop>-…` / `<device>-…` after their source.
            if not isinstance(source, str) or not source or not parts[1].startswith(f"{source}-"):
                return None
            return ("loops", "devices"), source  # a loop's or a device's
        return None

    def known(self, kinds: tuple[str, ...], object_id: str) -> bool:
        return any(self.store.find(kind, object_id) is not None for kind in kinds)

    def on_message(self, message: Message) -> None:
        if not message.payload:
            for topics in self._owned.values():
                topics.discard(message.topic)
            return
        found = self.owner(message)
        if found is None:
            return
        kinds, object_id = found
        if message.retain and not self.known(kinds, object_id):
            self._clear(message.topic, f"no {' or '.join(k[:-1] for k in kinds)} {object_id!r}")
            return
        self._owned.setdefault(object_id, set()).add(message.topic)

    def on_change(self, kind: str, object_id: str, obj: Stored | None) -> None:
        if obj is not None or kind not in ("loops", "devices"):
            return
        self.sweep(object_id)
        handle = asyncio.get_running_loop().call_later(SECOND_SWEEP_S, self.sweep, object_id)
        self._later = {h for h in self._later if not h.cancelled()} | {handle}

    def sweep(self, object_id: str) -> None:
        """Clear the retained topics seen for `object_id` once no loop or device has that id."""
        if self.known(("loops", "devices"), object_id):
            return
        for topic in sorted(self._owned.pop(object_id, set())):
            self._clear(topic, f"{object_id!r} was deleted")

    def _clear(self, topic: str, why: str) -> None:
        try:
            self.mqtt.publish(topic, None, qos=1, retain=True)
        except TopicError:
            return
        log.info("cleared retained %s: %s", topic, why)

    def stop(self) -> None:
        for handle in self._later:
            handle.cancel()
        self._later.clear()


def setup_housekeeping(app: web.Application) -> None:
    """Call after the store (and its demo seed) and MQTT are set up."""

    async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt, store = app[MQTT], app[STORE]
        keeper = Housekeeper(mqtt, store)
        store.add_listener(keeper.on_change)
        for topic_filter in keeper.filters:
            mqtt.subscribe(topic_filter, keeper.on_message)
        yield
        for topic_filter in keeper.filters:
            mqtt.unsubscribe(topic_filter, keeper.on_message)
        store.remove_listener(keeper.on_change)
        keeper.stop()

    app.cleanup_ctx.append(housekeeping_ctx)
