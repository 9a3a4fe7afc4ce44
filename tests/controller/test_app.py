"""The controller as a whole: idle without configuration, the demo's ids, controller
ids, configuration changes while running, simulated board faults and inputs."""

from __future__ import annotations

import json
from dataclasses import replace

from services.common.config import Config
from services.common.schema.config import DigitalInput
from tests.controller.support import (
    eventually,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received


def payload(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


async def test_without_configuration_it_idles_online(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        await received(probe, "maelstrom/status/controller", lambda m: m.payload == b"online")
        await run.advance(60)
        assert not run.ctl.loops.loops and not run.ctl.registry.drivers
    await received(probe, "maelstrom/status/controller", lambda m: m.payload == b"offline")


async def test_the_demo_configuration_runs_both_loops(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/data/#")
    async with sim_controller(config) as run:
        for obj in (fermenter_device(), kettle_device(), fermenter_loop(), kettle_loop()):
            publish_config(probe, obj)
        await run.running("fermenter", "kettle")
        await run.advance(10)
        fermenter = await received(
            probe, "maelstrom/data/fermenter", payload(lambda s: s["pv"] is not None)
        )
        state = json.loads(fermenter.payload)
        assert state["sp"] == 19.0 and state["mode"] == "constant"
        kettle = await received(
            probe, "maelstrom/data/kettle", payload(lambda s: s["pv"] is not None)
        )
        assert json.loads(kettle.payload)["state"] == "off"
        for sensor in ("sim-fermenter/beer", "sim-fermenter/chamber", "sim-kettle/water"):
            reading = await received(probe, f"maelstrom/data/sensors/{sensor}")
            assert json.loads(reading.payload)["unit"] == "°C"

        # a deleted loop stops and its retained state goes
        mark = probe.mark()
        probe.publish("maelstrom/config/loops/kettle", b"", retain=True)
        await received(probe, "maelstrom/data/kettle", lambda m: m.payload == b"", since=mark)
        assert "kettle" not in run.ctl.loops.loops


async def test_a_controller_id_restricts_which_devices_it_drives(
    config: Config, probe: MqttProbe
) -> None:
    mine = replace(config, controller_id="cellar")
    async with sim_controller(mine) as run:
        publish_config(probe, fermenter_device(controller_id="cellar"))
        publish_config(probe, kettle_device())  # for the controller without an id
        publish_config(probe, fermenter_loop())
        publish_config(probe, kettle_loop())
        await run.running("fermenter")
        await run.advance(30)
        assert set(run.ctl.registry.drivers) == {"sim-fermenter"}
        assert set(run.ctl.loops.loops) == {"fermenter"}


async def test_a_configuration_update_does_not_bump_a_running_loop(
    config: Config, probe: MqttProbe
) -> None:
    async with sim_controller(config) as run:
        publish_config(probe, fermenter_device())
        loop = fermenter_loop(setpoint=19.8)  # close: the PID works unsaturated
        publish_config(probe, loop)
        await run.running("fermenter")
        await run.advance(3600)
        runtime = run.loop("fermenter")
        integral = runtime.control.pid.integral
        assert integral != 0.0
        # the API re-publishing the loop with a new name and version (e.g. after a command)
        publish_config(probe, loop.model_copy(update={"name": "Ale", "version": 3}))
        await eventually(lambda: run.loop("fermenter").cfg.name == "Ale")
        assert run.loop("fermenter") is runtime
        assert runtime.control.pid.integral == integral


async def test_a_board_reset_reads_85_and_recovers(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        sim = run.sim("sim-kettle")
        await run.advance_until(lambda: sim.outputs[1], 30)
        mark = probe.mark()
        probe.publish("maelstrom/cmd/devices/sim-kettle/simulate", {"board": "reset"})
        await received(probe, "maelstrom/logs/controller", lambda m: b"reset" in m.payload, mark)
        await run.advance(1)
        alarm = await received(
            probe, "maelstrom/alarms/kettle-sensor", payload(lambda a: a["state"] == "active"), mark
        )
        # the reset itself is the cause (its 85.0 readings would say so a moment later)
        assert "reset" in json.loads(alarm.payload)["message"]
        await run.advance_until(lambda: sim.outputs[1], 30)  # outputs restored once sane


async def test_garbage_on_the_line_is_counted_and_control_goes_on(
    config: Config, probe: MqttProbe
) -> None:
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await run.running("kettle")
        probe.publish("maelstrom/cmd/devices/sim-kettle/simulate", {"board": "garbage"})
        sim = run.sim("sim-kettle")
        await eventually(lambda: sim.mode == "garbage")
        start = sim.plant.water
        await run.advance(120)
        board = run.ctl.registry.drivers["sim-kettle"].board
        assert board.stats.garbage >= 100
        assert board.online and sim.plant.water > start + 1.0  # still heating
        assert not run.ctl.alarms.is_active("kettle-sensor")


async def test_a_digital_input_raises_its_alarm(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/alarms/#")
    async with sim_controller(config) as run:
        publish_config(
            probe,
            kettle_device(
                inputs=[DigitalInput(id="pilot", channel=8, alarm_text="Pilot light out")]
            ),
        )
        await eventually(lambda: run.ctl.registry.drives("sim-kettle"))
        await run.advance(3)
        probe.publish("maelstrom/cmd/devices/sim-kettle/simulate", {"input": 8, "level": True})
        alarm = await received(probe, "maelstrom/alarms/sim-kettle-pilot", payload(lambda a: True))
        assert json.loads(alarm.payload)["kind"] == "input"
        assert json.loads(alarm.payload)["message"] == "Pilot light out"
        mark = probe.mark()
        probe.publish("maelstrom/cmd/devices/sim-kettle/simulate", {"input": 8, "level": False})
        await received(
            probe,
            "maelstrom/alarms/sim-kettle-pilot",
            payload(lambda a: a["state"] == "cleared"),
            since=mark,
        )


async def test_a_command_is_not_undone_by_unrelated_configuration(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/data/kettle")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="constant", setpoint=15.0))
        await run.running("kettle")
        mark = probe.mark()
        probe.publish("maelstrom/cmd/loops/kettle/setpoint", "72")
        await received(probe, "maelstrom/data/kettle", payload(lambda s: s["sp"] == 72.0), mark)
        # the API is not running: nobody re-publishes the loop; other configuration arrives
        publish_config(probe, fermenter_device())
        await eventually(lambda: run.ctl.registry.drives("sim-fermenter"))
        await run.advance(10)
        assert run.loop("kettle").cfg.setpoint == 72.0
        # the API's re-publication of the same values changes nothing either
        publish_config(probe, kettle_loop(mode="constant", setpoint=72.0))
        await eventually(lambda: run.loop("kettle").configured.setpoint == 72.0)
        assert run.loop("kettle").cfg.setpoint == 72.0


async def test_moving_an_actuator_to_another_channel_switches_the_old_one_off(
    config: Config, probe: MqttProbe
) -> None:
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, kettle_loop(mode="manual", manual_output=100.0))
        await run.running("kettle")
        sim = run.sim("sim-kettle")
        await run.advance_until(lambda: sim.outputs[1], 30)
        # the element is rewired to channel 2 (the kettle board has none: nothing to switch)
        moved = kettle_device()
        moved.actuators[0] = moved.actuators[0].model_copy(update={"channel": 2})
        publish_config(probe, moved)
        await eventually(lambda: run.ctl.registry.drivers["sim-kettle"].device == moved)
        probe.publish("maelstrom/cmd/loops/kettle/mode", "off")
        await eventually(lambda: run.loop("kettle").cfg.mode == "off")
        await run.advance(10)  # several refreshes of the board's outputs
        assert not sim.outputs[1]
        board = run.ctl.registry.drivers["sim-kettle"].board
        assert 1 not in board._desired
