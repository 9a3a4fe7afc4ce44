"""Where browsers may publish: the default ACL follows the prefix; the environment overrides it."""

from __future__ import annotations

import pytest

from services.bridge.settings import BridgeSettings
from services.common.config import Config, ConfigError


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
