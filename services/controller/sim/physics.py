"""Lumped thermal models of a fermentation chamber and a mash kettle.

Each model is a handful of heat capacities joined by heat-transfer coefficients
(W/K), integrated with small explicit Euler steps. The numbers are those of a
home brewery: a 20 L fermenter in a converted fridge, a 30 L electric kettle.
Time is whatever the caller says it is (`advance(dt, ...)`), so a simulated
clock can run ten days in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

WATER_J_PER_KG_K = 4186.0
"""Specific heat of water (beer and wort are within a few % of it)."""


class Plant(Protocol):
    """A physical process the simulated board measures and drives."""

    sensors: tuple[str, ...]
    channels: Mapping[int, str]  # board channel → actuator name

    def advance(self, dt: float, on: Mapping[str, bool]) -> None: ...

    def temperature(self, sensor: str) -> float: ...

    def room(self) -> float:
        """The air around the vessel, °C: what a probe pulled out of the liquid reads."""
        ...


@dataclass
class FermenterParams:
    beer_litres: float = 20.0
    vessel_j_per_k: float = 4_000.0  # fermenter bucket, trub, a little glass
    air_j_per_k: float = 8_000.0  # chamber air plus the fridge's inner walls and shelves
    beer_air_w_per_k: float = 5.0  # through the fermenter wall: beer τ ≈ 4.9 h
    wall_w_per_k: float = 1.5  # fridge insulation, chamber ↔ room
    evaporator_j_per_k: float = 2_500.0  # evaporator plate and refrigerant
    evaporator_w_per_k: float = 10.0  # evaporator ↔ chamber air: the compressor's lag (≈ 4 min)
    cooling_w: float = 100.0  # heat the compressor pumps out of the evaporator
    heater_w: float = 60.0  # a reptile heat mat or a small bulb in the chamber
    ambient_c: float = 20.0
    ambient_swing_c: float = 2.0  # daily room-temperature swing (± amplitude)
    yeast_peak_w: float = 8.0  # active fermentation of 20 L at OG 1.050, at its peak
    yeast_peak_at_s: float = 36 * 3600.0  # after pitching
    yeast_width_s: float = 20 * 3600.0  # standard deviation of the bell
    start_c: float | None = None  # beer and chamber start here (default: ambient)
    original_gravity: float = 1.050
    final_gravity: float = 1.012  # 76 % apparent attenuation

    @property
    def beer_j_per_k(self) -> float:
        return self.beer_litres * WATER_J_PER_KG_K + self.vessel_j_per_k


class Fermenter:
    """Beer in a chamber with a compressor (through an evaporator) and a heater."""

    sensors = ("beer", "chamber")
    channels: Mapping[int, str] = {1: "heater", 2: "cooler"}

    def __init__(self, params: FermenterParams | None = None) -> None:
        self.p = params or FermenterParams()
        start = self.p.ambient_c if self.p.start_c is None else self.p.start_c
        self.beer = start
        self.air = start
        self.evaporator = start
        self.elapsed = 0.0  # since pitching

    def ambient(self) -> float:
        phase = 2 * math.pi * (self.elapsed % 86_400.0) / 86_400.0
        return self.p.ambient_c + self.p.ambient_swing_c * math.sin(phase)

    def yeast_w(self) -> float:
        z = (self.elapsed - self.p.yeast_peak_at_s) / self.p.yeast_width_s
        return self.p.yeast_peak_w * math.exp(-0.5 * z * z)

    def fermented(self) -> float:
        """The fraction of the fermentable sugar fermented so far (0 → 1).

        The yeast's heat is proportional to the rate at which it ferments, so the
        fraction is the integral of the heat bell: its normal CDF, from pitching."""

        def cdf(t: float) -> float:
            return 0.5 * (
                1.0 + math.erf((t - self.p.yeast_peak_at_s) / (self.p.yeast_width_s * math.sqrt(2)))
            )

        at_pitch = cdf(0.0)
        return (cdf(self.elapsed) - at_pitch) / (1.0 - at_pitch)

    def gravity(self) -> float:
        """Specific gravity: from the original to the final as the sugar is fermented."""
        p = self.p
        return p.original_gravity - (p.original_gravity - p.final_gravity) * self.fermented()

    def advance(self, dt: float, on: Mapping[str, bool]) -> None:
        p = self.p
        heater = p.heater_w if on.get("heater") else 0.0
        cooling = p.cooling_w if on.get("cooler") else 0.0
        steps = max(1, math.ceil(dt / 10.0))  # 10 s keeps Euler well inside the fastest τ
        h = dt / steps
        for _ in range(steps):
            q_beer_air = p.beer_air_w_per_k * (self.beer - self.air)
            q_air_room = p.wall_w_per_k * (self.air - self.ambient())
            q_air_evap = p.evaporator_w_per_k * (self.air - self.evaporator)
            self.beer += h * (self.yeast_w() - q_beer_air) / p.beer_j_per_k
            self.air += h * (q_beer_air - q_air_room - q_air_evap + heater) / p.air_j_per_k
            self.evaporator += h * (q_air_evap - cooling) / p.evaporator_j_per_k
            self.elapsed += h

    def temperature(self, sensor: str) -> float:
        return self.beer if sensor == "beer" else self.air

    def room(self) -> float:
        return self.ambient()


@dataclass
class KettleParams:
    water_litres: float = 30.0
    kettle_j_per_k: float = 2_500.0  # 5 kg of stainless steel
    element_w: float = 3_500.0
    element_lag_s: float = 20.0  # the element sheath heats before the water does
    loss_w_per_k: float = 6.0  # lid on, uninsulated: ≈ 270 W lost at 65 °C
    probe_lag_s: float = 8.0  # a probe in a thermowell
    ambient_c: float = 20.0
    start_c: float | None = None

    @property
    def water_j_per_k(self) -> float:
        return self.water_litres * WATER_J_PER_KG_K + self.kettle_j_per_k

    def time_to_heat(self, delta_c: float) -> float:
        """The physical limit m·c·ΔT/P: every joule of the element into the water."""
        return self.water_litres * WATER_J_PER_KG_K * delta_c / self.element_w


class Kettle:
    """Water in a kettle with an electric element and heat losses."""

    sensors = ("water",)
    channels: Mapping[int, str] = {1: "element", 3: "contactor"}

    def __init__(self, params: KettleParams | None = None) -> None:
        self.p = params or KettleParams()
        # A master contactor in series with the element, when the brewer wired one (an
        # actuator configured on channel 3): then the element heats only while it is in.
        self.contactor_wired = False
        start = self.p.ambient_c if self.p.start_c is None else self.p.start_c
        self.water = start
        self.probe = start
        self.element_heat = 0.0  # W actually reaching the water

    def advance(self, dt: float, on: Mapping[str, bool]) -> None:
        p = self.p
        fed = on.get("contactor", False) or not self.contactor_wired
        power = p.element_w if on.get("element") and fed else 0.0
        steps = max(1, math.ceil(dt / 1.0))
        h = dt / steps
        for _ in range(steps):
            self.element_heat += h * (power - self.element_heat) / p.element_lag_s
            loss = p.loss_w_per_k * (self.water - p.ambient_c)
            self.water += h * (self.element_heat - loss) / p.water_j_per_k
            self.water = min(self.water, 100.0)  # boiling: the rest goes into steam
            self.probe += h * (self.water - self.probe) / p.probe_lag_s

    def temperature(self, sensor: str) -> float:
        return self.probe

    def room(self) -> float:
        return self.p.ambient_c


@dataclass(frozen=True)
class Variant:
    """One plant of the matrix: a name a brewer recognises and its parameters."""

    name: str
    params: FermenterParams | KettleParams
    about: str

    def plant(self, **changes: object) -> Fermenter | Kettle:
        """A fresh model of this plant; `changes` override parameters (e.g. start_c)."""
        from dataclasses import replace

        params = replace(self.params, **changes)  # type: ignore[arg-type]
        return Fermenter(params) if isinstance(params, FermenterParams) else Kettle(params)


def _fermenter(litres: float, **kw: float) -> FermenterParams:
    # The fermenter wall's conductance grows with its area (∝ V^⅔), the yeast's heat
    # with the volume (8 W at the peak for 20 L at OG 1.050).
    kw.setdefault("beer_air_w_per_k", 5.0 * (litres / 20.0) ** (2 / 3))
    kw.setdefault("yeast_peak_w", 8.0 * litres / 20.0)
    kw.setdefault("vessel_j_per_k", 4_000.0 * (litres / 20.0) ** (2 / 3))
    return FermenterParams(beer_litres=litres, **kw)


def _kettle(litres: float, element_w: float, **kw: float) -> KettleParams:
    kw.setdefault("loss_w_per_k", 6.0 * (litres / 30.0) ** (2 / 3))
    kw.setdefault("kettle_j_per_k", 2_500.0 * (litres / 30.0) ** (2 / 3))
    return KettleParams(water_litres=litres, element_w=element_w, **kw)


PLANT_MATRIX: tuple[Variant, ...] = (
    Variant(
        "starter-5L-chest-freezer",
        _fermenter(5, air_j_per_k=12_000, wall_w_per_k=0.8, cooling_w=150, heater_w=40),
        "a 5 L starter in a well-insulated chest freezer, 150 W compressor, 40 W mat",
    ),
    Variant(
        "mini-fridge-10L",
        _fermenter(10, air_j_per_k=5_000, wall_w_per_k=2.0, cooling_w=70, heater_w=40),
        "10 L in a bar fridge with thin walls, 70 W compressor, 40 W mat",
    ),
    Variant(
        "ale-20L-fridge",
        FermenterParams(),
        "the demo: 20 L in a converted fridge, 100 W compressor, 60 W mat, room 20 ± 2 °C",
    ),
    Variant(
        "ale-20L-garage",
        _fermenter(20, ambient_c=15.0, ambient_swing_c=6.0, heater_w=100),
        "20 L in a fridge in a garage: room 15 ± 6 °C daily, 100 W heater",
    ),
    Variant(
        "ale-20L-poor-insulation",
        _fermenter(20, wall_w_per_k=3.0, cooling_w=80, heater_w=60),
        "20 L in a DIY insulated box with a small 80 W cooler",
    ),
    Variant(
        "ale-25L-cold-cellar",
        _fermenter(25, ambient_c=12.0, ambient_swing_c=1.0, heater_w=150),
        "25 L in a fridge in a cold cellar (12 ± 1 °C), mostly heating with 150 W",
    ),
    Variant(
        "lager-30L-chest-freezer",
        _fermenter(30, air_j_per_k=15_000, wall_w_per_k=1.0, cooling_w=150, heater_w=100),
        "30 L in a chest freezer, 150 W compressor, 100 W heater",
    ),
    Variant(
        "ale-40L-hot-room",
        _fermenter(40, ambient_c=26.0, ambient_swing_c=3.0, cooling_w=150, heater_w=60),
        "40 L in a room at 26 ± 3 °C, 150 W compressor",
    ),
    Variant(
        "conical-60L-big-fridge",
        _fermenter(
            60,
            vessel_j_per_k=15_000,
            air_j_per_k=20_000,
            wall_w_per_k=2.0,
            cooling_w=200,
            heater_w=200,
        ),
        "a 60 L stainless conical in a big fridge, 200 W compressor, 200 W heater",
    ),
    Variant("kettle-10L-1kW", _kettle(10, 1_000), "a 10 L stovetop pot with a 1 kW element"),
    Variant("kettle-30L-3.5kW", KettleParams(), "the demo: 30 L, 3.5 kW"),
    Variant("kettle-50L-2kW", _kettle(50, 2_000), "50 L on a 2 kW element (slow)"),
    Variant("kettle-100L-5kW", _kettle(100, 5_000), "100 L with a 5 kW element"),
)
"""The plants the benchmark and the tests run on: fermenters of 5–60 L in chambers of
every size and insulation, 70–200 W compressors, 40–200 W heaters, rooms from a 12 °C
cellar to a 26 °C room and a garage swinging ± 6 °C; kettles of 10–100 L on 1–5 kW."""


def make_plant(simulation: str) -> Plant:
    if simulation == "fermenter":
        return Fermenter()
    if simulation == "kettle":
        return Kettle()
    if simulation == "glycol":
        from services.controller.sim.glycol import GlycolPlant  # it builds on this module

        return GlycolPlant()
    raise ValueError(f"unknown simulation {simulation!r}")
