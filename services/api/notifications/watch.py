"""A controller gone silent is an alarm, raised by the API (the controller cannot raise it).

Every service announces `online` on `<prefix>/status/<service>` and leaves a last
will of `offline`. When a controller's status has said `offline` for `grace_s`
(on the injected clock), the API publishes a full, retained alarm record
`service-<name>-offline` (critical) — which the notifier then sends like any other
alarm — and a cleared record once the controller is back; the controller, once
running again, keeps that record's lifecycle (acknowledgement) as for any alarm a
client raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

from services.common.clock import Clock
from services.common.mqtt import Message, MqttClient
from services.common.schema.alarms import Alarm, AlarmState
from services.common.schema.config import Severity

log = logging.getLogger(__name__)

GRACE_S = 60.0
"""A restart takes seconds; a minute of silence is a controller that is not coming back."""


def watched(service: str) -> bool:
    return service == "controller" or service.startswith("controller-")


def alarm_id(service: str) -> str:
    return "service-" + re.sub(r"[^a-z0-9_-]", "-", service.lower())[:40] + "-offline"


class ServiceWatch:
    def __init__(
        self,
        mqtt: MqttClient,
        clock: Clock,
        current: Callable[[str], Alarm | None],
        grace_s: float = GRACE_S,
    ) -> None:
        self.mqtt = mqtt
        self.clock = clock
        self.current = current  # the alarm book's record for an id
        self.grace_s = grace_s
        self._timers: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        self.mqtt.subscribe(self.mqtt.topics.all_status, self.on_status)

    def stop(self) -> None:
        self.mqtt.unsubscribe(self.mqtt.topics.all_status, self.on_status)
        for task in self._timers.values():
            task.cancel()
        self._timers.clear()

    def on_status(self, message: Message) -> None:
        service = message.topic.rsplit("/", 1)[-1]
        if not watched(service):
            return
        text = message.payload.decode("utf-8", "replace").strip().lower()
        if text == "offline":
            if service not in self._timers:
                self._timers[service] = asyncio.ensure_future(self._after_grace(service))
        elif text == "online":
            timer = self._timers.pop(service, None)
            if timer is not None:
                timer.cancel()
            self._clear(service)

    async def _after_grace(self, service: str) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.clock.sleep(self.grace_s)
            self._timers.pop(service, None)
            self._raise(service)

    def _raise(self, service: str) -> None:
        existing = self.current(alarm_id(service))
        if existing is not None and existing.state == AlarmState.active:
            return  # raised before a restart of ours; still retained
        now = self.clock.now()
        alarm = Alarm(
            id=alarm_id(service),
            message=f"The {service} is offline: no control, outputs as its boards' watchdogs left them",
            kind="service_offline",
            severity=Severity.critical,
            source=service,
            raised_at=now,
            ts=now,
        )
        log.warning("alarm %s: %s", alarm.id, alarm.message)
        self._publish(alarm)

    def _clear(self, service: str) -> None:
        existing = self.current(alarm_id(service))
        if existing is None or existing.state != AlarmState.active:
            return
        log.info("alarm %s cleared: the %s is back", existing.id, service)
        self._publish(existing.clear(self.clock.now()))

    def _publish(self, alarm: Alarm) -> None:
        self.mqtt.publish(
            self.mqtt.topics.alarm(alarm.id),
            alarm.model_dump(mode="json", exclude={"id"}),
            qos=1,
            retain=True,
        )
