"""A loop's step profile at run time: the gravity it watches, the engine it asks each
decision (services/common/programs.py), and the events it tells the brewer about.

The loop runtime calls `setpoint()` in every decision; when the engine moves the run
on, the new run goes back through the runtime's `update_run` (the run is part of the
loop's target, which the runtime owns and persists). Each step change and each wait is
an event: logged (Logs tab), published on `<prefix>/events/<loop>` (history turns them
into chart annotations), and a wait for the brewer is a low-severity alarm
`<loop>-confirm` with the step's prompt, cleared once confirmed.

Gravity readings are kept here in memory (the last `KEEP` of them): after a restart a
`stable` condition waits for its window to fill again, which errs on the safe side.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from services.common import programs
from services.common.clock import Clock
from services.common.mqtt import MqttClient
from services.common.programs import GravityReading, StepResult
from services.common.schema.config import IoRef, Profile, ProfileRun, Severity
from services.common.schema.state import ProfileProgress, ProgramEvent
from services.controller.alarms import AlarmManager
from services.controller.devices.points import SensorPoint
from services.controller.devices.registry import Registry
from services.controller.events import events

log = logging.getLogger(__name__)

KEEP = 4000
"""Gravity readings kept: six weeks of an iSpindel reporting every 15 minutes."""
DATA_CODES = ("no_gravity", "stale", "untrusted", "few_readings", "noisy", "no_og")
"""What a waiting step reports as a `data` event when it starts waiting for that reason."""
PLATO_UNITS = {"°p", "p", "plato", "°plato"}


@dataclass
class StepEnv:
    clock: Clock
    registry: Registry
    alarms: AlarmManager
    mqtt: MqttClient


class StepRunner:
    def __init__(
        self, loop_id: str, title: str, env: StepEnv, on_reading: Callable[[], None]
    ) -> None:
        self.loop_id = loop_id
        self.title = title
        self.env = env
        self.on_reading = on_reading
        self.readings: deque[GravityReading] = deque(maxlen=KEEP)
        self.result: StepResult | None = None
        self._point: SensorPoint | None = None
        self._ref: IoRef | None = None
        self._code: str | None = None

    @property
    def confirm_alarm(self) -> str:
        return f"{self.loop_id}-confirm"

    # the hydrometer --------------------------------------------------------------------------
    def watch(self, ref: IoRef | None) -> None:
        """Follow the loop's configured gravity sensor (or none)."""
        if ref == self._ref:
            return
        if self._point is not None:
            self._point.unsubscribe(self._on_gravity)
        self._ref, self._point = ref, None
        self.readings.clear()
        if ref is not None:
            self._point = self.env.registry.sensor(ref.device, ref.id)
            self._point.subscribe(self._on_gravity)

    def _on_gravity(self, point: SensorPoint) -> None:
        if point.error is not None or point.value is None:
            return  # a device gone quiet is no reading: the engine judges staleness by age
        value = point.value
        if point.unit.strip().lower() in PLATO_UNITS:
            value = programs.plato_to_sg(value)
        # Wall time, as the run's own times: point.ts is the monotonic clock (protections).
        now = self.env.clock.now()
        self.readings.append(programs.check_gravity(value, now, self._battery()))
        self.on_reading()

    def _battery(self) -> float | None:
        """The same hydrometer's battery voltage, when it reports one (iSpindel's `battery`)."""
        if self._ref is None:
            return None
        point = self.env.registry.sensors.get((self._ref.device, "battery"))
        return point.value if point is not None and point.error is None else None

    # each decision --------------------------------------------------------------------------
    def setpoint(
        self,
        profile: Profile,
        run: ProfileRun,
        now: float,
        pv: float | None,
        update_run: Callable[[ProfileRun], None],
    ) -> float | None:
        result = programs.evaluate(profile, run, now, pv, self.readings)
        self.result = result
        if result.changed:
            update_run(result.run)
        for event in result.events:
            self._emit(profile, event, now)
        code = result.waiting.code if result.waiting else None
        waiting = result.run.waiting_since is not None
        if (
            waiting
            and code != self._code
            and code in DATA_CODES
            and not any(e.kind == "waiting" for e in result.events)
        ):
            index = result.run.step or 0
            text = f"{programs.label(profile, index)}: {result.waiting.text}"  # type: ignore[union-attr]
            self._emit(
                profile,
                programs.StepEvent("data", index, programs.label(profile, index), text),
                now,
            )
        self._code = code
        self._confirm_alarm(code == "confirm", result)
        return result.setpoint

    def progress(self, profile: Profile, run: ProfileRun, now: float) -> ProfileProgress:
        result = self.result
        if result is None or result.run != run:
            result = programs.evaluate(profile, run, now, None, self.readings)
        return programs.progress(profile, run, now, result)

    def idle(self) -> None:
        """No step profile runs (any more): nothing to wait for."""
        self.result = None
        self._code = None
        self._confirm_alarm(False, None)

    def stop(self) -> None:
        self.watch(None)
        self.idle()

    # events ---------------------------------------------------------------------------------
    def _emit(self, profile: Profile, event: programs.StepEvent, now: float) -> None:
        events.info("loop %s: %s", self.loop_id, event.text)
        payload = ProgramEvent(
            loop=self.loop_id,
            profile=profile.id,
            kind=event.kind,
            step=event.step,
            name=event.name,
            text=event.text,
            confirm=event.confirm,
            ts=now,
        )
        mqtt = self.env.mqtt
        mqtt.publish(mqtt.topics.loop_events(self.loop_id), payload.model_dump_json(), qos=1)

    def _confirm_alarm(self, active: bool, result: StepResult | None) -> None:
        text = result.waiting.text if result is not None and result.waiting else ""
        self.env.alarms.condition(
            self.confirm_alarm,
            active,
            f"{self.title}: {text}",
            kind="confirm",
            severity=Severity.low,
            source=self.loop_id,
        )
