"""Our control loop against a plain on/off thermostat, on the same simulated plants.

Every plant of the simulator's matrix (`PLANT_MATRIX`: fermenters of 5–60 L, kettles
of 10–100 L) runs both controllers side by side in one run; the tables give each
figure, the ratio ours / thermostat, and the worst variant for each ratio.

Ours, on fermenters, is what a brewer gets by declaring the outputs and the chamber
probe: `heater_output` a mechanical relay, `cooler_output` a compressor (their type
defaults), a beer → chamber cascade on the chamber probe, the default PID settings.

Fermenter: the ten-day ale profile (18 °C for 3 days, ramp to 21 °C over a day,
hold 3 days, cold crash to 2 °C), pitched at 20 °C, on the simulated fermentation
chamber with yeast heat and a ±2 °C daily room swing. Baseline: an STC-1000 style
thermostat on the same beer probe (±0.5 °C differential, 3-minute compressor delay).

Kettle: a mash step 65 → 72 °C on the simulated 30 L / 3.5 kW kettle, against the
physical limit m·c·ΔT/P and an on/off thermostat with 0.5 °C differential.

Both controllers see the same readings (noise, 1/16 °C steps, every 5 s for the
fermenter, every second for the kettle) of the same physics; the control code is
the controller's own `LoopControl`, exactly as the service runs it.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from services.common.config import Config
from services.common.schema.config import (
    Actuator,
    Cascade,
    Device,
    IoRef,
    Loop,
    LoopKind,
    OutputSettings,
    PidSettings,
    Profile,
    ProfilePoint,
    Sensor,
)
from services.controller.app import running_controller
from services.controller.control.autotune import Phase, RelayAutotune, RelaySettings
from services.controller.control.core import LoopControl, cooler_timing
from services.controller.control.profile import Schedule
from services.controller.control.tuning import refine
from services.controller.sim import closed_loop
from services.controller.sim.physics import (
    PLANT_MATRIX,
    Fermenter,
    FermenterParams,
    Kettle,
    KettleParams,
    Variant,
)
from tests.support.broker import Broker

DAY = 86_400.0
HOUR = 3_600.0
BAND_C = 0.5


class Ours:
    """The controller's loop: PID → time-proportioned relays with compressor protection."""

    def __init__(self, loop: Loop) -> None:
        self.control = LoopControl(loop, now=0.0)

    def on_reading(
        self, now: float, pv: float, setpoint: float, chamber: float | None = None
    ) -> tuple[bool, bool, float | None]:
        self.control.sample(now, pv, setpoint, chamber)
        return self.on_time(now)

    def on_time(self, now: float) -> tuple[bool, bool, float | None]:
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at


class OnOff:
    """An STC-1000: cool from SP + differential down to SP, heat from SP − differential up
    to SP; the compressor waits `compressor_delay_s` after it stopped before it restarts."""

    def __init__(self, differential: float = 0.5, compressor_delay_s: float = 180.0) -> None:
        self.differential = differential
        self.delay = compressor_delay_s
        self.heat = self.cool = False
        self.cool_stopped = -math.inf

    def on_reading(self, now: float, pv: float, setpoint: float) -> tuple[bool, bool, float | None]:
        if self.cool and pv <= setpoint:
            self.cool, self.cool_stopped = False, now
        elif not self.cool and not self.heat and pv >= setpoint + self.differential:
            self.cool = now - self.cool_stopped >= self.delay
        if self.heat and pv >= setpoint:
            self.heat = False
        elif not self.heat and not self.cool and pv <= setpoint - self.differential:
            self.heat = True
        return self.heat, self.cool, None

    def on_time(self, now: float) -> tuple[bool, bool, float | None]:
        return self.heat, self.cool, None


def _profile(name: str, points: list[tuple[float, float]]) -> Profile:
    return Profile(id=name, points=[ProfilePoint(offset=o, temperature=t) for o, t in points])


def ale_profile() -> Profile:
    return _profile(
        "ale",
        [(0, 18), (3 * DAY, 18), (4 * DAY, 21), (7 * DAY, 21), (7 * DAY + 60, 2), (10 * DAY, 2)],
    )


def lager_profile() -> Profile:
    """10 °C for 6 days, a free rise to 16 °C over a day for the diacetyl rest, held 2
    days, then the cold crash to 2 °C held 5 days: 14 days."""
    return _profile(
        "lager",
        [(0, 10), (6 * DAY, 10), (7 * DAY, 16), (9 * DAY, 16), (9 * DAY + 60, 2), (14 * DAY, 2)],
    )


@dataclass(frozen=True)
class Brew:
    """A fermentation schedule and how it is scored: from 12 h after pitching, without
    the first 12 h of the cold crash (both controllers pull down flat out then)."""

    name: str
    profile: Callable[[], Profile]
    days: float
    crash_at: float
    pitch_c: float | None  # None: pitched at the room's temperature
    steps: tuple[tuple[float, float, float, float], ...]
    """(start, end, target, sign) per step: how far past `target` the beer went."""

    def scored(self, t: float) -> bool:
        return t >= 12 * HOUR and not self.crash_at <= t < self.crash_at + 12 * HOUR


ALE = Brew(
    "ale",
    ale_profile,
    10.0,
    7 * DAY,
    None,
    (
        (0, 3 * DAY, 18.0, -1.0),  # pitched warm, cooled to 18: undershoot
        (4 * DAY, 7 * DAY, 21.0, +1.0),  # after the ramp up
        (7 * DAY, 10 * DAY, 2.0, -1.0),  # after the cold crash
    ),
)
LAGER = Brew(
    "lager",
    lager_profile,
    14.0,
    9 * DAY,
    12.0,
    (
        (0, 6 * DAY, 10.0, -1.0),  # pitched at 12, cooled to 10: undershoot
        (7 * DAY, 9 * DAY, 16.0, +1.0),  # after the rise to the diacetyl rest
        (9 * DAY, 14 * DAY, 2.0, -1.0),  # after the cold crash
    ),
)
BREWS = (ALE, LAGER)


def fermenter_loop() -> Loop:
    return Loop(
        id="f",
        kind=LoopKind.fermenter,
        sensor=IoRef(device="sim", id="beer"),
        heater=IoRef(device="sim", id="heater"),  # the heater and the cooler: two relays
        cooler=IoRef(device="sim", id="cooler"),
        mode="constant",
    )


def typed_fermenter_loop(cascade: bool = True) -> Loop:
    """What a brewer declares: a relay heater, a compressor, the chamber probe."""
    return fermenter_loop().model_copy(
        update={
            "heater_output": OutputSettings(type="relay"),
            "cooler_output": OutputSettings(type="compressor"),
            "cascade": Cascade(chamber=IoRef(device="sim", id="chamber")) if cascade else None,
        }
    )


def kettle_loop() -> Loop:
    return Loop(
        id="k",
        kind=LoopKind.kettle,
        sensor=IoRef(device="sim", id="water"),
        heater=IoRef(device="sim", id="element"),
        mode="constant",
    )


@dataclass
class FermenterResult:
    rms: float
    max_error: float
    overshoots: list[float]
    within: float
    crash_hours: float
    compressor_starts: int
    heater_starts: int
    heating_kwh: float = 0.0
    cooling_kwh: float = 0.0  # heat the compressor pumped out

    @property
    def energy_kwh(self) -> float:
        return self.heating_kwh + self.cooling_kwh


def on_seconds(trace: closed_loop.Trace, output: str, end: float) -> float:
    """How long `output` was on, from the trace's switches."""
    total, since = 0.0, None
    for t, name, on in trace.switches:
        if name != output:
            continue
        if on and since is None:
            since = t
        elif not on and since is not None:
            total, since = total + t - since, None
    return total + (end - since if since is not None else 0.0)


def score_fermenter(trace: closed_loop.Trace, brew: Brew = ALE) -> FermenterResult:
    samples = list(zip(trace.times, trace.pv, trace.sp, strict=True))
    errors = [pv - sp for t, pv, sp in samples if brew.scored(t)]

    def beyond(start: float, end: float, target: float, sign: float) -> float:
        return max([0.0] + [sign * (pv - target) for t, pv, _ in samples if start <= t < end])

    end = brew.days * DAY
    crashed = next((t for t, pv, _ in samples if t > brew.crash_at and pv <= 2.0 + BAND_C), end)
    return FermenterResult(
        rms=math.sqrt(sum(e * e for e in errors) / len(errors)),
        max_error=max(abs(e) for e in errors),
        overshoots=[beyond(*step) for step in brew.steps],
        within=sum(1 for e in errors if abs(e) <= BAND_C) / len(errors),
        crash_hours=(crashed - brew.crash_at) / HOUR,
        compressor_starts=sum(1 for _, name, on in trace.switches if name == "cool" and on),
        heater_starts=sum(1 for _, name, on in trace.switches if name == "heat" and on),
    )


def run_fermenter(
    thermostat: closed_loop.Thermostat,
    params: FermenterParams | None = None,
    *,
    chamber: bool = False,
    brew: Brew = ALE,
) -> FermenterResult:
    params = params or FermenterParams()
    if brew.pitch_c is not None:
        params = replace(params, start_c=brew.pitch_c)
    schedule = Schedule.of(brew.profile())
    end = brew.days * DAY
    trace = closed_loop.run(
        Fermenter(params),
        thermostat,
        lambda t: schedule.setpoint(t) or 0.0,
        end,
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=5.0,
        seed=7,
        chamber="chamber" if chamber else None,
    )
    result = score_fermenter(trace, brew)
    result.heating_kwh = params.heater_w * on_seconds(trace, "heat", end) / 3.6e6
    result.cooling_kwh = params.cooling_w * on_seconds(trace, "cool", end) / 3.6e6
    return result


@dataclass
class KettleResult:
    time_to_72: float
    overshoot: float
    hold_error: float


def run_kettle(
    thermostat: closed_loop.Thermostat, params: KettleParams | None = None
) -> KettleResult:
    kettle = Kettle(replace(params or KettleParams(), start_c=65.0))
    step_at = 1200.0

    def setpoint(t: float) -> float:
        return 65.0 if t < step_at else 72.0

    trace = closed_loop.run(
        kettle,
        thermostat,
        setpoint,
        step_at + 1800.0,
        sensor="water",
        heater="element",
        cooler=None,
        period=1.0,
        seed=7,
        truth=lambda: kettle.water,
    )
    after = [(t, pv) for t, pv in zip(trace.times, trace.pv, strict=True) if t >= step_at]
    reached = next(t for t, pv in after if pv >= 72.0 - 0.1) - step_at
    late = [abs(pv - 72.0) for t, pv in after if t >= step_at + 900]
    return KettleResult(reached, max(pv for _, pv in after) - 72.0, max(late))


class Autotuning:
    """The controller's `autotune` run, minus I/O (services/controller/control/tuning.py):
    the relay drives the loop's output in manual until it has identified the plant."""

    def __init__(self, loop: Loop, settings: RelaySettings) -> None:
        self.control = LoopControl(loop, now=0.0)
        self.tuner = RelayAutotune(settings, 0.0)

    def on_reading(self, now: float, pv: float, setpoint: float) -> tuple[bool, bool, float | None]:
        c = self.control
        applied = (100.0 if c.heater is not None and c.heater.on else 0.0) - (
            100.0 if c.cooler is not None and c.cooler.on else 0.0
        )
        if self.tuner.phase == Phase.running:
            c.manual(self.tuner.update(now, pv, applied))
        return self.on_time(now)

    def on_time(self, now: float) -> tuple[bool, bool, float | None]:
        d = self.control.update(now)
        return d.heat, d.cool, d.next_at


def autotuned_kettle_loop(params: KettleParams) -> Loop | None:
    """The kettle loop with the PID autotune proposes, from a relay run at 65 °C (the
    brewer starts it with the mash held there), its SIMC gains rehearsed on the
    identified plant against other candidates and the loop's present gains, as the
    controller does (control/tuning.py); None if the run did not finish."""
    loop = kettle_loop().model_copy(update={"setpoint": 65.0})
    run = Autotuning(
        loop, RelaySettings(setpoint=65.0, high=100.0, low=0.0, window_s=loop.window_s)
    )
    kettle = Kettle(replace(params, start_c=65.0))
    kettle.element_heat = params.loss_w_per_k * (65.0 - params.ambient_c)  # holding 65 °C
    closed_loop.run(
        kettle,
        run,
        lambda t: 65.0,
        6 * HOUR,
        sensor="water",
        heater="element",
        cooler=None,
        period=1.0,
        seed=7,
    )
    if run.tuner.phase != Phase.done:
        return None
    refine(run.tuner, loop, "heat")  # what the controller proposes: rehearsed on the plant
    p = run.tuner.proposal
    if p is None:
        return None
    return kettle_loop().model_copy(update={"pid": PidSettings(kp=p.kp, ki=p.ki, kd=p.kd)})


def autotuned_fermenter_loop(params: FermenterParams, rehearsed: bool = True) -> Loop | None:
    """The beer-only typed fermenter loop with the PID autotune proposes from a cooler
    relay run at 18 °C (the beer held there first), rehearsed on the identified plant
    as the controller does (control/tuning.py); None if the run did not finish.

    The run is the offline test's (tests/controller/test_autotune.py): a steady room
    and no yeast, water in the fermenter before brew day, on this plant's physics
    otherwise. Only the cooler: with the room above 18 °C a heater's relay has nothing
    to bring the beer back down but the cooler it may not use. The proposal is for
    the beer → output loop, so the loop it goes on is the beer-only one (the cascade's
    two PIDs are other gains, not identified here). `rehearsed` False: SIMC's rule alone,
    without the rehearsal on the identified plant (to tell the two apart)."""
    loop = typed_fermenter_loop(cascade=False).model_copy(update={"setpoint": 18.0})
    window = cooler_timing(loop).window_s
    run = Autotuning(loop, RelaySettings(setpoint=18.0, high=0.0, low=-100.0, window_s=window))
    steady = replace(params, start_c=18.0, ambient_swing_c=0.0, yeast_peak_w=0.0)
    closed_loop.run(
        Fermenter(steady),
        run,
        lambda t: 18.0,
        2 * DAY,
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=10.0,
        seed=7,
    )
    if run.tuner.phase != Phase.done:
        return None
    if rehearsed:
        refine(run.tuner, loop, "cool")
    p = run.tuner.proposal
    if p is None:
        return None
    pid = PidSettings(kp=p.kp, ki=p.ki, kd=p.kd)
    return typed_fermenter_loop(cascade=False).model_copy(update={"pid": pid})


def decision_cost_us(make: Callable[[], closed_loop.Thermostat], n: int = 100_000) -> float:
    thermostat = make()
    started = time.perf_counter()
    for i in range(n):
        thermostat.on_reading(i * 1.0, 19.0 + (i % 7) * 0.0625, 19.0)
    return (time.perf_counter() - started) / n * 1e6


async def _scale(loops: int, seconds: float) -> tuple[float, int]:
    """CPU share of one core for `loops` fermenter loops on as many simulated boards, in
    real time through ptys and a real broker; and how many loop states were published."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        broker.start()
        try:
            config = Config.from_env({"MAELSTROM_MQTT_URL": broker.url})
            async with running_controller(config) as ctl:
                await add_fermenters(ctl, loops, setpoint=19.0)
                published = sum(r.point.good_streak for r in ctl.loops.loops.values())
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.sleep(seconds)
                share = (time.process_time() - cpu) / (time.perf_counter() - wall)
                readings = sum(r.point.good_streak for r in ctl.loops.loops.values()) - published
        finally:
            broker.stop()
    return share, readings


async def add_fermenters(ctl: Any, loops: int, **extra: Any) -> None:
    """`loops` fermenter loops, each on a simulated board of its own, in a running
    controller; returns once the boards said hello and gave their first readings."""
    for i in range(loops):
        device = _sim_device(f"sim-{i}")
        ctl.store.devices[device.id] = device
        await ctl.registry.apply(device.id, device)
        loop = fermenter_loop().model_copy(
            update={
                "id": f"loop-{i}",
                "sensor": IoRef(device=device.id, id="beer"),
                "heater": IoRef(device=device.id, id="heater"),
                "cooler": IoRef(device=device.id, id="cooler"),
                **extra,
            }
        )
        ctl.store.loops[loop.id] = loop
    ctl.loops.reconcile()
    await asyncio.sleep(3.0)  # boards say hello, first readings


def _sim_device(device_id: str) -> Device:
    return Device(
        id=device_id,
        kind="simulated",
        simulation="fermenter",
        sensors=[Sensor(id="beer"), Sensor(id="chamber")],
        actuators=[Actuator(id="heater", channel=1), Actuator(id="cooler", channel=2)],
    )


GOALS = {"rms": 0.5, "compressor": 1.0, "heater": 1.0, "energy": 1.0}
"""Issue 19's goal, at once on every fermenter: ours / thermostat at most this."""


def _variant(name: str) -> Variant:
    return next(v for v in PLANT_MATRIX if v.name == name)


def _brew(name: str) -> Brew:
    return next(b for b in BREWS if b.name == name)


def _fermenter_job(job: tuple[str, str, str]) -> FermenterResult:
    name, who, brew = job
    params = _variant(name).params
    assert isinstance(params, FermenterParams)
    run = partial(run_fermenter, params=params, brew=_brew(brew))
    if who == "ours":
        return run(Ours(typed_fermenter_loop()), chamber=True)
    if who == "ours-beer-only":
        return run(Ours(typed_fermenter_loop(cascade=False)))
    if who in ("ours-autotuned", "ours-simc"):
        loop = autotuned_fermenter_loop(params, rehearsed=who == "ours-autotuned")
        assert loop is not None, f"autotune did not finish on {name}"
        return run(Ours(loop))
    if who == "ours-ssr":  # the first wave's defaults: SSR heater, 30-min compressor windows
        return run(Ours(fermenter_loop()))
    return run(OnOff(differential=0.5, compressor_delay_s=180.0))


def _kettle_job(job: tuple[str, str]) -> KettleResult | None:
    name, who = job
    params = _variant(name).params
    assert isinstance(params, KettleParams)
    if who == "ours":
        return run_kettle(Ours(kettle_loop()), params)
    if who == "autotuned":
        loop = autotuned_kettle_loop(params)
        return run_kettle(Ours(loop), params) if loop is not None else None
    return run_kettle(OnOff(differential=0.5, compressor_delay_s=0.0), params)


def _ratio(a: float, b: float) -> float:
    return a / b if b else (math.inf if a else 1.0)


BREW_TITLES = {
    "ale": "10-day ale profile (18 °C 3 d, ramp to 21 °C over 1 d, hold 3 d, crash to 2 °C),"
    " pitched at the room's temperature",
    "lager": "14-day lager profile (10 °C 6 d, rise to 16 °C over 1 d for the diacetyl rest,"
    " hold 2 d, crash to 2 °C for 5 d), pitched at 12 °C",
}
STEP_TITLES = {
    "ale": "pitch → 18 (under) | ramp to 21 (over) | crash to 2 (under) | crash 21 → 2.5 °C, h",
    "lager": "pitch 12 → 10 (under) | rise to 16 (over) | crash to 2 (under)"
    " | crash 16 → 2.5 °C, h",
}


def _fermenter_tables(
    brew: str,
    fermenters: list[str],
    ferm: dict[tuple[str, str, str], FermenterResult],
    ratios: dict[str, list[tuple[float, str]]],
) -> int:
    """One profile's table on every fermenter; returns on how many the goal was met."""
    print(
        f"\nFermenters, {BREW_TITLES[brew]}; scored from 12 h, the crash's first 12 h excluded.\n"
    )
    print(
        "| plant | RMS °C ours / STC (ratio) | max °C | within ±0.5 °C, % |"
        " compressor starts (ratio) | heater starts (ratio) | energy kWh (ratio) | goal |"
    )
    print("|---|---|---|---|---|---|---|---|")
    met = 0
    for name in fermenters:
        a, b = ferm[(name, "ours", brew)], ferm[(name, "stc", brew)]
        r = {
            "rms": _ratio(a.rms, b.rms),
            "compressor": _ratio(a.compressor_starts, b.compressor_starts),
            "heater": _ratio(a.heater_starts, b.heater_starts),
            "energy": _ratio(a.energy_kwh, b.energy_kwh),
        }
        for k, v in r.items():
            ratios[k].append((v, f"{name} ({brew})"))
        missed = [k for k, v in r.items() if v > GOALS[k]]
        met += not missed
        print(
            f"| {name} | {a.rms:.3f} / {b.rms:.3f} ({r['rms']:.2f}) |"
            f" {a.max_error:.2f} / {b.max_error:.2f} | {100 * a.within:.1f} / {100 * b.within:.1f} |"
            f" {a.compressor_starts} / {b.compressor_starts} ({r['compressor']:.2f}) |"
            f" {a.heater_starts} / {b.heater_starts} ({r['heater']:.2f}) |"
            f" {a.energy_kwh:.2f} / {b.energy_kwh:.2f} ({r['energy']:.2f}) |"
            f" {'met' if not missed else 'missed: ' + ', '.join(missed)} |"
        )
    print(f"\nOvershoot per step, °C, ours / STC ({brew}):\n")
    print(f"| plant | {STEP_TITLES[brew]} |")
    print("|---|---|---|---|---|")
    for name in fermenters:
        a, b = ferm[(name, "ours", brew)], ferm[(name, "stc", brew)]
        cells = " | ".join(
            f"{x:.2f} / {y:.2f}" for x, y in zip(a.overshoots, b.overshoots, strict=True)
        )
        print(f"| {name} | {cells} | {a.crash_hours:.1f} / {b.crash_hours:.1f} |")
    return met


DEMO_CHOICES = (
    ("ours", "relay + compressor types, cascade (the default above)"),
    ("ours-beer-only", "relay + compressor types, beer probe only"),
    ("ours-autotuned", "…beer probe only, the PID autotune proposes (cooler run at 18 °C)"),
    ("ours-simc", "…beer probe only, that run's SIMC gains, not rehearsed"),
    ("ours-ssr", "no types declared: SSR heater 10 s, compressor 30 min windows"),
    ("stc", "STC-1000"),
)
"""The demo fermenter's other choices: (job, what it is)."""


def demo_fermenter_table(ferm: dict[tuple[str, str, str], FermenterResult]) -> None:
    print("\nThe demo fermenter (ale-20L-fridge, ale) with other choices of ours:\n")
    print(
        "| ours | RMS °C | max °C | compressor starts | heater starts | energy kWh |"
        " crash 21 → 2.5 °C, h |"
    )
    print("|---|---|---|---|---|---|---|")
    left = (ALE.days * DAY - ALE.crash_at) / HOUR  # the profile ends before 2.5 °C
    for who, label in DEMO_CHOICES:
        a = ferm[("ale-20L-fridge", who, "ale")]
        crash = f"{a.crash_hours:.1f}" if a.crash_hours < left else f"not in {left:.0f}"
        print(
            f"| {label} | {a.rms:.3f} | {a.max_error:.2f} | {a.compressor_starts} |"
            f" {a.heater_starts} | {a.energy_kwh:.2f} | {crash} |"
        )


def demo_fermenter() -> None:
    """Only the demo fermenter's table (seconds, not the matrix's minutes):
    `python -c 'from bench.bench_controller import demo_fermenter; demo_fermenter()'`."""
    jobs = [("ale-20L-fridge", who, "ale") for who, _ in DEMO_CHOICES]
    with ProcessPoolExecutor(2) as pool:
        demo_fermenter_table(dict(zip(jobs, pool.map(_fermenter_job, jobs), strict=True)))


def matrix() -> None:
    """Every plant variant, ours and the thermostat side by side, on both profiles; the
    worst variant for each ratio; where the goal is met and where not."""
    fermenters = [v.name for v in PLANT_MATRIX if isinstance(v.params, FermenterParams)]
    kettles = [v.name for v in PLANT_MATRIX if isinstance(v.params, KettleParams)]
    jobs = [(n, w, b.name) for b in BREWS for n in fermenters for w in ("ours", "stc")]
    jobs += [("ale-20L-fridge", w, "ale") for w, _ in DEMO_CHOICES if w not in ("ours", "stc")]
    kjobs = [(n, w) for n in kettles for w in ("ours", "autotuned", "onoff")]
    with ProcessPoolExecutor(2) as pool:
        ferm = dict(zip(jobs, pool.map(_fermenter_job, jobs), strict=True))
        kett = dict(zip(kjobs, pool.map(_kettle_job, kjobs), strict=True))

    print(
        "Ours: relay heater + compressor (type defaults), beer → chamber cascade."
        " Thermostat: STC-1000 on the beer probe (±0.5 °C, 3-min compressor delay)."
        " Energy: heater kWh + heat pumped by the compressor, kWh."
    )
    ratios: dict[str, list[tuple[float, str]]] = {k: [] for k in GOALS}
    met = sum(_fermenter_tables(b.name, fermenters, ferm, ratios) for b in BREWS)
    print(
        f"\nGoal met at once on {met} of {len(fermenters) * len(BREWS)} fermenter runs"
        f" ({len(fermenters)} plants × {len(BREWS)} profiles). Worst variant per ratio:\n"
    )
    print("| ratio ours / STC | goal | worst | on |")
    print("|---|---|---|---|")
    for k, goal in GOALS.items():
        worst, where = max(ratios[k])
        print(f"| {k} | ≤ {goal:g} | {worst:.2f} | {where} |")

    demo_fermenter_table(ferm)

    print(
        "\nKettles, mash step 65 → 72 °C (SSR element) vs on/off ±0.5 °C; ours with the"
        " kettle PID defaults and with the PID autotune proposed on that kettle:\n"
    )
    print(
        "| kettle | ours | time to 72 °C, s: ours / on-off (ratio) | physical limit, s |"
        " overshoot °C ours / on-off | max error 15–30 min after, °C | goal |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in kettles:
        b = kett[(name, "onoff")]
        assert b is not None
        params = _variant(name).params
        assert isinstance(params, KettleParams)
        limit = params.time_to_heat(72.0 - 65.0)
        for who in ("ours", "autotuned"):
            a = kett[(name, who)]
            if a is None:
                print(f"| {name} | {who} | autotune did not finish | {limit:.0f} | | | missed |")
                continue
            ratio = a.time_to_72 / b.time_to_72
            missed = [
                k for k, bad in (("time", ratio > 1.03), ("overshoot", a.overshoot > 0.1)) if bad
            ]
            print(
                f"| {name} | {who} | {a.time_to_72:.0f} / {b.time_to_72:.0f} ({ratio:.2f}) |"
                f" {limit:.0f} | {a.overshoot:.2f} / {b.overshoot:.2f} |"
                f" {a.hold_error:.2f} / {b.hold_error:.2f} |"
                f" {'met' if not missed else 'missed: ' + ', '.join(missed)} |"
            )


def main() -> None:
    matrix()
    cost_ours = decision_cost_us(lambda: Ours(fermenter_loop()))
    cost_stc = decision_cost_us(OnOff)

    print(
        f"\nCompute per reading, µs: ours {cost_ours:.1f}, on/off {cost_stc:.1f}"
        f" ({cost_ours / cost_stc:.0f}×)"
    )
    print("\nScale: fermenter loops on simulated boards (pty, serial driver, broker), real time,")
    print("readings every second; the simulated boards' own work is in the same process:\n")
    print("| loops | CPU, % of one core | readings handled per second |")
    print("|---|---|---|")
    for n in (10, 100, 300):
        share, readings = asyncio.run(_scale(n, 10.0))
        print(f"| {n} | {100 * share:.1f} | {readings / 10.0:.0f} |")


if __name__ == "__main__":
    main()
