"""Devices that speak MQTT themselves, driven through a real broker: Tasmota,
iSpindel and generic JSON topics. A device gone quiet is a lost sensor."""

from __future__ import annotations

import json
from typing import Any

from services.common.config import Config
from services.common.schema.config import (
    Actuator,
    AlarmThresholds,
    CompressorProtection,
    Device,
    DigitalInput,
    IoRef,
    MqttLink,
    Protections,
    Sensor,
)
from tests.controller.support import (
    eventually,
    fermenter_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received


def tasmota() -> Device:
    return Device(
        id="fridge",
        kind="mqtt",
        mqtt=MqttLink(preset="tasmota", name="fermfridge", stale_after_s=60),
        sensors=[Sensor(id="beer", address="28-0316a279c5ff"), Sensor(id="chamber")],
        actuators=[
            Actuator(id="cooler", role="cooler", channel=1),
            Actuator(id="heater", role="heater", channel=2),
        ],
    )


def tele(beer: float, chamber: float) -> dict[str, object]:
    """What Tasmota publishes on tele/<topic>/SENSOR with two DS18B20s."""
    return {
        "Time": "2026-11-24T20:00:00",
        "DS18B20-1": {"Id": "01144B3CFAAA", "Temperature": chamber},
        "DS18B20-2": {"Id": "0316A279C5FF", "Temperature": beer},
        "TempUnit": "C",
    }


async def fridge_loop(run: Any, probe: MqttProbe, **loop: Any) -> None:
    """The Tasmota fridge and a fermenter loop on its probe and relays, at 18 °C,
    with no compressor delays so a relay switches at once; wait until both run."""
    publish_config(probe, tasmota())
    publish_config(
        probe,
        fermenter_loop(
            sensor=IoRef(device="fridge", id="beer"),
            heater=IoRef(device="fridge", id="heater"),
            cooler=IoRef(device="fridge", id="cooler"),
            setpoint=18.0,
            compressor=CompressorProtection(min_off_s=0, dead_time_s=0),
            protections=Protections(fault_free_s=0),
            **loop,
        ),
    )
    await eventually(lambda: "fermenter" in run.ctl.loops.loops)
    assert await run.ctl.mqtt.wait_subscribed("tele/fermfridge/SENSOR")
    assert await run.ctl.mqtt.wait_subscribed("stat/fermfridge/RESULT")
    confirm_failsafe(probe)


def confirm_failsafe(probe: MqttProbe) -> None:
    """What a Tasmota answers to the controller's PulseTime<n> 160 and PowerOnState 0."""
    for answer in (
        {"PulseTime1": {"Set": 160, "Remaining": 0}},
        {"PulseTime2": {"Set": 160, "Remaining": 0}},
        {"PowerOnState": 0},
    ):
        probe.publish("stat/fermfridge/RESULT", answer)


def value(m):  # type: ignore[no-untyped-def]
    return json.loads(m.payload)["value"]


async def test_tasmota_readings_drive_its_relays_and_silence_fails_safe(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    probe.subscribe("cmnd/fermfridge/#")
    async with sim_controller(config) as run:
        await fridge_loop(run, probe, alarms=AlarmThresholds(stale_after_s=120))
        probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
        beer = await received(
            probe, "maelstrom/data/sensors/fridge/beer", lambda m: value(m) == 25.0
        )
        chamber = await received(probe, "maelstrom/data/sensors/fridge/chamber")
        assert beer.retain is False and value(chamber) == 24.0  # matched by address, then position
        # 7 °C too warm: the compressor relay (POWER1) goes on
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"ON")
        probe.publish("stat/fermfridge/POWER1", "ON")
        probe.publish("stat/fermfridge/POWER2", "OFF")  # a Tasmota answers every command
        point = run.ctl.registry.actuator("fridge", "cooler")
        await eventually(lambda: point.confirmed is True, what="echo")

        # the Tasmota goes quiet: after stale_after_s its sensors are lost, the loop fails safe
        mark = probe.mark()
        await run.advance(61)
        lost = await received(
            probe, "maelstrom/data/sensors/fridge/beer", lambda m: value(m) is None, since=mark
        )
        assert "stale" in json.loads(lost.payload)["error"]
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"OFF", since=mark)
        for alarm in ("fridge-offline", "fermenter-sensor"):
            await received(
                probe, f"maelstrom/alarms/{alarm}", lambda m: b"active" in m.payload, mark
            )

        # back: control resumes once readings are sane again
        mark = probe.mark()
        for _ in range(3):
            probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"ON", since=mark)


async def test_tasmota_last_will_offline_is_a_lost_device(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        publish_config(probe, tasmota())
        await eventually(lambda: run.ctl.registry.drives("fridge"))
        assert await run.ctl.mqtt.wait_subscribed("tele/fermfridge/LWT")
        probe.publish("tele/fermfridge/SENSOR", tele(beer=19.0, chamber=18.0))
        await received(probe, "maelstrom/data/sensors/fridge/beer", lambda m: value(m) == 19.0)
        probe.publish("tele/fermfridge/LWT", "Offline", retain=True)
        alarm = await received(probe, "maelstrom/alarms/fridge-offline", lambda m: bool(m.payload))
        assert "Offline" in json.loads(alarm.payload)["message"]
        await received(probe, "maelstrom/data/sensors/fridge/beer", lambda m: value(m) is None)


async def test_ispindel_temperature_and_gravity(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/data/sensors/#")
    async with sim_controller(config) as run:
        publish_config(
            probe,
            Device(
                id="spindel",
                kind="mqtt",
                mqtt=MqttLink(preset="ispindel", name="iSpindel007"),
                sensors=[Sensor(id="temperature"), Sensor(id="gravity")],
            ),
        )
        await eventually(lambda: run.ctl.registry.drives("spindel"))
        assert await run.ctl.mqtt.wait_subscribed("ispindel/iSpindel007/gravity")
        probe.publish("ispindel/iSpindel007/temperature", "19.5")
        probe.publish("ispindel/iSpindel007/gravity", "1.048")
        temp = await received(probe, "maelstrom/data/sensors/spindel/temperature")
        gravity = await received(probe, "maelstrom/data/sensors/spindel/gravity")
        assert json.loads(temp.payload)["value"] == 19.5
        assert json.loads(temp.payload)["unit"] == "°C"
        assert json.loads(gravity.payload)["value"] == 1.048
        assert json.loads(gravity.payload)["unit"] == ""


async def test_generic_json_topics_and_command_payloads(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    probe.subscribe("home/#")
    async with sim_controller(config) as run:
        publish_config(
            probe,
            Device(
                id="esp",
                kind="mqtt",
                mqtt=MqttLink(preset="generic"),
                sensors=[
                    Sensor(
                        id="wort", topic="home/brew/state", json_path="probes.0.temp", offset=-0.5
                    )
                ],
                inputs=[
                    DigitalInput(id="level", topic="home/brew/level", alarm_text="Kettle too full")
                ],
                actuators=[
                    Actuator(
                        id="heat",
                        role="heater",
                        command_topic="home/brew/heat/set",
                        payload_on="1",
                        payload_off="0",
                        state_topic="home/brew/heat",
                    )
                ],
            ),
        )
        publish_config(
            probe,
            fermenter_loop(
                id="wort",
                sensor=IoRef(device="esp", id="wort"),
                heater=IoRef(device="esp", id="heat"),
                cooler=None,
                setpoint=30.0,
            ),
        )
        await eventually(lambda: "wort" in run.ctl.loops.loops)
        assert await run.ctl.mqtt.wait_subscribed("home/brew/state")
        probe.publish("home/brew/state", {"probes": [{"temp": "nonsense"}]})  # dropped, logged
        probe.publish("home/brew/state", {"probes": [{"temp": 20.5}]})
        reading = await received(
            probe, "maelstrom/data/sensors/esp/wort", lambda m: value(m) is not None
        )
        assert value(reading) == 20.0  # calibration offset applied
        await received(probe, "home/brew/heat/set", lambda m: m.payload == b"1")
        warning = await received(
            probe, "maelstrom/logs/controller", lambda m: b"nonsense" in m.payload
        )
        assert "home/brew/state" in json.loads(warning.payload)["message"]
        assert await run.ctl.mqtt.wait_subscribed("home/brew/level")
        probe.publish("home/brew/level", "ON")
        alarm = await received(probe, "maelstrom/alarms/esp-level", lambda m: bool(m.payload))
        assert json.loads(alarm.payload)["message"] == "Kettle too full"


def thermometer(unit: str) -> Device:
    return Device(
        id="esp",
        kind="mqtt",
        mqtt=MqttLink(preset="generic"),
        sensors=[Sensor(id="wort", topic="home/brew/wort", unit=unit)],
        actuators=[Actuator(id="heat", role="heater", command_topic="home/brew/heat/set")],
    )


async def test_temperature_units_are_checked_and_fahrenheit_converted(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    probe.subscribe("home/#")
    async with sim_controller(config) as run:
        publish_config(probe, thermometer("celsius"))
        loop = fermenter_loop(
            id="wort",
            sensor=IoRef(device="esp", id="wort"),
            heater=IoRef(device="esp", id="heat"),
            cooler=None,
            setpoint=30.0,
        )
        publish_config(probe, loop)
        await eventually(lambda: "wort" in run.ctl.loops.loops)
        assert await run.ctl.mqtt.wait_subscribed("home/brew/wort")
        for raw, why in (("-127", "disconnected"), ("400", "implausible")):
            mark = probe.mark()
            probe.publish("home/brew/wort", raw)
            reading = await received(probe, "maelstrom/data/sensors/esp/wort", since=mark)
            assert value(reading) is None and why in json.loads(reading.payload)["error"]
            state = await received(
                probe, "maelstrom/data/wort", lambda m: json.loads(m.payload)["pv"] is None, mark
            )
            assert json.loads(state.payload)["output"]["heat"] == 0.0

        # °F is converted: the loop (and everyone else) sees °C
        publish_config(probe, thermometer("°F"))
        await eventually(lambda: run.ctl.registry.drivers["esp"].device.sensors[0].unit == "°F")
        assert await run.ctl.mqtt.wait_subscribed("home/brew/wort")
        mark = probe.mark()
        probe.publish("home/brew/wort", "68")
        reading = await received(
            probe, "maelstrom/data/sensors/esp/wort", lambda m: value(m) is not None, mark
        )
        assert value(reading) == 20.0 and json.loads(reading.payload)["unit"] == "°C"


async def test_editing_a_device_does_not_short_cycle_its_compressor(
    config: Config, probe: MqttProbe
) -> None:
    """Renaming a Tasmota (or any edit that leaves a relay's wiring alone) must not
    switch a running compressor off and on again."""
    probe.subscribe("maelstrom/#")
    probe.subscribe("cmnd/fermfridge/#")
    async with sim_controller(config) as run:
        await fridge_loop(run, probe)
        probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"ON")

        mark = probe.mark()
        renamed = tasmota().model_copy(update={"name": "Fermentation fridge"})
        publish_config(probe, renamed)
        # the new wiring re-asserts the relay's state: ON again, never OFF in between
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"ON", since=mark)
        driver = run.ctl.registry.drivers["fridge"]
        assert driver.device.name == "Fermentation fridge"
        sent = [m.payload for m in probe.messages[mark:] if m.topic == "cmnd/fermfridge/POWER1"]
        assert b"OFF" not in sent

        # rewiring a relay to another channel does switch the old one off first
        mark = probe.mark()
        moved = tasmota().model_copy(
            update={
                "actuators": [
                    Actuator(id="cooler", role="cooler", channel=3),
                    Actuator(id="heater", role="heater", channel=2),
                ]
            }
        )
        publish_config(probe, moved)
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"OFF", since=mark)
        await received(probe, "cmnd/fermfridge/POWER3", lambda m: m.payload == b"ON", since=mark)


async def test_a_tasmota_ds18b20_reading_85_after_a_power_blip_is_not_believed(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    async with sim_controller(config) as run:
        await fridge_loop(run, probe)
        probe.publish("tele/fermfridge/SENSOR", tele(beer=19.0, chamber=18.0))
        await received(probe, "maelstrom/data/sensors/fridge/beer", lambda m: value(m) == 19.0)
        probe.publish("tele/fermfridge/SENSOR", tele(beer=85.0, chamber=18.0))
        lost = await received(
            probe, "maelstrom/data/sensors/fridge/beer", lambda m: value(m) is None
        )
        assert "85.0" in json.loads(lost.payload)["error"]


async def test_a_relay_that_never_confirms_is_loss_of_control(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    probe.subscribe("cmnd/fermfridge/#")
    async with sim_controller(config) as run:
        await fridge_loop(run, probe)
        loop = run.loop("fermenter")
        probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
        await received(probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"ON")
        # nobody answers on stat/fermfridge/POWER1: the relay may not have switched
        for _ in range(4):
            probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
            await run.advance(3)
        alarm = await received(
            probe, "maelstrom/alarms/fermenter-protection", lambda m: b"active" in m.payload
        )
        assert "not confirmed" in json.loads(alarm.payload)["message"]
        assert loop.state(run.clock.now()).state == "fault"


async def test_the_controller_sets_the_tasmota_failsafe_and_refuses_a_relay_without_it(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    probe.subscribe("cmnd/fermfridge/#")
    async with sim_controller(config) as run:
        publish_config(probe, tasmota())
        publish_config(
            probe,
            fermenter_loop(
                sensor=IoRef(device="fridge", id="beer"),
                heater=IoRef(device="fridge", id="heater"),
                cooler=IoRef(device="fridge", id="cooler"),
                setpoint=18.0,
            ),
        )
        pulse = await received(probe, "cmnd/fermfridge/PulseTime1")
        assert pulse.payload == b"160"  # 60 s: longer than the 30 s resend
        await received(probe, "cmnd/fermfridge/PulseTime2")
        power_on = await received(probe, "cmnd/fermfridge/PowerOnState")
        assert power_on.payload == b"0"
        # this Tasmota never answers: its relays are not driven
        for _ in range(4):
            probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
            await run.advance(3)
        alarm = await received(
            probe, "maelstrom/alarms/fermenter-protection", lambda m: b"active" in m.payload
        )
        assert "did not confirm" in json.loads(alarm.payload)["message"]
        assert run.loop("fermenter").state(run.clock.now()).state == "fault"


async def test_a_relay_whose_echo_contradicts_three_commands_in_a_row_is_loss_of_control(
    config: Config, probe: MqttProbe
) -> None:
    """Something else switches the compressor relay back after every ON (a second
    controller without a lease, a Home Assistant automation): the third contradiction
    trips the loop, and the controller stops commanding the relay."""
    probe.subscribe("maelstrom/#")
    probe.subscribe("cmnd/fermfridge/#")
    async with sim_controller(config) as run:
        await fridge_loop(run, probe)
        loop = run.loop("fermenter")
        judge = run.ctl.registry.drivers["fridge"]._judges  # type: ignore[attr-defined]
        probe.publish("stat/fermfridge/POWER2", "OFF")  # the heater relay obeys
        probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
        mark = 0
        for n in range(1, 4):
            on = await received(
                probe, "cmnd/fermfridge/POWER1", lambda m: m.payload == b"ON", since=mark
            )
            mark = probe.messages.index(on) + 1
            probe.publish("stat/fermfridge/POWER1", "ON")  # it obeys...
            probe.publish("stat/fermfridge/POWER1", "OFF")  # ...and is switched back
            await eventually(lambda n=n: judge["cooler"].streak == n, what=f"contradiction {n}")
            await run.advance(2)
        alarm = await received(
            probe, "maelstrom/alarms/fermenter-protection", lambda m: b"active" in m.payload
        )
        message = json.loads(alarm.payload)["message"]
        assert "lost control of the cooler fridge/cooler" in message
        assert "contradicted 3 commands in a row" in message
        assert loop.state(run.clock.now()).state == "fault"
        # no more commands to that relay for a while: two masters must not fight over it
        quiet_from = probe.mark()
        await run.advance(20)
        # a barrier: what the controller publishes after those 20 s comes after its commands
        probe.publish("maelstrom/cmd/loops/fermenter/setpoint", "18.5")
        await received(
            probe, "maelstrom/data/fermenter", lambda m: json.loads(m.payload)["sp"] == 18.5
        )
        assert not [m for m in probe.messages[quiet_from:] if m.topic == "cmnd/fermfridge/POWER1"]
