"""A controller restarted while its board does not hear it (found by the fault campaign)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.common.clock import SimClock
from services.common.config import Config
from services.controller.app import running_controller
from services.controller.options import Options
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


@pytest.mark.xfail(
    reason="issue 12, open: found by the merged fault campaign (seed 1: compressor restarted "
    "295 s after stopping). Here, a controller started while its board is deaf loses control "
    "of the cooler again after the board hears once more, so the restart is never reached; "
    "the minimum off of a session's first hello is not yet counted from that hello.",
    strict=False,
)
async def test_a_compressor_a_deaf_board_kept_running_through_a_restart_keeps_its_minimum_off(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    # The stopping controller's "all off" is not heard; the board's watchdog stops the
    # compressor a few seconds after the new controller started. Counted from that
    # start, the compressor came back 295 s after it really stopped (minimum 300 s).
    clock = SimClock()
    boards: dict[str, Any] = {}  # the hardware outlives each controller

    def options() -> Options:
        return Options(
            clock=clock,
            timing=TIMING,
            sim_seed=1,
            state_path=str(tmp_path / "controller-state.json"),
            sim_boards=boards,
        )

    async with running_controller(config, options()) as ctl:
        assert await ctl.mqtt.wait_connected(10)
        run = SimRun(ctl, clock)
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(setpoint=4.0))  # cooling flat out
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        min_off = run.loop("fermenter").cfg.compressor.min_off_s
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=STEP_S)
        await run.advance(STEP_S)
        sim.set_mode("deaf")
    assert sim.outputs[COOLER]  # the board did not hear the stop
    async with running_controller(config, options()) as ctl:
        run = SimRun(ctl, clock)
        await eventually(lambda: "fermenter" in ctl.loops.loops, what="the loop")
        await run.advance_until(lambda: not sim.outputs[COOLER], 2 * TIMING.board.watchdog_s)
        stopped = clock.monotonic()  # the board's own watchdog
        await run.advance(90.0)
        sim.set_mode("normal")
        loop = run.loop("fermenter")
        await run.advance_until(lambda: not (loop.heater.trouble or loop.cooler.trouble), 60)
        if loop.guard.tripped is not None:  # loss of control while deaf: the brewer resets it
            ctl.alarms.acknowledge(loop.guard.alarm_id, "brewer")
        await run.advance_until(lambda: sim.outputs[COOLER], 3 * min_off, step=1.0)
        assert clock.monotonic() - stopped >= min_off - 1.0, (clock.monotonic() - stopped, min_off)
