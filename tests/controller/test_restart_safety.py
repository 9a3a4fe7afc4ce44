"""Controller restarts and a board that does not hear it (found by the fault campaign)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.common.clock import SimClock
from services.common.config import Config
from services.common.schema.config import Protections
from services.controller.app import Controller, running_controller
from services.controller.options import Options, Timing
from tests.controller.campaign import STEP_S, TIMING
from tests.controller.support import (
    SimRun,
    eventually,
    fermenter_device,
    fermenter_loop,
    publish_config,
)
from tests.support.probe import MqttProbe

COOLER = 2


def _cooler_off_for(sim: Any) -> float:
    """How long the compressor had been off when it last started (the board's record)."""
    times = [(t, on) for t, channel, on in sim.switches if channel == COOLER]
    assert times[-1][1], "the compressor is not running"
    stopped = [t for t, on in times[:-1] if not on]
    return times[-1][0] - stopped[-1]


def _options(
    clock: SimClock, boards: dict[str, Any], tmp_path: Path, timing: Timing = TIMING
) -> Options:
    return Options(
        clock=clock,
        timing=timing,
        sim_seed=1,
        state_path=str(tmp_path / "controller-state.json"),
        sim_boards=boards,  # the hardware outlives each controller
    )


async def _cooling_then(
    config: Config, probe: MqttProbe, options: Options, last: Callable[[Controller, Any], None]
) -> Any:
    """A controller cooling flat out, and `last(controller, board)` just before it stops."""
    async with running_controller(config, options) as ctl:
        assert await ctl.mqtt.wait_connected(10)
        run = SimRun(ctl, options.clock)  # type: ignore[arg-type]
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(setpoint=4.0))  # cooling flat out
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        min_off = run.loop("fermenter").cfg.compressor.min_off_s
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=STEP_S)
        await run.advance(STEP_S)
        last(ctl, sim)
    assert sim.outputs[COOLER]  # the board did not hear a stop
    return sim


async def _cooling_then_deaf(config: Config, probe: MqttProbe, options: Options) -> Any:
    """The board goes deaf just before the controller stops: it does not hear the stop,
    and its compressor runs on."""
    return await _cooling_then(config, probe, options, lambda ctl, sim: sim.set_mode("deaf"))


async def test_a_killed_controller_leaves_the_compressor_running_and_the_next_keeps_min_off(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    # kill -9: no `X`, the compressor runs on until the next controller opens the port
    # (the board resets); its minimum off counts from that reset.
    clock = SimClock()
    boards: dict[str, Any] = {}
    sim = await _cooling_then(
        config, probe, _options(clock, boards, tmp_path), lambda ctl, sim: ctl.kill()
    )
    async with running_controller(config, _options(clock, boards, tmp_path)) as ctl:
        run = SimRun(ctl, clock)
        await eventually(lambda: "fermenter" in ctl.loops.loops, what="the loop")
        min_off = run.loop("fermenter").cfg.compressor.min_off_s
        await run.advance_until(lambda: not sim.outputs[COOLER], 2 * STEP_S)  # the reset
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=1.0)
        assert _cooler_off_for(sim) >= min_off, (_cooler_off_for(sim), min_off)
        assert run.loop("fermenter").guard.tripped is None


async def test_a_compressor_stopped_by_the_reset_of_a_new_session_keeps_its_minimum_off(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    # The campaign's seed 1: the new controller counted the compressor's minimum off
    # from its own start, but the compressor ran on until the board reset (opening the
    # port), seconds later: it came back 295 s after it really stopped (minimum 300 s).
    clock = SimClock()
    boards: dict[str, Any] = {}
    sim = await _cooling_then_deaf(config, probe, _options(clock, boards, tmp_path))
    resets = sim.resets
    async with running_controller(config, _options(clock, boards, tmp_path)) as ctl:
        run = SimRun(ctl, clock)
        await eventually(lambda: "fermenter" in ctl.loops.loops, what="the loop")
        await run.advance_until(lambda: sim.resets > resets, 2 * STEP_S)
        assert not sim.outputs[COOLER]  # stopped by the reset that opening the port causes
        await run.advance(1.0)
        sim.set_mode("normal")  # deaf only through the hello: no loss of control
        min_off = run.loop("fermenter").cfg.compressor.min_off_s
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=1.0)
        assert run.loop("fermenter").guard.tripped is None
        assert _cooler_off_for(sim) >= min_off, (_cooler_off_for(sim), min_off)


async def test_a_compressor_a_deaf_board_kept_running_through_a_restart_keeps_its_minimum_off(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    # Started while its board is deaf, the new controller loses control of it (latched);
    # once the board hears again it is re-taken (it never heard the watchdog time that
    # arms its outputs), and after the brewer's acknowledgement the compressor starts,
    # its minimum off counted from when the board really stopped it.
    clock = SimClock()
    boards: dict[str, Any] = {}
    sim = await _cooling_then_deaf(config, probe, _options(clock, boards, tmp_path))
    async with running_controller(config, _options(clock, boards, tmp_path)) as ctl:
        run = SimRun(ctl, clock)
        await eventually(lambda: "fermenter" in ctl.loops.loops, what="the loop")
        await run.advance_until(lambda: not sim.outputs[COOLER], 2 * TIMING.board.watchdog_s)
        await run.advance(90.0)
        loop = run.loop("fermenter")
        min_off = loop.cfg.compressor.min_off_s
        assert loop.guard.tripped is not None  # loss of control while deaf
        sim.set_mode("normal")
        await run.advance_until(lambda: not (loop.heater.trouble or loop.cooler.trouble), 60)
        await run.advance(min_off)
        assert loop.guard.tripped is not None and not sim.outputs[COOLER]  # latched
        ctl.alarms.acknowledge(loop.guard.alarm_id, "brewer")
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=1.0)
        assert _cooler_off_for(sim) >= min_off, (_cooler_off_for(sim), min_off)
        await run.advance(3 * STEP_S)
        assert loop.guard.tripped is None and sim.outputs[COOLER]  # and it stays taken


async def test_a_compressor_a_deaf_board_stopped_by_its_watchdog_keeps_its_minimum_off(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    # Deaf, the board runs the compressor on after the loss of control switched it off in
    # the controller's view, until its own watchdog stops it: that is when it stopped.
    clock = SimClock()
    slow = replace(TIMING, board=replace(TIMING.board, watchdog_s=180))  # long after the trip
    async with running_controller(config, _options(clock, {}, tmp_path, slow)) as ctl:
        assert await ctl.mqtt.wait_connected(10)
        run = SimRun(ctl, clock)
        publish_config(probe, fermenter_device())
        # no fault-free period after the trip: the minimum off alone holds the compressor
        cooling = fermenter_loop(setpoint=4.0, protections=Protections(fault_free_s=0.0))
        publish_config(probe, cooling)
        await run.running("fermenter")
        sim, loop = run.sim("sim-fermenter"), run.loop("fermenter")
        min_off = loop.cfg.compressor.min_off_s
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=STEP_S)
        await run.advance(min_off)
        sim.set_mode("deaf")
        await run.advance_until(lambda: not sim.outputs[COOLER], 2 * slow.board.watchdog_s)
        assert loop.guard.tripped is not None  # before the watchdog: loss of control
        await run.advance(STEP_S)
        sim.set_mode("normal")
        await run.advance_until(lambda: not (loop.heater.trouble or loop.cooler.trouble), 60)
        ctl.alarms.acknowledge(loop.guard.alarm_id, "brewer")
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=1.0)
        assert _cooler_off_for(sim) >= min_off, (_cooler_off_for(sim), min_off)


async def test_a_compressor_the_boards_fallback_ran_keeps_its_minimum_off_when_handed_back(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    # Deaf, the board's fallback thermostat runs the compressor; heard again, it hands
    # control back and the controller's "off" stops it: that is when it stopped.
    clock = SimClock()
    async with running_controller(config, _options(clock, {}, tmp_path)) as ctl:
        assert await ctl.mqtt.wait_connected(10)
        run = SimRun(ctl, clock)
        publish_config(probe, fermenter_device())
        cooling = fermenter_loop(
            setpoint=4.0, board_fallback=True, protections=Protections(fault_free_s=0.0)
        )
        publish_config(probe, cooling)
        await run.running("fermenter")
        sim, loop = run.sim("sim-fermenter"), run.loop("fermenter")
        min_off = loop.cfg.compressor.min_off_s
        await run.advance_until(lambda: sim.guards[COOLER].fallback is not None, 3 * STEP_S)
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=STEP_S)
        sim.set_mode("deaf")
        await run.advance_until(lambda: sim.in_fallback, 2 * TIMING.board.watchdog_s)
        await run.advance_until(lambda: sim.outputs[COOLER], 2 * min_off, step=STEP_S)
        await run.advance(3 * STEP_S)
        sim.set_mode("normal")
        await run.advance_until(lambda: not (loop.heater.trouble or loop.cooler.trouble), 60)
        assert not sim.outputs[COOLER]  # the controller's "off" (its loop is tripped)
        ctl.alarms.acknowledge(loop.guard.alarm_id, "brewer")
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=1.0)
        assert _cooler_off_for(sim) >= min_off, (_cooler_off_for(sim), min_off)
