"""The serial line protocol (docs/serial-protocol.md): framing, checksums, parsing.

Both ends use this module: the host driver (`serial_board.py`) and the simulated
board (`sim/board.py`). Parsing turns a raw line into a typed message or raises
`LineError` saying why; the caller counts and drops it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

PROTOCOL_VERSION = 1
MAX_LINE = 64
"""Bytes in a whole line, `*HH` and newline included."""

TEMP_SCALE = 16
"""Temperatures travel as signed integers in 1/16 °C (the DS18B20's raw units)."""


class LineError(ValueError):
    """A line that is not a valid protocol line (garbage)."""


def _crc_table() -> bytes:
    table = bytearray(256)
    for byte in range(256):
        crc, b = 0, byte
        for _ in range(8):
            mix = (crc ^ b) & 0x01
            crc >>= 1
            if mix:
                crc ^= 0x8C
            b >>= 1
        table[byte] = crc
    return bytes(table)


_TABLE = _crc_table()


def checksum(body: bytes) -> int:
    """CRC-8/MAXIM (Dallas 1-Wire) of `body`: what every line carries after `*`."""
    crc = 0
    for b in body:
        crc = _TABLE[crc ^ b]
    return crc


def frame(body: str) -> bytes:
    """`body` → `body*HH\\n`, ready to write."""
    raw = body.encode("ascii")
    if b"*" in raw or b"\n" in raw:
        raise ValueError(f"a line body may not contain '*' or a newline: {body!r}")
    line = b"%s*%02X\n" % (raw, checksum(raw))
    if len(line) > MAX_LINE:
        raise ValueError(f"line longer than {MAX_LINE} bytes: {body!r}")
    return line


def unframe(line: bytes) -> str:
    """A line without its newline → its checked body; LineError if it is garbage."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) + 1 > MAX_LINE:
        raise LineError(f"line too long ({len(line) + 1} bytes)")
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 3:
        raise LineError("no *HH checksum")
    body, given = line[:star], line[star + 1 :]
    try:
        expected = int(given, 16)
    except ValueError:
        raise LineError(f"checksum {given!r} is not hex") from None
    if checksum(body) != expected:
        raise LineError(f"checksum mismatch (got {given.decode(errors='replace')})")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise LineError("non-ASCII bytes") from None
    if not text or not text.isprintable():
        raise LineError("empty or unprintable body")
    return text


class LineSplitter:
    """Bytes in, complete lines out; a partial line waits for the rest.

    An over-long run without a newline is cut and reported as garbage, so a
    board spewing noise cannot make the host buffer grow without bound.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.overflows = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        if b"\n" not in data:
            if len(self._buf) > MAX_LINE * 4:
                self._buf.clear()
                self.overflows += 1
            return []
        *lines, rest = self._buf.split(b"\n")
        self._buf = bytearray(rest)
        return lines

    def clear(self) -> None:
        self._buf.clear()


# --- messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    proto: int
    board: str
    firmware: str


@dataclass(frozen=True, slots=True)
class SensorInfo:
    index: int
    address: str


@dataclass(frozen=True, slots=True)
class ActuatorInfo:
    channel: int


@dataclass(frozen=True, slots=True)
class InputInfo:
    channel: int
    level: bool


@dataclass(frozen=True, slots=True)
class EndOfIo:
    sensors: int
    actuators: int
    inputs: int


@dataclass(frozen=True, slots=True)
class Temperature:
    index: int
    raw: int | None  # 1/16 °C; None with `error`
    error: str | None = None

    @property
    def celsius(self) -> float | None:
        return None if self.raw is None else self.raw / TEMP_SCALE


@dataclass(frozen=True, slots=True)
class InputLevel:
    channel: int
    level: bool


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int


@dataclass(frozen=True, slots=True)
class Nak:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class BoardLog:
    text: str


@dataclass(frozen=True, slots=True)
class LimitTripped:
    """`C <ch> <sensor> <raw>` / `C <ch> <sensor> ERR <why>`: output `channel`'s high
    limit tripped on this reading (latched: the board holds the output off)."""

    channel: int
    sensor: int
    raw: int | None  # 1/16 °C; None with `error`
    error: str | None = None

    @property
    def celsius(self) -> float | None:
        return None if self.raw is None else self.raw / TEMP_SCALE


@dataclass(frozen=True, slots=True)
class FallbackHolding:
    """`F <ch> <0|1> <s>`: the host has been silent `seconds`; the board's fallback
    thermostat holds output `channel`, now off or on."""

    channel: int
    on: bool
    seconds: int


BoardMessage = (
    Hello
    | SensorInfo
    | ActuatorInfo
    | InputInfo
    | EndOfIo
    | Temperature
    | InputLevel
    | Ack
    | Nak
    | BoardLog
    | LimitTripped
    | FallbackHolding
)


@dataclass(frozen=True, slots=True)
class HelloRequest:
    seq: int


@dataclass(frozen=True, slots=True)
class SetOutput:
    seq: int
    channel: int
    on: bool


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int


@dataclass(frozen=True, slots=True)
class SetWatchdog:
    seq: int
    seconds: int


@dataclass(frozen=True, slots=True)
class AllOff:
    seq: int


@dataclass(frozen=True, slots=True)
class SetLimit:
    """`C <seq> <ch> <sensor> <raw>`: output `channel` is forced off (latched) when
    board sensor `sensor` reads `raw` (1/16 °C) or more, or keeps failing;
    `C <seq> <ch>` (sensor None) removes the limit and its latch."""

    seq: int
    channel: int
    sensor: int | None = None
    raw: int = 0


@dataclass(frozen=True, slots=True)
class ClearLimit:
    """`R <seq> <ch>`: clear output `channel`'s tripped limit."""

    seq: int
    channel: int


@dataclass(frozen=True, slots=True)
class SetFallback:
    """`F <seq> <ch> <sensor> <h|c> <setpoint> <differential> <min off s>`: while the
    host is silent, an on/off thermostat on `channel`; `F <seq> <ch>` removes it."""

    seq: int
    channel: int
    sensor: int | None = None
    cools: bool = False
    setpoint: int = 0  # 1/16 °C
    differential: int = 8  # 1/16 °C
    min_off_s: int = 0


HostCommand = (
    HelloRequest | SetOutput | Ping | SetWatchdog | AllOff | SetLimit | ClearLimit | SetFallback
)


def _int(text: str, lo: int, hi: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise LineError(f"{text!r} is not an integer") from None
    if not lo <= value <= hi:
        raise LineError(f"{value} is outside {lo}..{hi}")
    return value


def _bit(text: str) -> bool:
    if text not in ("0", "1"):
        raise LineError(f"{text!r} is not 0 or 1")
    return text == "1"


def _arity(fields: list[str], *counts: int) -> None:
    if len(fields) - 1 not in counts:
        raise LineError(f"{fields[0]} takes {' or '.join(map(str, counts))} fields")


def parse_board_line(body: str) -> BoardMessage:
    """A checked board → host body → a message; LineError when it makes no sense."""
    f = body.split(" ")
    kind = f[0]
    if kind == "T":
        _arity(f, 2, 3)
        index = _int(f[1], 0, 255)
        if f[2] == "ERR":
            return Temperature(index, None, f[3] if len(f) > 3 else "error")
        _arity(f, 2)
        return Temperature(index, _int(f[2], -32768, 32767))
    if kind == "K":
        _arity(f, 1)
        return Ack(_int(f[1], 0, 65535))
    if kind == "D":
        _arity(f, 2)
        return InputLevel(_int(f[1], 0, 255), _bit(f[2]))
    if kind == "H":
        _arity(f, 3)
        return Hello(_int(f[1], 0, 255), f[2], f[3])
    if kind == "S":
        _arity(f, 2)
        return SensorInfo(_int(f[1], 0, 255), f[2])
    if kind == "A":
        _arity(f, 1)
        return ActuatorInfo(_int(f[1], 0, 255))
    if kind == "I":
        _arity(f, 2)
        return InputInfo(_int(f[1], 0, 255), _bit(f[2]))
    if kind == "E":
        _arity(f, 3)
        return EndOfIo(_int(f[1], 0, 255), _int(f[2], 0, 255), _int(f[3], 0, 255))
    if kind == "N":
        if len(f) < 2:
            raise LineError("N needs a sequence number")
        return Nak(_int(f[1], 0, 65535), " ".join(f[2:]) or "refused")
    if kind == "L":
        return BoardLog(body[2:])
    if kind == "C":
        _arity(f, 3, 4)
        channel, sensor = _int(f[1], 0, 255), _int(f[2], 0, 255)
        if f[3] == "ERR":
            return LimitTripped(channel, sensor, None, f[4] if len(f) > 4 else "error")
        _arity(f, 3)
        return LimitTripped(channel, sensor, _int(f[3], -32768, 32767))
    if kind == "F":
        _arity(f, 3)
        return FallbackHolding(_int(f[1], 0, 255), _bit(f[2]), _int(f[3], 0, 2**32 - 1))
    raise LineError(f"unknown message type {kind!r}")


def parse_host_line(body: str) -> HostCommand:
    """A checked host → board body → a command (what a board implements)."""
    f = body.split(" ")
    kind = f[0]
    if len(f) < 2:
        raise LineError("a command needs a sequence number")
    seq = _int(f[1], 0, 65535)
    if kind == "O":
        _arity(f, 3)
        return SetOutput(seq, _int(f[2], 0, 255), _bit(f[3]))
    if kind == "P":
        _arity(f, 1)
        return Ping(seq)
    if kind == "?":
        _arity(f, 1)
        return HelloRequest(seq)
    if kind == "W":
        _arity(f, 2)
        return SetWatchdog(seq, _int(f[2], 1, 3600))
    if kind == "X":
        _arity(f, 1)
        return AllOff(seq)
    if kind == "C":
        _arity(f, 2, 4)
        if len(f) == 3:
            return SetLimit(seq, _int(f[2], 0, 255))
        return SetLimit(seq, _int(f[2], 0, 255), _int(f[3], 0, 7), _int(f[4], -32768, 32767))
    if kind == "R":
        _arity(f, 2)
        return ClearLimit(seq, _int(f[2], 0, 255))
    if kind == "F":
        _arity(f, 2, 7)
        if len(f) == 3:
            return SetFallback(seq, _int(f[2], 0, 255))
        if f[4] not in ("h", "c"):
            raise LineError(f"{f[4]!r} is not h (heat) or c (cool)")
        return SetFallback(
            seq,
            _int(f[2], 0, 255),
            _int(f[3], 0, 7),
            f[4] == "c",
            _int(f[5], -32768, 32767),
            _int(f[6], 1, 800),
            _int(f[7], 0, 3600),
        )
    raise LineError(f"unknown command {kind!r}")


def encode_host(cmd: HostCommand) -> bytes:
    match cmd:
        case SetOutput(seq, channel, on):
            return frame(f"O {seq} {channel} {int(on)}")
        case Ping(seq):
            return frame(f"P {seq}")
        case HelloRequest(seq):
            return frame(f"? {seq}")
        case SetWatchdog(seq, seconds):
            return frame(f"W {seq} {seconds}")
        case AllOff(seq):
            return frame(f"X {seq}")
        case SetLimit(seq, channel, None):
            return frame(f"C {seq} {channel}")
        case SetLimit(seq, channel, sensor, raw):
            return frame(f"C {seq} {channel} {sensor} {raw}")
        case ClearLimit(seq, channel):
            return frame(f"R {seq} {channel}")
        case SetFallback(seq, channel, None):
            return frame(f"F {seq} {channel}")
        case SetFallback(seq, channel, sensor, cools, setpoint, differential, min_off_s):
            way = "c" if cools else "h"
            return frame(f"F {seq} {channel} {sensor} {way} {setpoint} {differential} {min_off_s}")
    raise TypeError(cmd)


def encode_board(msg: BoardMessage) -> bytes:
    match msg:
        case Temperature(index, raw, error):
            return frame(f"T {index} ERR {error}" if raw is None else f"T {index} {raw}")
        case Ack(seq):
            return frame(f"K {seq}")
        case InputLevel(channel, level):
            return frame(f"D {channel} {int(level)}")
        case Hello(proto, board, firmware):
            return frame(f"H {proto} {board} {firmware}")
        case SensorInfo(index, address):
            return frame(f"S {index} {address}")
        case ActuatorInfo(channel):
            return frame(f"A {channel}")
        case InputInfo(channel, level):
            return frame(f"I {channel} {int(level)}")
        case EndOfIo(s, a, i):
            return frame(f"E {s} {a} {i}")
        case Nak(seq, reason):
            return frame(f"N {seq} {reason}")
        case BoardLog(text):
            return frame(f"L {text}")
        case LimitTripped(channel, sensor, raw, error):
            value = f"ERR {error}" if raw is None else str(raw)
            return frame(f"C {channel} {sensor} {value}")
        case FallbackHolding(channel, on, seconds):
            return frame(f"F {channel} {int(on)} {seconds}")
    raise TypeError(msg)


def to_raw(celsius: float) -> int:
    """°C → the nearest 1/16 °C step, as a DS18B20 would report it."""
    return round(celsius * TEMP_SCALE)


if __name__ == "__main__":  # print framed lines, for docs and hand testing
    for arg in sys.argv[1:]:
        sys.stdout.write(frame(arg).decode())
