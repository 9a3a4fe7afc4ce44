"""One control loop at run time: readings in, relays out, state and alarms published.

Event-driven: every reading of the loop's sensor leads to a decision at once;
a per-loop timer switches relays at the times their windows ask for; the
controller's supervisor calls `supervise` every second for what only the passage
of time reveals (a stale sensor) and to publish the state at least every few
seconds.

Failsafe: whenever the reading is missing, stale or implausible, every output of
the loop goes off in that same decision and the `<loop>-sensor` alarm is raised.
Control resumes by itself after `RECOVER_AFTER` consecutive sane readings.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.common.clock import Clock
from services.common.loop_commands import apply_loop_command
from services.common.schema.commands import AutotuneCommand, LoopCommand, ProfileCommand
from services.common.schema.config import Loop, LoopMode, Profile, ProfileRun, Severity
from services.common.schema.state import (
    AlarmDetail,
    AutotuneState,
    InterlockState,
    LoopActivity,
    LoopState,
    Output,
    ProfileProgress,
    RefusedCommand,
    displayed,
)
from services.common.schema.target import LoopTarget
from services.controller.alarms import AlarmManager
from services.controller.control import profile as profiles
from services.controller.control.chiller import Chillers
from services.controller.control.contactor import MasterContactors
from services.controller.control.core import Decision, LoopControl
from services.controller.control.interlocks import LoopInterlocks
from services.controller.control.protections import LoopGuard
from services.controller.control.steps import StepEnv, StepRunner
from services.controller.control.tuning import Tuning
from services.controller.devices import board_safety
from services.controller.devices.points import (
    NO_READING,
    RECOVER_AFTER,
    ActuatorPoint,
    SensorPoint,
)
from services.controller.devices.registry import Registry
from services.controller.events import events
from services.controller.timers import Timer
from services.controller.trips import Trips

log = logging.getLogger(__name__)

REACHED_BAND_C = 0.5
"""|PV − SP| within this counts as 'setpoint reached' (unless `alarms.deviation` is set)."""
LIMIT_HYSTERESIS_C = 0.5


@dataclass
class LoopEnv:
    clock: Clock
    registry: Registry
    alarms: AlarmManager
    profiles: Mapping[str, Profile]
    publish: Callable[[str, LoopState | None], None]
    commit: Callable[[LoopTarget], LoopTarget]
    """Store a changed target (revision + 1, on disk, published) and return it."""
    publish_every_s: float = 5.0
    contactors: MasterContactors | None = None
    tunings: Mapping[str, AutotuneState] | None = None
    """Each loop's last finished autotune run, as this controller's disk kept it."""
    remember_tuning: Callable[[str, AutotuneState | None], None] = lambda loop_id, status: None
    """Keep (on disk) a loop's finished autotune run; None forgets it."""
    chillers: Chillers | None = None
    trips: Trips | None = None  # latched trips on the controller's disk


class LoopRuntime:
    def __init__(self, configured: Loop, target: LoopTarget, env: LoopEnv) -> None:
        self.configured = configured  # the API's configuration, as last published
        self.target = target  # what the loop is told to do: ours alone (commands change it)
        loop = self.cfg = target.onto(configured)  # the two together: what runs
        self.env = env
        now = env.clock.monotonic()
        self.started_at = now
        self.control = LoopControl(loop, now)
        self.point: SensorPoint = env.registry.sensor(loop.sensor.device, loop.sensor.id)
        self.point.subscribe(self._on_reading)
        self.chamber: SensorPoint | None = None  # the cascade's chamber-air probe
        self._watch_chamber(loop)
        self.heater = self._actuator(loop.heater)
        self.cooler = self._actuator(loop.cooler)
        for actuator in (self.heater, self.cooler):
            if actuator is not None:
                actuator.subscribe(self._on_forced_off)
        self.timer = Timer(env.clock, self._on_timer, name=f"loop-{loop.id}")
        self.guard = LoopGuard(
            loop, env.alarms, on_reset=lambda: self.decide(sample=True), trips=env.trips
        )
        self.fault: str | None = None
        self._fault_since = now
        self.pv: float | None = None
        self.pv_display: float | None = None
        self.sp: float | None = None
        self.decision: Decision | None = None
        self._schedule: profiles.Schedule | None = None
        self._finished_logged = False
        self._missing_profile_logged = False
        self._last_sp: float | None = None
        self._sp_changed_at = now
        self._settled = False
        self.last_error: RefusedCommand | None = None  # the last refused command
        self._published_key: tuple[object, ...] | None = None
        self._published_at = -math.inf
        self._deciding = False
        self._duties_for: tuple[object, float | None] = (None, None)
        self._duties: tuple[board_safety.BoardDuty, board_safety.BoardDuty] | None = None
        self.steps = StepRunner(  # step profiles (programs): control/steps.py
            loop.id,
            self.title,
            StepEnv(env.clock, env.registry, env.alarms, env.registry.ctx.mqtt),
            lambda: self.decide(sample=False),
        )
        self.steps.watch(loop.gravity)
        self.held: str | None = None  # an open interlock, or a contactor another loop tripped
        self.glycol_wait: str | None = None  # a chiller short of glycol serves others first
        self.contactor = self._actuator(loop.contactor)
        self.interlocks = LoopInterlocks(
            loop, env.registry, env.alarms, lambda: self.decide(sample=False)
        )
        if env.contactors is not None:
            env.contactors.attach(self)
        # autotune runs (control/tuning.py); the last finished one survives a restart
        self.tuning = Tuning((env.tunings or {}).get(loop.id))
        self.tuning.configured(configured)
        self._remembered = self.tuning.status

    @property
    def id(self) -> str:
        return self.cfg.id

    @property
    def title(self) -> str:
        return self.cfg.name or self.cfg.id

    def _watch_chamber(self, loop: Loop) -> None:
        ref = loop.cascade.chamber if loop.cascade is not None else None
        new = self.env.registry.sensor(ref.device, ref.id) if ref is not None else None
        if new is self.chamber:
            return
        if self.chamber is not None:
            self.chamber.unsubscribe(self._on_reading)
        self.chamber = new
        if new is not None:
            new.subscribe(self._on_reading)

    def chamber_pv(self, now: float) -> float | None:
        """The chamber air's temperature, None when there is no chamber probe or it is
        not usable (then the loop controls the beer directly)."""
        if self.chamber is None:
            return None
        pv, why = self.chamber.status(now, self.cfg.alarms.stale_after_s)
        return pv if why is None else None

    @property
    def needs_power(self) -> bool:
        """Running (or an output on): its master contactor must be in."""
        d = self.decision
        return d is not None and (self.control.active or d.heat or d.cool)

    def _actuator(self, ref: object) -> ActuatorPoint | None:
        if ref is None:
            return None
        return self.env.registry.actuator(ref.device, ref.id)  # type: ignore[attr-defined]

    # life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.alarm_changed()  # a trip from before a restart, if its alarm is already here
        latched = self.env.trips.latched.get(self.id) if self.env.trips else None
        if self.guard.tripped is None and latched is not None:
            self.guard.relatch(*latched)  # the broker down, or its alarm lost: the disk's
        self.decide(sample=True)

    def stop(self, *, remove_state: bool) -> None:
        """Outputs off, timer and alarms gone; `remove_state` also clears the retained state."""
        self.tuning.abort("the loop stopped")
        self._detach()
        for actuator in (self.heater, self.cooler):
            if actuator is not None:
                actuator.set(False)
                actuator.duty = actuator.decided_at = None  # no loop drives it now
        self.steps.stop()
        self.decision = None
        if self.env.contactors is not None:
            self.env.contactors.detach(self)
        # A latched trip outlives a stop: the next controller finds its alarm and stays
        # tripped until the brewer acknowledges it (unless the loop is deleted).
        keep = () if remove_state else (self.guard.alarm_id,)
        self.env.alarms.forget_source(self.id, keep=keep)
        if remove_state:
            self.env.publish(self.id, None)
            self.env.remember_tuning(self.id, None)
            if self.env.trips is not None:  # deleted: its trip goes with it
                self.env.trips.clear(self.id)

    def abandon(self) -> None:
        """The process dies (kill -9): no more decisions; no output, alarm or state is
        touched — whatever the boards were told last stands until their watchdogs."""
        self._detach()

    def _detach(self) -> None:
        """No more timer, readings, board news or interlocks for this loop."""
        self.timer.cancel()
        self.point.unsubscribe(self._on_reading)
        if self.chamber is not None:
            self.chamber.unsubscribe(self._on_reading)
        for actuator in (self.heater, self.cooler):
            if actuator is not None:
                actuator.unsubscribe(self._on_forced_off)
        self.interlocks.stop()

    def configure(self, loop: Loop) -> None:
        """A changed configuration (from the API), applied without disturbing what did not
        change. Its target fields are not ours to take: the target stays as commanded."""
        self.configured = loop
        self.tuning.configured(loop)
        target = self.target
        if not loop.setpoint_min <= target.setpoint <= loop.setpoint_max:
            # New limits the target breaks: the limits win, and everyone is told.
            clamped = min(max(target.setpoint, loop.setpoint_min), loop.setpoint_max)
            log.warning(
                "loop %s: setpoint %g °C is outside the new limits; now %g °C",
                self.id,
                target.setpoint,
                clamped,
            )
            self._commit(target.onto(loop).model_copy(update={"setpoint": clamped}), "config")
            target = self.target
        self._apply(target.onto(loop))

    def adopt(self, target: LoopTarget) -> None:
        """A target taken over from the broker (this controller's disk had none)."""
        self.target = target
        self._apply(target.onto(self.configured))

    def _apply(self, loop: Loop) -> None:
        old, self.cfg = self.cfg, loop
        now = self.env.clock.monotonic()
        if (loop.sensor.device, loop.sensor.id) != (old.sensor.device, old.sensor.id):
            self.point.unsubscribe(self._on_reading)
            self.point = self.env.registry.sensor(loop.sensor.device, loop.sensor.id)
            self.point.subscribe(self._on_reading)
        self._watch_chamber(loop)
        for attr, ref in (("heater", loop.heater), ("cooler", loop.cooler)):
            new = self._actuator(ref)
            current = getattr(self, attr)
            if current is not new:
                if current is not None:
                    current.unsubscribe(self._on_forced_off)
                    current.set(False)
                    current.duty = current.decided_at = None
                if new is not None:
                    new.subscribe(self._on_forced_off)
                setattr(self, attr, new)
        if (
            loop.profile is None
            or old.profile is None
            or loop.profile.profile != old.profile.profile
        ):
            self._schedule = None
            self._finished_logged = False
        self.steps.watch(loop.gravity)
        self.interlocks.configure(loop)
        if loop.contactor != old.contactor:
            self.contactor = self._actuator(loop.contactor)
            if self.env.contactors is not None and old.contactor is not None:
                self.env.contactors.refresh((old.contactor.device, old.contactor.id))
        self.control.configure(loop, now)
        self.guard.configure(loop)
        self.decide(sample=True)

    def _step_profile(self) -> Profile | None:
        """The running profile when it is a step profile (programs)."""
        run = self.cfg.profile
        profile = self.env.profiles.get(run.profile) if run is not None else None
        return profile if profile is not None and profile.steps is not None else None

    def profile_changed(self) -> None:
        """The running profile's points were edited: follow the new ones from now."""
        self._schedule = None
        self.decide(sample=False)

    # events -----------------------------------------------------------------------------------
    def _on_reading(self, point: SensorPoint) -> None:
        self.decide(sample=True)

    def _on_timer(self) -> None:
        self.decide(sample=False)

    def _on_forced_off(self, point: ActuatorPoint, now: float, reset: bool) -> None:
        """The board's outputs went off at `now` (it reset, or its watchdog fired, or a new
        session began and it may have kept them on until now). Minimum off times count
        from then; after a reset control returns only after fresh sane readings."""
        if reset:
            why = f"board {point.device} reset: waiting for fresh readings"
            self.control.hold_off(now, why)
            self.point.good_streak = 0
            self._set_fault(now, why)
        self.control.went_off(now)  # switched_at = now: minimum off starts here
        self.decide(sample=False)

    def alarm_changed(self) -> None:
        """An alarm about this loop changed: acknowledging the protection's resets it."""
        alarms = self.env.alarms
        record = alarms.records.get(self.guard.alarm_id)
        if (
            not self.guard.settled
            and record is not None
            and record.state == "active"
            and not alarms.owns(record.id)
        ):
            # Tripped before this controller (re)started: still latched until acknowledged.
            # Only before this run has a trip of its own, taken over or reset: the broker's
            # retained copy arriving late (it was down) must not undo an acknowledgement.
            self.guard.relatch(record.kind, record.message)
            self.decide(sample=False)
        if self.guard.tripped is not None and record is not None and record.acknowledged:
            self.guard.acknowledged(self.pv_raw(), self.heater, self.cooler, self.contactor)

    def pv_raw(self) -> float | None:
        pv, why = self.point.status(self.env.clock.monotonic(), self.cfg.alarms.stale_after_s)
        return pv if why is None else None

    def supervise(self, now: float) -> None:
        """Periodic (`now`: monotonic): notice a sensor gone stale; keep the state fresh."""
        _, why = self.point.status(now, self.cfg.alarms.stale_after_s)
        waiting_alarm = self.fault is not None and not self.env.alarms.is_active(self.sensor_alarm)
        trouble = self.guard.tripped is None and any(
            a is not None and a.trouble for a in (self.heater, self.cooler, self.contactor)
        )
        if (why is not None and self.fault is None) or waiting_alarm or trouble:
            self.decide(sample=False)
        elif now - self._published_at >= self.env.publish_every_s:
            # Also where a relay's acknowledgement shows when no reading came since.
            self.publish(now, force=True)

    # the decision ------------------------------------------------------------------------------
    def decide(self, sample: bool) -> None:
        """Decide, and if deciding fails, fail safe: every output off, an alarm."""
        if self._deciding:  # a program moved its run on inside this decision: it goes on
            return
        self._deciding = True
        error_alarm = f"{self.id}-error"
        try:
            self._decide(sample)
        except Exception as exc:
            log.exception("loop %s: decision failed; outputs off", self.id)
            for actuator in (self.heater, self.cooler):
                if actuator is not None:
                    actuator.set(False)
            try:
                self.control.hold_off(self.env.clock.monotonic(), "decision failed")
            except Exception:
                log.exception("loop %s: could not even hold its outputs off", self.id)
            self.env.alarms.condition(
                error_alarm,
                True,
                f"{self.title}: the controller failed deciding this loop ({exc!r}); outputs off",
                kind="error",
                severity=Severity.high,
                source=self.id,
            )
            return
        finally:
            self._deciding = False
        self.env.alarms.condition(error_alarm, False)

    def _decide(self, sample: bool) -> None:
        # Durations on the monotonic clock; wall time only for the profile's dates.
        now = self.env.clock.monotonic()
        cfg, control = self.cfg, self.control
        pv, why = self.point.status(now, cfg.alarms.stale_after_s)
        recovering = False
        if (
            why is None
            and self.fault not in (None, NO_READING)
            and self.point.good_streak < RECOVER_AFTER
        ):
            why = self.fault  # sane again, but not for long enough yet
            recovering = True
        self.pv = pv if why is None else None
        self.pv_display = displayed(self.pv, self.pv_display)
        sp = self.setpoint(self.env.clock.now())
        self.sp = sp if cfg.mode in (LoopMode.constant, LoopMode.profile) else None
        contactors = self.env.contactors
        self.held = self.interlocks.open() or (contactors.blocked(self) if contactors else None)
        chillers = self.env.chillers
        self.glycol_wait = chillers.blocked(self) if chillers and cfg.glycol else None
        tuning = self.tuning
        if tuning.running:  # anything else happening to the loop ends the run
            if why is not None:
                tuning.abort(f"sensor {why}")
            elif self.guard.tripped is not None:
                tuning.abort(f"protection: {self.guard.tripped}")
            elif self.held is not None or self.glycol_wait is not None:
                tuning.abort(self.held or self.glycol_wait or "")
            else:
                tuning.check(cfg, sp)
            if not tuning.running and (bias := tuning.handover()) is not None:
                control.pid.reset(bias)  # the PID resumes from what held the setpoint
        if why is not None:
            if self.fault is None:
                self._fault_since = now
            self._set_fault(now, why)
            glitch = self.guard.settings.glitch_s or 0.0
            # Only a bad reading is a glitch to ride through; a lost or stale probe is not.
            glitching = recovering or (self.point.error is not None and self.point.glitch)
            ride = self._fault_since + glitch if glitching and glitch and not self.held else None
            control.hold_off(now, why, ride, cooldown=why != NO_READING)
        else:
            if self.fault is not None:
                self._set_fault(now, None)
            if self.guard.tripped is not None:
                control.hold_off(now, self.guard.tripped)
            elif self.held is not None:
                control.hold_off(now, self.held)
            elif self.glycol_wait is not None and cfg.mode != LoopMode.off:
                # Not a fault: no fault-free period after it; the PID keeps its integral.
                control.hold_off(now, self.glycol_wait, cooldown=False)
            elif tuning.running:
                if sample:
                    out = tuning.step(now, self.env.clock.now(), pv, self._applied())  # type: ignore[arg-type]
                    if out is None:  # it ended: back to the PID, from the run's average
                        bias = tuning.handover()
                        control.manual(control.output if bias is None else bias)
                        control.sample(now, pv, sp)  # type: ignore[arg-type]
                    else:
                        control.manual(out)
            elif cfg.mode == LoopMode.manual:
                control.manual(cfg.manual_output)
            elif cfg.mode == LoopMode.off or sp is None:
                control.hold_off(now)
            elif sample or not control.active:
                control.sample(now, pv, sp, self.chamber_pv(now))  # type: ignore[arg-type]
        decision = control.update(now)
        was = self.guard.tripped
        cause = self.guard.check(
            now,
            self.pv,
            control.heat_duty,
            decision.heat,
            decision.cool,
            self.heater,
            self.cooler,
            control.cooler.starts if control.cooler is not None else 0,
            self.contactor,
        )
        if cause is not None and was is None:  # tripped just now: off in this same decision
            tuning.abort(f"protection: {cause}")
            control.hold_off(now, cause)
            decision = control.update(now)
        only_glycol = self.fault is None and self.guard.tripped is None and self.held is None
        if self.glycol_wait is not None and only_glycol and decision.activity == LoopActivity.fault:
            decision.activity = LoopActivity.waiting  # its valve waits its turn: no fault
        self.decision = decision
        # The contactor closes before an output switches on and opens after they are off.
        if contactors is not None and self.needs_power:
            contactors.update(self)
        if self.heater is not None:
            self.heater.set(decision.heat)
        if self.cooler is not None:
            self.cooler.set(decision.cool)
        self._tell_boards(now)
        if contactors is not None and not self.needs_power:
            contactors.update(self)
        self.timer.at(decision.next_at)
        self._check_alarms(now)
        self.publish(now)

    def _tell_boards(self, now: float) -> None:
        """What the boards enforce by themselves (a heater's high limit, the fallback
        thermostat), and the heartbeat: this loop decided at `now`."""
        cfg = self.cfg
        # a tripped loop leaves nothing for a fallback to switch on
        sp = self.sp if self.guard.tripped is None and cfg.board_fallback else None
        if self._duties is None or self._duties_for[0] is not cfg or self._duties_for[1] != sp:
            # new duty objects only when something changed: the boards skip the same ones
            self._duties_for = (cfg, sp)
            # the configured cutout: the board's limit holds whatever the host thinks
            cutout = cfg.protection_settings.cutout_c
            self._duties = (
                board_safety.heater_duty(cfg, cutout, sp),
                board_safety.cooler_duty(cfg, sp),
            )
        if self.heater is not None:
            self.heater.duty = self._duties[0]
            self.heater.decided_at = now
        if self.cooler is not None:
            self.cooler.duty = self._duties[1]
            self.cooler.decided_at = now

    def _applied(self) -> float:
        """The output in force until now, %: what the relay's run records as its input."""
        c = self.control
        heat = c.heater is not None and c.heater.on
        cool = c.cooler is not None and c.cooler.on
        return (100.0 if heat else 0.0) - (100.0 if cool else 0.0)

    def setpoint(self, now: float) -> float | None:
        """The setpoint at wall time `now` (a profile runs by date)."""
        cfg = self.cfg
        if cfg.mode != LoopMode.profile:
            self.steps.idle()
            return cfg.setpoint
        stepped = self._step_profile()
        if stepped is not None and cfg.profile is not None:
            sp = self.steps.setpoint(stepped, cfg.profile, now, self.pv, self.update_run)
            return None if sp is None else min(cfg.setpoint_max, max(cfg.setpoint_min, sp))
        self.steps.idle()
        schedule = self.schedule()
        if schedule is None or cfg.profile is None:
            return self._last_sp if self._last_sp is not None else cfg.setpoint
        elapsed = profiles.elapsed_in(cfg.profile, now)
        if elapsed >= schedule.duration and not self._finished_logged:
            self._finished_logged = True
            last = schedule.temperatures[-1]
            events.info(
                "loop %s: profile %s finished; holding %s",
                cfg.id,
                schedule.profile.id,
                f"{last:g} °C" if last is not None else "control off",
            )
        elif elapsed < schedule.duration:
            self._finished_logged = False
        sp = schedule.setpoint(elapsed)
        if sp is None:
            return None
        return min(cfg.setpoint_max, max(cfg.setpoint_min, sp))

    def schedule(self) -> profiles.Schedule | None:
        run = self.cfg.profile
        if run is None:
            return None
        profile = self.env.profiles.get(run.profile)
        if profile is not None and profile.steps is not None:
            return None  # a step profile: no point schedule (control/steps.py)
        if profile is None:
            if not self._missing_profile_logged:
                self._missing_profile_logged = True
                log.warning(
                    "loop %s: profile %r is not configured; holding the last setpoint",
                    self.id,
                    run.profile,
                )
            return None
        self._missing_profile_logged = False
        if self._schedule is None or self._schedule.profile is not profile:
            self._schedule = profiles.Schedule.of(profile)
        return self._schedule

    # failsafe and alarms ----------------------------------------------------------------------------
    @property
    def sensor_alarm(self) -> str:
        return f"{self.id}-sensor"

    def _set_fault(self, now: float, why: str | None) -> None:
        ref = f"{self.cfg.sensor.device}/{self.cfg.sensor.id}"
        if why is None:
            if self.fault == NO_READING:
                log.info("loop %s: first reading from %s; control starts", self.id, ref)
            else:
                events.info("loop %s: sensor %s is sane again; control resumes", self.id, ref)
            self.fault = None
            self.env.alarms.condition(self.sensor_alarm, False)
            return
        if self.fault is None:
            level = logging.INFO if why == NO_READING else logging.WARNING
            log.log(level, "loop %s: sensor %s %s; outputs off", self.id, ref, why)
        self.fault = why
        starting = why == NO_READING and now - self.started_at < self.cfg.alarms.stale_after_s
        if not starting:
            self.env.alarms.condition(
                self.sensor_alarm,
                True,
                f"{self.title}: sensor {ref} {why}; outputs off",
                kind="sensor",
                severity=Severity.high,
                source=self.id,
            )

    def _check_alarms(self, now: float) -> None:
        pv, sp, cfg, alarms = self.pv, self.sp, self.cfg, self.env.alarms
        limits = cfg.alarms
        if pv is None:
            return
        for kind, limit, above in (("high", limits.high, True), ("low", limits.low, False)):
            alarm_id = f"{self.id}-{kind}"
            if limit is None:
                alarms.condition(alarm_id, False)
                continue
            beyond = pv > limit if above else pv < limit
            if alarms.is_active(alarm_id):
                beyond = (
                    pv > limit - LIMIT_HYSTERESIS_C if above else pv < limit + LIMIT_HYSTERESIS_C
                )
            alarms.condition(
                alarm_id,
                beyond,
                f"{self.title}: {pv:.1f} °C is {'above' if above else 'below'} the {kind} limit {limit:g} °C",
                kind=kind,
                severity=Severity.high,
                source=self.id,
            )
        if sp is None:
            self._last_sp = None
            alarms.condition(f"{self.id}-setpoint", False)
            alarms.condition(f"{self.id}-deviation", False)
            return
        band = limits.deviation or REACHED_BAND_C
        if self._last_sp is None or abs(sp - self._last_sp) > band:
            self._sp_changed_at = now
            self._settled = False
        self._last_sp = sp
        error = abs(pv - sp)
        if error <= band:
            self._settled = True
        timeout = limits.setpoint_timeout_s
        alarms.condition(
            f"{self.id}-setpoint",
            timeout is not None and not self._settled and now - self._sp_changed_at > timeout,
            f"{self.title}: {sp:.1f} °C not reached within {(timeout or 0) / 60:.0f} min (at {pv:.1f} °C)",
            kind="setpoint_timeout",
            severity=Severity.medium,
            source=self.id,
        )
        if limits.deviation is not None:
            alarm_id = f"{self.id}-deviation"
            off = error > limits.deviation
            if alarms.is_active(alarm_id):
                off = error > 0.8 * limits.deviation
            alarms.condition(
                alarm_id,
                self._settled and off,
                f"{self.title}: {pv:.1f} °C is {error:.1f} °C from the setpoint {sp:.1f} °C",
                kind="deviation",
                severity=Severity.medium,
                source=self.id,
            )

    # state --------------------------------------------------------------------------------------
    def state(self, now: float) -> LoopState:
        """The live state at wall time `now`."""
        decision = self.decision
        control = self.control
        activity = decision.activity if decision else LoopActivity.off
        progress: ProfileProgress | None = None
        stepped = self._step_profile()
        if self.cfg.mode == LoopMode.profile and self.cfg.profile is not None and stepped:
            progress = self.steps.progress(stepped, self.cfg.profile, now)
        elif self.cfg.mode == LoopMode.profile and self.cfg.profile is not None:
            schedule = self.schedule()
            if schedule is not None:
                progress = schedule.progress(self.cfg.profile, now)
        return LoopState(
            loop=self.id,
            name=self.cfg.name,
            pv=None if self.pv is None else round(self.pv, 3),
            pv_display=self.pv_display,
            sp=None if self.sp is None else round(self.sp, 3),
            chamber_sp=None if control.chamber_sp is None else round(control.chamber_sp, 2),
            output=Output(
                heat=round(control.heat_duty * 100, 1), cool=round(control.cool_duty * 100, 1)
            ),
            mode=self.cfg.mode,
            state=activity,
            waiting_reason=self.fault
            or self.guard.tripped
            or self.held
            or self.glycol_wait
            or (decision.waiting_reason if decision else None),
            interlocks=[
                InterlockState(
                    input=interlock.ref, name=interlock.name or interlock.id, satisfied=ok
                )
                for interlock, ok in self.interlocks.states()
            ],
            waiting_until=self._waiting_until(),
            profile=progress,
            alarms=list(self.env.alarms.active_for(self.id)),
            alarm_details=[
                AlarmDetail(
                    id=a.id,
                    message=a.message,
                    severity=a.severity.value,
                    active=a.state == "active",
                    raised_at=a.raised_at,
                    acknowledged=a.acknowledged,
                )
                for a in self.env.alarms.visible_for(self.id)
            ],
            relays=self.relays(),
            relay_starts={
                role: output.starts
                for role, output in (("heater", control.heater), ("cooler", control.cooler))
                if output is not None
            },
            last_error=self.last_error,
            revision=self.target.revision,
            autotune=self.tuning.status,
            ts=now,
        )

    def relays(self) -> dict[str, bool | None]:
        """What each relay's device last confirmed (a board's ack, a Tasmota echo)."""
        return {
            role: point.confirmed
            for role, point in (
                ("heater", self.heater),
                ("cooler", self.cooler),
                ("contactor", self.contactor),
            )
            if point is not None
        }

    def refused(self, command: str, message: str, by: str) -> None:
        """A command was refused: say so on the state (Home Assistant shows it)."""
        self.last_error = RefusedCommand(
            command=command, message=message, by=by, ts=round(self.env.clock.now())
        )
        self.publish(self.env.clock.monotonic())

    def accepted(self) -> None:
        """A command was applied: an earlier refusal is no longer the news."""
        if self.last_error is not None:
            self.last_error = None
            self.publish(self.env.clock.monotonic())

    def _waiting_until(self) -> float | None:
        """When the timer behind `waiting_reason` runs out, in wall time (Unix s, to the
        second): control counts on the monotonic clock."""
        d = self.decision
        if self.fault or self.guard.tripped or self.held or d is None or d.waiting_until is None:
            return None
        clock = self.env.clock
        return float(round(clock.now() + d.waiting_until - clock.monotonic()))

    def _profile_point(self, now: float) -> int | None:
        """Which profile point the run has passed (a change is worth publishing)."""
        run = self.cfg.profile
        if self.cfg.mode == LoopMode.profile and run is not None and self._step_profile():
            result = self.steps.result
            waiting = result.waiting.code if result and result.waiting else None
            return hash((run.step, run.reached_at, run.waiting_since, waiting))
        if self.cfg.mode != LoopMode.profile or run is None or self._schedule is None:
            return None
        return bisect.bisect_right(self._schedule.offsets, profiles.elapsed_in(run, now))

    def publish(self, now: float, force: bool = False) -> None:
        """Publish the state if anything a brewer would see changed (or when forced);
        `now` is monotonic."""
        wall = self.env.clock.now()
        d, c = self.decision, self.control
        key = (
            None if self.pv is None else round(self.pv, 2),
            None if self.sp is None else round(self.sp, 2),
            None if c.chamber_sp is None else round(c.chamber_sp, 1),
            round(c.heat_duty * 100, 1),
            round(c.cool_duty * 100, 1),
            self.cfg.mode,
            d.activity if d else None,
            self.fault
            or self.guard.tripped
            or self.held
            or self.glycol_wait
            or (d.waiting_reason if d else None),
            tuple(ok for _, ok in self.interlocks.states()),
            None if d is None else d.waiting_until,
            self.cfg.profile,
            self._profile_point(wall),
            self.env.alarms.active_for(self.id),
            tuple(
                (a.id, a.state, a.acknowledged, a.message, a.severity)
                for a in self.env.alarms.visible_for(self.id)
            ),
            tuple(self.relays().items()),
            self.last_error,
            self.target.revision,
            self.tuning.key(),
        )
        if not force and key == self._published_key:
            return
        self._published_key = key
        self._published_at = now
        self.env.publish(self.id, self.state(wall))
        status = self.tuning.status
        if status is not self._remembered and status is not None and not self.tuning.running:
            self._remembered = status  # a run ended, or its proposal was applied or discarded
            self.env.remember_tuning(self.id, status)

    # commands -------------------------------------------------------------------------------------
    def command(self, cmd: LoopCommand, by: str | None = None) -> LoopTarget:
        """Apply a command now and return the resulting target; raises CommandError saying
        why it cannot be. A command that changes nothing leaves the revision as it is."""
        old = self.cfg
        loop = apply_loop_command(old, cmd, self.env.clock.now(), self.env.profiles.get)
        if loop is old:
            return self.target
        self._commit(loop, by)
        if isinstance(cmd, ProfileCommand) and cmd.action in ("start", "stop"):
            if loop.profile is not None:
                events.info("loop %s: profile %s started", self.id, loop.profile.profile)
            elif loop.mode == LoopMode.constant and old.mode == LoopMode.profile:
                events.info("loop %s: profile stopped; holding %.2f °C", self.id, loop.setpoint)
            else:
                events.info("loop %s: profile stopped", self.id)
        self._apply(loop)
        return self.target

    def autotune(self, cmd: AutotuneCommand, by: str) -> None:
        """Start, abort or discard an autotune run (control/tuning.py); raises CommandError."""
        clock = self.env.clock
        self.tuning.command(
            cmd,
            self.cfg,
            self.pv,
            self.guard.tripped or self.fault,
            self.control.output,
            clock.monotonic(),
            clock.now(),
            by,
        )
        events.info("loop %s: autotune %s by %s", self.id, cmd.action, by)
        self.decide(sample=False)

    def update_run(self, run: ProfileRun | None, by: str = "program") -> None:
        """The running program moved on by itself (a step advanced): a new target."""
        if run == self.cfg.profile:
            return
        loop = self.cfg.model_copy(update={"profile": run})
        self._commit(loop, by)
        self._apply(loop)

    def _commit(self, loop: Loop, by: str | None) -> None:
        # On disk before it acts: a crash leaves the old target or the new one, not a mix.
        new = LoopTarget.of(loop, changed_by=by, ts=self.env.clock.now())
        self.target = self.env.commit(new)
