"""One loop's control decisions, with no I/O: reading + setpoint + time → relay states.

`LoopControl` is what `loop.py` runs for every configured loop, and what the
benchmark and the property tests drive directly against the physics models.

A PID produces an output from −100 % (full cooling) to +100 % (full heating).
Inside ±`DEADBAND_PCT` neither output runs; beyond it the heater or the cooler gets
the output as its duty, through its own time-proportioning window, whose timings
come from what the output is (`Loop.heater_output`/`cooler_output`: an SSR, a relay,
a compressor …; services/common/schema/outputs.py).

Heating and cooling never fight: they never run together; one may not start until
`compressor.dead_time_s` after the other stopped; and the loop changes sides (from
cooling to heating or back) only when the PID asks for it *and* the PV is beyond
`heat_cool_band_c` on the new side — an undershoot after cooling inside the band is
left to the room and the yeast, not heated away.

Cascade (`Loop.cascade`, BrewPi's rule): the beer PID's output is a chamber-air
offset, within `below_c`/`above_c` of the beer target; a second PID holds the
chamber air at that setpoint and its output drives the heater and the cooler.
Without a chamber reading (no probe, a fault) the beer PID drives them directly.
Every switch between the two is bumpless: the loop's output carries on from where
it was, and a new cascade starts with the chamber setpoint at the air's temperature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.common.schema.config import CASCADE_BEER_PID, CASCADE_CHAMBER_PID, Loop
from services.common.schema.outputs import OutputSettings
from services.common.schema.state import LoopActivity
from services.controller.control.actuators import OutputTiming, TimeProportionedOutput
from services.controller.control.pid import Pid

DEADBAND_PCT = 2.0
"""Outputs below this do nothing: the band between heating and cooling."""

D_FILTER_S = 60.0
"""Low-pass on the derivative: a DS18B20 moves in 1/16 °C steps."""


@dataclass
class Decision:
    heat: bool
    cool: bool
    activity: LoopActivity
    waiting_reason: str | None
    next_at: float | None  # when to call `update` again (a relay may need switching)
    waiting_until: float | None = None  # when the timer behind `waiting_reason` runs out


def _typed_timing(settings: OutputSettings) -> OutputTiming:
    window, min_on, min_off, starts = settings.resolved()
    return OutputTiming(
        window_s=window, min_on_s=min_on, min_off_s=min_off, max_starts_per_hour=starts
    )


def heater_timing(loop: Loop) -> OutputTiming:
    if loop.heater_output is not None:
        return _typed_timing(loop.heater_output)
    return OutputTiming(window_s=loop.window_s)  # undeclared: an SSR on `window_s`


def cooler_timing(loop: Loop) -> OutputTiming:
    if loop.cooler_output is not None:
        return _typed_timing(loop.cooler_output)
    c = loop.compressor  # undeclared: a compressor on `compressor`'s timings
    return OutputTiming(window_s=c.window_s, min_on_s=c.min_on_s, min_off_s=c.min_off_s)


def _pid(settings: object, d_filter_s: float = D_FILTER_S) -> Pid:
    return Pid(settings.kp, settings.ki, settings.kd, d_filter_s=d_filter_s)  # type: ignore[attr-defined]


class LoopControl:
    def __init__(self, loop: Loop, now: float) -> None:
        self.loop = loop
        gains = loop.pid_settings
        self.pid = Pid(gains.kp, gains.ki, gains.kd, d_filter_s=D_FILTER_S)
        self.heater = TimeProportionedOutput(heater_timing(loop), now) if loop.heater else None
        self.cooler = TimeProportionedOutput(cooler_timing(loop), now) if loop.cooler else None
        # Cascade: the beer PID (°C of chamber offset) and the chamber PID (%).
        self.beer_pid: Pid | None = None
        self.chamber_pid: Pid | None = None
        self._build_cascade()
        self._set_limits()
        self.output = 0.0  # −100..100 %, what the loop asks for
        self.cascading: bool | None = False  # None: not known (after manual); next sample says
        self.chamber_sp: float | None = None  # while cascading: the chamber-air setpoint
        self.side: str | None = None  # "heat" or "cool": the side the loop is on
        self._auto = False  # the output is the PID's (the dead band applies), not manual
        self.active = False  # False: off, or faulted: every output held off
        self.fault: str | None = None
        # When each last stopped (dead time). At start-up the old process may have run the
        # compressor until now, so heating waits out the dead time. Cooling after a heater
        # only wastes a little energy, and the compressor's own minimum off time (also
        # counted from start-up) already holds it for minutes, so it is not held longer.
        self._heat_end = -math.inf
        self._cool_end = now
        # After a fault stopped it, the compressor also waits a fault-free period: a loose
        # probe wire must not start and stop it at the rhythm of its glitches.
        self._fault_at = -math.inf
        self.riding_until: float | None = None  # a running compressor rides a glitch until
        self._cooldown = True
        self.fault_free_s = loop.protection_settings.fault_free_s or 0.0

    # configuration ---------------------------------------------------------------------------
    def configure(self, loop: Loop, now: float) -> None:
        """Apply a changed configuration without a bump: the PID keeps its integral."""
        old, self.loop = self.loop, loop
        self.fault_free_s = loop.protection_settings.fault_free_s or 0.0
        gains = loop.pid_settings
        self.pid.tune(gains.kp, gains.ki, gains.kd)
        if (old.cascade is None) != (loop.cascade is None):
            self._build_cascade()
            self.cascading = None if loop.cascade else False
        elif loop.cascade is not None and self.beer_pid and self.chamber_pid:
            for pid, settings in (
                (self.beer_pid, loop.cascade.beer_pid or CASCADE_BEER_PID),
                (self.chamber_pid, loop.cascade.chamber_pid or CASCADE_CHAMBER_PID),
            ):
                pid.tune(settings.kp, settings.ki, settings.kd)
        if (old.heater is None) != (loop.heater is None):
            if self.heater is not None:
                self.heater.force_off(now)
            self.heater = TimeProportionedOutput(heater_timing(loop), now) if loop.heater else None
        elif self.heater is not None:
            self.heater.timing = heater_timing(loop)
        if (old.cooler is None) != (loop.cooler is None):
            if self.cooler is not None:
                self.cooler.force_off(now)
            self.cooler = TimeProportionedOutput(cooler_timing(loop), now) if loop.cooler else None
        elif self.cooler is not None:
            self.cooler.timing = cooler_timing(loop)
        self._set_limits()

    def _build_cascade(self) -> None:
        c = self.loop.cascade
        if c is None:
            self.beer_pid = self.chamber_pid = None
            return
        self.beer_pid = _pid(c.beer_pid or CASCADE_BEER_PID)
        self.chamber_pid = _pid(c.chamber_pid or CASCADE_CHAMBER_PID)

    def _set_limits(self) -> None:
        lo, hi = -100.0 if self.cooler else 0.0, 100.0 if self.heater else 0.0
        self.pid.set_limits(lo, hi)
        if self.chamber_pid is not None and self.beer_pid is not None and self.loop.cascade:
            self.chamber_pid.set_limits(lo, hi)
            self.beer_pid.set_limits(-self.loop.cascade.below_c, self.loop.cascade.above_c)

    # inputs ----------------------------------------------------------------------------------
    def sample(self, now: float, pv: float, setpoint: float, chamber: float | None = None) -> float:
        """A new reading in automatic mode: run the PID (or the cascade, given the
        chamber air's temperature `chamber` and a loop with a cascade)."""
        cascade = self.loop.cascade is not None and chamber is not None
        if not self.active:
            # Back from off: start afresh. Back from a sensor fault: keep the integral,
            # it holds what it takes to keep this beer at temperature.
            integral = None if self.fault else 0.0
            for pid in (self.pid, self.beer_pid, self.chamber_pid):
                if pid is not None:
                    pid.restart(integral=integral)
            self.cascading = cascade
        elif cascade != self.cascading:
            self._switch(cascade, setpoint, chamber)
        self.active = True
        self.fault = None
        self._auto = True
        if cascade and self.beer_pid is not None and self.chamber_pid is not None:
            # The loop's setpoint limits bound the air too (no freezing the beer at the wall).
            chamber_sp = setpoint + self.beer_pid.update(setpoint, pv, now)
            self.chamber_sp = min(self.loop.setpoint_max, max(self.loop.setpoint_min, chamber_sp))
            self.output = self.chamber_pid.update(self.chamber_sp, chamber, now)  # type: ignore[arg-type]
        else:
            self.chamber_sp = None
            self.output = self.pid.update(setpoint, pv, now)
        self._choose_side(setpoint - pv)
        return self.output

    def _switch(self, cascade: bool, setpoint: float, chamber: float | None) -> None:
        """Bumpless between beer-only and cascade: the output carries on from where it is."""
        self.cascading = cascade
        if cascade and self.beer_pid is not None and self.chamber_pid is not None:
            self.chamber_pid.reset(self.output)
            self.beer_pid.reset((chamber or setpoint) - setpoint)  # chamber SP = the air now
        else:
            self.pid.reset(self.output)

    def _choose_side(self, error: float) -> None:
        """The heat↔cool dead band: change sides only with the PV beyond the band."""
        wants = (
            "heat"
            if self.output > DEADBAND_PCT
            else "cool"
            if self.output < -DEADBAND_PCT
            else None
        )
        if wants is None or wants == self.side:
            return
        band = self.loop.heat_cool_band_c
        if (
            self.side is None
            or not (self.heater and self.cooler)
            or (wants == "heat" and error >= band)
            or (wants == "cool" and -error >= band)
        ):
            self.side = wants

    def manual(self, output: float) -> None:
        """Manual mode: a fixed output; automatic mode later starts from it (bumpless)."""
        lo, hi = self.pid.out_min, self.pid.out_max
        self.output = min(hi, max(lo, output))
        self.pid.reset(self.output)
        self.cascading = None  # the next sample resumes bumplessly, whichever way it runs
        self.chamber_sp = None
        self.active = True
        self.fault = None
        self._auto = False
        if abs(self.output) > DEADBAND_PCT:
            self.side = "heat" if self.output > 0 else "cool"

    def hold_off(
        self,
        now: float,
        fault: str | None = None,
        ride_until: float | None = None,
        *,
        cooldown: bool = True,
    ) -> None:
        """Every output off at once: mode off, no setpoint, or a fault (`fault`).

        `ride_until`: a running compressor keeps running until then (a single bad reading
        must not cost it a start); the heater goes off at once regardless. `cooldown`
        False: the fault does not start the compressor's fault-free period (no reading
        yet at start-up is not a fault of the plant).
        """
        self.active = False
        self.fault = fault
        self.output = 0.0
        self.chamber_sp = None
        if fault is None:
            self.side = None  # off: the next demand picks its side afresh
        riding = (
            ride_until is not None
            and now < ride_until
            and self.cooler is not None
            and self.cooler.on
        )
        self.riding_until = ride_until if riding else None
        for out in (self.heater, self.cooler):
            if out is not None and not (riding and out is self.cooler):
                out.force_off(now)
        self._cooldown = cooldown
        if fault is not None and cooldown and not riding:
            self._fault_at = now
        self._note_ends(now)

    def went_off(self, now: float) -> None:
        """Every output is off as of `now` behind control's back: minimum off times count
        from `now` (`hold_off` alone keeps an older switch-off of an output it had off)."""
        for out in (self.heater, self.cooler):
            if out is not None:
                out.went_off(now)
        self._note_ends(now)
        if self.cooler is not None:  # it may have run until now: the dead time counts too
            self._cool_end = max(self._cool_end, now)

    # outputs ---------------------------------------------------------------------------------
    @property
    def heat_duty(self) -> float:
        if not self.heater or self.output <= DEADBAND_PCT:
            return 0.0
        return self.output / 100.0 if self.side != "cool" or not self._auto else 0.0

    @property
    def cool_duty(self) -> float:
        if not self.cooler or self.output >= -DEADBAND_PCT:
            return 0.0
        return -self.output / 100.0 if self.side != "heat" or not self._auto else 0.0

    def update(self, now: float) -> Decision:
        """Switch the relays for `now`; call again at `next_at` or on the next reading."""
        if not self.active:
            riding = self.riding_until
            self.hold_off(now, self.fault, riding, cooldown=self._cooldown)
            activity = LoopActivity.fault if self.fault else LoopActivity.off
            cool = bool(self.cooler and self.cooler.on)
            return Decision(False, cool, activity, None, self.riding_until if cool else None)
        dead = self.loop.compressor.dead_time_s if self.heater and self.cooler else 0.0
        deadlines: list[float] = []
        heat_duty, cool_duty = self.heat_duty, self.cool_duty
        # Stop first, then start: both never run at once.
        for out, duty in ((self.heater, heat_duty), (self.cooler, cool_duty)):
            if out is not None and out.on and duty == 0.0:
                nxt = out.update(now, 0.0)
                if nxt is not None:
                    deadlines.append(nxt)
        self._note_ends(now)
        reason = None
        until: float | None = None
        for out, duty, other, other_end, name in (
            (self.heater, heat_duty, self.cooler, self._cool_end, "heater"),
            (self.cooler, cool_duty, self.heater, self._heat_end, "cooler"),
        ):
            if out is None:
                continue
            other_on = other is not None and other.on
            free_at = other_end + dead
            why_held = "dead time between heating and cooling"
            if out is self.cooler and self._fault_at + self.fault_free_s > free_at:
                free_at = self._fault_at + self.fault_free_s
                why_held = "fault-free period after a fault"
            allowed = not other_on and now >= free_at
            nxt = out.update(now, duty, allowed)
            if nxt is not None:
                deadlines.append(nxt)
            if duty > 0 and not out.on and not allowed and not other_on:
                deadlines.append(free_at)
                out.waiting = why_held
                out.waiting_until = free_at
            if duty > 0 and out.waiting:
                reason = f"{name}: {out.waiting}"
                until = out.waiting_until
        self._note_ends(now)
        heat = bool(self.heater and self.heater.on)
        cool = bool(self.cooler and self.cooler.on)
        if reason and not (heat or cool):
            activity = LoopActivity.waiting
        elif heat or heat_duty > 0:
            activity = LoopActivity.heating
        elif cool or cool_duty > 0:
            activity = LoopActivity.cooling
        else:
            activity = LoopActivity.idle
        future = [d for d in deadlines if d > now]
        return Decision(
            heat,
            cool,
            activity,
            reason,
            min(future) if future else None,
            None if until is None or reason is None else round(until),
        )

    def _note_ends(self, now: float) -> None:
        if self.heater is not None and self.heater.on:
            self._heat_end = now
        elif self.heater is not None and self.heater.switched_at > self._heat_end:
            self._heat_end = self.heater.switched_at if self.heater.starts else self._heat_end
        if self.cooler is not None and self.cooler.on:
            self._cool_end = now
        elif self.cooler is not None and self.cooler.switched_at > self._cool_end:
            self._cool_end = self.cooler.switched_at if self.cooler.starts else self._cool_end
