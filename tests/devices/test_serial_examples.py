"""Every framed line in the protocol spec and the Arduino README carries the right
checksum — checked by an independent CRC-8/MAXIM and by the host's protocol module —
and parses; the README's device example is a valid device configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.common.schema.config import Device, DeviceKind
from services.controller.devices import protocol

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "docs" / "serial-protocol.md", REPO / "devices" / "arduino" / "README.md"]
FRAMED = re.compile(r"(?<![\w*])([A-Z?] [ -)+-~]*?)\*([0-9A-Fa-f]{2})(?![0-9A-Za-z])")


def crc8_maxim(data: bytes) -> int:
    """Written from the definition: reflected polynomial 0x8C, initial 0, no final XOR."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def documented_lines() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCUMENTS:
        for body, given in FRAMED.findall(doc.read_text()):
            found.append((doc.name, body, given))
    return found


def test_check_value() -> None:
    assert crc8_maxim(b"123456789") == 0xA1
    assert protocol.checksum(b"123456789") == 0xA1


def test_documents_have_examples() -> None:
    names = [name for name, _, _ in documented_lines()]
    assert names.count("serial-protocol.md") >= 10
    assert names.count("README.md") >= 10


@pytest.mark.parametrize(("doc", "body", "given"), documented_lines())
def test_documented_line_is_correctly_framed(doc: str, body: str, given: str) -> None:
    assert int(given, 16) == crc8_maxim(body.encode()), f"{doc}: {body}*{given}"
    assert int(given, 16) == protocol.checksum(body.encode())
    assert protocol.unframe(f"{body}*{given}".encode()) == body
    try:
        protocol.parse_board_line(body)
    except protocol.LineError:
        protocol.parse_host_line(body)  # then it must be a command


def test_readme_device_example_is_a_valid_device() -> None:
    readme = (REPO / "devices" / "arduino" / "README.md").read_text()
    payload = re.search(r"-d '(\{.*?\})'", readme, re.DOTALL)
    assert payload, "no curl -d '{…}' example in the README"
    device = Device.model_validate(json.loads(payload.group(1)))
    assert device.kind == DeviceKind.serial
    assert device.serial is not None and device.serial.baud == 57600
    assert {a.channel for a in device.actuators} <= {1, 2, 3, 4}
    assert all(re.fullmatch(r"[0-9A-F]{16}", s.address) for s in device.sensors)
