"""Fixtures shared by every test: a real broker, a probe, temp databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.config import Config
from tests.support.broker import Broker
from tests.support.probe import MqttProbe


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of this test's own, on a free port."""
    (tmp_path / "broker").mkdir()
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def probe(broker: Broker) -> Iterator[MqttProbe]:
    p = MqttProbe(broker.port)
    yield p
    p.close()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'maelstrom.db'}"


@pytest.fixture
def config(broker: Broker, database_url: str) -> Config:
    return Config.from_env(
        {
            "MAELSTROM_MQTT_URL": broker.url,
            "MAELSTROM_DATABASE_URL": database_url,
            "MAELSTROM_HTTP_PORT": "0",
        }
    )
