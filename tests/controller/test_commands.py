"""Commands from the outside world, to the controller as `make run-all` starts it
(a subprocess, real time, a simulated kettle on a pty)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.support import kettle_device, kettle_loop, publish_config
from tests.support.broker import Broker, mosquitto_client
from tests.support.probe import MqttProbe, Received
from tests.support.services import Service, service_env


@pytest.fixture
def controller(broker: Broker, probe: MqttProbe, tmp_path: Path) -> Iterator[Service]:
    publish_config(probe, kettle_device())
    publish_config(probe, kettle_loop(mode="constant", setpoint=15.0))  # water at 20 °C: idle
    service = Service("services.controller", service_env(broker.url), tmp_path / "controller.log")
    yield service
    service.stop()


def mosquitto_pub(broker: Broker, topic: str, message: str) -> None:
    subprocess.run(
        [mosquitto_client("mosquitto_pub"), "-p", str(broker.port), "-t", topic, "-m", message],
        check=True,
        timeout=10,
    )


def state(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


def test_a_setpoint_from_mosquitto_pub_changes_the_output_decision(
    controller: Service, broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    idle = probe.wait_for("maelstrom/data/kettle", state(lambda s: s["pv"] is not None), timeout=20)
    assert json.loads(idle.payload)["output"]["heat"] == 0.0, controller.output()
    assert json.loads(idle.payload)["state"] == "idle"

    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/setpoint", "72")
    heating = probe.wait_for(
        "maelstrom/data/kettle", state(lambda s: s["sp"] == 72.0), timeout=5, since=mark
    )
    decided = json.loads(heating.payload)
    assert decided["state"] == "heating" and decided["output"]["heat"] == 100.0

    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/mode", "off")
    off = probe.wait_for(
        "maelstrom/data/kettle", state(lambda s: s["mode"] == "off"), timeout=5, since=mark
    )
    assert json.loads(off.payload)["output"]["heat"] == 0.0


def test_a_command_that_cannot_be_used_is_logged_and_dropped(
    controller: Service, broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    probe.wait_for("maelstrom/data/kettle", state(lambda s: s["pv"] is not None), timeout=20)
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/setpoint", "warm")
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/setpoint", "500")
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/output", "-50")  # no cooler to cool with

    def warning(text: str):  # type: ignore[no-untyped-def]
        return lambda m: text in json.loads(m.payload)["message"]

    logs = "maelstrom/logs/controller"
    probe.wait_for(logs, warning("setpoint command from mqtt refused"), timeout=5)
    probe.wait_for(logs, warning("outside -5..105"), timeout=5)
    probe.wait_for(logs, warning("no cooler"), timeout=5)
    mark = probe.mark()
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/setpoint", "16")
    alive: Received = probe.wait_for(
        "maelstrom/data/kettle", state(lambda s: s["sp"] == 16.0), timeout=5, since=mark
    )
    assert alive.retain is False
