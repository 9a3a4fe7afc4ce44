import pytest

from services.common.config import Config, ConfigError


def test_defaults_are_the_designs() -> None:
    config = Config.from_env({})
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 1883)
    assert config.http_port == 8888
    assert config.database_url == "sqlite:///data/maelstrom.db"
    assert config.topic_prefix == "maelstrom"


def test_mqtt_url_with_credentials() -> None:
    config = Config.from_env({"MAELSTROM_MQTT_URL": "mqtt://brewer:s%40cret@broker.local:1884"})
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.port == 1884
    assert (config.mqtt.username, config.mqtt.password) == ("brewer", "s@cret")
    assert "s@cret" not in config.mqtt.url
    assert "s@cret" not in repr(config)  # a logged Config shows no password


def test_the_bridge_login_and_the_configuration_key() -> None:
    key = "k" * 43
    config = Config.from_env(
        {
            "MAELSTROM_BRIDGE_MQTT_URL": "mqtt://bridge:pw@127.0.0.1:1883",
            "MAELSTROM_CONFIG_KEY": key,
        }
    )
    assert config.bridge_mqtt is not None and config.bridge_mqtt.username == "bridge"
    assert config.config_key == key.encode() and key not in repr(config)
    unset = Config.from_env({})
    assert unset.bridge_mqtt is None and unset.config_key is None


def test_the_bridge_reads_mqtt_from_the_event_loop_unless_told_to_use_paho_s_thread() -> None:
    assert Config.from_env({}).bridge_mqtt_driver == "loop"
    thread = Config.from_env({"MAELSTROM_BRIDGE_MQTT_DRIVER": " Thread "})
    assert thread.bridge_mqtt_driver == "thread"
    with pytest.raises(ConfigError, match="MAELSTROM_BRIDGE_MQTT_DRIVER"):
        Config.from_env({"MAELSTROM_BRIDGE_MQTT_DRIVER": "fast"})


@pytest.mark.parametrize(
    "env",
    [
        {"MAELSTROM_MQTT_URL": "http://x"},
        {"MAELSTROM_MQTT_URL": "mqtt://:1883"},
        {"MAELSTROM_HTTP_PORT": "eighty"},
        {"MAELSTROM_TOPIC_PREFIX": "brew/#"},
        {"MAELSTROM_CONFIG_KEY": "too short to be a secret"},
        {"MAELSTROM_BRIDGE_MQTT_URL": "http://x"},
    ],
)
def test_bad_environment_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="MAELSTROM_"):
        Config.from_env(env)
