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
        self.garbage = 0

    def read(self) -> list[str]:
        for line in self.splitter.feed(self.port.read(65536)):
            try:
                self.lines.append(p.unframe(line))
            except p.LineError:
                self.garbage += 1  # a line cut where the board's buffer overflowed
        return self.lines

    async def until(self, line: str) -> list[str]:
        return await eventually(lambda: line in self.read() and self.lines, what=line)

    async def until_prefix(self, prefix: str) -> str:
        def found() -> str | None:
            return next((r for r in self.read() if r.startswith(prefix)), None)

        return await eventually(found, what=prefix)


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


async def _attached_board() -> tuple[SimClock, SimulatedBoard, Host]:
    clock = SimClock()
    board = SimulatedBoard("sim", Fermenter(), clock, seed=1)
    await board.start()
    await eventually(lambda: clock.next_deadline() is not None, what="firmware loop running")
    host = Host(board.port)
    await clock.advance(1.0)
    await eventually(lambda: board.attached)
    return clock, board, host


async def test_the_high_limit_latches_until_the_host_clears_it_as_the_firmware() -> None:
    clock, board, host = await _attached_board()
    try:
        # the heater (channel 1) bound to the beer probe (sensor 0), limit 12.5 °C: the
        # beer is at about 20 °C, so the first reading trips it
        host.port.write(p.frame("W 0 10") + p.frame("C 1 1 0 200"))
        await host.until("K 1")
        await clock.advance(1.0)
        await eventually(lambda: any(r.startswith("C 1 0 ") for r in host.read()), what="trip")
        host.port.write(p.frame("O 2 1 1"))  # the host commands it on all the same
        trip = next(r for r in await host.until("N 2 limit") if r.startswith("C 1 0 "))
        assert p.parse_board_line(trip).celsius > 12.5  # type: ignore[union-attr]
        assert not board.outputs[1]
        host.port.write(p.frame("R 3 1") + p.frame("C 4 1") + p.frame("O 5 1 1"))
        await host.until("K 5")  # cleared, the limit removed: the host's command obeyed
        assert board.outputs[1]
        # a probe that keeps failing trips it too: three readings in a row
        host.port.write(p.frame("C 6 1 0 480"))
        await host.until("K 6")
        board.set_sensor_fault("beer", "85")
        await clock.advance(2.0)
        assert board.outputs[1]  # two bad readings are ridden through
        await clock.advance(1.0)
        await host.until("C 1 0 ERR conv")
        assert not board.outputs[1]
        board.set_sensor_fault("beer", "none")
        await clock.advance(3.0)
        assert not board.outputs[1] and host.read().count("C 1 0 ERR conv") >= 3  # latched
    finally:
        host.port.close()
        await board.stop()


async def test_the_fallback_thermostat_keeps_the_fermenter_cool_while_the_host_is_silent() -> None:
    clock, board, host = await _attached_board()
    try:
        reset_at = clock.monotonic()
        setpoint = p.to_raw(board.plant.temperature("beer") - 0.3)
        # cooler towards just below the beer's temperature, 0.25 °C differential, 300 s
        # minimum off; the host then says nothing more (hung) with the port open
        host.port.write(p.frame("W 0 2") + p.frame(f"F 1 2 0 c {setpoint} 4 300"))
        await host.until("K 1")
        await clock.advance(4.0)
        await host.until("L fallback: thermostat on")
        assert board.in_fallback and not board.outputs[2]
        for _ in range(10):
            await clock.advance(30.0)
            host.read()  # drained as a UART would be
        assert board.outputs[2]
        started = next(t for t, ch, on in board.switches if ch == 2 and on)
        assert started - reset_at >= 300.0  # the minimum off counted from the reset
        await host.until_prefix("F 2 1 ")
        for _ in range(60):  # an hour, the host's end drained as a UART would be
            await clock.advance(60.0)
            host.read()
        stops = [t for t, ch, on in board.switches if ch == 2 and not on]
        assert stops, "the fallback never stopped the compressor"
        assert abs(board.plant.temperature("beer") - setpoint / 16) < 0.5
        # the host is back: the board says how long it held on
        host.port.write(p.frame("P 2"))
        await host.until("K 2")
        back = await host.until_prefix("L fallback: host back after ")
        assert int(back.split()[-2]) >= 3600
        assert not board.in_fallback
    finally:
        host.port.close()
        await board.stop()


async def test_an_output_the_host_stops_renewing_goes_off_as_the_firmware() -> None:
    """The per-loop heartbeat: only the cooler's loop still decides, so only the
    cooler is renewed; the heater goes off at the watchdog time."""
    clock, board, host = await _attached_board()
    try:
        host.port.write(p.frame("W 0 10") + p.frame("O 1 1 1") + p.frame("O 2 2 1"))
        await host.until("K 2")
        for seq in range(3, 10):
            await clock.advance(2.0)
            host.port.write(p.frame(f"O {seq} 2 1"))
            await host.until(f"K {seq}")
        assert not board.outputs[1] and board.outputs[2]
        assert "L watchdog: output 1 off" in host.read()
        assert board.watchdog_trips == 0
    finally:
        host.port.close()
        await board.stop()
