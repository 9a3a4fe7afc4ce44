"""The whole way round, with the real services: Home Assistant sends a target temperature
exactly as it does (a bare number on the command topic from its discovery config), the
Config API validates and persists it and re-publishes the loop, and the controller
applies it and echoes it on the state topic Home Assistant reads.

These start running by themselves once the Config API (`/api/loops`) and the
controller's control loops have landed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.homeassistant.ha_rules import problems, render
from tests.homeassistant.samples import FERMENTER
from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env
from tests.support.waiting import until

CLIMATE = "homeassistant/climate/maelstrom_loop_fermenter/climate/config"
LOOP_TARGET = "maelstrom/target/fermenter"


DEVICE = {
    "id": "chamber",
    "name": "Chamber",
    "kind": "simulated",
    "simulation": "fermenter",
    "sensors": [{"id": "beer", "name": "Beer"}],
    "actuators": [{"id": "heater", "role": "heater"}, {"id": "cooler", "role": "cooler"}],
}


class Api:
    """`python -m services.api` on a free port, with its own database."""

    def __init__(self, broker: Broker, tmp_path: Path) -> None:
        self.port = free_port()
        self.env = service_env(
            broker.url,
            MAELSTROM_HTTP_HOST="127.0.0.1",
            MAELSTROM_HTTP_PORT=str(self.port),
            MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / 'maelstrom.db'}",
            MAELSTROM_DEMO="0",
        )
        self.tmp_path = tmp_path
        self.runs = 0
        self.service: Service | None = None

    def start(self) -> Api:
        self.runs += 1
        self.service = Service("services.api", self.env, self.tmp_path / f"api-{self.runs}.log")
        try:
            wait_for_port(self.port, timeout=20)
        except TimeoutError:
            pytest.fail("the API did not listen:\n" + self.service.output())
        return self

    def stop(self) -> None:
        if self.service:
            self.service.stop()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            pytest.fail(f"{method} {path} → {exc.code}: {exc.read().decode()}")


@pytest.fixture
def api(broker: Broker, tmp_path: Path) -> Iterator[Api]:
    api = Api(broker, tmp_path).start()
    yield api
    api.stop()


def configure_fermenter(api: Api) -> None:
    api.call("POST", "/api/devices", DEVICE)
    api.call("POST", "/api/loops", FERMENTER.model_dump(mode="json", exclude={"version"}))


def discovered_climate(probe: MqttProbe) -> dict[str, Any]:
    found = probe.wait_for(CLIMATE, lambda m: bool(m.payload), timeout=15)
    assert problems(found.topic, found.json()) == []
    return found.json()


def setpoint_of(config: Any) -> float:
    return float(config["setpoint"])


def test_setpoint_from_home_assistant_is_validated_persisted_and_republished(
    api: Api, probe: MqttProbe, tmp_path: Path
) -> None:
    controller = Service("services.controller", api.env, tmp_path / "controller.log")
    try:
        probe.subscribe("homeassistant/#")
        probe.subscribe(LOOP_TARGET)
        configure_fermenter(api)
        climate = discovered_climate(probe)
        probe.wait_for(LOOP_TARGET, timeout=15)  # the controller runs the loop

        mark = probe.mark()
        probe.publish(climate["temperature_command_topic"], "19.5", qos=climate["qos"])
        probe.wait_for(LOOP_TARGET, lambda m: setpoint_of(m.json()) == 19.5, since=mark)

        # Outside the loop's limits: refused, and the next good one still goes through.
        mark = probe.mark()
        probe.publish(climate["temperature_command_topic"], "200", qos=climate["qos"])
        probe.publish(climate["temperature_command_topic"], "19.6", qos=climate["qos"])
        probe.wait_for(LOOP_TARGET, lambda m: setpoint_of(m.json()) == 19.6, since=mark)
        assert all(
            setpoint_of(m.json()) != 200 for m in probe.messages[mark:] if m.topic == LOOP_TARGET
        )

        mark = probe.mark()
        probe.publish(climate["mode_command_topic"], "off", qos=climate["qos"])
        probe.publish(climate["mode_command_topic"], "heat_cool", qos=climate["qos"])
        probe.wait_for(LOOP_TARGET, lambda m: m.json()["mode"] == "off", since=mark)
        probe.wait_for(LOOP_TARGET, lambda m: m.json()["mode"] == "constant", since=mark)

        # persisted by the API (it mirrors the controller's target), across its restart
        api.stop()
        api.start()
        until(lambda: setpoint_of(api.call("GET", "/api/loops/fermenter")) == 19.6, 10)
    finally:
        controller.stop()


def test_setpoint_from_home_assistant_is_echoed_on_the_state_topic(
    api: Api, probe: MqttProbe, broker: Broker, tmp_path: Path
) -> None:
    controller = Service("services.controller", api.env, tmp_path / "controller.log")
    try:
        probe.subscribe("homeassistant/#")
        configure_fermenter(api)
        climate = discovered_climate(probe)
        probe.subscribe(climate["temperature_state_topic"])
        probe.wait_for(climate["temperature_state_topic"], timeout=15)  # the loop runs

        mark = probe.mark()
        probe.publish(climate["mode_command_topic"], "heat_cool", qos=climate["qos"])
        probe.publish(climate["temperature_command_topic"], "19.5", qos=climate["qos"])
        state = probe.wait_for(
            climate["temperature_state_topic"],
            lambda m: render(climate["temperature_state_template"], m.text) == "19.5",
            since=mark,
            timeout=15,
        )
        assert render(climate["mode_state_template"], state.text) == "heat_cool"

        mark = probe.mark()
        probe.publish(climate["mode_command_topic"], "off", qos=climate["qos"])
        state = probe.wait_for(
            climate["mode_state_topic"],
            lambda m: render(climate["mode_state_template"], m.text) == "off",
            since=mark,
            timeout=15,
        )
        assert render(climate["action_template"], state.text) == "off"
    finally:
        controller.stop()
