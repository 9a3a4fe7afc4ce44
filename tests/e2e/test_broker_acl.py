"""The generated password file and ACL on a real Mosquitto: only the API publishes
configuration; a device publishes only its own topics; anonymous clients (loopback)
read and send commands."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import paho.mqtt.client as mqtt
import pytest

from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import REPO, Service, service_env

spec = importlib.util.spec_from_file_location("broker_auth", REPO / "scripts" / "broker_auth.py")
assert spec and spec.loader
broker_auth = importlib.util.module_from_spec(spec)
spec.loader.exec_module(broker_auth)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Broker, Path, str]]:
    auth = tmp_path / "auth"
    (tmp_path / "broker").mkdir()
    broker = Broker(tmp_path / "broker")
    broker_auth.generate(auth, host=f"127.0.0.1:{broker.port}")
    device_password = broker_auth.add_device(auth, "fridge")
    broker.conf.write_text(
        broker.conf.read_text()
        + f"password_file {auth / 'passwd'}\nacl_file {auth / 'acl'}\n"
        + f"log_dest file {tmp_path / 'broker.log'}\nlog_type notice\n"  # who logged in as whom
    )
    broker.start()
    yield broker, auth, device_password
    broker.stop()


class Client:
    def __init__(self, port: int, user: str | None = None, password: str | None = None):
        self.received: list[str] = []
        self.got = threading.Condition()
        self.connected = threading.Event()
        self.refused: int | None = None
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, client, userdata, flags, reason, props) -> None:
        if reason.is_failure:
            self.refused = reason.value
        self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        with self.got:
            self.received.append(msg.topic)
            self.got.notify_all()

    def wait_for(self, topic: str, timeout: float = 5.0) -> None:
        with self.got:
            assert self.got.wait_for(lambda: topic in self.received, timeout), self.received

    def publish(self, topic: str) -> None:
        self.c.publish(topic, b"1", qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def env_file(auth: Path, service: str) -> dict[str, str]:
    return env_file_text((auth / f"{service}.env").read_text())


def service_password(auth: Path, service: str) -> str:
    return urlparse(env_file(auth, service)["MAELSTROM_MQTT_URL"]).password or ""


def test_only_the_api_publishes_configuration(secured: tuple[Broker, Path, str]) -> None:
    broker, auth, device_password = secured
    api = Client(broker.port, "api", service_password(auth, "api"))
    assert api.connected.wait(5) and api.refused is None
    anonymous = Client(broker.port)
    fridge = Client(broker.port, "fridge", device_password)
    controller = Client(broker.port, "controller", service_password(auth, "controller"))
    bridge = Client(broker.port, "bridge", service_password(auth, "bridge"))
    # the controller reads everything it is allowed to: the observer
    observer = controller
    assert controller.connected.wait(5)
    controller.c.subscribe([("maelstrom/#", 1), ("tele/#", 1), ("homeassistant/#", 1)])
    wrong = Client(broker.port, "controller", "not the password")
    for c in (anonymous, fridge, controller, bridge, wrong):
        assert c.connected.wait(5)
    assert wrong.refused is not None  # a wrong password is not let in as anonymous
    api.publish("maelstrom/config/loops/sentinel-0")
    observer.wait_for("maelstrom/config/loops/sentinel-0")
    refused = [
        (anonymous, "maelstrom/config/loops/kettle"),
        (fridge, "maelstrom/config/loops/kettle"),
        (controller, "maelstrom/config/devices/x"),
        (fridge, "tele/freezer/SENSOR"),  # another device's topic
        (fridge, "maelstrom/cmd/loops/kettle/output"),
        (bridge, "maelstrom/config/loops/kettle"),  # browsers never configure
        (bridge, "maelstrom/data/forged"),  # nor speak for the controller
        (bridge, "maelstrom/target/forged"),
        (bridge, "homeassistant/sensor/x/config"),
    ]
    allowed = [
        (anonymous, "maelstrom/cmd/loops/kettle/setpoint"),  # the docs' mosquitto_pub lines
        (fridge, "tele/fridge/SENSOR"),
        (controller, "maelstrom/data/kettle"),
        (bridge, "maelstrom/cmd/loops/kettle/mode"),  # what browsers may send
        (bridge, "maelstrom/alarms/door/ack"),
    ]
    for client, topic in refused + allowed:
        client.publish(topic)
    api.publish("maelstrom/config/loops/sentinel-1")  # after all of the above, in order
    observer.wait_for("maelstrom/config/loops/sentinel-1")
    for _client, topic in allowed:
        observer.wait_for(topic)
    for _client, topic in refused:
        assert topic not in observer.received, topic
    for c in (api, anonymous, fridge, controller, bridge, wrong):
        c.close()


def test_the_services_run_with_their_own_credentials(
    secured: tuple[Broker, Path, str], tmp_path: Path
) -> None:
    """As `make run-all` starts them: the ACL lets every service do its whole job."""
    broker, auth, _ = secured
    port = free_port()
    common = {
        "MAELSTROM_HTTP_PORT": str(port),
        "MAELSTROM_HTTP_HOST": "127.0.0.1",
        "MAELSTROM_DATABASE_URL": f"sqlite:///{tmp_path / 'maelstrom.db'}",
        "MAELSTROM_DEMO": "1",
        "MAELSTROM_AUTH": "off",
    }
    # Each service with its env file, as scripts/with-mqtt-credentials.sh loads it: the API's
    # carries the bridge's login and the configuration key it shares with the controller.
    api_env, controller_env = env_file(auth, "api"), env_file(auth, "controller")
    assert api_env["MAELSTROM_CONFIG_KEY"] == controller_env["MAELSTROM_CONFIG_KEY"]
    assert urlparse(api_env["MAELSTROM_BRIDGE_MQTT_URL"]).username == "bridge"
    env = {s: {**e, **common} for s, e in (("api", api_env), ("controller", controller_env))}
    api = Service("services.api", service_env(**env["api"]), tmp_path / "api.log")
    controller = Service(
        "services.controller", service_env(**env["controller"]), tmp_path / "ctl.log"
    )
    probe = MqttProbe(broker.port)  # anonymous, on loopback: reads everything
    try:
        probe.subscribe("maelstrom/#")
        wait_for_port(port, timeout=20)
        probe.wait_for("maelstrom/config/loops/fermenter", timeout=20)  # the API's config
        probe.wait_for("maelstrom/target/fermenter", timeout=20)  # the controller runs it (signed)
        probe.wait_for("maelstrom/data/fermenter", lambda m: bool(m.payload), timeout=20)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/loops/fermenter/setpoint", data=b"18.5", method="POST"
        )
        with urllib.request.urlopen(request, timeout=15) as resp:  # answered by the controller
            assert resp.status == 200 and json.loads(resp.read())["setpoint"] == 18.5
        probe.wait_for("maelstrom/target/fermenter", lambda m: m.json()["setpoint"] == 18.5)
        # A browser's command goes out through the bridge's own broker login.
        asyncio.run(browser_setpoint(port, 17.5))
        probe.wait_for(
            "maelstrom/target/fermenter", lambda m: m.json()["setpoint"] == 17.5, timeout=30
        )
        logins = (tmp_path / "broker.log").read_text()
        assert re.search(r"as maelstrom-bridge-\w+ \(.*u'bridge'\)", logins), logins
        assert re.search(r"as maelstrom-api-\w+ \(.*u'api'\)", logins), logins
        assert "not signed" not in controller.output()
    finally:
        probe.close()
        controller.stop()
        api.stop()


async def browser_setpoint(port: int, setpoint: float) -> None:
    origin = f"http://127.0.0.1:{port}"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{origin}/ws", headers={"Origin": origin}) as ws,
    ):
        topic = "maelstrom/cmd/loops/fermenter/setpoint"
        await ws.send_json({"op": "publish", "topic": topic, "payload": setpoint})
        await ws.send_json({"op": "subscribe", "topic": "maelstrom/target/fermenter"})
        async with asyncio.timeout(30):
            async for frame in ws:
                message = json.loads(frame.data)
                assert message.get("op") != "error", message
                # several messages may come as one `batch` frame (docs/websocket.md)
                batch = message["messages"] if message.get("op") == "batch" else [message]
                if any(
                    m.get("op") == "message" and m["payload"]["setpoint"] == setpoint for m in batch
                ):
                    return


def test_an_older_install_gets_the_bridge_login_and_the_configuration_key(
    tmp_path: Path,
) -> None:
    """`make run-all` on a data/mosquitto/ made before them adds the new lines, once;
    passwords stay, and the API and the controller end up with the same key."""
    auth = tmp_path / "auth"
    broker_auth.generate(auth)
    made = {s: env_file(auth, s) for s in ("api", "controller", "bridge")}
    # as an older broker_auth.py wrote them: the broker login only (and one key kept)
    (auth / "api.env").write_text(
        f"MAELSTROM_MQTT_URL={made['api']['MAELSTROM_MQTT_URL']}\n"
        f"MAELSTROM_CONFIG_KEY={made['api']['MAELSTROM_CONFIG_KEY']}\n"
    )
    (auth / "controller.env").write_text(
        f"MAELSTROM_MQTT_URL={made['controller']['MAELSTROM_MQTT_URL']}\n"
    )
    assert broker_auth.generate(auth) is True
    assert {s: env_file(auth, s) for s in made} == made
    assert broker_auth.generate(auth) is False  # nothing more to add
    assert all((auth / f"{s}.env").stat().st_mode & 0o077 == 0 for s in made)


def test_each_service_starts_with_what_its_env_file_holds(tmp_path: Path) -> None:
    """scripts/with-mqtt-credentials.sh, as supervisord runs it: the file's values unless
    the environment says otherwise; another broker given, our logins do not apply."""
    broker_auth.generate(tmp_path / "data" / "mosquitto")
    made = env_file(tmp_path / "data" / "mosquitto", "api")
    script = REPO / "scripts" / "with-mqtt-credentials.sh"

    def started(**env: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MAELSTROM_")}
        out = subprocess.run(
            ["bash", str(script), "api", "env"],
            cwd=tmp_path,
            env={**base, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {k: v for k, v in env_file_text(out).items() if k.startswith("MAELSTROM_")}

    assert started() == made
    elsewhere = started(MAELSTROM_MQTT_URL="mqtt://broker.brewery:1883")
    assert elsewhere == {
        "MAELSTROM_MQTT_URL": "mqtt://broker.brewery:1883",
        "MAELSTROM_CONFIG_KEY": made["MAELSTROM_CONFIG_KEY"],
    }


def env_file_text(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
