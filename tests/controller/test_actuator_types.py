"""An output's type declared where it is wired — on the device's actuator — and taken by
the loop that drives it unless the loop sets its own; a contradiction is refused."""

from __future__ import annotations

import pytest

from services.common.config import Config
from services.common.schema.config import Actuator, Device, Loop, with_actuator_types
from services.common.schema.outputs import OUTPUT_TYPES, ActuatorType, OutputSettings
from tests.controller.support import (
    fermenter_device,
    fermenter_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe
from tests.support.waiting import eventually


def typed_device(cooler: ActuatorType = ActuatorType.compressor) -> Device:
    return fermenter_device().model_copy(
        update={
            "actuators": [
                Actuator(id="heater", role="heater", channel=1, type=ActuatorType.relay),
                Actuator(id="cooler", role="cooler", channel=2, type=cooler),
            ]
        }
    )


def test_a_loop_inherits_its_actuators_types_keeps_its_own_timings_and_refuses_a_contradiction() -> (
    None
):
    device = typed_device()
    inherited = with_actuator_types(fermenter_loop(), {device.id: device}.get)
    assert inherited.heater_output == OutputSettings(type=ActuatorType.relay)
    assert inherited.cooler_output == OutputSettings(type=ActuatorType.compressor)
    own = OutputSettings(type=ActuatorType.compressor, min_off_s=900)
    assert (
        with_actuator_types(
            fermenter_loop(cooler_output=own), {device.id: device}.get
        ).cooler_output
        == own
    )
    with pytest.raises(
        ValueError,
        match="cooler_output: the loop says pump, but actuator sim-fermenter/cooler is a compressor",
    ):
        with_actuator_types(
            fermenter_loop(cooler_output=OutputSettings(type=ActuatorType.pump)),
            {device.id: device}.get,
        )
    untyped = fermenter_device()
    assert with_actuator_types(fermenter_loop(), {untyped.id: untyped}.get) == fermenter_loop()


async def test_the_controller_drives_the_actuators_type_and_refuses_a_loop_that_contradicts_it(
    config: Config, probe: MqttProbe
) -> None:
    async with sim_controller(config) as run:
        publish_config(probe, typed_device())
        publish_config(probe, fermenter_loop())
        await run.running("fermenter")
        compressor = OUTPUT_TYPES[ActuatorType.compressor]
        cooler = lambda: run.loop("fermenter").control.cooler.timing  # noqa: E731
        await eventually(lambda: cooler().window_s == compressor.window_s, what="the type")
        assert cooler().min_off_s == compressor.min_off_s
        assert (
            run.loop("fermenter").control.heater.timing.min_on_s
            == OUTPUT_TYPES[ActuatorType.relay].min_on_s
        )
        wrong: Loop = fermenter_loop(cooler_output=OutputSettings(type=ActuatorType.glycol_valve))
        publish_config(probe, wrong)
        alarms = run.ctl.alarms.records
        await eventually(lambda: "fermenter-actuator-type" in alarms, what="the refusal")
        assert "the loop says glycol_valve, but actuator sim-fermenter/cooler is a compressor" in (
            alarms["fermenter-actuator-type"].message
        )
        assert cooler().window_s == compressor.window_s  # what ran goes on as it was
