"""A seeded, reproducible randomised fault campaign on a simulated clock.

A fermenter and a mash kettle, each a simulated board on a pty driven by the real
serial driver, under a controller in this process (real broker). At random times
a fault is injected (every simulated fault of the design's contract, board resets,
silent boards, wall-clock steps, setpoint edits, and — given the broker — broker
outages and controller restarts — clean stops and kill -9), held for a random time
and healed; a simulated
brewer acknowledges protection alarms a while after. A restarted controller finds
the same boards (they outlive it, as hardware does: `Options.sim_boards`) and its
own disk state, so the invariants span restarts. At every step the invariants of
docs/safety.md are checked:

1. no heat while above the cutout: the controller never asks for heat while the
   loop's PV is at or above its cutout (a welded relay, or a board that refuses or
   does not hear the "off", still heats: that time is counted as a figure,
   `uncontrolled_heat_s`, not a violation — only hardware can stop it);
2. the compressor's minimum off time is never shortened (over the board's own
   record of its relay, board resets and watchdog trips included);
3. outputs off within the documented bound after a sensor fault or a silent board;
4. every loss of control (deaf board, refused output) alarmed within its bound.

`run_campaign` is used by the short campaign in `make test` and the long one in
`make bench BENCH=safety`.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.clock import SimClock
from services.common.config import Config
from services.common.schema.config import AlarmThresholds, Protections
from services.controller.app import running_controller
from services.controller.devices.serial_board import BoardTiming
from services.controller.options import Options, Timing
from tests.controller.support import (
    SimRun,
    eventually,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
)

STEP_S = 10.0
TIMING = Timing(
    supervise_s=STEP_S,
    publish_every_s=300.0,
    sim_interval_s=STEP_S,
    board=BoardTiming(refresh_s=STEP_S, lost_after_s=6 * STEP_S, watchdog_s=int(6 * STEP_S)),
)
KETTLE_CUTOUT_C = 80.0  # low enough for a high setpoint to reach it
SENSOR_FAULTS = ("85", "-127", "missing", "stuck", "in_air")
BOARD_FAULTS = ("deaf", "silent", "reset", "garbage")

# bounds (simulated seconds) checked by the invariants; docs/safety.md states them
SENSOR_OFF_BOUND_S = 2 * STEP_S  # the heater: the next reading; +1 step of slack
COMPRESSOR_OFF_BOUND_S = 30.0 + 2 * STEP_S  # glitch ride-through, then off
SILENT_OFF_BOUND_S = 6 * STEP_S + 2 * STEP_S  # the board's watchdog
CONTROL_LOSS_BOUND_S = 3 * STEP_S + 2 * STEP_S  # 1.5 refreshes unanswered, at a refresh


@dataclass
class Rig:
    device: str
    loop: str
    sensor: str
    heater: int
    cooler: int | None
    outputs: dict[str, int]  # actuator id → channel
    fault: tuple[str, str, str] | None = None  # (what, target, fault)
    fault_at: float = 0.0
    heal_at: float = 0.0
    ack_at: float | None = None
    checked: bool = False


@dataclass
class Figures:
    seed: int
    simulated_h: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    trips: dict[str, int] = field(default_factory=dict)
    clock_steps: int = 0
    edits: int = 0
    broker_outages: int = 0
    restarts: int = 0
    kills: int = 0  # of the restarts, those that were kill -9 (no clean stop)
    uncontrolled_heat_s: float = 0.0  # energised above the cutout though told off
    fallback_s: float = 0.0  # a board's fallback thermostat held the outputs
    violations: list[str] = field(default_factory=list)

    @property
    def injected(self) -> int:
        return sum(self.faults.values())


def campaign_loops() -> list[Any]:
    return [
        fermenter_loop(
            setpoint=18.0,
            alarms=AlarmThresholds(stale_after_s=6 * STEP_S),
            protections=Protections(cutout_c=30.0),
            board_fallback=True,  # a board that stops hearing its host keeps the beer cool
        ),
        kettle_loop(
            mode="constant",
            setpoint=66.0,
            alarms=AlarmThresholds(stale_after_s=6 * STEP_S),
            protections=Protections(cutout_c=KETTLE_CUTOUT_C),
        ),
    ]


async def run_campaign(
    config: Config,
    hours: float,
    seed: int,
    publish: Any,
    broker: Any = None,
    *,
    outage_every_h: float = 12.0,
    restart_every_h: float = 12.0,
) -> Figures:
    """`publish(obj)`: put a configuration object on the broker (retained). `broker` (a
    tests.support.broker.Broker): given, it is stopped (for 1–30 min) and started again
    about every `outage_every_h`, and the controller restarted about every
    `restart_every_h` (half of the times a clean stop, half kill -9: nothing switched
    off or said; then a start from its disk state)."""
    rng = random.Random(seed)
    outages = random.Random(seed * 7919 + 1)  # their own streams: seeds keep their faults
    restarts = random.Random(seed * 7919 + 2)
    kills = random.Random(seed * 7919 + 3)
    figures = Figures(seed=seed)
    clock = SimClock()
    boards: dict[str, Any] = {}  # the "hardware": outlives each controller
    rigs = [
        Rig("sim-fermenter", "fermenter", "beer", 1, 2, {"heater": 1, "cooler": 2}),
        Rig("sim-kettle", "kettle", "water", 1, None, {"element": 1}),
    ]
    loops = {loop.id: loop for loop in campaign_loops()}
    broker_back_at: float | None = None
    first = True
    start = end = clock.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        state_path = str(Path(tmp) / "controller-state.json")
        while first or clock.monotonic() < end:
            options = Options(
                clock=clock, timing=TIMING, sim_seed=seed, state_path=state_path, sim_boards=boards
            )
            async with running_controller(config, options) as ctl:
                if broker_back_at is None:
                    assert await ctl.mqtt.wait_connected(10)
                run = SimRun(ctl, clock)
                if first:
                    publish(fermenter_device())
                    publish(kettle_device())
                    for loop in loops.values():
                        publish(loop)
                if first:
                    await run.running("fermenter", "kettle")
                else:  # a board may be faulty (silent, its probe missing): no reading waited for
                    await eventually(lambda: {"fermenter", "kettle"} <= set(ctl.loops.loops))
                if first:
                    first = False
                    start = clock.monotonic()
                    end = start + hours * 3600.0
                while clock.monotonic() < end:
                    now = clock.monotonic()
                    for rig in rigs:
                        _step_rig(run, rig, rng, figures, now)
                    if rng.random() < STEP_S / (6 * 3600.0):  # a wall step every ~6 h
                        clock.step_wall(rng.choice((-3600.0, 3600.0)))
                        figures.clock_steps += 1
                    if rng.random() < STEP_S / (4 * 3600.0):  # a setpoint edit every ~4 h
                        kettle = loops["kettle"]
                        sp = rng.choice((52.0, 66.0, 72.0, 78.0, 90.0))  # 90: above the cutout
                        loops["kettle"] = kettle.model_copy(update={"setpoint": sp})
                        # through the controller's own client: queued while the broker is down
                        ctl.mqtt.publish(
                            ctl.mqtt.topics.config("loops", "kettle"),
                            loops["kettle"].model_dump(mode="json"),
                            retain=True,
                        )
                        figures.edits += 1
                    if broker is not None:
                        if broker_back_at is not None and now >= broker_back_at:
                            broker.start()
                            broker_back_at = None
                        elif broker_back_at is None and outages.random() < STEP_S / (
                            outage_every_h * 3600
                        ):
                            broker.stop()
                            broker_back_at = now + outages.uniform(60.0, 1800.0)
                            figures.broker_outages += 1
                    await run.advance(STEP_S)
                    for rig in rigs:
                        _check(run, rig, figures, clock.monotonic())
                    if broker is not None and restarts.random() < STEP_S / (restart_every_h * 3600):
                        figures.restarts += 1
                        if kills.random() < 0.5:
                            figures.kills += 1
                            ctl.kill()
                        break
        if broker is not None and broker_back_at is not None:
            broker.start()
        figures.simulated_h = (clock.monotonic() - start) / 3600.0
        min_off = loops["fermenter"].compressor.min_off_s
        _check_min_off(boards[rigs[0].device], rigs[0], min_off, figures)
        for board in boards.values():
            await board.stop()
    return figures


def _step_rig(run: SimRun, rig: Rig, rng: random.Random, figures: Figures, now: float) -> None:
    sim = run.sim(rig.device)
    loop = run.loop(rig.loop)
    if rig.fault is None:
        if rig.ack_at is not None and now >= rig.ack_at:
            rig.ack_at = None
            if loop.guard.tripped is not None:
                figures.trips[_kind(loop.guard.tripped)] = (
                    figures.trips.get(_kind(loop.guard.tripped), 0) + 1
                )
                run.ctl.alarms.acknowledge(loop.guard.alarm_id, "campaign")
        if rig.ack_at is None and rng.random() < STEP_S / 1800.0:  # a fault every ~30 min
            what = rng.choice(("sensor", "sensor", "output", "board"))
            if what == "sensor":
                fault = (what, rig.sensor, rng.choice(SENSOR_FAULTS))
                sim.set_sensor_fault(rig.sensor, fault[2])
            elif what == "output":
                actuator = rng.choice(sorted(rig.outputs))
                fault = (what, actuator, rng.choice(("stuck_on", "refused")))
                sim.set_output_fault(rig.outputs[actuator], fault[2])
            else:
                fault = (what, "", rng.choice(BOARD_FAULTS))
                sim.set_mode(fault[2])
            rig.fault, rig.fault_at, rig.checked = fault, now, False
            rig.heal_at = now + rng.uniform(60.0, 1800.0)
            figures.faults[fault[2]] = figures.faults.get(fault[2], 0) + 1
        return
    if now >= rig.heal_at:
        what, target, _ = rig.fault
        if what == "sensor":
            sim.set_sensor_fault(target, "none")
        elif what == "output":
            sim.set_output_fault(rig.outputs[target], "none")
        else:
            sim.set_mode("normal")
        rig.fault = None
        rig.ack_at = now + rng.uniform(60.0, 900.0)  # the brewer notices, then acknowledges


def _kind(cause: str) -> str:
    for key, kind in (
        ("cutout", "cutout"),
        ("only", "no_rise"),
        ("stuck on", "runaway"),
        ("lost control", "loss_of_control"),
    ):
        if key in cause:
            return kind
    return "other"


def _check(run: SimRun, rig: Rig, figures: Figures, now: float) -> None:
    sim = run.sim(rig.device)
    loop = run.loop(rig.loop)
    if sim.in_fallback:
        figures.fallback_s += STEP_S
    cutout = loop.guard.settings.cutout_c
    # 1. no heat above the cutout
    if cutout and loop.pv is not None and loop.pv >= cutout:
        if loop.heater is not None and loop.heater.desired:
            figures.violations.append(f"{now:.0f}: {rig.loop} heating at {loop.pv:.1f} ≥ {cutout}")
        elif sim.energised(rig.heater):
            figures.uncontrolled_heat_s += STEP_S
    if rig.fault is None or rig.checked:
        return
    what, target, fault = rig.fault
    age = now - rig.fault_at
    # 3. outputs off within the bound
    if what == "sensor" and fault in ("85", "-127", "missing"):
        if age >= SENSOR_OFF_BOUND_S and sim.outputs[rig.heater]:
            figures.violations.append(f"{now:.0f}: {rig.loop} heater on {age:.0f} s after {fault}")
            rig.checked = True
        if rig.cooler is not None and age >= COMPRESSOR_OFF_BOUND_S:
            if sim.outputs[rig.cooler]:
                figures.violations.append(
                    f"{now:.0f}: {rig.loop} cooler on {age:.0f} s after {fault}"
                )
            rig.checked = True
        elif rig.cooler is None and age >= SENSOR_OFF_BOUND_S:
            rig.checked = True
    elif what == "board" and fault == "silent" and age >= SILENT_OFF_BOUND_S:
        # only what the board's own fallback thermostat holds (never heat and cool at once)
        held = [
            ch
            for ch, on in sim.outputs.items()
            if on and not (sim.in_fallback and sim.guards[ch].fallback is not None)
        ]
        both = rig.cooler is not None and sim.outputs[rig.heater] and sim.outputs[rig.cooler]
        if held or both:
            figures.violations.append(
                f"{now:.0f}: {rig.device} outputs {held or 'heat and cool'} on {age:.0f} s "
                "after silence"
            )
        rig.checked = True
    # 4. loss of control alarmed within its bound
    elif (what == "board" and fault == "deaf") or (what == "output" and fault == "refused"):
        if loop.guard.tripped is not None or loop.fault is not None:
            rig.checked = True
        elif age >= CONTROL_LOSS_BOUND_S:
            figures.violations.append(
                f"{now:.0f}: {rig.loop} {fault} {target} not alarmed in {age:.0f} s"
            )
            rig.checked = True


def _check_min_off(board: Any, rig: Rig, min_off: float, figures: Figures) -> None:
    """2. over the board's own relay record: every start ≥ min off after the last stop."""
    assert rig.cooler is not None
    stopped: float | None = None
    for t, channel, on in board.switches:
        if channel != rig.cooler:
            continue
        if on and stopped is not None and t - stopped < min_off - 1e-6:
            figures.violations.append(
                f"{t:.0f}: compressor restarted {t - stopped:.0f} s after stopping"
            )
        if not on:
            stopped = t
