"""One chiller for several glycol fermenters: the reservoir's setpoint, the chiller's
compressor, and who gets glycol when there is not enough.

Each fermenter's own loop drives its glycol valve (or pump) like any cooler, with
no compressor constraints: a valve may cycle in short windows. What they share is
the reservoir, and that is decided here, with no I/O and the caller's monotonic
time (as `core.LoopControl`):

* **The reservoir follows the demand.** While any fermenter calls for glycol, the
  reservoir is held `approach_c` below the coldest calling fermenter's setpoint
  (a cold crash to 2 °C asks for −4 °C glycol; holding 18 °C, 12 °C is plenty).
  When none has called for `idle_after_s`, it rests only `idle_approach_c` below
  the coldest setpoint: warmer glycol leaks less heat and starts the compressor
  less often. Always within `floor_c`..`ceiling_c` (the glycol's freezing point
  and the jackets' icing bound the floor).
* **The chiller's compressor is protected**: a thermostat on the reservoir with a
  differential, and minimum on and off times that nothing here breaks.
* **Priority when capacity is short.** When the reservoir stands more than
  `shortage_c` above its setpoint the chiller cannot keep up; then only the
  fermenters of the highest calling priority get glycol, and the others' valves
  wait — unless one of them is more than `override_c` above its setpoint, which
  is more than any priority is worth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChillerSettings:
    approach_c: float = 6.0
    idle_approach_c: float = 3.0
    floor_c: float = -4.0  # a 30 % glycol mix freezes near −12 °C; beer in a jacket near −2
    ceiling_c: float = 12.0
    differential_c: float = 1.0  # the compressor thermostat's band (± half of it)
    min_on_s: float = 180.0  # the compressor's oil return
    min_off_s: float = 300.0  # its pressures equalise before a restart
    idle_after_s: float = 1800.0
    shortage_c: float = 2.0
    override_c: float = 1.5
    fixed_c: float | None = None  # a fixed reservoir setpoint instead (the usual way; a baseline)


@dataclass(frozen=True)
class FermenterDemand:
    name: str
    setpoint: float
    pv: float | None  # None: no sane reading (its loop holds its valve shut anyway)
    duty: float  # 0..1, what its loop asks of its valve
    priority: int = 0  # higher is served first when glycol is short

    @property
    def calling(self) -> bool:
        return self.duty > 0.0


@dataclass(frozen=True)
class ChillerDecision:
    compressor: bool
    reservoir_setpoint: float
    short: bool  # the chiller cannot keep up: priority is in force
    granted: dict[str, bool]  # may this fermenter's valve open?
    next_at: float | None  # when the compressor's timer next allows a switch
    waiting: str | None = None  # why the compressor is held (stable text)


@dataclass
class ChillerControl:
    settings: ChillerSettings
    switched_at: float  # at start-up the compressor may have just stopped: min off first
    on: bool = False
    starts: int = 0
    _called_at: dict[str, float] = field(default_factory=dict)

    def reservoir_setpoint(self, now: float, demands: Iterable[FermenterDemand]) -> float:
        s = self.settings
        if s.fixed_c is not None:
            return s.fixed_c
        demands = list(demands)
        for d in demands:
            if d.calling:
                self._called_at[d.name] = now
        calling = [
            d.setpoint
            for d in demands
            if now - self._called_at.get(d.name, -math.inf) < s.idle_after_s
        ]
        if calling:
            target = min(calling) - s.approach_c
        elif demands:
            target = min(d.setpoint for d in demands) - s.idle_approach_c
        else:
            target = s.ceiling_c
        return min(s.ceiling_c, max(s.floor_c, target))

    def update(
        self, now: float, glycol_c: float | None, demands: Iterable[FermenterDemand]
    ) -> ChillerDecision:
        s = self.settings
        demands = list(demands)
        setpoint = self.reservoir_setpoint(now, demands)
        next_at: float | None = None
        waiting: str | None = None
        if glycol_c is None:  # no reservoir reading: the compressor stops (as soon as allowed)
            want = False
        elif self.on:
            want = glycol_c > setpoint - s.differential_c / 2
        else:
            want = glycol_c > setpoint + s.differential_c / 2
        if want != self.on:
            hold = s.min_on_s if self.on else s.min_off_s
            free_at = self.switched_at + hold
            if now >= free_at:
                self.on = want
                self.switched_at = now
                self.starts += int(want)
            else:
                next_at = free_at
                waiting = "minimum on time" if self.on else "minimum off time"
        short = glycol_c is not None and glycol_c > setpoint + s.shortage_c
        return ChillerDecision(
            compressor=self.on,
            reservoir_setpoint=setpoint,
            short=short,
            granted=self.grants(demands, short),
            next_at=next_at,
            waiting=waiting,
        )

    def force_off(self, now: float) -> None:
        """Off at once (the reservoir probe failed, the chiller was switched off): the one
        thing that cuts a minimum on time short. Its minimum off time counts from now."""
        if self.on:
            self.on = False
            self.switched_at = now

    def went_off(self, now: float) -> None:
        """The compressor is off as of `now` whatever this thought (the board reset, its
        watchdog, a new session with a board that may have run it until now): its
        minimum off time counts from `now`."""
        self.force_off(now)
        self.switched_at = max(self.switched_at, now)

    def grants(self, demands: list[FermenterDemand], short: bool) -> dict[str, bool]:
        """Which valves may open: all of them, unless the glycol is short."""
        if not short:
            return {d.name: True for d in demands}
        s = self.settings
        calling = [d for d in demands if d.calling]
        top = max((d.priority for d in calling), default=0)
        return {
            d.name: d.priority >= top or (d.pv is not None and d.pv > d.setpoint + s.override_c)
            for d in demands
        }
