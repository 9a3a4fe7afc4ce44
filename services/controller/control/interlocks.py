"""Interlocks: digital inputs that must be satisfied for a loop's outputs to run.

A float switch ("liquid present"), a lid switch or a flow switch is wired to a
board's input (or reported by an MQTT device) and listed in the loop's
`interlocks`. While any of them is open — the wrong level, or a level nobody
knows (no report yet, the device offline: fail safe) — every output of the loop
is held off and the high-severity `<loop>-interlock` alarm says which one.

An interlock does not latch: closing it again lets the loop resume (like a lid
switch; the alarm, cleared, stays visible until acknowledged). What latches is a
protection (protections.py). A float switch is a second line: wire it to cut the
element's contactor directly too (docs/safety.md).
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.schema.config import Interlock, InterlockLevel, Loop, Severity
from services.controller.alarms import AlarmManager
from services.controller.devices.points import SensorPoint
from services.controller.devices.registry import Registry


class LoopInterlocks:
    def __init__(
        self,
        loop: Loop,
        registry: Registry,
        alarms: AlarmManager,
        on_change: Callable[[], None],
    ) -> None:
        self.registry = registry
        self.alarms = alarms
        self.loop_id = loop.id
        self.title = loop.name or loop.id
        self._on_change = on_change
        self._points: list[tuple[Interlock, SensorPoint]] = []
        self._seen: list[bool | None] = []
        self.configure(loop)

    @property
    def alarm_id(self) -> str:
        return f"{self.loop_id}-interlock"

    def configure(self, loop: Loop) -> None:
        self.title = loop.name or loop.id
        if [i for i, _ in self._points] == loop.interlocks:
            return
        self.stop()
        for interlock in loop.interlocks:
            point = self.registry.sensor(interlock.device, interlock.id)
            point.subscribe(self._changed)
            self._points.append((interlock, point))

    def stop(self) -> None:
        for _, point in self._points:
            point.unsubscribe(self._changed)
        self._points = []

    def _changed(self, point: SensorPoint) -> None:
        # Boards repeat every input with each reading burst: decide only when one moved.
        seen = [ok for _, ok in self.states()]
        if seen != self._seen:
            self._seen = seen
            self._on_change()

    @staticmethod
    def satisfied(interlock: Interlock, point: SensorPoint) -> bool | None:
        """True/False by the input's level; None when the level is unknown."""
        if point.error is not None or point.value is None:
            return None
        active = point.value >= 0.5
        return active == (interlock.require == InterlockLevel.active)

    def states(self) -> list[tuple[Interlock, bool | None]]:
        return [(i, self.satisfied(i, p)) for i, p in self._points]

    def open(self) -> str | None:
        """Why the outputs may not run (every open interlock named), or None; raises or
        clears the alarm accordingly."""
        reasons = []
        for interlock, ok in self.states():
            if ok:
                continue
            what = f"interlock {interlock.name or interlock.id} ({interlock.ref})"
            reasons.append(f"{what} level unknown" if ok is None else f"{what} open")
        why = "; ".join(reasons) or None
        self.alarms.condition(
            self.alarm_id,
            why is not None,
            f"{self.title}: {why}; outputs off",
            kind="interlock",
            severity=Severity.high,
            source=self.loop_id,
        )
        return why
