"""Configured sensors find their probes on a board, however the address is written."""

from __future__ import annotations

from services.common.schema.config import Sensor
from services.controller.devices.boards import address_key, match_sensors
from services.controller.devices.serial_board import BoardInfo


def test_one_probe_written_three_ways() -> None:
    rom = "28FFC579A2160312"  # bus order: family 28, serial little-endian, CRC
    assert address_key(rom) == address_key("28-0316a279c5ff") == address_key("0316A279C5FF")
    assert address_key("Beer") == "beer"


def test_sensors_match_by_address_then_name_then_position() -> None:
    info = BoardInfo(
        board="b",
        firmware="1",
        proto=1,
        sensors={0: "28FF3A1C62160312", 1: "28FFC579A2160312", 2: "beer"},
    )
    mapping = match_sensors(
        [
            Sensor(id="chamber", address="28-0316a279c5ff"),  # → 1, by Linux name
            Sensor(id="beer"),  # → 2, by name
            Sensor(id="mash", address="#0"),  # → 0, by index
            Sensor(id="ghost", address="28-000000000000"),  # not on this board
        ],
        info,
    )
    assert {i: s.id for i, s in mapping.items()} == {1: "chamber", 2: "beer", 0: "mash"}


def test_unaddressed_sensors_fall_back_to_their_position() -> None:
    info = BoardInfo(board="b", firmware="1", proto=1, sensors={0: "28AA", 1: "28BB"})
    mapping = match_sensors([Sensor(id="one"), Sensor(id="two")], info)
    assert {i: s.id for i, s in mapping.items()} == {0: "one", 1: "two"}
