"""What switches a loop's heat or cold, and the timings each kind of output can bear.

A loop's heater or cooler declares its type (`OutputSettings.type`); the type gives
the defaults for the time-proportioning window, minimum on and off times and a cap on
starts per hour, and the bounds a configuration may not leave (a 10 s window is fine
for an SSR and fatal for a compressor). Where the numbers come from is in
docs/control.md ("Output types"); in short:

* **ssr**: a zero-cross solid-state relay switches at a mains zero crossing (every
  10 ms at 50 Hz) and has no contacts to wear: short windows, no minimum times.
* **relay**: a mechanical relay or a smart plug (Inkbird, Tasmota/Sonoff). Relays of
  this class are rated about 10⁵ operations at their rated resistive load (Songle
  SRD, Omron G5LE, Hongfa HF32F datasheets); 2 starts an hour for five years of
  fermentations is under 10⁵.
* **compressor**: a fridge or freezer compressor needs its pressures to equalise
  before it restarts (capillary systems: 3–5 minutes, as the compressor makers'
  application notes and the STC-1000's 3-minute delay say), and a run long enough to
  return its oil; hermetic compressor makers allow roughly 6–10 starts an hour.
* **glycol_valve**: a solenoid valve on a chilled glycol loop: millions of cycles,
  but a closing valve hammers the line, so not faster than a minute.
* **pump**: a small glycol or circulation pump motor: starts heat its windings, so
  minutes between them.

Within those bounds the defaults for a relay and a compressor are chosen for few
starts: the minimum on time is the smallest quantum of heat or cold the loop hands
out (10 minutes of a 100 W compressor is 0.7 °C of 20 L of beer's worth), and a
window stretches so a small duty is a few such pulses an hour apart. Fewer starts
cost ripple, more starts buy tracking: `bench/bench_controller.py` measures both
against an STC-1000 on the plant matrix (docs/benchmarks.md).

`OutputSettings` fields left null take the type's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field

from .base import Seconds, Strict


class ActuatorType(StrEnum):
    ssr = "ssr"
    relay = "relay"
    compressor = "compressor"
    glycol_valve = "glycol_valve"
    pump = "pump"


@dataclass(frozen=True)
class OutputType:
    """Defaults and bounds for one type of output."""

    window_s: float
    min_on_s: float
    min_off_s: float
    max_starts_per_hour: int  # 0: no limit
    # bounds a configuration must respect
    window_range_s: tuple[float, float]
    min_on_floor_s: float = 0.0
    min_off_floor_s: float = 0.0
    starts_cap: int = 0  # 0: any; else max_starts_per_hour must be 1..cap

    def check(self, name: str, s: OutputSettings) -> None:
        """Raise ValueError naming what in `s` this type cannot bear."""
        lo, hi = self.window_range_s
        window = self.window_s if s.window_s is None else s.window_s
        if not lo <= window <= hi:
            raise ValueError(
                f"{name}: a {s.type} output's window_s must be within {lo:g}..{hi:g} s"
            )
        if s.min_on_s is not None and s.min_on_s < self.min_on_floor_s:
            raise ValueError(
                f"{name}: a {s.type} output's min_on_s must be at least {self.min_on_floor_s:g} s"
            )
        if s.min_off_s is not None and s.min_off_s < self.min_off_floor_s:
            raise ValueError(
                f"{name}: a {s.type} output's min_off_s must be at least {self.min_off_floor_s:g} s"
            )
        starts = s.max_starts_per_hour
        if self.starts_cap and starts is not None and not 1 <= starts <= self.starts_cap:
            raise ValueError(
                f"{name}: a {s.type} output's max_starts_per_hour must be within 1..{self.starts_cap}"
            )


OUTPUT_TYPES: dict[ActuatorType, OutputType] = {
    ActuatorType.ssr: OutputType(
        window_s=10.0,
        min_on_s=0.0,
        min_off_s=0.0,
        max_starts_per_hour=0,
        window_range_s=(1.0, 3600.0),
    ),
    ActuatorType.relay: OutputType(
        window_s=3600.0,
        min_on_s=600.0,
        min_off_s=300.0,
        max_starts_per_hour=2,
        window_range_s=(60.0, 4 * 3600.0),
        min_on_floor_s=10.0,
        min_off_floor_s=10.0,
        starts_cap=60,
    ),
    ActuatorType.compressor: OutputType(
        window_s=7200.0,
        min_on_s=600.0,
        min_off_s=600.0,
        max_starts_per_hour=2,
        window_range_s=(600.0, 4 * 3600.0),
        min_on_floor_s=120.0,
        min_off_floor_s=180.0,
        starts_cap=10,
    ),
    ActuatorType.glycol_valve: OutputType(
        window_s=600.0,
        min_on_s=60.0,
        min_off_s=60.0,
        max_starts_per_hour=20,
        window_range_s=(60.0, 4 * 3600.0),
        min_on_floor_s=10.0,
        min_off_floor_s=10.0,
        starts_cap=60,
    ),
    ActuatorType.pump: OutputType(
        window_s=900.0,
        min_on_s=120.0,
        min_off_s=120.0,
        max_starts_per_hour=10,
        window_range_s=(120.0, 4 * 3600.0),
        min_on_floor_s=30.0,
        min_off_floor_s=30.0,
        starts_cap=30,
    ),
}


class OutputSettings(Strict):
    """How one of a loop's outputs is switched: its type, and any of its timings the
    brewer sets (null: the type's default, `OUTPUT_TYPES`)."""

    type: ActuatorType
    window_s: Seconds | None = Field(None, description="Time-proportioning window, s.")
    min_on_s: Seconds | None = Field(None, description="Once on, on at least this long, s.")
    min_off_s: Seconds | None = Field(None, description="Once off, off at least this long, s.")
    max_starts_per_hour: int | None = Field(
        None, ge=0, le=3600, description="At most this many starts in any hour (0: no limit)."
    )

    def resolved(self) -> tuple[float, float, float, int]:
        """(window, min on, min off, max starts per hour), the type's defaults filled in."""
        d = OUTPUT_TYPES[self.type]
        return (
            d.window_s if self.window_s is None else self.window_s,
            d.min_on_s if self.min_on_s is None else self.min_on_s,
            d.min_off_s if self.min_off_s is None else self.min_off_s,
            d.max_starts_per_hour if self.max_starts_per_hour is None else self.max_starts_per_hour,
        )
