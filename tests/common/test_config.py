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


@pytest.mark.parametrize(
    "env",
    [
        {"MAELSTROM_MQTT_URL": "http://x"},
        {"MAELSTROM_MQTT_URL": "mqtt://:1883"},
        {"MAELSTROM_HTTP_PORT": "eighty"},
        {"MAELSTROM_TOPIC_PREFIX": "brew/#"},
    ],
)
def test_bad_environment_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="MAELSTROM_"):
        Config.from_env(env)
