"""The reference sketch builds with Debian's arduino-mk for an Uno, and fits."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.devices.firmware import SKETCH, UNO_FLASH, UNO_RAM, Firmware

pytestmark = pytest.mark.xdist_group("arduino")

STACK_RESERVE = 512
"""RAM that must stay free for the stack (simavr measures about 120 bytes in use)."""


def test_builds_for_the_uno_and_fits(firmware: Firmware) -> None:
    assert firmware.elf.exists()
    assert "-mmcu=atmega328p" in firmware.build_log
    assert 0 < firmware.flash_bytes < UNO_FLASH, f"flash {firmware.flash_bytes} B"
    assert firmware.ram_bytes <= UNO_RAM - STACK_RESERVE, f"static RAM {firmware.ram_bytes} B"


def test_our_sources_compile_without_warnings(firmware: Firmware) -> None:
    ours = re.compile(
        r"(maelstrom|onewire|probes|link|guards)\.(cpp|h|ino):\d+:\d+: (warning|error)"
    )
    assert [line for line in firmware.build_log.splitlines() if ours.search(line)] == []


def test_nothing_that_outlives_a_reset() -> None:
    """No EEPROM code on the board (a stray byte must never wipe or change anything)."""
    code = "\n".join(p.read_text() for p in SKETCH.iterdir() if p.suffix in (".ino", ".cpp", ".h"))
    assert "EEPROM.h" not in code
    assert not re.search(r"eeprom_(write|update)", code)
    assert "OneWire.h" not in code  # carries its own 1-Wire code; Debian has no library


def test_integer_only_and_no_eeprom_code_in_the_binary(firmware: Firmware) -> None:
    """No soft-float routines linked (temperatures stay in 1/16 °C), no EEPROM access."""
    symbols = subprocess.run(
        ["avr-nm", str(firmware.elf)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [s for s in symbols if re.fullmatch(r"__\w+(sf3|sfsi|sisf|unsisf)", s)]
    assert not [s for s in symbols if re.match(r"eeprom_(write|update|read)", s)]


def test_pin_table_matches_the_readme() -> None:
    """Every channel → pin entry of the sketch's tables is in the README's wiring table."""
    sketch = (SKETCH / "maelstrom.ino").read_text()
    readme = (SKETCH.parent / "README.md").read_text()
    entries = re.findall(r"^\s*\{(\d+), (\d+), (?:true|false)\},$", sketch, re.MULTILINE)
    assert len(entries) >= 2
    for channel, pin in entries:
        assert re.search(rf"^\| *{channel} *\| *D{pin} *\|", readme, re.MULTILINE), (
            f"README lacks channel {channel} on D{pin}"
        )
    assert "ONEWIRE_PIN = 2;" in sketch


def test_makefile_is_for_arduino_mk() -> None:
    makefile = (SKETCH / "Makefile").read_text()
    assert re.search(r"^BOARD_TAG\s*\?=\s*uno$", makefile, re.MULTILINE)
    assert "include $(ARDMK_DIR)/Arduino.mk" in makefile
