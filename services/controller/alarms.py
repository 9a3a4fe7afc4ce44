"""The alarm manager: owns the ISA-18.2 lifecycle of every alarm on the broker.

* The controller's own conditions (`condition(id, active, ...)`, called on every
  evaluation; cheap when nothing changes) raise and clear alarms.
* Any client may raise one by publishing on `<prefix>/alarms/<id>` (e.g.
  `{"message": "Pilot light out", "severity": "high"}`); it is adopted: completed
  into a full record (raised_at, ts, state active) and republished retained. The
  raiser clears it by publishing `{"message": ..., "state": "cleared"}`.
* Acknowledgements arrive on `<prefix>/alarms/<id>/ack`.
* A cleared alarm stays (retained) until acknowledged; a cleared and acknowledged
  alarm is published once more, not retained, as its final record, then removed
  with an empty retained payload.
* On start the retained records rebuild the state, so a restart loses nothing.

Our own publishes come back to us (we subscribe to what we publish); they are
recognised byte for byte and ignored. Full records published by someone else
(another controller sharing the broker) are taken as they are, never
republished, so two controllers cannot ping-pong.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from pydantic import ValidationError

from services.common.clock import Clock
from services.common.mqtt import Message, MqttClient, encode_payload
from services.common.schema.alarms import Alarm, AlarmAck, AlarmState
from services.common.schema.base import is_id
from services.common.schema.config import Severity
from services.controller.validation import why

log = logging.getLogger(__name__)

Listener = Callable[[Alarm], None]


class AlarmManager:
    def __init__(self, mqtt: MqttClient, clock: Clock) -> None:
        self.mqtt = mqtt
        self.clock = clock
        self.topics = mqtt.topics
        self.records: dict[str, Alarm] = {}
        self._own: set[str] = set()  # ids whose condition this controller evaluates
        self._sent: dict[str, deque[bytes]] = {}
        self._listeners: list[Listener] = []
        self._active_by_source: dict[str, tuple[str, ...]] = {}

    def start(self) -> None:
        self.mqtt.subscribe(self.topics.all_alarms, self._on_alarm)
        self.mqtt.subscribe(self.topics.all_alarm_acks, self._on_ack)

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # queries ----------------------------------------------------------------------------------
    def is_active(self, alarm_id: str) -> bool:
        alarm = self.records.get(alarm_id)
        return alarm is not None and alarm.state == AlarmState.active

    def owns(self, alarm_id: str) -> bool:
        """This controller evaluates `alarm_id`'s condition (it raised it)."""
        return alarm_id in self._own

    def active_for(self, source: str) -> tuple[str, ...]:
        """Ids of the active alarms about `source` (a loop or device); cheap, kept indexed."""
        return self._active_by_source.get(source, ())

    def visible_for(self, source: str) -> list[Alarm]:
        """The alarms about `source` that still need attention: active, or cleared and
        not yet acknowledged (oldest first)."""
        return sorted(
            (a for a in self.records.values() if a.source == source and a.visible),
            key=lambda a: (a.raised_at, a.id),
        )

    def acknowledge_source(self, source: str, by: str) -> int:
        """Acknowledge every alarm about `source`; how many needed it."""
        pending = [a for a in self.visible_for(source) if not a.acknowledged]
        for alarm in pending:
            self.acknowledge(alarm.id, by)
        return len(pending)

    # the controller's own conditions ------------------------------------------------------------
    def condition(
        self,
        alarm_id: str,
        active: bool,
        message: str = "",
        *,
        kind: str = "external",
        severity: Severity = Severity.medium,
        source: str = "",
    ) -> None:
        """Raise `alarm_id` while `active`, clear it when not. Idempotent."""
        current = self.records.get(alarm_id)
        if active:
            self._own.add(alarm_id)
            if current is not None and current.state == AlarmState.active:
                return
            now = self.clock.now()
            log.warning("alarm %s: %s", alarm_id, message)
            self._put(
                Alarm(
                    id=alarm_id,
                    message=message,
                    kind=kind,
                    severity=severity,
                    source=source,
                    raised_at=now,
                    ts=now,
                )
            )
        elif current is not None and current.state == AlarmState.active:
            log.info("alarm %s cleared", alarm_id)
            self._put(current.clear(self.clock.now()))

    def clear(self, alarm_id: str) -> None:
        self.condition(alarm_id, False)

    def forget_source(self, source: str, keep: tuple[str, ...] = ()) -> None:
        """A loop or device is gone: its conditions can no longer hold; clear them
        (but those in `keep`)."""
        for alarm in list(self.records.values()):
            if alarm.source == source and alarm.id in self._own and alarm.id not in keep:
                self.clear(alarm.id)

    def acknowledge(self, alarm_id: str, by: str) -> bool:
        alarm = self.records.get(alarm_id)
        if alarm is None:
            return False
        if not alarm.acknowledged:
            log.info("alarm %s acknowledged by %s", alarm_id, by)
            self._put(alarm.acknowledge(by, self.clock.now()))
        return True

    # MQTT -------------------------------------------------------------------------------------
    def _on_alarm(self, message: Message) -> None:
        parts = self.topics.parts(message.topic)
        if len(parts) != 2:
            return
        alarm_id = parts[1]
        if not is_id(alarm_id):
            log.warning(
                "dropped alarm on %s: the id must be lowercase letters, digits, '-' or '_'",
                message.topic,
            )
            return
        if message.payload in self._sent.get(alarm_id, ()):
            return  # our own publish, coming back
        if not message.payload:
            self._on_removed(alarm_id)
            return
        try:
            data = message.json()
            if not isinstance(data, dict):
                raise ValueError("an alarm is a JSON object")
            data["id"] = alarm_id
            incoming = Alarm.model_validate(data)
        except (ValueError, ValidationError) as exc:
            log.warning("dropped alarm on %s: %s", message.topic, why(exc))
            return
        current = self.records.get(alarm_id)
        if "raised_at" in data and incoming.raised_at > 0:
            self._on_full_record(incoming, current, retained=message.retain)
        else:
            self._on_raised(incoming, current)

    def _on_full_record(self, incoming: Alarm, current: Alarm | None, retained: bool) -> None:
        """A complete record: retained from before our start, or another controller's."""
        if current is None or not retained:
            self._store(incoming)
            return
        # We raised it again before the retained copy reached us: same episode, keep
        # its original raise time and any acknowledgement.
        if current.state == AlarmState.active and incoming.state == AlarmState.active:
            merged = current.model_copy(
                update={
                    "raised_at": min(current.raised_at, incoming.raised_at),
                    "acknowledged": incoming.acknowledged or current.acknowledged,
                    "acknowledged_by": current.acknowledged_by or incoming.acknowledged_by,
                    "acknowledged_at": current.acknowledged_at or incoming.acknowledged_at,
                }
            )
            if merged != current:
                self._put(merged)

    def _on_raised(self, incoming: Alarm, current: Alarm | None) -> None:
        """Someone raised (or cleared) an alarm with a short payload: adopt it."""
        now = self.clock.now()
        if incoming.state == AlarmState.cleared:
            if current is None:
                self._publish(incoming.id, None)  # nothing to keep: tidy the retained topic
            elif current.state == AlarmState.active:
                log.info("alarm %s cleared by its raiser", incoming.id)
                self._put(current.clear(now))
            return
        if current is not None and current.state == AlarmState.active:
            update = {
                k: getattr(incoming, k)
                for k in ("message", "kind", "severity", "source")
                if getattr(incoming, k) != getattr(current, k)
            }
            if update:
                self._put(current.model_copy(update={**update, "ts": now}))
            return
        log.warning("alarm %s raised: %s", incoming.id, incoming.message)
        self._put(
            incoming.model_copy(
                update={
                    "state": AlarmState.active,
                    "acknowledged": False,
                    "acknowledged_by": None,
                    "acknowledged_at": None,
                    "cleared_at": None,
                    "raised_at": now,
                    "ts": now,
                }
            )
        )

    def _on_removed(self, alarm_id: str) -> None:
        current = self.records.get(alarm_id)
        if current is None:
            return
        if alarm_id in self._own and current.state == AlarmState.active:
            self._publish(alarm_id, current)  # the condition still holds: keep it visible
            return
        self._store(None, alarm_id)

    def _on_ack(self, message: Message) -> None:
        parts = self.topics.parts(message.topic)
        if len(parts) != 3:
            return
        alarm_id = parts[1]
        try:
            ack = AlarmAck.model_validate(message.json() if message.payload.strip() else {})
        except (ValueError, ValidationError) as exc:
            log.warning("dropped acknowledgement on %s: %s", message.topic, why(exc))
            return
        if not self.acknowledge(alarm_id, ack.by):
            log.warning("acknowledgement for unknown alarm %r dropped", alarm_id)

    # storing and publishing -------------------------------------------------------------------------
    def _put(self, alarm: Alarm) -> None:
        """Store and publish: the visible record, or removal once cleared and acknowledged."""
        if alarm.visible:
            self._store(alarm)
            self._publish(alarm.id, alarm)
        else:
            self._store(None, alarm.id)
            # The final record first (not retained: nothing is left to show), so every
            # listener learns how it ended — who acknowledged, when it cleared — and
            # the history does not have to guess from a bare removal.
            self._publish(alarm.id, alarm, retain=False)
            self._publish(alarm.id, None)
            self._own.discard(alarm.id)
            for listener in self._listeners:
                listener(alarm)

    def _store(self, alarm: Alarm | None, alarm_id: str = "") -> None:
        old = self.records.pop(alarm_id or (alarm.id if alarm else ""), None)
        if alarm is not None:
            self.records[alarm.id] = alarm
        for source in {a.source for a in (old, alarm) if a is not None}:
            active = sorted(
                a.id
                for a in self.records.values()
                if a.source == source and a.state == AlarmState.active
            )
            self._active_by_source[source] = tuple(active)
        if alarm is not None:
            for listener in self._listeners:
                listener(alarm)

    def _publish(self, alarm_id: str, alarm: Alarm | None, retain: bool = True) -> None:
        payload = encode_payload(alarm.model_dump(mode="json") if alarm else None)
        self._sent.setdefault(alarm_id, deque(maxlen=8)).append(payload)
        self.mqtt.publish(self.topics.alarm(alarm_id), payload, qos=1, retain=retain)
