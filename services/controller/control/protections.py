"""Protections that sit outside the PID and do not trust it (docs/safety.md).

Each one watches what the loop measures against what its outputs were told, on
the monotonic clock, and trips when the physics disagrees:

* **cutout** — the PV at or above the high limit: nothing may heat.
* **no rise** — heating at ≥ 80 % for `no_rise_s` without the PV rising
  `min_rise_c`: a dry-fired element, or a probe out of the liquid.
* **runaway** — the PV rising `runaway_c` within `runaway_s` while the heater
  is off (and the cooler, if any, runs), or falling while the cooler is off (and
  the heater, if any, runs): a welded relay or a shorted SSR.
* **loss of control** — a device says it cannot be sure an output obeys (no
  acknowledgement, refused, echo not confirmed).
* **board limit** — the board's firmware tripped its own high limit on an output
  (a reading at or above it, or a probe that keeps failing) and holds it off.

A trip is latched: every output of the loop stays off, the loop's state is
`fault`, and the high-severity `<loop>-protection` alarm names the cause. The
brewer resets it by acknowledging that alarm; if the cause still holds then (still
above the cutout, the device still not answering), the alarm is raised afresh and
the protection stays tripped.

Compressor starts are counted too: more than `max_starts_per_hour` in the last
hour raises the `<loop>-starts` alarm (not a trip: the minimum times already hold).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from services.common.schema.config import Loop, Protections, Severity
from services.controller.alarms import AlarmManager
from services.controller.devices.points import ActuatorPoint
from services.controller.trips import Trips

log = logging.getLogger(__name__)

HEATING_DUTY = 0.8
"""The no-rise check only counts time with the heater asked for at least this much."""
BOIL_C = 95.0
"""Above this the water may be boiling: heating without rise is normal there."""
CUTOUT_RESET_BELOW_C = 2.0
"""A cutout may be reset once the PV is this far below it."""
RESTARTED = " (tripped before a restart)"
RUNAWAY_GRACE_S = 60.0
"""After an output stops, its heat (an element's sheath, an evaporator) still moves the PV."""


class LoopGuard:
    def __init__(
        self,
        loop: Loop,
        alarms: AlarmManager,
        on_reset: Callable[[], None],
        trips: Trips | None = None,
    ) -> None:
        self.loop = loop
        self.trips = trips  # the controller's disk: a latched trip outlives a restart
        self.settings: Protections = loop.protection_settings
        self.alarms = alarms
        self.on_reset = on_reset
        self.tripped: str | None = None  # the latched cause, as the alarm says it
        self.settled = False  # a trip latched, taken over or reset by this guard already
        self._kind: str | None = None
        self._heating_since: float | None = None
        self._heating_from: float | None = None  # PV when full heating began
        self._heating_peak: float | None = None
        self._heat_off_since: float | None = None
        self._cool_off_since: float | None = None
        self._window: deque[tuple[float, float]] = deque()  # (t, pv) while a runaway is judged
        self._starts: deque[float] = deque()
        self._cooler_starts = 0
        self._starts_alarmed = False

    @property
    def alarm_id(self) -> str:
        return f"{self.loop.id}-protection"

    @property
    def title(self) -> str:
        return self.loop.name or self.loop.id

    def configure(self, loop: Loop) -> None:
        self.loop = loop
        self.settings = loop.protection_settings

    # checks --------------------------------------------------------------------------------
    def check(
        self,
        now: float,
        pv: float | None,
        heat_duty: float,
        heat_on: bool,
        cool_on: bool,
        heater: ActuatorPoint | None,
        cooler: ActuatorPoint | None,
        cooler_starts: int,
        contactor: ActuatorPoint | None = None,
    ) -> str | None:
        """One evaluation after the loop's decision; returns the latched cause, if any.

        `now` is monotonic; `pv` None when there is no usable reading (nothing to judge).
        """
        self._count_starts(now, cooler_starts)
        if self.tripped is not None:
            return self.tripped
        s = self.settings
        for name, point in (
            ("heater", heater),
            ("cooler", cooler),
            ("master contactor", contactor),
        ):
            if point is not None and point.trouble:
                return self._trip(
                    "control",
                    f"lost control of the {name} {point.device}/{point.actuator}: {point.trouble}",
                )
        if pv is None:
            self._heating_since = None
            self._window.clear()
            return self._board_limit(heater, cooler)
        if s.cutout_c and pv >= s.cutout_c:
            return self._trip(
                "cutout", f"{pv:.1f} °C reached the high-limit cutout {s.cutout_c:g} °C"
            )
        if (cause := self._board_limit(heater, cooler)) is not None:
            return cause
        # heating without rise
        if s.no_rise_s and heater is not None and heat_duty >= HEATING_DUTY and pv < BOIL_C:
            if self._heating_since is None:
                self._heating_since, self._heating_from, self._heating_peak = now, pv, pv
            self._heating_peak = max(self._heating_peak or pv, pv)
            assert self._heating_from is not None
            rise = self._heating_peak - self._heating_from
            if now - self._heating_since >= s.no_rise_s:
                if rise < (s.min_rise_c or 0.0):
                    return self._trip(
                        "no_rise",
                        f"heating for {s.no_rise_s / 60:.0f} min raised the temperature only "
                        f"{rise:.1f} °C: element dry, or the probe out of the liquid",
                    )
                self._heating_since, self._heating_from, self._heating_peak = now, pv, pv
        else:
            self._heating_since = None
        # runaway: moving the wrong way with the output that would move it that way off
        self._heat_off_since = None if heat_on else (self._heat_off_since or now)
        self._cool_off_since = None if cool_on else (self._cool_off_since or now)
        if s.runaway_c and s.runaway_s:
            watch_heater = (
                heater is not None
                and now - (self._heat_off_since or now) >= RUNAWAY_GRACE_S
                and (cooler is None or cool_on)
            )
            watch_cooler = (
                cooler is not None
                and now - (self._cool_off_since or now) >= RUNAWAY_GRACE_S
                and (heater is None or heat_on)
            )
            if watch_heater or watch_cooler:
                self._window.append((now, pv))
                while self._window and now - self._window[0][0] > s.runaway_s:
                    self._window.popleft()
                values = [v for _, v in self._window]
                if watch_heater and pv - min(values) >= s.runaway_c:
                    assert heater is not None
                    return self._trip(
                        "runaway",
                        f"rising {pv - min(values):.1f} °C with the heater "
                        f"{heater.device}/{heater.actuator} off: relay stuck on?",
                    )
                if watch_cooler and max(values) - pv >= s.runaway_c:
                    assert cooler is not None
                    return self._trip(
                        "runaway",
                        f"falling {max(values) - pv:.1f} °C with the cooler "
                        f"{cooler.device}/{cooler.actuator} off: relay stuck on?",
                    )
            else:
                self._window.clear()
        return None

    def _board_limit(
        self, heater: ActuatorPoint | None, cooler: ActuatorPoint | None
    ) -> str | None:
        """The board's firmware tripped its own high limit (the host's cutout, seeing the
        same reading, names it first)."""
        for name, point in (("heater", heater), ("cooler", cooler)):
            if point is not None and point.board_trip:
                return self._trip(
                    "board_limit",
                    f"the board's own high limit switched the {name} "
                    f"{point.device}/{point.actuator} off: {point.board_trip}",
                )
        return None

    def _count_starts(self, now: float, cooler_starts: int) -> None:
        limit = self.settings.max_starts_per_hour
        if cooler_starts > self._cooler_starts:
            self._starts.append(now)
        self._cooler_starts = cooler_starts
        while self._starts and now - self._starts[0] > 3600.0:
            self._starts.popleft()
        over = bool(limit) and len(self._starts) > (limit or 0)
        if over == self._starts_alarmed:
            return  # nothing new to say (this runs on every decision)
        self._starts_alarmed = over
        self.alarms.condition(
            f"{self.loop.id}-starts",
            over,
            f"{self.title}: compressor started {len(self._starts)} times in the last hour "
            f"(limit {limit})",
            kind="compressor_starts",
            severity=Severity.medium,
            source=self.loop.id,
        )

    def _trip(self, kind: str, cause: str) -> str:
        self.settled = True
        self.tripped = cause
        self._kind = kind
        log.warning("loop %s: protection tripped: %s; outputs off", self.loop.id, cause)
        self._raise()
        return cause

    def _raise(self) -> None:
        message = f"{self.title}: {self.tripped}; outputs off until this alarm is acknowledged"
        kind = f"protection_{self._kind}"
        if self.trips is not None:
            self.trips.latch(self.loop.id, kind, message)
        self.alarms.condition(
            self.alarm_id, True, message, kind=kind, severity=Severity.high, source=self.loop.id
        )

    def relatch(self, kind: str, message: str) -> None:
        """The protection's alarm is active from before a restart: latched as it was."""
        cause = message.removeprefix(f"{self.title}: ").split("; outputs off until")[0]
        self.settled = True
        self.tripped = f"{cause.removesuffix(RESTARTED)}{RESTARTED}"
        self._kind = kind.removeprefix("protection_")
        log.warning("loop %s: protection still tripped from before: %s", self.loop.id, cause)
        self._raise()  # already active: this only makes the condition ours again

    # reset -----------------------------------------------------------------------------------
    def acknowledged(
        self,
        pv: float | None,
        heater: ActuatorPoint | None,
        cooler: ActuatorPoint | None,
        contactor: ActuatorPoint | None = None,
    ) -> None:
        """The brewer acknowledged the protection's alarm: reset if the cause is gone."""
        if self.tripped is None:
            return
        still = None
        if self._kind in ("cutout", "board_limit") and self.settings.cutout_c:
            if pv is None or pv > self.settings.cutout_c - CUTOUT_RESET_BELOW_C:
                still = "still too hot (or no reading)"
        elif self._kind == "control" and any(
            p is not None and p.trouble for p in (heater, cooler, contactor)
        ):
            still = "the device still does not obey"
        if still is not None:
            log.warning("loop %s: protection not reset: %s", self.loop.id, still)
            self.alarms.condition(self.alarm_id, False)
            self._raise()  # a new, unacknowledged episode: acknowledge again later
            return
        log.warning("loop %s: protection reset by acknowledgement (%s)", self.loop.id, self.tripped)
        for point in (heater, cooler):
            if point is not None:
                point.clear_board_trip()  # a board that tripped too clears its latch (`R`)
        self.tripped = self._kind = None
        self._heating_since = None
        self._window.clear()
        if self.trips is not None:
            self.trips.clear(self.loop.id)
        self.alarms.condition(self.alarm_id, False)
        self.on_reset()
