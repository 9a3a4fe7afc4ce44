"""Build the Arduino sketch with arduino-mk and run it in simavr behind a real pty.

`SimavrBoard` is the compiled firmware on a simulated ATmega328P (devices/arduino/
simavr/maelstrom_sim.c): its UART is a pseudo-terminal opened here with pyserial,
as the controller opens a board, and the simulator reports output pin changes.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import serial

from services.controller.devices import protocol

REPO = Path(__file__).resolve().parents[2]
SKETCH = REPO / "devices" / "arduino" / "maelstrom"
HARNESS = REPO / "devices" / "arduino" / "simavr"
ARDUINO_MK = Path("/usr/share/arduino/Arduino.mk")
ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino")
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")
INSTALL_HINT = "run `make firmware-deps` (scripts/install-system-deps.sh --firmware)"

UNO_FLASH = 32256  # 32 KiB less Optiboot's 512 bytes
UNO_RAM = 2048


def missing_toolchain() -> str | None:
    """Why the sketch cannot be built here, or None."""
    for path in (ARDUINO_MK, ARDUINO_CORE):
        if not path.exists():
            return f"{path} is missing; {INSTALL_HINT}"
    for tool in ("avr-g++", "avr-size", "make"):
        if shutil.which(tool) is None:
            return f"{tool} is missing; {INSTALL_HINT}"
    return None


def missing_simavr() -> str | None:
    if not SIMAVR_HEADER.exists():
        return f"libsimavr-dev is missing; {INSTALL_HINT}"
    if shutil.which("cc") is None:
        return f"a C compiler is missing; {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class Firmware:
    elf: Path
    flash_bytes: int  # .text + .data: what is written to flash
    ram_bytes: int  # .data + .bss + .noinit: static RAM
    build_log: str


def build_sketch(objdir: Path, board: str = "uno") -> Firmware:
    """`make -C devices/arduino/maelstrom OBJDIR=…`: the same command a brewer runs."""
    result = subprocess.run(
        ["make", "-C", str(SKETCH), f"OBJDIR={objdir}", f"BOARD_TAG={board}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"the sketch did not build for {board}:\n{log[-4000:]}")
    elf = objdir / "maelstrom_.elf"
    sizes = section_sizes(elf)
    flash = sizes.get(".text", 0) + sizes.get(".data", 0)
    ram = sizes.get(".data", 0) + sizes.get(".bss", 0) + sizes.get(".noinit", 0)
    return Firmware(elf, flash, ram, log)


def section_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run(
        ["avr-size", "-A", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    sizes = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].startswith(".") and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return sizes


def build_harness(out: Path) -> Path:
    subprocess.run(
        ["make", "-s", "-C", str(HARNESS), f"OUT={out}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out


class Waiter:
    """Lines arriving from a thread; wait for one matching a predicate."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()

    def add(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[str], bool], timeout: float, start: int = 0) -> str:
        """The first line from index `start` on that matches; TimeoutError if none comes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = "\n".join(self.lines[-15:])
                    raise TimeoutError(f"no matching line within {timeout}s; last lines:\n{tail}")
                self._cond.wait(remaining)

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def since(self, start: int) -> list[str]:
        with self._cond:
            return list(self.lines[start:])


class SimavrBoard:
    """The firmware running in simavr; `board` = what came over the serial line."""

    def __init__(self, harness: Path, elf: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(harness), *args, str(elf)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.events = Waiter()  # the simulator's stdout: "pin 4 1", "probe 0 28…"
        self.board = Waiter()  # checked line bodies from the board
        self.garbage: list[bytes] = []  # lines from the board that failed the check
        threading.Thread(target=self._read_events, daemon=True).start()
        pty = self.events.wait(lambda line: line.startswith("pty "), timeout=20)
        self.path = pty.split()[1]
        self._open()

    def _open(self) -> None:
        """Open the port as the controller does; like an Uno, the board resets."""
        self.port = serial.Serial(self.path, 57600, timeout=0.2)
        self._closed = False
        self._reader = threading.Thread(target=self._read_serial, daemon=True)
        self._reader.start()

    def reopen(self) -> None:
        """Close the port, and open it again once the simulator has seen it closed."""
        mark = self.events.mark()
        self._closed = True
        self._reader.join(5)
        self.port.close()
        self.events.wait(lambda e: e == "host closed the port", timeout=30, start=mark)
        self._open()

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.add(line.rstrip("\n"))

    def _read_serial(self) -> None:
        splitter = protocol.LineSplitter()
        while not self._closed:
            try:
                data = self.port.read(256)
            except (serial.SerialException, OSError, TypeError):
                return
            for raw in splitter.feed(data):
                try:
                    body = protocol.unframe(raw)
                    protocol.parse_board_line(body)
                except protocol.LineError:
                    self.garbage.append(raw)
                    continue
                self.board.add(body)

    # talking to the board -------------------------------------------------------------
    def send(self, body: str) -> None:
        self.port.write(protocol.frame(body))

    def send_raw(self, data: bytes) -> None:
        self.port.write(data)

    def expect(self, body: str, timeout: float = 30.0, start: int = 0) -> str:
        return self.board.wait(lambda line: line == body, timeout, start)

    def expect_prefix(self, prefix: str, timeout: float = 30.0, start: int = 0) -> str:
        return self.board.wait(lambda line: line.startswith(prefix), timeout, start)

    def hello(self, start: int = 0, timeout: float = 30.0) -> list[str]:
        """The lines of a complete hello, `H` to `E`, found from `start` on."""
        h = self.expect_prefix("H ", timeout, start)
        first = self.board.lines.index(h, start)
        self.expect_prefix("E ", timeout, first)
        lines = self.board.since(first)
        end = next(i for i, line in enumerate(lines) if line.startswith("E "))
        return lines[: end + 1]

    def arm(self) -> None:
        """What the host does after reading a hello: set the watchdog, which arms outputs."""
        self.send("W 0 10")
        self.expect("K 0")

    # the simulated hardware ------------------------------------------------------------
    def inject(self, command: str) -> None:
        """Fault injection on the simulator's stdin: `temp 0 400`, `plug 1 0`, …"""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def pin(self, pin: int, level: int, timeout: float = 30.0, start: int = 0) -> None:
        self.events.wait(lambda line: line == f"pin {pin} {level}", timeout, start)

    def close(self) -> str:
        """Stop the simulation; returns its last report (stack use)."""
        self._closed = True
        self._reader.join(5)
        try:
            self.inject("quit")
            self.proc.wait(10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.port.close()
        return next((e for e in reversed(self.events.lines) if e.startswith("stack ")), "")
