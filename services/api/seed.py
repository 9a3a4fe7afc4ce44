"""The demo configuration `make run-all` starts with (MAELSTROM_DEMO=1, empty database):
a simulated fermentation chamber (with a simulated iSpindel in it) and mash kettle, their
loops, an ale and a mash point profile, and two programs (step profiles): a 3-rest mash
with a dough-in confirmation and a fermentation that advances on gravity.
"""

from __future__ import annotations

import logging

from services.api.store import ConfigStore
from services.common.schema.config import (
    Actuator,
    ActuatorRole,
    AlarmThresholds,
    Device,
    DeviceKind,
    DigitalInput,
    Interpolation,
    IoRef,
    Loop,
    LoopKind,
    LoopMode,
    MqttLink,
    MqttPreset,
    Profile,
    ProfileKind,
    ProfilePoint,
    ProfileStep,
    Ramp,
    Sensor,
    Severity,
    StepCondition,
)

log = logging.getLogger(__name__)

HOUR = 3600.0
DAY = 24 * HOUR
MINUTE = 60.0


def demo_devices() -> list[Device]:
    return [
        Device(
            id="sim-fermenter",
            name="Simulated fermentation chamber",
            kind=DeviceKind.simulated,
            simulation="fermenter",
            sensors=[Sensor(id="beer", name="Beer"), Sensor(id="chamber", name="Chamber air")],
            actuators=[
                Actuator(id="heater", name="Heater", role=ActuatorRole.heater, channel=1),
                Actuator(id="cooler", name="Compressor", role=ActuatorRole.cooler, channel=2),
            ],
            # The simulated board's input 8: the Debugger's input simulation raises this.
            inputs=[
                DigitalInput(
                    id="door",
                    name="Chamber door",
                    channel=8,
                    alarm_text="Chamber door open",
                    severity=Severity.medium,
                )
            ],
        ),
        Device(
            id="sim-kettle",
            name="Simulated mash kettle",
            kind=DeviceKind.simulated,
            simulation="kettle",
            sensors=[Sensor(id="water", name="Water")],
            actuators=[Actuator(id="element", name="Element", role=ActuatorRole.heater, channel=1)],
            inputs=[
                DigitalInput(
                    id="level",
                    name="High level",
                    channel=8,
                    alarm_text="Kettle liquid level high",
                    severity=Severity.high,
                )
            ],
        ),
        Device(
            # the simulated fermenter publishes its gravity as this iSpindel would
            id="ispindel",
            name="iSpindel in the fermenter (simulated)",
            kind=DeviceKind.mqtt,
            mqtt=MqttLink(preset=MqttPreset.ispindel, name="sim-fermenter", stale_after_s=3 * HOUR),
            sensors=[
                Sensor(id="gravity", name="Gravity", unit="SG"),
                Sensor(id="battery", name="Battery", unit="V"),
            ],
        ),
    ]


def demo_profiles() -> list[Profile]:
    return [
        Profile(
            id="ale",
            name="Ale, 10 days",
            interpolation=Interpolation.linear,
            points=[
                ProfilePoint(offset=0, temperature=18.0),
                ProfilePoint(offset=3 * DAY, temperature=18.0),  # primary
                ProfilePoint(offset=4 * DAY, temperature=21.0),  # free rise for the diacetyl rest
                ProfilePoint(offset=7 * DAY, temperature=21.0),
                ProfilePoint(offset=7 * DAY + 12 * HOUR, temperature=2.0),  # cold crash
                ProfilePoint(offset=10 * DAY, temperature=2.0),
            ],
        ),
        Profile(
            id="mash",
            name="Step mash",
            interpolation=Interpolation.step,
            points=[
                ProfilePoint(offset=0, temperature=65.0),  # saccharification rest
                ProfilePoint(offset=60 * MINUTE, temperature=72.0),
                ProfilePoint(offset=75 * MINUTE, temperature=78.0),  # mash out
                ProfilePoint(offset=85 * MINUTE, temperature=78.0),
            ],
        ),
        Profile(
            id="mash-program",
            name="3-rest mash with dough-in",
            kind=ProfileKind.mash,
            steps=[
                ProfileStep(
                    name="Strike water",
                    temperature=70.0,
                    until=StepCondition(type="confirm", prompt="Add the grain, then confirm"),
                ),
                ProfileStep(name="Beta rest", temperature=66.0, hold_s=60 * MINUTE),
                ProfileStep(name="Alpha rest", temperature=72.0, hold_s=15 * MINUTE),
                ProfileStep(name="Mash out", temperature=78.0, hold_s=10 * MINUTE),
            ],
        ),
        Profile(
            id="ferment-program",
            name="Ale to gravity, diacetyl rest, crash",
            kind=ProfileKind.fermentation,
            steps=[
                ProfileStep(
                    name="Primary",
                    temperature=19.0,
                    until=StepCondition(type="gravity", gravity=1.014, limit_s=10 * DAY),
                ),
                ProfileStep(
                    name="Diacetyl rest",
                    temperature=21.0,
                    ramp=Ramp(duration_s=DAY),
                    until=StepCondition(type="stable", delta=0.001, hours=24, limit_s=4 * DAY),
                ),
                ProfileStep(name="Cold crash", temperature=2.0, hold_s=2 * DAY),
            ],
        ),
    ]


def demo_loops() -> list[Loop]:
    return [
        Loop(
            id="fermenter",
            name="Fermenter",
            kind=LoopKind.fermenter,
            sensor=IoRef(device="sim-fermenter", id="beer"),
            heater=IoRef(device="sim-fermenter", id="heater"),
            cooler=IoRef(device="sim-fermenter", id="cooler"),
            gravity=IoRef(device="ispindel", id="gravity"),
            mode=LoopMode.constant,
            setpoint=19.0,
            # A fermenter has no business at mash temperatures: refuse them up front.
            setpoint_min=-2.0,
            setpoint_max=35.0,
            alarms=AlarmThresholds(high=26.0, low=10.0),
        ),
        Loop(
            id="kettle",
            name="Mash kettle",
            kind=LoopKind.kettle,
            sensor=IoRef(device="sim-kettle", id="water"),
            heater=IoRef(device="sim-kettle", id="element"),
            mode=LoopMode.off,
            setpoint=65.0,
            setpoint_max=105.0,
        ),
    ]


def seed_demo(store: ConfigStore) -> bool:
    """Seed the demo when there are no devices and no loops; True if it did."""
    if store.count("devices") or store.count("loops"):
        return False
    for device in demo_devices():
        store.create("devices", device)
    for profile in demo_profiles():
        if store.find("profiles", profile.id) is None:
            store.create("profiles", profile)
    for loop in demo_loops():
        store.create("loops", loop)
    log.info("seeded the demo configuration: simulated fermenter and kettle")
    return True
