"""The serial line protocol: framing, checksums, parsing, and what garbage does."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.controller.devices import protocol as p

DOC = Path(__file__).resolve().parents[2] / "docs" / "serial-protocol.md"


def test_checksum_is_crc8_maxim() -> None:
    assert p.checksum(b"123456789") == 0xA1  # the catalogue check value of CRC-8/MAXIM
    assert p.checksum(b"") == 0


def test_every_framed_line_in_the_docs_is_valid() -> None:
    lines = re.findall(r"^(?:board: |host:  )?([ -)+-~]+\*[0-9A-F]{2})\b", DOC.read_text(), re.M)
    assert len(lines) >= 15
    for line in lines:
        body = p.unframe(line.encode())
        assert body == line[:-3]


def test_frame_and_unframe_round_trip_with_crlf_and_lower_case_hex() -> None:
    line = p.frame("T 0 309")
    assert line == b"T 0 309*BF\n"
    assert p.unframe(line[:-1]) == "T 0 309"
    assert p.unframe(b"T 0 309*bf\r") == "T 0 309"  # Serial.println and lower case


@pytest.mark.parametrize(
    "line",
    [
        b"T 0 309*BE",  # wrong checksum
        b"T 0 309",  # none
        b"T 0 309*B",  # truncated
        b"T 0 309*ZZ",  # not hex
        b"*00",  # empty body
        b"T 0 3\xe909*00",  # not ASCII
        b"L " + b"x" * 70 + b"*00",  # too long
    ],
)
def test_garbage_lines_are_refused(line: bytes) -> None:
    with pytest.raises(p.LineError):
        p.unframe(line)


def test_no_single_stray_byte_is_ever_a_command() -> None:
    for byte in range(256):
        with pytest.raises(p.LineError):
            p.parse_host_line(p.unframe(bytes([byte])))


@given(st.binary(max_size=80))
def test_arbitrary_bytes_are_a_message_or_a_line_error_never_a_crash(data: bytes) -> None:
    for parse in (p.parse_board_line, p.parse_host_line):
        with contextlib.suppress(p.LineError):
            parse(p.unframe(data))


def test_partial_lines_wait_for_the_rest() -> None:
    splitter = p.LineSplitter()
    wire = p.frame("T 0 309") + p.frame("T 1 -40") + p.frame("K 7")
    got: list[bytes] = []
    for i in range(0, len(wire), 3):  # three bytes at a time, as a slow UART delivers
        got += splitter.feed(wire[i : i + 3])
    assert [p.unframe(line) for line in got] == ["T 0 309", "T 1 -40", "K 7"]


def test_a_run_without_newlines_is_cut_not_buffered_forever() -> None:
    splitter = p.LineSplitter()
    for _ in range(20):
        assert splitter.feed(b"\x00\xff" * 50) == []
    assert splitter.overflows >= 1
    lines = splitter.feed(b"\n" + p.frame("K 1"))
    assert p.unframe(lines[-1]) == "K 1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("H 1 ferm-1 1.0.0", p.Hello(1, "ferm-1", "1.0.0")),
        ("S 0 28FF3A1C62160312", p.SensorInfo(0, "28FF3A1C62160312")),
        ("A 2", p.ActuatorInfo(2)),
        ("I 8 1", p.InputInfo(8, True)),
        ("E 2 2 1", p.EndOfIo(2, 2, 1)),
        ("T 0 309", p.Temperature(0, 309)),
        ("T 1 -2032", p.Temperature(1, -2032)),
        ("T 1 ERR nc", p.Temperature(1, None, "nc")),
        ("D 8 0", p.InputLevel(8, False)),
        ("K 65535", p.Ack(65535)),
        ("N 3 ch", p.Nak(3, "ch")),
        ("L watchdog: outputs off", p.BoardLog("watchdog: outputs off")),
    ],
)
def test_board_messages_parse_and_encode_back(body: str, message: p.BoardMessage) -> None:
    assert p.parse_board_line(body) == message
    assert p.encode_board(message) == p.frame(body)


def test_temperatures_are_sixteenths_of_a_degree() -> None:
    assert p.Temperature(0, 309).celsius == 19.3125
    assert p.Temperature(0, 1360).celsius == 85.0
    assert p.Temperature(0, None, "nc").celsius is None
    assert p.to_raw(19.31) == 309


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("? 1", p.HelloRequest(1)),
        ("O 2 1 1", p.SetOutput(2, 1, True)),
        ("P 3", p.Ping(3)),
        ("W 4 10", p.SetWatchdog(4, 10)),
        ("X 5", p.AllOff(5)),
    ],
)
def test_host_commands_parse_and_encode_back(body: str, command: p.HostCommand) -> None:
    assert p.parse_host_line(body) == command
    assert p.encode_host(command) == p.frame(body)


@pytest.mark.parametrize(
    "body",
    ["T", "T x 1", "T 0 99999", "K", "E 1 2", "Q 1", "O 1 2 2", "W 1 0", "O 1 2", "H 1 a"],
)
def test_malformed_messages_are_line_errors(body: str) -> None:
    with pytest.raises(p.LineError):
        (p.parse_board_line if body[0] in "TKEH" else p.parse_host_line)(body)
