"""The host driver against a scripted board on a real pty: handshake, readings,
commands, garbage, the reset on open, a board gone quiet, and unplug/replug."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from services.common.clock import RealClock
from services.controller.devices import protocol as p
from services.controller.devices.serial_board import BoardInfo, BoardTiming, SerialBoard
from tests.controller.fake_board import FakeBoard
from tests.controller.support import eventually

QUICK = BoardTiming(
    hello_timeout_s=0.3, refresh_s=0.2, lost_after_s=2.5, backoff_min_s=0.1, backoff_max_s=0.2
)


class Listener:
    def __init__(self) -> None:
        self.online: list[BoardInfo] = []
        self.offline: list[str] = []
        self.readings: list[tuple[int, float | None, str | None]] = []
        self.inputs: list[tuple[int, bool]] = []
        self.outputs: list[tuple[int, bool]] = []
        self.trips: list[p.LimitTripped] = []
        self.fallbacks: list[tuple[int, bool | None, int]] = []
        self.stale: set[int] = set()  # channels whose loop stopped deciding
        self.all_off: list[str] = []  # why every output is known off as of then

    def board_online(self, info: BoardInfo) -> None:
        self.online.append(info)

    def board_offline(self, reason: str) -> None:
        self.offline.append(reason)

    def board_outputs_off(self, why: str) -> None:
        self.all_off.append(why)

    def board_temperature(self, index: int, celsius: float | None, error: str | None) -> None:
        self.readings.append((index, celsius, error))

    def board_input(self, channel: int, level: bool) -> None:
        self.inputs.append((channel, level))

    def board_output(self, channel: int, on: bool) -> None:
        self.outputs.append((channel, on))

    def board_limit_tripped(self, trip: p.LimitTripped) -> None:
        self.trips.append(trip)

    def board_fallback(self, channel: int, on: bool | None, seconds: int) -> None:
        self.fallbacks.append((channel, on, seconds))

    def output_fresh(self, channel: int) -> bool:
        return channel not in self.stale


async def connected(port: str) -> tuple[SerialBoard, Listener]:
    listener = Listener()
    board = SerialBoard("fake", port, RealClock(), listener, timing=QUICK)
    await board.start()
    await eventually(lambda: board.is_open, what="port open")  # opening flushes the input
    return board, listener


async def test_waits_out_the_reset_garbage_then_handshakes() -> None:
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    try:
        board.set_output(2, True)  # wanted before the board is even up
        # an Arduino resetting: bootloader noise and a hello cut short by the reset
        fake.write(b"\x00\xf0\xfe avrdude stk500\r\n" + p.frame("H 1 fa")[:4])
        assert (await fake.next_line()).startswith("? "), "only hello requests before a hello"
        fake.write(b"\n")  # the cut line ends: garbage
        fake.hello(sensors=("28FF3A1C62160312", "28FF9B2D71160388"))
        watchdog = await fake.expect("W ")
        assert watchdog.split()[2] == str(QUICK.watchdog_s)
        # Off as of the hello (the reset): the controller decides again, a compressor's
        # minimum off counted from now.
        output = await fake.expect("O ")
        assert output.split()[2:] == ["2", "0"]
        assert listener.all_off == ["a new session"]
        await eventually(lambda: listener.online, what="online")
        board.set_output(2, True)
        assert (await fake.expect("O ")).split()[2:] == ["2", "1"]
        info = listener.online[0]
        assert info.sensors == {0: "28FF3A1C62160312", 1: "28FF9B2D71160388"}
        assert info.actuators == {1, 2}
        assert board.stats.garbage >= 2  # the bootloader noise and the cut hello
        before = [line for line in fake.raw.split(b"\n") if line]
        assert all(p.unframe(line).startswith(("?", "W", "O", "P")) for line in before)
    finally:
        await board.stop()
        fake.unplug()


async def test_readings_survive_partial_lines_and_garbage() -> None:
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    try:
        fake.hello()
        await eventually(lambda: listener.online)
        wire = (
            p.frame("T 0 309")
            + b"T 0 999*00\n"  # bad checksum: garbage
            + b"\xff\xfe\n"
            + p.frame("T 0 -2032")
            + p.frame("T 0 ERR nc")
            + p.frame("D 8 1")
        )
        for i in range(0, len(wire), 5):  # dribbled in 5-byte pieces
            fake.write(wire[i : i + 5])
            await asyncio.sleep(0.001)
        await eventually(lambda: len(listener.readings) >= 3 and listener.inputs)  # the last line
        assert listener.readings == [(0, 19.3125, None), (0, -127.0, None), (0, None, "nc")]
        assert listener.inputs == [(8, True)]
        assert board.stats.garbage == 2
    finally:
        await board.stop()
        fake.unplug()


async def test_commands_carry_sequence_numbers_and_are_refreshed() -> None:
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    try:
        fake.hello()
        await eventually(lambda: listener.online)
        board.set_output(1, True)
        first = (await fake.expect("O ")).split()
        fake.say(f"K {first[1]}")
        assert first[2:] == ["1", "1"]
        # the same state again, with new sequence numbers: keeps the watchdog fed
        again = (await fake.expect("O ")).split()
        assert again[1] != first[1]
        board.set_output(1, False)
        off = await fake.expect("O ")
        while off.split()[3] != "0":
            off = await fake.expect("O ")
        fake.say(f"N {off.split()[1]} ch")
        await eventually(lambda: board.stats.naks == 1)
    finally:
        await board.stop()
        assert (await fake.expect("X ")).startswith("X"), "a clean stop switches everything off"
        fake.unplug()


async def test_a_board_gone_quiet_is_lost_and_reconnected() -> None:
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    try:
        fake.hello()
        await eventually(lambda: listener.online)
        # the board says nothing more: lost after lost_after_s, port reopened, hello asked
        await eventually(lambda: listener.offline, timeout=10, what="offline")
        assert "no line" in listener.offline[0]
        await fake.expect("? ")
        fake.hello()
        await eventually(lambda: len(listener.online) == 2, what="back online")
        assert board.stats.connects >= 2
    finally:
        await board.stop()
        fake.unplug()


async def test_unplug_and_replug_through_a_symlink_that_disappears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "services.controller.devices.serial_board")
    link = tmp_path / "ttyBREW"
    fake = FakeBoard()
    link.symlink_to(fake.port)
    board, listener = await connected(str(link))
    try:
        fake.hello()
        await eventually(lambda: listener.online)
        board.set_output(2, True)
        # unplugged: the device node and its by-id symlink vanish
        fake.unplug()
        link.unlink()
        await eventually(lambda: listener.offline, what="offline")
        await eventually(lambda: not board.is_open, what="port closed")
        await eventually(lambda: "cannot open" in caplog.text, what="a failed reopen")
        assert not board.online
        # plugged back in: a new pty behind the same path
        fake = FakeBoard()
        link.symlink_to(fake.port)
        await fake.expect("? ")
        fake.hello()
        await eventually(lambda: len(listener.online) == 2, what="online again")
        restored = await fake.expect("O ")
        assert restored.split()[2:] == ["2", "0"], "nothing restored: the replug reset it"
        assert listener.all_off == ["a new session"] * 2
        board.set_output(2, True)  # the controller decides again
        assert (await fake.expect("O ")).split()[2:] == ["2", "1"]
    finally:
        await board.stop()
        if os.path.exists(fake.port):
            fake.unplug()


async def test_a_board_behind_a_socket_url_like_ser2net() -> None:
    lines: asyncio.Queue[str] = asyncio.Queue()

    async def board(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(p.frame("H 1 esp-link 2.0") + p.frame("S 0 beer") + p.frame("E 1 0 0"))
        writer.write(p.frame("T 0 305"))
        await writer.drain()
        while line := await reader.readline():
            await lines.put(p.unframe(line.rstrip(b"\n")))

    server = await asyncio.start_server(board, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    listener = Listener()
    driver = SerialBoard("wifi", f"socket://127.0.0.1:{port}", RealClock(), listener, timing=QUICK)
    await driver.start()
    try:
        await eventually(lambda: listener.readings, what="a reading over TCP")
        assert listener.online[0].board == "esp-link"
        assert listener.readings[0] == (0, 19.0625, None)
        assert (await asyncio.wait_for(lines.get(), 5)).startswith("W ")
    finally:
        await driver.stop()
        server.close()


async def test_a_firmware_without_high_limits_is_told_once_and_still_driven(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Protocol 1 stays compatible: a board on firmware 1.0 refuses `C` as an unknown
    command; the controller says so once, and drives its outputs as before."""
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    try:
        board.set_limit(1, 0, 1680)
        fake.hello()
        limit = await fake.expect("C ")
        assert limit.split()[2:] == ["1", "0", "1680"]
        with caplog.at_level(logging.WARNING):
            fake.say(f"N {limit.split()[1]} cmd")
            await eventually(lambda: "does not enforce high limits" in caplog.text)
        board.set_limit(1, 0, 1600)  # not sent again to a firmware that cannot
        board.set_output(1, True)
        output = await fake.expect("O ")
        fake.say(f"K {output.split()[1]}")
        await eventually(lambda: (1, True) in listener.outputs, what="the output obeyed")
        assert b"C " not in fake.raw.split(limit.encode())[-1]
        assert caplog.text.count("does not enforce high limits") == 1
    finally:
        await board.stop()
        fake.unplug()


async def test_a_trip_the_board_reports_reaches_the_controller_until_its_clear_is_read() -> None:
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    try:
        board.set_limit(1, 0, 1680)
        fake.hello()
        await fake.expect("C ")
        fake.say("C 1 0 1700")
        await eventually(lambda: listener.trips, what="the trip")
        assert listener.trips[0].celsius == 106.25
        board.clear_limit(1)
        clear = await fake.expect("R ")
        fake.say("C 1 0 1700", f"K {clear.split()[1]}")  # sent before it read the `R`
        fake.say("C 1 0 ERR nc")  # after: a new trip
        await eventually(lambda: len(listener.trips) == 2, what="the second trip")
        assert listener.trips[1].error == "nc"
    finally:
        await board.stop()
        fake.unplug()


async def test_a_deaf_board_gets_its_set_up_again_and_a_reset_it_did_not_announce_is_one() -> None:
    fake = FakeBoard()
    board, listener = await connected(fake.port)
    resets: list[BoardInfo] = []
    listener.board_reset = resets.append  # type: ignore[attr-defined]
    try:
        fake.hello()
        first = await fake.expect("W ")  # not heard (deaf): never acknowledged
        again = await fake.expect("W ")  # so sent again at the next refresh
        assert first.split()[1] != again.split()[1]
        fake.say(f"K {again.split()[1]}")  # heard at last
        board.set_output(2, True)
        on = await fake.expect("O ")
        # It reset and its hello was lost on the line: it refuses to switch on.
        fake.say(f"N {on.split()[1]} reset")
        await fake.expect("W ")  # set up again, as after a hello
        assert len(resets) == 1 and listener.all_off == ["a new session"]
    finally:
        await board.stop()
        fake.unplug()
