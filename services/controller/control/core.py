"""One loop's control decisions, with no I/O: reading + setpoint + time → relay states.

`LoopControl` is what `loop.py` runs for every configured loop, and what the
benchmark and the property tests drive directly against the physics models.

A single PID produces an output from −100 % (full cooling) to +100 % (full
heating). Inside ±`DEADBAND_PCT` neither output runs; beyond it the heater or the
cooler gets the output as its duty, through its own time-proportioning window.
Heating and cooling never run together, and one may not start until
`compressor.dead_time_s` after the other stopped (so they never fight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.common.schema.config import Loop
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


def heater_timing(loop: Loop) -> OutputTiming:
    return OutputTiming(window_s=loop.window_s)


def cooler_timing(loop: Loop) -> OutputTiming:
    c = loop.compressor
    return OutputTiming(window_s=c.window_s, min_on_s=c.min_on_s, min_off_s=c.min_off_s)


class LoopControl:
    def __init__(self, loop: Loop, now: float) -> None:
        self.loop = loop
        gains = loop.pid_settings
        self.pid = Pid(gains.kp, gains.ki, gains.kd, d_filter_s=D_FILTER_S)
        self.heater = TimeProportionedOutput(heater_timing(loop), now) if loop.heater else None
        self.cooler = TimeProportionedOutput(cooler_timing(loop), now) if loop.cooler else None
        self.pid.set_limits(-100.0 if self.cooler else 0.0, 100.0 if self.heater else 0.0)
        self.output = 0.0  # −100..100 %, what the loop asks for
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
        self.pid.set_limits(-100.0 if self.cooler else 0.0, 100.0 if self.heater else 0.0)

    # inputs ----------------------------------------------------------------------------------
    def sample(self, now: float, pv: float, setpoint: float) -> float:
        """A new reading in automatic mode: run the PID."""
        if not self.active:
            # Back from off: start afresh. Back from a sensor fault: keep the integral,
            # it holds what it takes to keep this beer at temperature.
            self.pid.restart(integral=None if self.fault else 0.0)
        self.active = True
        self.fault = None
        self.output = self.pid.update(setpoint, pv, now)
        return self.output

    def manual(self, output: float) -> None:
        """Manual mode: a fixed output; automatic mode later starts from it (bumpless)."""
        lo, hi = self.pid.out_min, self.pid.out_max
        self.output = min(hi, max(lo, output))
        self.pid.reset(self.output)
        self.active = True
        self.fault = None

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

    # outputs ---------------------------------------------------------------------------------
    @property
    def heat_duty(self) -> float:
        return self.output / 100.0 if self.heater and self.output > DEADBAND_PCT else 0.0

    @property
    def cool_duty(self) -> float:
        return -self.output / 100.0 if self.cooler and self.output < -DEADBAND_PCT else 0.0

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
                out.waiting = f"{why_held} ({free_at - now:.0f} s left)"
            if duty > 0 and out.waiting:
                reason = f"{name}: {out.waiting}"
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
        return Decision(heat, cool, activity, reason, min(future) if future else None)

    def _note_ends(self, now: float) -> None:
        if self.heater is not None and self.heater.on:
            self._heat_end = now
        elif self.heater is not None and self.heater.switched_at > self._heat_end:
            self._heat_end = self.heater.switched_at if self.heater.starts else self._heat_end
        if self.cooler is not None and self.cooler.on:
            self._cool_end = now
        elif self.cooler is not None and self.cooler.switched_at > self._cool_end:
            self._cool_end = self.cooler.switched_at if self.cooler.starts else self._cool_end
