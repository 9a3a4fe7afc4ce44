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
from services.common.schema.alarms import Alarm
from services.common.schema.config import Device, Loop, Profile
from services.common.schema.state import DeviceStatus
from services.common.topics import DISCOVERY_ID
from services.common.web import CONFIG, MQTT

from .discovery import (
    Discovery,
    DiscoverySettings,
    Owner,
    OwnerKind,
    alarm_discovery,
    device_discovery,
    loop_discovery,
    loop_topics,
    system_discovery,
)

log = logging.getLogger(__name__)


class HomeAssistantDiscovery:
    """Publishes, updates and withdraws discovery configs as loops and devices change."""

    def __init__(self, mqtt: MqttClient, settings: DiscoverySettings) -> None:
        self._mqtt = mqtt
        self.settings = settings
        self._published: dict[Owner, dict[str, bytes]] = {}
        self._loops: dict[str, Loop] = {}
        self._devices: dict[str, Device] = {}
        self._firmware: dict[str, str] = {}  # device id → what its board reported
        self._alarm_sources: dict[str, str] = {}  # alarm id → source, for alarms with entities
        self.profiles: dict[str, Profile] = {}  # what each loop's profile select offers
        topics = settings.topics
        self._subscriptions: list[tuple[str, Handler]] = [
            (topics.all_config("loops"), self._on_loop),
            (topics.all_config("devices"), self._on_device),
            (topics.all_config("profiles"), self._on_profile),
            (topics.all_alarms, self._on_alarm),
            (topics.all_device_status, self._on_device_status),
            (settings.discovery.status, self._on_homeassistant_status),
        ]

    def start(self) -> None:
        self._announce(Owner("system", "system"), system_discovery(self.settings))
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
        self._on_config(message, "loop", Loop, self._loop_discovery)

    def _loop_discovery(self, loop: Loop, settings: DiscoverySettings) -> list[Discovery]:
        self._loops[loop.id] = loop
        # Its alarms show on the loop's own problem sensor from now on.
        for alarm_id, source in list(self._alarm_sources.items()):
            if source == loop.id:
                self._withdraw_alarm(alarm_id)
        return loop_discovery(loop, settings, self.profiles)

    def _device_discovery(self, device: Device, settings: DiscoverySettings) -> list[Discovery]:
        self._devices[device.id] = device
        return device_discovery(device, settings, self._firmware.get(device.id))

    def _on_device_status(self, message: Message) -> None:
        """A board said hello: its firmware becomes its device's sw_version."""
        device_id = message.topic.rsplit("/", 1)[-1]
        if not message.payload:
            return
        try:
            status = DeviceStatus.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning(
                "Home Assistant: ignored status on %s: %s", message.topic, first_problem(exc)
            )
            return
        if not status.firmware or self._firmware.get(device_id) == status.firmware:
            return
        self._firmware[device_id] = status.firmware
        device = self._devices.get(device_id)
        if device is not None:
            self._announce(
                Owner("device", device_id), self._device_discovery(device, self.settings)
            )

    # alarms about no loop --------------------------------------------------------------------
    def _on_alarm(self, message: Message) -> None:
        """An alarm record (the controller's, retained): one that belongs to no loop gets
        its own entities while it exists; its removal (empty payload) removes them."""
        alarm_id = message.topic.rsplit("/", 1)[-1]
        if not DISCOVERY_ID.fullmatch(alarm_id):
            return
        if not message.payload:
            self._withdraw_alarm(alarm_id)
            return
        try:
            data = message.json()
            if not isinstance(data, dict):
                raise ValueError("an alarm is a JSON object")
            alarm = Alarm.model_validate(data | {"id": alarm_id})  # the topic names it
        except ValidationError as exc:
            log.warning(
                "Home Assistant: ignored alarm on %s: %s", message.topic, first_problem(exc)
            )
            return
        except ValueError as exc:
            log.warning("Home Assistant: ignored alarm on %s: %s", message.topic, exc)
            return
        if alarm.source in self._loops:
            return  # the loop's problem sensor shows it
        self._alarm_sources[alarm_id] = alarm.source
        device = self._devices.get(alarm.source)
        self._announce(Owner("alarm", alarm_id), alarm_discovery(alarm_id, device, self.settings))

    def _withdraw_alarm(self, alarm_id: str) -> None:
        self._alarm_sources.pop(alarm_id, None)
        for topic in self._published.pop(Owner("alarm", alarm_id), {}):
            self._mqtt.publish(topic, None, retain=True)

    def _on_profile(self, message: Message) -> None:
        """A profile added, renamed or deleted: every loop's profile select changes."""
        profile_id = message.topic.rsplit("/", 1)[-1]
        if not message.payload:
            changed = self.profiles.pop(profile_id, None) is not None
        else:
            try:
                profile = Profile.model_validate_json(message.payload)
            except ValidationError as exc:
                log.warning(
                    "Home Assistant: ignored profile on %s: %s", message.topic, first_problem(exc)
                )
                return
            old = self.profiles.get(profile_id)
            self.profiles[profile_id] = profile
            changed = old is None or old.name != profile.name  # points do not show
        if changed:
            for loop in self._loops.values():
                self._announce(Owner("loop", loop.id), self._loop_discovery(loop, self.settings))

    def _on_device(self, message: Message) -> None:
        self._on_config(message, "device", Device, self._device_discovery)

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
        if owner.kind == "loop":
            self._loops.pop(owner.id, None)
        if owner.kind == "device":
            self._devices.pop(owner.id, None)
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
