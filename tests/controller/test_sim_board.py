"""The simulated board as firmware: the host's port open resets it, its watchdog
switches outputs off, its readings look like a DS18B20's."""

from __future__ import annotations

import serial

from services.common.clock import SimClock
from services.controller.devices import protocol as p
from services.controller.sim.board import SimulatedBoard
from services.controller.sim.physics import Fermenter
from tests.controller.support import eventually


class Host:
    """The host's end of the port, collecting the board's lines."""

    def __init__(self, port: str) -> None:
        self.port = serial.serial_for_url(port, baudrate=57600, timeout=0)
        self.splitter = p.LineSplitter()
        self.lines: list[str] = []

    def read(self) -> list[str]:
        self.lines += [p.unframe(line) for line in self.splitter.feed(self.port.read(65536))]
        return self.lines

    async def until(self, line: str) -> list[str]:
        return await eventually(lambda: line in self.read() and self.lines, what=line)


async def test_opening_the_port_resets_the_board_and_the_watchdog_turns_outputs_off() -> None:
    clock = SimClock()
    board = SimulatedBoard("sim", Fermenter(), clock, seed=1)
    await board.start()
    await eventually(lambda: clock.next_deadline() is not None, what="firmware loop running")
    host = Host(board.port)
    try:
        await clock.advance(1.0)
        await eventually(lambda: board.attached)
        assert board.resets == 1
        host.port.write(p.frame("W 0 10") + p.frame("O 1 2 1"))  # W arms the outputs
        await eventually(lambda: board.outputs[2], what="cooler on")
        await clock.advance(5.0)
        assert board.outputs[2]  # fed recently: still on
        await clock.advance(6.0)  # 10 s without a word from the host
        assert not board.outputs[2] and board.watchdog_trips == 1
        received = await host.until("L watchdog: outputs off")
        assert received[0] == "H 1 sim sim-1.0"
        assert "K 1" in received
        readings = [r for r in received if r.startswith("T 0 ")]
        assert len(readings) >= 10
        assert all(p.parse_board_line(r).raw is not None for r in readings)  # integer 1/16 °C

        # closing and reopening the port resets the board, as DTR resets an Arduino
        host.port.close()
        await clock.advance(1.0)
        await eventually(lambda: not board.attached)
        host = Host(board.port)
        await clock.advance(1.0)
        await eventually(lambda: board.resets == 2)
    finally:
        host.port.close()
        await board.stop()


async def test_unknown_commands_are_refused_and_bad_lines_ignored() -> None:
    clock = SimClock()
    board = SimulatedBoard("sim", Fermenter(), clock, seed=1)
    await board.start()
    await eventually(lambda: clock.next_deadline() is not None, what="firmware loop running")
    host = Host(board.port)
    try:
        await clock.advance(1.0)
        await eventually(lambda: board.attached)
        host.port.write(p.frame("O 5 9 1") + b"O 6 2 1*00\n" + b"\x00E\n" + p.frame("P 7"))
        await eventually(lambda: board.garbage_received == 2, what="two bad lines")
        answers = await host.until("K 7")
        assert "N 5 ch" in answers
        assert not board.outputs[2]  # the line with a bad checksum switched nothing
    finally:
        host.port.close()
        await board.stop()


async def test_the_watchdog_runs_after_the_host_closes_the_port() -> None:
    """A host that dies (or closes the port) leaves the outputs to the board's watchdog."""
    clock = SimClock()
    board = SimulatedBoard("sim", Fermenter(), clock, seed=1)
    await board.start()
    await eventually(lambda: clock.next_deadline() is not None, what="firmware loop running")
    host = Host(board.port)
    try:
        await clock.advance(1.0)
        await eventually(lambda: board.attached)
        host.port.write(p.frame("W 0 10") + p.frame("O 1 2 1"))  # W arms the outputs
        await eventually(lambda: board.outputs[2], what="cooler on")
        host.port.close()
        await clock.advance(1.0)
        await eventually(lambda: not board.attached)
        assert board.outputs[2]  # closing the port is not a reset
        await clock.advance(10.0)
        assert not board.outputs[2] and board.watchdog_trips == 1
    finally:
        host.port.close()
        await board.stop()


async def test_simulated_faults_act_through_the_physics() -> None:
    clock = SimClock()
    board = SimulatedBoard("sim", Fermenter(), clock, seed=1)
    await board.start()
    await eventually(lambda: clock.next_deadline() is not None, what="firmware loop running")
    host = Host(board.port)
    try:
        await clock.advance(1.0)
        await eventually(lambda: board.attached)
        board.set_output_fault(2, "stuck_on")
        assert board.energised(2) and not board.outputs[2]
        board.set_output_fault(1, "refused")
        host.port.write(p.frame("W 0 10") + p.frame("O 3 1 1"))
        await host.until("N 3 ch")
        assert not board.outputs[1]
        board.set_sensor_fault("beer", "stuck")
        await clock.advance(3.0)
        board.set_mode("deaf")
        host.port.write(p.frame("P 9"))
        await clock.advance(3.0)
        assert "K 9" not in host.read()
        frozen = {r for r in host.read() if r.startswith("T 0 ")}
        assert len(frozen) <= 2  # the last live reading and its frozen copies
        assert board.plant.evaporator < 20.0  # the welded compressor really cools
    finally:
        host.port.close()
        await board.stop()
