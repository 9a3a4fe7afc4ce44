"""A glycol chiller at run time: the reservoir's probe in, the compressor out, and which
fermenters' valves may open.

A chiller is a loop with a `chiller` section (`config.Chiller`): its sensor is the
reservoir's probe, its cooler the chiller's compressor. Fermenter loops that name it
in `glycol.chiller` drive their own valves as usual; `ChillerControl`
(control/glycol.py) decides the reservoir's setpoint from what they ask, switches the
compressor within its minimum on and off times, and says whose valve waits when the
glycol is short. It decides on every reservoir reading and when a compressor timer
runs out; the fermenters' loops ask `Chillers.blocked` at each of their decisions.

Failsafe: a missing, stale or implausible reservoir reading stops the compressor at
once (the one thing that cuts its minimum on time short) and raises `<chiller>-sensor`
naming the probe; it runs again after `RECOVER_AFTER` sane readings, once its minimum
off time is over. The fermenters' valves stay theirs: glycol a few degrees warmer is
still the only cold they have.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from services.common.loop_commands import apply_loop_command
from services.common.schema.commands import LoopCommand
from services.common.schema.config import Loop, LoopMode, Severity
from services.common.schema.state import (
    ChillerState,
    GlycolDemand,
    LoopActivity,
    LoopState,
    Output,
)
from services.common.schema.target import LoopTarget
from services.controller.control.glycol import (
    ChillerControl,
    ChillerDecision,
    ChillerSettings,
    FermenterDemand,
)
from services.controller.devices.board_safety import BoardDuty, heartbeat_s
from services.controller.devices.points import NO_READING, RECOVER_AFTER, ActuatorPoint, SensorPoint
from services.controller.events import events
from services.controller.timers import Timer

if TYPE_CHECKING:
    from services.controller.control.loop import LoopEnv, LoopRuntime

log = logging.getLogger(__name__)


def chiller_settings(loop: Loop) -> ChillerSettings:
    assert loop.chiller is not None
    return ChillerSettings(**loop.chiller.model_dump())


class ChillerRuntime:
    def __init__(
        self,
        configured: Loop,
        target: LoopTarget,
        env: LoopEnv,
        fermenters: Callable[[], Iterable[LoopRuntime]],
    ) -> None:
        self.configured = configured
        self.target = target
        self.cfg = target.onto(configured)
        self.env = env
        self._fermenters = fermenters
        now = env.clock.monotonic()
        self.started_at = now
        # At start-up the compressor may have just stopped: its minimum off time first.
        self.control = ChillerControl(chiller_settings(self.cfg), switched_at=now)
        self.point: SensorPoint = env.registry.sensor(self.cfg.sensor.device, self.cfg.sensor.id)
        self.point.subscribe(self._on_reading)
        self.compressor = self._compressor(self.cfg)
        self.compressor.subscribe(self._on_forced_off)
        self.timer = Timer(env.clock, self._decide, name=f"chiller-{self.id}")
        self.fault: str | None = None
        self.pv: float | None = None
        self.decision: ChillerDecision | None = None
        self.demands: list[FermenterDemand] = []
        self.granted: dict[str, bool] = {}
        self._published_key: tuple[object, ...] | None = None
        self._published_at = -math.inf

    @property
    def id(self) -> str:
        return self.cfg.id

    @property
    def title(self) -> str:
        return self.cfg.name or self.cfg.id

    @property
    def sensor_alarm(self) -> str:
        return f"{self.id}-sensor"

    def _compressor(self, loop: Loop) -> ActuatorPoint:
        assert loop.cooler is not None
        return self.env.registry.actuator(loop.cooler.device, loop.cooler.id)

    # life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._decide()

    def stop(self, *, remove_state: bool) -> None:
        self.timer.cancel()
        self.point.unsubscribe(self._on_reading)
        self.compressor.unsubscribe(self._on_forced_off)
        self.compressor.set(False)
        self.compressor.duty = self.compressor.decided_at = None
        self.decision = None
        self._grant({})  # nobody waits for a chiller that is gone
        self.env.alarms.forget_source(self.id)
        if remove_state:
            self.env.publish(self.id, None)

    def configure(self, loop: Loop) -> None:
        self.configured = loop
        self._apply(self.target.onto(loop))

    def adopt(self, target: LoopTarget) -> None:
        self.target = target
        self._apply(target.onto(self.configured))

    def _apply(self, loop: Loop) -> None:
        old, self.cfg = self.cfg, loop
        if (loop.sensor.device, loop.sensor.id) != (old.sensor.device, old.sensor.id):
            self.point.unsubscribe(self._on_reading)
            self.point = self.env.registry.sensor(loop.sensor.device, loop.sensor.id)
            self.point.subscribe(self._on_reading)
        compressor = self._compressor(loop)
        if compressor is not self.compressor:
            self.compressor.unsubscribe(self._on_forced_off)
            self.compressor.set(False)
            self.compressor.duty = self.compressor.decided_at = None
            self.compressor = compressor
            compressor.subscribe(self._on_forced_off)
        self.control.settings = chiller_settings(loop)
        self._decide()

    def command(self, cmd: LoopCommand, by: str | None = None) -> LoopTarget:
        """A loop command (the mode matters: `off` stops the chiller, any other runs it)."""
        loop = apply_loop_command(self.cfg, cmd, self.env.clock.now(), self.env.profiles.get)
        if loop is self.cfg:
            return self.target
        self.target = self.env.commit(LoopTarget.of(loop, changed_by=by, ts=self.env.clock.now()))
        self._apply(loop)
        return self.target

    # events -----------------------------------------------------------------------------------
    def _on_reading(self, point: SensorPoint) -> None:
        self._decide()

    def _on_forced_off(self, point: ActuatorPoint, now: float, reset: bool) -> None:
        """The board's outputs went off (it reset, its watchdog fired, a new session
        began): the minimum off time counts from now."""
        self.control.went_off(now)
        self._decide()

    def supervise(self, now: float) -> None:
        trouble = self.compressor.trouble  # the board did not do what it was told
        self.env.alarms.condition(
            f"{self.id}-compressor",
            trouble is not None,
            f"{self.title}: lost control of the compressor "
            f"{self.compressor.device}/{self.compressor.actuator}: {trouble}",
            kind="loss_of_control",
            severity=Severity.high,
            source=self.id,
        )
        _, why = self.point.status(now, self.cfg.alarms.stale_after_s)
        if why is not None and self.fault is None:
            self._decide()
        elif now - self._published_at >= self.env.publish_every_s:
            self.publish(now, force=True)

    # the decision ------------------------------------------------------------------------------
    def fermenters(self) -> list[LoopRuntime]:
        return [r for r in self._fermenters() if r.cfg.glycol and r.cfg.glycol.chiller == self.id]

    def _demands(self) -> list[FermenterDemand]:
        demands = []
        for runtime in self.fermenters():
            if runtime.sp is None:
                continue  # off, manual, or no setpoint: it asks nothing of the reservoir
            assert runtime.cfg.glycol is not None
            demands.append(
                FermenterDemand(
                    runtime.id,
                    runtime.sp,
                    runtime.pv,
                    runtime.control.cool_duty,
                    runtime.cfg.glycol.priority,
                )
            )
        return demands

    def _decide(self) -> None:
        now = self.env.clock.monotonic()
        pv, why = self.point.status(now, self.cfg.alarms.stale_after_s)
        recovering = self.fault not in (None, NO_READING)
        if why is None and recovering and self.point.good_streak < RECOVER_AFTER:
            why = self.fault  # sane again, but not for long enough yet
        self.pv = pv if why is None else None
        self._set_fault(now, why)
        self.demands = self._demands()
        if why is not None or self.cfg.mode == LoopMode.off:
            self.control.force_off(now)
        decision = self.control.update(
            now,
            None if why is not None or self.cfg.mode == LoopMode.off else pv,
            self.demands,
        )
        if why is not None:  # no reservoir reading: every valve decides for itself
            decision.granted.update(dict.fromkeys(decision.granted, True))
        self.decision = decision
        self.compressor.set(decision.compressor)
        # The board's heartbeat: this chiller decided now (a hung host stops renewing it).
        self.compressor.duty = BoardDuty(self.cfg.sensor, heartbeat_s=heartbeat_s(self.cfg))
        self.compressor.decided_at = now
        self.timer.at(decision.next_at)
        self._grant(decision.granted)
        self.publish(now)

    def _grant(self, granted: dict[str, bool]) -> None:
        """Tell the fermenters whose valve may now open, or must now wait."""
        old, self.granted = self.granted, dict(granted)
        for runtime in self.fermenters():
            if old.get(runtime.id, True) != self.granted.get(runtime.id, True):
                runtime.decide(sample=False)

    def blocked(self, loop_id: str) -> str | None:
        if self.granted.get(loop_id, True):
            return None
        served = [d.name for d in self.demands if d.calling and self.granted.get(d.name, True)]
        to = f": served first: {', '.join(served)}" if served else ""
        return f"waiting for glycol (chiller {self.title} short{to})"

    def _set_fault(self, now: float, why: str | None) -> None:
        ref = f"{self.cfg.sensor.device}/{self.cfg.sensor.id}"
        if why is None:
            if self.fault not in (None, NO_READING):
                events.info("chiller %s: reservoir probe %s is sane again", self.id, ref)
            self.fault = None
            self.env.alarms.condition(self.sensor_alarm, False)
            return
        if self.fault is None and why != NO_READING:
            log.warning("chiller %s: reservoir probe %s %s; compressor off", self.id, ref, why)
        self.fault = why
        starting = why == NO_READING and now - self.started_at < self.cfg.alarms.stale_after_s
        if not starting:
            self.env.alarms.condition(
                self.sensor_alarm,
                True,
                f"{self.title}: reservoir probe {ref} {why}; chiller compressor off",
                kind="sensor",
                severity=Severity.high,
                source=self.id,
            )

    # state --------------------------------------------------------------------------------------
    def activity(self) -> LoopActivity:
        d = self.decision
        if self.fault is not None:
            return LoopActivity.fault
        if self.cfg.mode == LoopMode.off or d is None:
            return LoopActivity.off
        if d.compressor:
            return LoopActivity.cooling
        return LoopActivity.waiting if d.waiting else LoopActivity.idle

    def state(self, now: float) -> LoopState:
        d = self.decision
        clock = self.env.clock
        until = None
        if d is not None and d.waiting and d.next_at is not None:
            until = float(round(clock.now() + d.next_at - clock.monotonic()))
        return LoopState(
            loop=self.id,
            name=self.cfg.name,
            pv=None if self.pv is None else round(self.pv, 3),
            sp=None if d is None else round(d.reservoir_setpoint, 2),
            output=Output(cool=100.0 if d is not None and d.compressor else 0.0),
            mode=self.cfg.mode,
            state=self.activity(),
            waiting_reason=self.fault or (f"compressor: {d.waiting}" if d and d.waiting else None),
            waiting_until=until,
            alarms=list(self.env.alarms.active_for(self.id)),
            relays={"cooler": self.compressor.confirmed},
            relay_starts={"cooler": self.control.starts},
            revision=self.target.revision,
            chiller=None
            if d is None
            else ChillerState(
                reservoir_setpoint=round(d.reservoir_setpoint, 2),
                compressor=d.compressor,
                short=d.short,
                calling=sum(1 for x in self.demands if x.calling),
                demand=[
                    GlycolDemand(
                        loop=x.name,
                        setpoint=x.setpoint,
                        cool=round(x.duty * 100, 1),
                        priority=x.priority,
                        granted=d.granted.get(x.name, True),
                    )
                    for x in self.demands
                ],
                starts=self.control.starts,
            ),
            ts=now,
        )

    def publish(self, now: float, force: bool = False) -> None:
        d = self.decision
        key = (
            None if self.pv is None else round(self.pv, 2),
            self.cfg.mode,
            self.fault,
            None
            if d is None
            else (d.compressor, round(d.reservoir_setpoint, 2), d.short, d.waiting, d.next_at),
            tuple(sorted(self.granted.items())),
            tuple((x.name, x.calling) for x in self.demands),
            self.env.alarms.active_for(self.id),
            self.compressor.confirmed,
            self.target.revision,
        )
        if not force and key == self._published_key:
            return
        self._published_key = key
        self._published_at = now
        self.env.publish(self.id, self.state(self.env.clock.now()))


class Chillers:
    """The chillers this controller runs, as the fermenters' loops see them."""

    def __init__(self) -> None:
        self.running: dict[str, ChillerRuntime] = {}

    def blocked(self, runtime: LoopRuntime) -> str | None:
        """Why this fermenter's valve waits for glycol, or None."""
        supply = runtime.cfg.glycol
        chiller = self.running.get(supply.chiller) if supply is not None else None
        return chiller.blocked(runtime.id) if chiller is not None else None
