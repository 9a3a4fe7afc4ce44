"""Fixtures for the Arduino sketch: one build per test session, the simavr board."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.devices.firmware import (
    Firmware,
    SimavrBoard,
    build_harness,
    build_sketch,
    missing_simavr,
    missing_toolchain,
)


@pytest.fixture(scope="session")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Firmware:
    reason = missing_toolchain()
    if reason:
        pytest.skip(reason)
    return build_sketch(tmp_path_factory.mktemp("arduino-build"))


@pytest.fixture(scope="session")
def simavr_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = missing_simavr()
    if reason:
        pytest.skip(reason)
    return build_harness(tmp_path_factory.mktemp("simavr") / "maelstrom-sim")


@pytest.fixture
def simavr_board(firmware: Firmware, simavr_harness: Path) -> Iterator[Callable[..., SimavrBoard]]:
    """`simavr_board("--probe", "309")` starts the firmware; every board is stopped after."""
    boards: list[SimavrBoard] = []

    def start(*args: str) -> SimavrBoard:
        board = SimavrBoard(simavr_harness, firmware.elf, *args)
        boards.append(board)
        return board

    yield start
    for board in boards:
        board.close()
