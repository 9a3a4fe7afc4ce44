"""Device leases: one controller drives a device; a second one on the same broker
leaves it alone and says why (docs/safety.md, FMEA "two controllers")."""

from __future__ import annotations

import contextlib
import json
import time

from services.common.config import Config
from services.common.schema.config import IoRef
from tests.controller.support import eventually, fermenter_loop, publish_config, sim_controller
from tests.controller.test_mqtt_devices import tasmota, tele
from tests.support.probe import MqttProbe, received


def fridge() -> object:
    return fermenter_loop(
        sensor=IoRef(device="fridge", id="beer"),
        heater=IoRef(device="fridge", id="heater"),
        cooler=IoRef(device="fridge", id="cooler"),
    )


def active(m) -> bool:  # type: ignore[no-untyped-def]
    return bool(m.payload) and json.loads(m.payload)["state"] == "active"


async def test_two_controllers_exactly_one_drives_the_other_reports_the_lease(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    publish_config(probe, tasmota())
    publish_config(probe, fridge())  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(sim_controller(config))
        await eventually(lambda: a.ctl.registry.drives("fridge"), what="A drives")
        lease = await received(probe, "maelstrom/lease/fridge", lambda m: bool(m.payload))
        holder = json.loads(lease.payload)["instance"]
        b = await stack.enter_async_context(sim_controller(config, seed=2))
        alarm = await received(probe, "maelstrom/alarms/fridge-lease", active)
        assert holder in json.loads(alarm.payload)["message"]
        await eventually(lambda: "fridge" in b.ctl.registry.waiting, what="B waits")
        probe.publish("tele/fermfridge/SENSOR", tele(beer=25.0, chamber=24.0))
        await eventually(lambda: "fermenter" in a.ctl.loops.loops)
        await b.advance(10)
        assert not b.ctl.registry.drives("fridge") and "fermenter" not in b.ctl.loops.loops
        assert a.ctl.registry.drives("fridge")

        # A stops cleanly: its lease is released and B takes over
        await a.ctl.registry.stop()
        await received(probe, "maelstrom/lease/fridge", lambda m: not m.payload)
        await eventually(lambda: b.ctl.registry.leases_free("fridge"), what="B sees it free")
        await b.advance(1)
        await eventually(lambda: b.ctl.registry.drives("fridge"), what="B drives")


async def test_a_dead_controllers_lease_lapses(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/#")
    publish_config(probe, tasmota())
    # a controller that died without releasing: its last renewal, retained
    ghost = {
        "device": "fridge",
        "instance": "ghost-1",
        "claimed_at": time.time(),
        "ts": time.time(),
    }
    probe.publish("maelstrom/lease/fridge", ghost, retain=True)
    async with sim_controller(config) as run:
        await received(probe, "maelstrom/alarms/fridge-lease", active)
        assert not run.ctl.registry.drives("fridge")
        valid = 3 * run.ctl.options.timing.lease_renew_s
        took = await run.advance_until(lambda: run.ctl.registry.drives("fridge"), valid + 5)
        assert took >= valid - 1
