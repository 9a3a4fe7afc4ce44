"""Where browsers may publish (the default ACL follows the prefix; the environment overrides
it), and which MQTT driver reads the broker."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest

from services.bridge.settings import BridgeSettings
from services.common.config import Config, ConfigError
from tests.bridge.browser import Browser, is_message
from tests.bridge.conftest import start_bridge
from tests.support.probe import MqttProbe


def test_default_acl_is_commands_alarms_and_the_ui_log() -> None:
    settings = BridgeSettings.from_config(Config.from_env({}))
    assert settings.publish_acl == ("maelstrom/cmd/#", "maelstrom/alarms/#", "maelstrom/logs/ui")


def test_default_acl_follows_the_topic_prefix() -> None:
    config = Config.from_env({"MAELSTROM_TOPIC_PREFIX": "brewery"})
    assert BridgeSettings.from_config(config).publish_acl[0] == "brewery/cmd/#"


def test_acl_from_the_environment() -> None:
    config = Config.from_env({"MAELSTROM_WS_PUBLISH_ACL": "maelstrom/cmd/#, maelstrom/logs/ui"})
    assert BridgeSettings.from_config(config).publish_acl == (
        "maelstrom/cmd/#",
        "maelstrom/logs/ui",
    )
    none = Config.from_env({"MAELSTROM_WS_PUBLISH_ACL": "none"})
    assert BridgeSettings.from_config(none).publish_acl == ()


def test_a_malformed_acl_filter_is_a_clear_startup_error() -> None:
    with pytest.raises(ConfigError, match=r"MAELSTROM_WS_PUBLISH_ACL.*# must be"):
        Config.from_env({"MAELSTROM_WS_PUBLISH_ACL": "maelstrom/#/cmd"})


def test_the_api_token_protects_the_socket() -> None:
    config = Config.from_env({"MAELSTROM_API_TOKEN": "s3cret"})
    assert BridgeSettings.from_config(config).api_token == "s3cret"


@pytest.mark.parametrize("driver", ["loop", "thread"])
async def test_either_mqtt_driver_delivers_and_says_which_it_is(
    config: Config, http: aiohttp.ClientSession, probe: MqttProbe, driver: str
) -> None:
    """MAELSTROM_BRIDGE_MQTT_DRIVER: `loop` by default, `thread` to fall back to paho's."""
    bridge = await start_bridge(replace(config, bridge_mqtt_driver=driver))
    try:
        assert bridge.hub.snapshot()["mqtt_driver"] == driver
        browser = await Browser.connect(http, bridge.url)
        await browser.subscribe("maelstrom/data/#")
        probe.publish("maelstrom/data/f", '{"pv": 19.5}')
        await browser.wait_for(is_message("maelstrom/data/f"))
        assert bridge.hub.snapshot()["mqtt_in"] >= 1
    finally:
        await bridge.runner.cleanup()
