"""Configuration from retained MQTT messages: validated, kept, deleted, never fatal."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from services.common.config import Config
from services.common.mqtt import MqttClient
from services.controller.configuration import RunningConfig
from tests.controller.support import eventually, fermenter_loop, kettle_device, publish_config
from tests.support.probe import MqttProbe


async def test_config_is_validated_kept_and_deleted(
    config: Config, probe: MqttProbe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    publish_config(probe, kettle_device())  # retained before the controller starts
    changes: list[tuple[str, str, Any]] = []
    async with MqttClient(config, "controller") as mqtt:
        store = RunningConfig(mqtt)
        store.on_change(lambda kind, object_id, value: changes.append((kind, object_id, value)))
        store.start()
        await eventually(lambda: "sim-kettle" in store.devices)

        loop = fermenter_loop()
        publish_config(probe, loop)
        await eventually(lambda: "fermenter" in store.loops)
        assert store.loops["fermenter"] == loop

        # a broken update is dropped; the last good configuration stays in force
        probe.publish("maelstrom/config/loops/fermenter", {"id": "fermenter", "setpoint": "warm"})
        probe.publish("maelstrom/config/loops/other", loop.model_dump(mode="json"))  # wrong id
        probe.publish("maelstrom/config/devices/x", "{not json")
        probe.publish("maelstrom/config/settings/units", '"metric"')
        await eventually(lambda: "units" in store.settings)
        assert store.loops["fermenter"] == loop and "other" not in store.loops
        assert "maelstrom/config/loops/fermenter" in caplog.text
        assert "does not match the topic" in caplog.text
        assert "not JSON" in caplog.text

        # the API re-publishing the same object changes nothing
        count = len(changes)
        publish_config(probe, loop)
        probe.publish("maelstrom/config/settings/sentinel", "1")
        await eventually(lambda: "sentinel" in store.settings)
        assert len(changes) == count + 1  # only the sentinel

        probe.publish("maelstrom/config/loops/fermenter", b"", retain=True)
        await eventually(lambda: "fermenter" not in store.loops)
        assert changes[-1] == ("loops", "fermenter", None)
