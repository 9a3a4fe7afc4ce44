"""Commands from the outside world, to the controller as `make run-all` starts it
(a subprocess, real time, a simulated kettle on a pty)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.schema.config import AlarmThresholds
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


def test_a_refusal_shows_on_the_state_and_ack_acknowledges_the_loops_alarms_as_its_sender(
    controller: Service, broker: Broker, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/#")
    probe.wait_for("maelstrom/data/kettle", state(lambda s: s["pv"] is not None), timeout=20)
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/output", "-50")  # no cooler
    refused = probe.wait_for("maelstrom/data/kettle", state(lambda s: s["last_error"]), timeout=5)
    error = json.loads(refused.payload)["last_error"]
    assert (error["command"], error["by"]) == ("output", "mqtt")
    assert "no cooler" in error["message"]
    mosquitto_pub(broker, "maelstrom/cmd/loops/kettle/setpoint", "16")  # applied: news over
    probe.wait_for("maelstrom/data/kettle", state(lambda s: not s["last_error"]), timeout=5)

    # Water at 20 °C above a 0 °C high limit: the loop's alarm, acknowledged by name.
    publish_config(probe, kettle_loop(mode="constant", setpoint=15.0, alarms=AlarmThresholds(high=0.0, stale_after_s=30.0)))  # fmt: skip
    probe.wait_for("maelstrom/alarms/kettle-high", lambda m: bool(m.payload), timeout=10)
    mark = probe.mark()
    subprocess.run(
        [mosquitto_client("mosquitto_pub"), "-p", str(broker.port), "-V", "mqttv5",
         "-t", "maelstrom/cmd/loops/kettle/ack", "-m", "PRESS",
         "-D", "publish", "user-property", "by", "brewer"],
        check=True,
        timeout=10,
    )  # fmt: skip
    acked = probe.wait_for(
        "maelstrom/alarms/kettle-high",
        lambda m: bool(m.payload) and json.loads(m.payload)["acknowledged"],
        since=mark,
        timeout=5,
    )
    assert json.loads(acked.payload)["acknowledged_by"] == "brewer"
    shown = probe.wait_for(
        "maelstrom/data/kettle",
        state(lambda s: s["alarm_details"] and s["alarm_details"][0]["acknowledged"]),
        since=mark,
        timeout=5,
    )
    assert json.loads(shown.payload)["alarms"] == ["kettle-high"]  # still active
