"""Keeps Home Assistant's discovery topics in step with the retained configuration.

Driven only by MQTT, like every other consumer of configuration: it follows
`<prefix>/config/loops/+` and `<prefix>/config/devices/+` (retained, published by
the Config API) and publishes, retained, the discovery messages `discovery.py`
builds. A deleted loop or device (empty payload) gets an empty retained payload on
every topic it had, which removes its entities from Home Assistant. When Home
Assistant announces itself (`online` on `<ha_prefix>/status`) every config is sent
again; the states need nothing, since the controller's state topics are retained.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from pydantic import ValidationError

from services.common.mqtt import Handler, Message, MqttClient, encode_payload
from services.common.problems import first_problem
from services.common.schema.config import Device, Loop
from services.common.topics import DISCOVERY_ID
from services.common.web import CONFIG, MQTT

from .discovery import (
    Discovery,
    DiscoverySettings,
    Owner,
    OwnerKind,
    device_discovery,
    loop_discovery,
    loop_topics,
)

log = logging.getLogger(__name__)


class HomeAssistantDiscovery:
    """Publishes, updates and withdraws discovery configs as loops and devices change."""

    def __init__(self, mqtt: MqttClient, settings: DiscoverySettings) -> None:
        self._mqtt = mqtt
        self.settings = settings
        self._published: dict[Owner, dict[str, bytes]] = {}
        topics = settings.topics
        self._subscriptions: list[tuple[str, Handler]] = [
            (topics.all_config("loops"), self._on_loop),
            (topics.all_config("devices"), self._on_device),
            (settings.discovery.status, self._on_homeassistant_status),
        ]

    def start(self) -> None:
        for topic_filter, handler in self._subscriptions:
            self._mqtt.subscribe(topic_filter, handler)
        # A broker that restarted without its retained messages has forgotten ours too.
        self._mqtt.on_connect(self.republish)

    def stop(self) -> None:
        # Entities stay in Home Assistant: the controller's status says whether they work.
        for topic_filter, handler in self._subscriptions:
            self._mqtt.unsubscribe(topic_filter, handler)

    @property
    def published(self) -> dict[str, bytes]:
        """Every discovery topic currently published, with its payload."""
        return {t: p for topics in self._published.values() for t, p in topics.items()}

    # configuration --------------------------------------------------------------------------
    def _on_loop(self, message: Message) -> None:
        self._on_config(message, "loop", Loop, loop_discovery)

    def _on_device(self, message: Message) -> None:
        self._on_config(message, "device", Device, device_discovery)

    def _on_config(
        self,
        message: Message,
        kind: OwnerKind,
        model: type[Loop] | type[Device],
        build: Callable[..., list[Discovery]],
    ) -> None:
        owner = Owner(kind, message.topic.rsplit("/", 1)[-1])
        if not DISCOVERY_ID.fullmatch(owner.id):
            log.warning("Home Assistant: ignored %s config on %s: bad id", kind, message.topic)
            return
        if not message.payload:
            self._withdraw(owner)
            return
        try:
            obj = model.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning(
                "Home Assistant: ignored %s config on %s: %s",
                kind,
                message.topic,
                first_problem(exc),
            )
            return
        if obj.id != owner.id:
            log.warning(
                "Home Assistant: ignored %s config on %s: its id is %r",
                kind,
                message.topic,
                obj.id,
            )
            return
        self._announce(owner, build(obj, self.settings))

    def _announce(self, owner: Owner, messages: list[Discovery]) -> None:
        before = self._published.get(owner, {})
        after = {m.topic: encode_payload(m.payload) for m in messages}
        for topic in before.keys() - after.keys():
            self._mqtt.publish(topic, None, retain=True)
        for topic, payload in after.items():
            if before.get(topic) != payload:
                self._mqtt.publish(topic, payload, retain=True)
        self._published[owner] = after

    def _withdraw(self, owner: Owner) -> None:
        topics = set(self._published.pop(owner, {}))
        if owner.kind == "loop":
            # Also what a loop deleted before this process saw it may have left behind.
            topics.update(loop_topics(owner.id, self.settings))
        for topic in sorted(topics):
            self._mqtt.publish(topic, None, retain=True)
        if topics:
            log.info("Home Assistant: removed the entities of %s %s", owner.kind, owner.id)

    # Home Assistant's birth message ---------------------------------------------------------------
    def _on_homeassistant_status(self, message: Message) -> None:
        if message.payload.strip() == b"online":
            self.republish()

    def republish(self) -> None:
        """Send every discovery config again (Home Assistant restarted, or the broker did)."""
        published = self.published
        for topic, payload in published.items():
            self._mqtt.publish(topic, payload, retain=True)
        if published:
            log.info("Home Assistant: re-published %d discovery configs", len(published))


HOMEASSISTANT = web.AppKey("homeassistant", HomeAssistantDiscovery)


def setup_homeassistant(app: web.Application) -> None:
    """Home Assistant MQTT discovery, on the app's MQTT client (register after `setup_mqtt`)."""

    async def homeassistant_ctx(app: web.Application) -> AsyncIterator[None]:
        publisher = HomeAssistantDiscovery(app[MQTT], DiscoverySettings.from_config(app[CONFIG]))
        app[HOMEASSISTANT] = publisher
        publisher.start()
        yield
        publisher.stop()

    app.cleanup_ctx.append(homeassistant_ctx)
