"""The compiled sketch, run for real on a simulated ATmega328P (simavr).

Its UART is a pseudo-terminal opened with pyserial, as the controller opens a board;
virtual DS18B20 probes answer on the 1-Wire pin at the level of time slots; the
simulator reports the output pins, so these tests see the relays switch.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.controller.devices import protocol
from tests.devices.firmware import SimavrBoard

pytestmark = pytest.mark.xdist_group("arduino")

Start = Callable[..., SimavrBoard]
HEATER_PIN = 4  # channel 1
COOLER_PIN = 5  # channel 2


def probe_roms(board: SimavrBoard) -> dict[int, str]:
    lines = [e for e in board.events.lines if e.startswith("probe ")]
    return {int(line.split()[1]): line.split()[2] for line in lines}


def test_hello_lists_the_probes_and_readings_follow(simavr_board: Start) -> None:
    board = simavr_board("--probe", "309", "--probe", "-40")
    hello = board.hello()
    roms = probe_roms(board)
    assert hello[0] == "H 1 maelstrom-uno 1.1.0"
    sensors = {line.split()[2]: int(line.split()[1]) for line in hello if line.startswith("S ")}
    assert set(sensors) == set(roms.values())  # both found by the 1-Wire search
    assert [line for line in hello if line[0] in "AI"] == [
        "A 1", "A 2", "A 3", "A 4", "I 8 1", "I 9 1",
    ]  # fmt: skip
    assert hello[-1] == "E 2 4 2"
    # readings in 1/16 °C, by the index the hello gave each address
    assert board.expect(f"T {sensors[roms[0]]} 309")
    assert board.expect(f"T {sensors[roms[1]]} -40")
    board.expect("D 8 1")
    assert board.garbage == []  # everything the board sent was correctly framed


def test_output_command_is_acknowledged_and_switches_the_pin(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    board.send("O 6 1 1")  # not before the host has set the watchdog after a reset
    assert board.expect_prefix("N 6") == "N 6 reset"
    board.arm()
    mark = board.events.mark()
    board.send("O 7 1 1")
    board.expect("K 7")
    board.pin(HEATER_PIN, 1, start=mark)
    board.send("O 8 1 0")
    board.expect("K 8")
    board.pin(HEATER_PIN, 0, start=mark)
    # refusals carry the sequence number and why
    board.send("O 9 42 1")
    assert board.expect_prefix("N 9") == "N 9 ch"
    board.send("O 10 1 2")
    assert board.expect_prefix("N 10") == "N 10 arg"
    board.send("Z 11")
    assert board.expect_prefix("N 11") == "N 11 cmd"
    board.send("W 12 0")
    assert board.expect_prefix("N 12") == "N 12 arg"


def test_garbage_is_ignored_and_the_next_line_obeyed(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    mark = board.board.mark()
    board.send_raw(b"O 20 1 1*00\n")  # wrong checksum: must not switch anything
    board.send_raw(b"\x00\xff\xfe garbage without a checksum\n")
    board.send_raw(b"P 21\n")  # no checksum at all
    too_long = "P " + "0" * 57 + "22"  # a valid checksum, but 65 bytes framed
    board.send_raw(b"%s*%02X\n" % (too_long.encode(), protocol.checksum(too_long.encode())))
    longest = "P " + "0" * 56 + "23"  # exactly 64 bytes framed: fine
    assert len(protocol.frame(longest)) == protocol.MAX_LINE
    board.send(longest)
    board.send_raw(protocol.frame("P 24")[:-1] + b"\r\n")  # Serial.println style
    board.expect("K 23")
    board.expect("K 24")
    answers = [line for line in board.board.since(mark) if line[0] in "KN"]
    assert answers == ["K 23", "K 24"]
    board.expect_prefix("L rx garbage: ")  # counted, and told to the brewer
    assert not any(e == f"pin {HEATER_PIN} 1" for e in board.events.lines)


def test_watchdog_switches_outputs_off_when_the_host_goes_quiet(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    board.send("W 1 1")
    board.expect("K 1")
    mark = board.events.mark()
    board.send("O 2 2 1")
    board.expect("K 2")
    board.pin(COOLER_PIN, 1, start=mark)
    # the host says nothing more: after 1 s every output goes off, and the board says so
    board.expect("L watchdog: outputs off")
    board.pin(COOLER_PIN, 0, start=mark)
    # a live host switches it back on
    board.send("O 3 2 1")
    board.expect("K 3")
    assert board.events.lines.count(f"pin {COOLER_PIN} 1") == 2


def test_all_off_and_hello_on_request(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    board.arm()
    mark = board.events.mark()
    board.send("O 1 1 1")
    board.send("O 2 2 1")
    board.expect("K 2")
    board.send("X 3")
    board.expect("K 3")
    board.pin(HEATER_PIN, 0, start=mark)
    board.pin(COOLER_PIN, 0, start=mark)
    start = board.board.mark()
    board.send("? 4")
    assert board.hello(start)[-1] == "E 0 4 2"
    board.expect("K 4", start=start)
    # the board never reset by itself (its AVR watchdog stayed fed): one hello per request
    assert sum(line.startswith("H ") for line in board.board.lines) == 2


def test_no_probes_reports_none_without_hanging(simavr_board: Start) -> None:
    board = simavr_board()
    hello = board.hello()
    assert not any(line.startswith("S ") for line in hello)
    assert hello[-1] == "E 0 4 2"
    board.expect("D 9 1")  # the reading cycle runs on
    board.send("P 5")
    board.expect("K 5")
    assert not any(line.startswith("T ") for line in board.board.lines)


def test_a_bus_without_pull_up_is_reported(simavr_board: Start) -> None:
    board = simavr_board("--no-pullup", "--probe", "300")
    assert board.hello()[-1] == "E 0 4 2"
    board.expect("L onewire: bus held low (short, or no pull-up resistor)")


def test_probe_faults_are_reported_and_heal(simavr_board: Start) -> None:
    # probe 1 is at a real 85.0 °C (mash-out in a kettle): passed on as read
    board = simavr_board("--probe", "1000", "--probe", "1360")
    hello = board.hello()
    index = {line.split()[2]: line.split()[1] for line in hello if line.startswith("S ")}
    roms = probe_roms(board)
    a, b = index[roms[0]], index[roms[1]]
    board.expect(f"T {a} 1000")
    board.expect(f"T {b} 1360")
    board.inject("temp 0 1005")
    board.expect(f"T {a} 1005")

    start = board.board.mark()
    board.inject("plug 0 0")  # unplugged; the other probe reads on
    board.expect(f"T {a} ERR nc", start=start)
    board.expect(f"T {b} 1360", start=board.board.mark())
    board.inject("plug 0 1")
    board.expect(f"T {a} 1005", start=board.board.mark())

    start = board.board.mark()
    board.inject("crc 0 1")  # the scratchpad arrives corrupted
    board.expect(f"T {a} ERR crc", start=start)
    board.inject("crc 0 0")
    board.expect(f"T {a} 1005", start=board.board.mark())

    # a power dip: the probe restarts with 85.0 °C in its register; not passed on
    start = board.board.mark()
    board.inject("powercycle 0")
    board.expect(f"T {a} ERR conv", start=start)
    board.expect(f"T {a} 1005", start=board.board.mark())
    assert f"T {a} 1360" not in board.board.lines
    assert not any(e.startswith("copy-scratchpad") for e in board.events.lines)  # no EEPROM


def test_parasite_powered_probe_is_held_up_while_converting(simavr_board: Start) -> None:
    board = simavr_board("--probe", "-123:parasite")
    hello = board.hello()
    board.expect("L onewire: parasite-powered probe on the bus")
    assert hello[-1] == "E 1 4 2"
    board.expect("T 0 -123")
    start = board.board.mark()
    board.expect("T 0 -123", start=start)  # not a one-off: the strong pull-up works


def test_a_probe_plugged_in_later_is_announced(simavr_board: Start) -> None:
    board = simavr_board("--probe", "555:unplugged")
    assert board.hello()[-1] == "E 0 4 2"
    start = board.board.mark()
    board.inject("plug 0 1")
    hello = board.hello(start)
    assert hello[-1] == "E 1 4 2"
    assert hello[1] == f"S 0 {probe_roms(board)[0]}"
    board.expect("T 0 555", start=start)


def test_input_change_is_debounced_and_sent(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    start = board.board.mark()
    board.inject("input 8 0")  # pilot light out / float switch closed
    board.expect("D 8 0", start=start)
    board.inject("input 8 1")
    board.expect("D 8 1", start=board.board.mark())


def test_opening_the_port_resets_the_board_with_outputs_off(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    board.arm()
    board.send("O 1 1 1")
    board.expect("K 1")
    board.pin(HEATER_PIN, 1)
    mark, start = board.events.mark(), board.board.mark()
    board.reopen()  # the host reconnects: DTR resets an Uno
    board.events.wait(lambda e: e.startswith("reset"), timeout=30, start=mark)
    board.pin(HEATER_PIN, 0, start=mark)
    assert board.hello(start)[0] == "H 1 maelstrom-uno 1.1.0"


def test_stack_stays_small(simavr_board: Start) -> None:
    board = simavr_board("--probe", "100", "--probe", "200")
    board.hello()
    board.arm()
    board.send("? 1")
    board.send("O 2 1 1")
    board.send_raw(b"garbage\n")
    for raw in ("100", "200"):
        board.board.wait(
            lambda line, raw=raw: line.startswith("T ") and line.endswith(f" {raw}"), 30
        )
    board.send("X 3")
    board.expect("K 3")
    report = board.close()
    used, free = int(report.split()[1]), int(report.split()[3])
    assert used < free / 4, report


def test_hello_requests_do_not_feed_the_watchdog(simavr_board: Start) -> None:
    """A host that only reconnects (ser2net, ESP-Link: `?` after `?`) has decided
    nothing: the outputs go off at the watchdog time all the same."""
    board = simavr_board()
    board.hello()
    board.send("W 1 1")
    board.expect("K 1")
    mark = board.events.mark()
    board.send("O 2 2 1")
    board.expect("K 2")
    board.pin(COOLER_PIN, 1, start=mark)
    # keep asking hello until the watchdog fires, or fail after far more than its 1 s
    heard = board.board.mark()
    for seq in range(3, 200):
        board.send(f"? {seq}")
        board.expect(f"K {seq}")
        if "L watchdog: outputs off" in board.board.since(heard):
            break
    else:
        raise AssertionError("hello requests kept the outputs on")
    board.pin(COOLER_PIN, 0, start=mark)


def test_the_hello_is_followed_by_the_reset_cause(simavr_board: Start) -> None:
    board = simavr_board()
    board.hello()
    cause = board.expect_prefix("L reset cause: ")
    assert cause.split(": ")[1] in ("power-on", "external", "brown-out", "watchdog", "unknown")


def test_the_high_limit_holds_its_output_off_until_the_host_clears_it(simavr_board: Start) -> None:
    """The firmware's own high limit: a reading at or above it, or a probe that keeps
    failing, forces the bound output off and latches, whatever the host commands."""
    board = simavr_board("--probe", "309")
    board.hello()
    board.arm()
    board.send("C 1 1 0 400")  # heater (channel 1) bound to probe 0, limit 25.0 °C
    board.expect("K 1")
    mark = board.events.mark()
    board.send("O 2 1 1")
    board.expect("K 2")
    board.pin(HEATER_PIN, 1, start=mark)
    board.inject("temp 0 480")  # 30 °C
    board.expect("C 1 0 480")  # the trip, and what tripped it
    board.pin(HEATER_PIN, 0, start=mark)
    board.send("O 3 1 1")  # the host keeps commanding on: refused while latched
    assert board.expect_prefix("N 3") == "N 3 limit"
    board.inject("temp 0 300")  # cool again: still latched, still reported
    start = board.board.mark()
    board.expect("T 0 300", start=start)
    board.expect("C 1 0 480", start=start)
    board.send("R 4 1")  # the host clears it (the brewer acknowledged)
    board.expect("K 4")
    board.send("O 5 1 1")
    board.expect("K 5")
    assert board.events.lines[mark:].count(f"pin {HEATER_PIN} 1") == 2
    # a probe that stops answering trips it too, after a few readings in a row
    start, mark = board.board.mark(), board.events.mark()
    board.inject("plug 0 0")
    board.expect("C 1 0 ERR nc", start=start)
    board.pin(HEATER_PIN, 0, start=mark)
    assert sum(line == "T 0 ERR nc" for line in board.board.since(start)) >= 3


def test_the_fallback_thermostat_holds_the_fermenter_while_the_host_is_silent(
    simavr_board: Start,
) -> None:
    board = simavr_board("--probe", "400")  # 25 °C
    board.hello()
    board.send("W 1 1")
    board.expect("K 1")
    # cooler (channel 2) towards 20.0 °C with a 0.5 °C differential, 1 s minimum off;
    # its high limit at 30 °C
    board.send("F 2 2 0 c 320 8 1")
    board.send("C 3 2 0 480")
    board.expect("K 3")
    mark = board.events.mark()
    # the host says nothing more: the watchdog fires, the fallback takes over
    board.expect("L fallback: thermostat on")
    board.expect_prefix("F 2 0 ")  # reported: held by the fallback, off for now
    board.pin(COOLER_PIN, 1, start=mark)  # on once its minimum off has passed
    board.expect_prefix("F 2 1 ")
    board.inject("temp 0 310")  # below the setpoint: off
    board.pin(COOLER_PIN, 0, start=mark)
    # the fallback still obeys the high limit
    on_again = board.events.mark()
    board.inject("temp 0 500")
    board.expect("C 2 0 500")
    board.expect_prefix("F 2 0 ", start=board.board.mark())
    assert f"pin {COOLER_PIN} 1" not in board.events.since(on_again)
    # the host is back: the board says it was in fallback, and for how long
    board.send("P 4")
    board.expect("K 4")
    back = board.expect_prefix("L fallback: host back after ")
    assert int(back.split()[-2]) >= 1


def test_an_output_its_host_stops_renewing_goes_off_while_the_others_run(
    simavr_board: Start,
) -> None:
    """The per-loop heartbeat: the host renews an output only while its loop decides,
    so a hung loop's output goes off at the watchdog time; the others stay on."""
    board = simavr_board()
    board.hello()
    board.send("W 1 1")
    board.expect("K 1")
    mark = board.events.mark()
    board.send("O 2 1 1")
    board.send("O 3 2 1")
    board.expect("K 3")
    heard = board.board.mark()
    for seq in range(4, 200):  # only the cooler's loop still decides
        board.send(f"O {seq} 2 1")
        board.expect(f"K {seq}")
        if "L watchdog: output 1 off (not renewed)" in board.board.since(heard):
            break
    else:
        raise AssertionError("the heater stayed on without being renewed")
    board.pin(HEATER_PIN, 0, start=mark)
    assert f"pin {COOLER_PIN} 0" not in board.events.since(mark)
    assert "L watchdog: outputs off" not in board.board.since(heard)
