"""Glycol: jacketed fermenters cooled from one chilled reservoir.

A brewery's glycol system is a reservoir of chilled glycol-water kept cold by a
chiller (a compressor), and a pump or a solenoid valve per fermenter that sends
glycol through the fermenter's jacket. The fermenter side has no compressor to
protect: a valve may open and close as often as control likes. The chiller's
compressor is the one to protect, and the reservoir is shared: what one
fermenter's cold crash takes out of it, the others feel.

Lumped like `physics.py`: the beer (with its probe in a thermowell), the
jacket's heat transfer when the valve is open, the room through the fermenter's
insulation; the reservoir with the compressor pulling heat out and the room
leaking in. Every joule a jacket takes from the beer goes into the reservoir.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.controller.sim.physics import WATER_J_PER_KG_K

GLYCOL_J_PER_KG_K = 3_600.0
"""Specific heat of a 30 % propylene-glycol mix (freezes below −12 °C)."""


@dataclass
class JacketedFermenterParams:
    beer_litres: float = 50.0
    vessel_j_per_k: float = 12_000.0  # a 60 L stainless conical
    jacket_w_per_k: float = 25.0  # beer ↔ glycol through the jacket, valve open
    wall_w_per_k: float = 2.0  # the conical's insulation, beer ↔ room
    probe_lag_s: float = 120.0  # a thermowell in 50 L of slowly mixing beer
    ambient_c: float = 20.0
    yeast_w: float = 0.0  # a constant fermentation heat, W
    start_c: float = 18.0

    @property
    def beer_j_per_k(self) -> float:
        return self.beer_litres * WATER_J_PER_KG_K + self.vessel_j_per_k


@dataclass
class ChillerParams:
    glycol_litres: float = 40.0
    cooling_w: float = 900.0  # what the compressor pulls out of the reservoir
    loss_w_per_k: float = 3.0  # the reservoir's insulation, glycol ↔ room
    ambient_c: float = 20.0
    start_c: float = 4.0
    # Electricity: a fraction of the Carnot COP between the evaporator (below the glycol)
    # and the condenser (above the room) — colder glycol costs more per joule pumped.
    carnot_fraction: float = 0.45
    evaporator_below_c: float = 5.0
    condenser_above_c: float = 15.0

    def cop(self, glycol_c: float) -> float:
        cold = glycol_c - self.evaporator_below_c + 273.15
        hot = self.ambient_c + self.condenser_above_c + 273.15
        return self.carnot_fraction * cold / max(hot - cold, 1.0)

    @property
    def glycol_j_per_k(self) -> float:
        return self.glycol_litres * 1.04 * GLYCOL_J_PER_KG_K  # 1.04 kg/L


@dataclass
class JacketedFermenter:
    p: JacketedFermenterParams
    beer: float = math.nan
    probe: float = math.nan
    jacket_j: float = 0.0  # heat taken out through the jacket so far (the chiller's load)

    def __post_init__(self) -> None:
        if math.isnan(self.beer):
            self.beer = self.probe = self.p.start_c


@dataclass
class GlycolSystem:
    """N jacketed fermenters on one chiller: `advance(dt, valves, compressor)`."""

    chiller: ChillerParams
    fermenters: dict[str, JacketedFermenter] = field(default_factory=dict)
    glycol: float = math.nan
    compressor_j: float = 0.0  # heat the compressor has pumped out of the glycol
    electric_j: float = 0.0  # what that cost the chiller in electricity

    def __post_init__(self) -> None:
        if math.isnan(self.glycol):
            self.glycol = self.chiller.start_c

    @classmethod
    def of(
        cls, chiller: ChillerParams, fermenters: Mapping[str, JacketedFermenterParams]
    ) -> GlycolSystem:
        return cls(chiller, {name: JacketedFermenter(p) for name, p in fermenters.items()})

    def advance(self, dt: float, valves: Mapping[str, bool], compressor: bool) -> None:
        c = self.chiller
        steps = max(1, math.ceil(dt / 5.0))  # 5 s: well inside the fastest τ (the probe)
        h = dt / steps
        for _ in range(steps):
            into_glycol = 0.0
            for name, f in self.fermenters.items():
                p = f.p
                jacket = p.jacket_w_per_k * (f.beer - self.glycol) if valves.get(name) else 0.0
                room = p.wall_w_per_k * (p.ambient_c - f.beer)
                f.beer += h * (room + p.yeast_w - jacket) / p.beer_j_per_k
                f.probe += h * (f.beer - f.probe) / p.probe_lag_s
                f.jacket_j += h * jacket
                into_glycol += jacket
            cooling = c.cooling_w if compressor else 0.0
            leak = c.loss_w_per_k * (c.ambient_c - self.glycol)
            self.glycol += h * (into_glycol + leak - cooling) / c.glycol_j_per_k
            self.compressor_j += h * cooling
            self.electric_j += h * cooling / c.cop(self.glycol)

    def temperature(self, name: str) -> float:
        """A fermenter's probe, °C."""
        return self.fermenters[name].probe


GLYCOL_FERMENTERS = ("fv1", "fv2", "fv3", "fv4")


class GlycolPlant:
    """Four jacketed fermenters on one chiller, as one simulated board sees them
    (`"simulation": "glycol"`): probes fv1–fv4 and glycol (the reservoir); outputs 1–4
    the fermenters' valves, 5 the chiller's compressor."""

    sensors = (*GLYCOL_FERMENTERS, "glycol")
    channels: Mapping[int, str] = {
        **{i + 1: name for i, name in enumerate(GLYCOL_FERMENTERS)},
        5: "compressor",
    }

    def __init__(self, chiller: ChillerParams | None = None) -> None:
        self.system = GlycolSystem.of(
            chiller or ChillerParams(), {n: JacketedFermenterParams() for n in GLYCOL_FERMENTERS}
        )

    def advance(self, dt: float, on: Mapping[str, bool]) -> None:
        self.system.advance(dt, on, bool(on.get("compressor")))

    def temperature(self, sensor: str) -> float:
        if sensor == "glycol":
            return self.system.glycol
        return self.system.temperature(sensor)

    def room(self) -> float:
        return self.system.chiller.ambient_c
