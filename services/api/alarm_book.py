"""The alarms the API knows: the retained records on `<prefix>/alarms/<id>`.

The controller owns each alarm's lifecycle; the API mirrors what it publishes
(the current set in memory, rebuilt from retained messages on every start) and
keeps the last record per id in the `alarm` table, so "recent" alarms survive a
restart. Acknowledging goes over MQTT, exactly as Home Assistant or
mosquitto_pub would do it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import ValidationError

from services.api.models import AlarmRow
from services.common.mqtt import Message, MqttClient, PayloadError
from services.common.problems import first_problem
from services.common.schema.alarms import Alarm, AlarmAck, AlarmState
from services.common.schema.config import Severity
from services.common.web import MQTT

log = logging.getLogger(__name__)

SEVERITY_RANK = {Severity.critical: 0, Severity.high: 1, Severity.medium: 2, Severity.low: 3}


def alarm_order(alarm: Alarm) -> tuple[int, int, int, float]:
    """Active before cleared, unacknowledged first, then by severity, newest first."""
    return (
        0 if alarm.state == AlarmState.active else 1,
        1 if alarm.acknowledged else 0,
        SEVERITY_RANK[alarm.severity],
        -(alarm.raised_at or alarm.ts),
    )


class AlarmBook:
    def __init__(self, mqtt: MqttClient) -> None:
        self.mqtt = mqtt
        self._current: dict[str, Alarm] = {}

    def visible(self) -> list[Alarm]:
        return sorted(self._current.values(), key=alarm_order)

    def get(self, alarm_id: str) -> Alarm | None:
        return self._current.get(alarm_id)

    def recent(self, limit: int = 50) -> list[Alarm]:
        """Alarms no longer on the alarms channel, newest first."""
        rows = (
            AlarmRow.select()
            .where(AlarmRow.visible == False)  # noqa: E712 - peewee expression
            .order_by(AlarmRow.updated_at.desc())
            .limit(limit)
        )
        out = []
        for row in rows:
            try:
                out.append(Alarm.model_validate_json(row.data))
            except ValidationError:
                continue
        return out

    def acknowledge(self, alarm_id: str, by: str) -> str:
        """Ask the controller to acknowledge; returns the topic used."""
        topic = self.mqtt.topics.alarm_ack(alarm_id)
        self.mqtt.publish(topic, AlarmAck(by=by).model_dump(mode="json"), qos=1)
        return topic

    def on_message(self, message: Message) -> None:
        alarm_id = message.topic.rsplit("/", 1)[-1]
        if not message.payload.strip():
            self._forget(alarm_id)
            return
        data = message.json()
        if not isinstance(data, dict):
            raise PayloadError(f"alarm on {message.topic} is not a JSON object")
        data["id"] = alarm_id  # the topic names the alarm
        try:
            alarm = Alarm.model_validate(data)
        except ValidationError as exc:
            raise PayloadError(f"alarm {alarm_id!r}: {first_problem(exc)}") from exc
        if not alarm.raised_at and alarm_id in self._current:
            # A client's raw raise or clear of an alarm the controller already keeps:
            # the controller answers with the full record, which is what we keep.
            return
        if not alarm.visible:
            self._forget(alarm_id, alarm)
            return
        self._current[alarm_id] = alarm
        self._save(alarm, visible=True)

    def _forget(self, alarm_id: str, last: Alarm | None = None) -> None:
        alarm = last or self._current.get(alarm_id)
        self._current.pop(alarm_id, None)
        if alarm is not None:
            self._save(alarm, visible=False)
        else:
            AlarmRow.update(visible=False).where(AlarmRow.id == alarm_id).execute()

    @staticmethod
    def _save(alarm: Alarm, visible: bool) -> None:
        data = json.dumps(alarm.model_dump(mode="json"), ensure_ascii=False)
        now = time.time()
        AlarmRow.insert(id=alarm.id, data=data, visible=visible, updated_at=now).on_conflict(
            conflict_target=[AlarmRow.id],
            update={AlarmRow.data: data, AlarmRow.visible: visible, AlarmRow.updated_at: now},
        ).execute()


ALARMS = web.AppKey("alarms", AlarmBook)


def setup_alarm_book(app: web.Application) -> None:
    async def alarms_ctx(app: web.Application) -> AsyncIterator[None]:
        mqtt = app[MQTT]
        book = AlarmBook(mqtt)
        app[ALARMS] = book
        # Whatever the table says was visible, the broker's retained set is the truth now.
        AlarmRow.update(visible=False).where(AlarmRow.visible == True).execute()  # noqa: E712
        mqtt.subscribe(mqtt.topics.all_alarms, book.on_message)
        yield
        mqtt.unsubscribe(mqtt.topics.all_alarms, book.on_message)

    app.cleanup_ctx.append(alarms_ctx)
