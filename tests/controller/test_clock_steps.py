"""Wall-clock steps move no protection timer (docs/safety.md, FMEA "wall clock steps").

NTP stepping a Pi's clock back an hour, or fake-hwclock catching up an hour, changes
`clock.now()` only; relay windows, minimum off times and staleness run on
`clock.monotonic()`. End to end: a simulated board on a pty, a real broker, the
controller in-process on a simulated clock whose wall time is stepped alone.
"""

from __future__ import annotations

from services.common.config import Config
from tests.controller.support import (
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

ELEMENT = 1
COOLER = 2
HOUR = 3600.0


async def test_a_backward_step_does_not_stretch_a_relay_window(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="manual", manual_output=30.0))  # 3 s of 10
        await run.running("kettle")
        sim = run.sim("sim-kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30, step=0.25)
        on_at = run.clock.monotonic()
        run.clock.step_wall(-HOUR)
        await run.advance_until(lambda: not sim.outputs[ELEMENT], 30, step=0.25)
        assert run.clock.monotonic() - on_at <= 3.0 + 1.0, "the 3 s pulse must end on time"
        # and the next window starts on time too: 10 s after the last one
        await run.advance_until(lambda: sim.outputs[ELEMENT], 12, step=0.25)
        await received(
            probe, "maelstrom/logs/controller", lambda m: b"wall clock stepped" in m.payload
        )


async def test_a_dead_probe_stays_stale_after_a_backward_step(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        sim = run.sim("sim-kettle")
        await run.advance_until(lambda: sim.outputs[ELEMENT], 30)
        sim.set_mode("silent")  # the probe's last reading is now the freshest there will be
        await run.advance(5)
        run.clock.step_wall(-HOUR)
        loop = run.loop("kettle")
        await run.advance_until(lambda: loop.fault is not None, 60)
        await run.advance(120)
        assert loop.fault is not None and ("stale" in loop.fault or "offline" in loop.fault)
        assert not sim.outputs[ELEMENT]
        assert loop.state(run.clock.now()).state == "fault"


async def test_a_forward_step_does_not_shorten_the_compressor_minimum_off(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, fermenter_loop(setpoint=2.0))  # beer at 20 °C: full cooling
        await run.running("fermenter")
        sim = run.sim("sim-fermenter")
        await run.advance_until(lambda: sim.outputs[COOLER], 400)
        await run.advance(200)  # past the minimum on time
        sim.set_sensor_fault("beer", "-127")
        glitch = fermenter_loop().protection_settings.glitch_s
        await run.advance_until(lambda: not sim.outputs[COOLER], glitch + 5)  # rode it through
        stopped = run.clock.monotonic()
        sim.set_sensor_fault("beer", "none")
        run.clock.step_wall(+HOUR)
        await run.advance_until(lambda: sim.outputs[COOLER], 1200, step=2.0)
        min_off = fermenter_loop().compressor.min_off_s
        assert run.clock.monotonic() - stopped >= min_off
