"""Our control loop against a plain on/off thermostat, on the same simulated plants.

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
from dataclasses import dataclass
from pathlib import Path

from services.common.config import Config
from services.common.schema.config import (
    Actuator,
    Device,
    IoRef,
    Loop,
    LoopKind,
    Profile,
    ProfilePoint,
    Sensor,
)
from services.controller.app import running_controller
from services.controller.control.core import LoopControl
from services.controller.control.profile import Schedule
from services.controller.sim import closed_loop
from services.controller.sim.physics import Fermenter, FermenterParams, Kettle, KettleParams
from tests.support.broker import Broker

DAY = 86_400.0
HOUR = 3_600.0
BAND_C = 0.5


class Ours:
    """The controller's loop: PID → time-proportioned relays with compressor protection."""

    def __init__(self, loop: Loop) -> None:
        self.control = LoopControl(loop, now=0.0)

    def on_reading(self, now: float, pv: float, setpoint: float) -> tuple[bool, bool, float | None]:
        self.control.sample(now, pv, setpoint)
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


def ale_profile() -> Profile:
    points = [
        (0, 18),
        (3 * DAY, 18),
        (4 * DAY, 21),
        (7 * DAY, 21),
        (7 * DAY + 60, 2),
        (10 * DAY, 2),
    ]
    return Profile(id="ale", points=[ProfilePoint(offset=o, temperature=t) for o, t in points])


def fermenter_loop() -> Loop:
    return Loop(
        id="f",
        kind=LoopKind.fermenter,
        sensor=IoRef(device="sim", id="beer"),
        heater=IoRef(device="sim", id="heater"),  # the heater and the cooler: two relays
        cooler=IoRef(device="sim", id="cooler"),
        mode="constant",
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


def tracking(t: float) -> bool:
    """Scored: after the first 12 h (pitched warm) and outside the 12 h of the cold crash."""
    return t >= 12 * HOUR and not 7 * DAY <= t < 7 * DAY + 12 * HOUR


def score_fermenter(trace: closed_loop.Trace) -> FermenterResult:
    samples = list(zip(trace.times, trace.pv, trace.sp, strict=True))
    errors = [pv - sp for t, pv, sp in samples if tracking(t)]

    def beyond(start: float, end: float, target: float, sign: float) -> float:
        return max([0.0] + [sign * (pv - target) for t, pv, _ in samples if start <= t < end])

    overshoots = [
        beyond(0, 3 * DAY, 18.0, -1.0),  # pitched at 20 °C, cooled to 18: undershoot
        beyond(4 * DAY, 7 * DAY, 21.0, +1.0),  # after the ramp up
        beyond(7 * DAY, 10 * DAY, 2.0, -1.0),  # after the cold crash
    ]
    crashed = next(t for t, pv, _ in samples if t > 7 * DAY and pv <= 2.0 + BAND_C)
    return FermenterResult(
        rms=math.sqrt(sum(e * e for e in errors) / len(errors)),
        max_error=max(abs(e) for e in errors),
        overshoots=overshoots,
        within=sum(1 for e in errors if abs(e) <= BAND_C) / len(errors),
        crash_hours=(crashed - 7 * DAY) / HOUR,
        compressor_starts=sum(1 for _, name, on in trace.switches if name == "cool" and on),
        heater_starts=sum(1 for _, name, on in trace.switches if name == "heat" and on),
    )


def run_fermenter(thermostat: closed_loop.Thermostat) -> FermenterResult:
    schedule = Schedule.of(ale_profile())
    trace = closed_loop.run(
        Fermenter(FermenterParams()),
        thermostat,
        lambda t: schedule.setpoint(t) or 0.0,
        10 * DAY,
        sensor="beer",
        heater="heater",
        cooler="cooler",
        period=5.0,
        seed=7,
    )
    return score_fermenter(trace)


@dataclass
class KettleResult:
    time_to_72: float
    overshoot: float
    hold_error: float


def run_kettle(thermostat: closed_loop.Thermostat) -> KettleResult:
    kettle = Kettle(KettleParams(start_c=65.0))
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
                            "setpoint": 19.0,
                        }
                    )
                    ctl.store.loops[loop.id] = loop
                ctl.loops.reconcile()
                await asyncio.sleep(3.0)  # boards say hello, first readings
                published = sum(r.point.good_streak for r in ctl.loops.loops.values())
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.sleep(seconds)
                share = (time.process_time() - cpu) / (time.perf_counter() - wall)
                readings = sum(r.point.good_streak for r in ctl.loops.loops.values()) - published
        finally:
            broker.stop()
    return share, readings


def _sim_device(device_id: str) -> Device:
    return Device(
        id=device_id,
        kind="simulated",
        simulation="fermenter",
        sensors=[Sensor(id="beer"), Sensor(id="chamber")],
        actuators=[Actuator(id="heater", channel=1), Actuator(id="cooler", channel=2)],
    )


def main() -> None:
    ours = run_fermenter(Ours(fermenter_loop()))
    stc = run_fermenter(OnOff(differential=0.5, compressor_delay_s=180.0))
    kettle_ours = run_kettle(Ours(kettle_loop()))
    kettle_onoff = run_kettle(OnOff(differential=0.5, compressor_delay_s=0.0))
    limit = KettleParams().time_to_heat(72.0 - 65.0)
    cost_ours = decision_cost_us(lambda: Ours(fermenter_loop()))
    cost_stc = decision_cost_us(OnOff)

    def row(name: str, a: float, b: float, fmt: str = "{:.2f}") -> str:
        ratio = f"{a / b:.2f}" if b else "—"
        return f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |"

    print(
        "Fermenter, 10-day ale profile; beer temperature vs profile, scored from 12 h after"
        " pitching, the 12 h of the cold crash excluded:\n"
    )
    print("| metric | Maelstrom PID | STC-1000 on/off | ratio |")
    print("|---|---|---|---|")
    print(row("RMS error, °C", ours.rms, stc.rms, "{:.3f}"))
    print(row("max error, °C", ours.max_error, stc.max_error))
    labels = (
        "undershoot after pitching 20 → 18 °C",
        "overshoot after the ramp to 21 °C",
        "undershoot after the crash to 2 °C",
    )
    for label, a, b in zip(labels, ours.overshoots, stc.overshoots, strict=True):
        print(row(f"{label}, °C", a, b))
    print(row("time within ±0.5 °C, %", 100 * ours.within, 100 * stc.within, "{:.1f}"))
    print(row("cold crash 21 → 2.5 °C, h", ours.crash_hours, stc.crash_hours, "{:.1f}"))
    print(row("compressor starts", ours.compressor_starts, stc.compressor_starts, "{:.0f}"))
    print(row("heater starts", ours.heater_starts, stc.heater_starts, "{:.0f}"))
    print(row("compute per reading, µs", cost_ours, cost_stc, "{:.1f}"))
    print("\nKettle, mash step 65 → 72 °C (30 L, 3.5 kW):\n")
    print("| metric | Maelstrom PID | on/off ±0.5 °C | physical limit |")
    print("|---|---|---|---|")
    print(
        f"| time to 72 °C, s | {kettle_ours.time_to_72:.0f} ({kettle_ours.time_to_72 / limit:.2f}× limit) | {kettle_onoff.time_to_72:.0f} ({kettle_onoff.time_to_72 / limit:.2f}× limit) | {limit:.0f} (m·c·ΔT/P) |"
    )
    print(f"| overshoot, °C | {kettle_ours.overshoot:.2f} | {kettle_onoff.overshoot:.2f} | 0 |")
    print(
        f"| max error 15–30 min after the step, °C | {kettle_ours.hold_error:.2f} | {kettle_onoff.hold_error:.2f} | 0 |"
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
