"""Configuration a brewery might have, for the discovery tests."""

from __future__ import annotations

from typing import Any

from services.common.schema.config import Device, Loop, Profile

FERMENTER = Loop.model_validate(
    {
        "id": "fermenter",
        "name": "Fermenter",
        "kind": "fermenter",
        "sensor": {"device": "chamber", "id": "beer"},
        "heater": {"device": "chamber", "id": "heater"},
        "cooler": {"device": "chamber", "id": "cooler"},
        "mode": "constant",
        "setpoint": 19.0,
        "setpoint_min": -2.0,
        "setpoint_max": 30.0,
    }
)
KETTLE = Loop.model_validate(
    {
        "id": "kettle",
        "name": "Mash kettle",
        "kind": "kettle",
        "sensor": {"device": "chamber", "id": "mash"},
        "heater": {"device": "chamber", "id": "element"},
        "setpoint": 66.0,
        "setpoint_min": 0.0,
        "setpoint_max": 100.0,
    }
)
LAGER = Loop.model_validate(
    {
        "id": "lager-2",
        "kind": "fermenter",
        "sensor": {"device": "ispindel", "id": "temperature"},
        "cooler": {"device": "fridge", "id": "power"},
        "setpoint": 10.0,
    }
)
LOOPS = [FERMENTER, KETTLE, LAGER]

CHAMBER = Device.model_validate(
    {
        "id": "chamber",
        "name": "Chamber board",
        "kind": "serial",
        "serial": {"port": "/dev/ttyACM0"},
        "sensors": [
            {"id": "beer", "name": "Beer", "address": "28-0316a279c5ff"},
            {"id": "mash", "name": "Chamber board mash probe"},
            {"id": "air"},
        ],
        "actuators": [
            {"id": "heater", "role": "heater", "channel": 1},
            {"id": "cooler", "role": "cooler", "channel": 2},
            {"id": "element", "role": "heater", "channel": 3},
        ],
    }
)
ISPINDEL = Device.model_validate(
    {
        "id": "ispindel",
        "name": "iSpindel",
        "kind": "mqtt",
        "mqtt": {"preset": "ispindel", "name": "spindel1"},
        "sensors": [
            {"id": "temperature", "name": "Temperature", "topic": "ispindel/spindel1/temperature"},
            {
                "id": "gravity",
                "name": "Gravity",
                "unit": "SG",
                "topic": "ispindel/spindel1/gravity",
            },
        ],
    }
)
SIMULATED = Device.model_validate(
    {
        "id": "sim",
        "kind": "simulated",
        "simulation": "fermenter",
        "sensors": [{"id": "beer"}, {"id": "gravity"}],
    }
)
DEVICES = [CHAMBER, ISPINDEL, SIMULATED]


def loop_state(loop: str = "fermenter", **fields: Any) -> dict[str, Any]:
    """A LoopState payload as the controller publishes it."""
    state = {
        "loop": loop,
        "name": "Fermenter",
        "pv": 19.06,
        "sp": 19.0,
        "output": {"heat": 0.0, "cool": 12.5},
        "mode": "constant",
        "state": "cooling",
        "waiting_reason": None,
        "profile": None,
        "alarms": [],
        "ts": 1795550647.1,
    }
    return state | fields


PROFILES = {
    p.id: p
    for p in (
        Profile.model_validate({"id": "ale", "name": "Ale 10 days", "points": [{"offset": 0, "temperature": 18}]}),
        Profile.model_validate({"id": "lager", "name": "Lager", "points": [{"offset": 0, "temperature": 10}]}),
        Profile.model_validate({"id": "crash", "points": [{"offset": 0, "temperature": 2}]}),
    )
}  # fmt: skip


def loop_target(loop: str = "fermenter", **fields: Any) -> dict[str, Any]:
    """A LoopTarget payload as the controller publishes it on maelstrom/target/<loop>."""
    target = {
        "loop": loop,
        "revision": 3,
        "mode": "constant",
        "setpoint": 19.0,
        "manual_output": 0.0,
        "profile": None,
        "changed_by": "mqtt",
        "ts": 1795550600.0,
    }
    return target | fields
