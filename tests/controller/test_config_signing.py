"""The controller obeys configuration only when the API signed it (MQTT 5 user property),
on a real Mosquitto: a forged retained or live configuration is refused, logged and
alarmed, and the running one stays; a genuine one — even the broker's retained copy
after a broker restart — is applied."""

from __future__ import annotations

import json
from dataclasses import replace

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.common.config import Config
from services.common.signing import SIGNATURE, sign
from services.common.topics import Topics
from tests.controller.support import (
    fermenter_device,
    fermenter_loop,
    kettle_loop,
    sim_controller,
)
from tests.support.broker import Broker
from tests.support.probe import MqttProbe, received
from tests.support.waiting import eventually

KEY = b"the-api-and-the-controller-share-this-secret"
topics = Topics("maelstrom")


class Publisher:
    """An MQTT 5 client that publishes configuration, signed with `key` or not at all."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes, key: bytes | None, retain: bool = True) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if key is not None:
            props.UserProperty = [(SIGNATURE, sign(key, topic, payload))]
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=props)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def body(obj: object) -> bytes:
    return obj.model_dump_json().encode()  # type: ignore[attr-defined]


async def test_forged_configuration_is_refused_and_genuine_applied(
    broker: Broker, config: Config
) -> None:
    config = replace(config, config_key=KEY)
    api = Publisher(broker.port)
    device, loop = fermenter_device(), fermenter_loop()
    api.send(topics.config("devices", device.id), body(device), KEY)
    api.send(topics.config("loops", loop.id), body(loop), KEY)
    # retained and unsigned: what anyone on a broker without our ACL could leave behind
    api.send(topics.config("loops", "kettle"), body(kettle_loop()), None)
    api.close()
    broker.restart()  # the broker's retained copy, from its persistence file, is what remains
    api = Publisher(broker.port)
    probe = MqttProbe(broker.port).subscribe("maelstrom/alarms/+").subscribe("maelstrom/logs/#")
    try:
        async with sim_controller(config) as run:
            store = run.ctl.store
            await eventually(lambda: "fermenter" in store.loops, what="the genuine loop")
            alarm = await received(probe, "maelstrom/alarms/kettle-config", lambda m: m.payload)
            assert "not signed by the API" in alarm.json()["message"]
            await received(probe, "maelstrom/logs/controller", lambda m: b"kettle" in m.payload)
            assert "kettle" not in store.loops

            # live: another key's signature, then an unsigned deletion; the loop stays as it was
            warmer = fermenter_loop(setpoint=30.0, version=loop.version + 1)
            api.send(topics.config("loops", "fermenter"), body(warmer), b"x" * 40, retain=False)
            alarm = await received(
                probe, "maelstrom/alarms/fermenter-config", lambda m: bool(m.payload)
            )
            assert "signature is not the API's" in alarm.json()["message"]
            api.send(topics.config("loops", "fermenter"), b"", None, retain=False)
            api.send(topics.config_index, json.dumps({"loops": []}).encode(), None, retain=False)
            mark = probe.mark()
            api.send(topics.config("settings", "units"), b'"metric"', KEY, retain=False)
            await eventually(lambda: store.settings.get("units") == "metric", what="a setting")
            assert store.loops["fermenter"] == loop
            await received(probe, "maelstrom/logs/controller", since=mark)  # said so, logged

            # the API's own next version is obeyed, and the refusal's alarm clears
            api.send(topics.config("loops", "fermenter"), body(warmer), KEY, retain=False)
            await eventually(lambda: store.loops["fermenter"].setpoint == 30.0, what="applied")
            await received(
                probe,
                "maelstrom/alarms/fermenter-config",
                lambda m: bool(m.payload) and m.json()["state"] != "active",
            )
    finally:
        probe.close()
        api.close()
