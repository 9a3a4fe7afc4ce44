"""The controller's disk state: atomic, checksummed, versioned; a damaged file is set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.controller.state_file import Snapshot, StateFile


def snapshot() -> Snapshot:
    return Snapshot(
        config={"loops": {"fv1": {"id": "fv1", "version": 3}}},
        tombstones={"loops": {"old": 7}},
        targets={"fv1": {"loop": "fv1", "revision": 12, "setpoint": 18.5}},
    )


def test_what_is_saved_loads_back(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state.json")
    state.save(snapshot())
    assert state.load() == snapshot()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left


def test_a_missing_file_is_an_empty_start(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "none.json").load() == Snapshot()


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # a power cut mid-write on a file system without rename
        lambda raw: raw.replace(b"18.5", b"28.5"),  # a flipped bit: valid JSON, wrong data
        lambda raw: b"\x00" * len(raw),
        lambda raw: raw.replace(b'"format": 1', b'"format": 99'),  # a newer controller's file
        lambda raw: b"[" * 100_000,  # nested beyond the parser's depth
    ],
)
def test_a_damaged_file_is_set_aside_with_a_warning(
    tmp_path: Path, damage, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.json"
    state = StateFile(path)
    state.save(snapshot())
    path.write_bytes(damage(path.read_bytes()))
    assert state.load() == Snapshot()
    assert (tmp_path / "state.json.bad").exists() and not path.exists()
    assert "unusable" in caplog.text and "broker" in caplog.text


def test_the_file_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    StateFile(path).save(snapshot())
    doc = json.loads(path.read_text())
    assert doc["format"] == 1 and len(doc["sha256"]) == 64


def test_the_lease_identity_survives_a_restart(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state.json")
    state.save(Snapshot(instance="controller-1a2b3c4d"))
    assert state.load().instance == "controller-1a2b3c4d"
