"""deploy/systemd: each service restarts whatever its exit, and the broker cannot take control down."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from tests.support.services import REPO

UNITS = REPO / "deploy" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


@pytest.mark.parametrize("name", ["broker", "api", "controller"])
def test_every_service_restarts_always_and_never_gives_up(name: str) -> None:
    parsed = unit(f"maelstrom-{name}.service")
    assert parsed["Service"]["Restart"] == "always"  # a clean exit is restarted too
    assert parsed["Unit"]["StartLimitIntervalSec"] == "0"
    assert parsed["Install"]["WantedBy"] == "maelstrom.target"


@pytest.mark.parametrize("name", ["api", "controller"])
def test_the_broker_is_wanted_but_cannot_stop_a_service(name: str) -> None:
    section = unit(f"maelstrom-{name}.service")["Unit"]
    assert "maelstrom-broker.service" in section["Wants"].split()
    assert "maelstrom-broker.service" in section["After"].split()
    assert not {"Requires", "BindsTo", "Requisite"} & set(section)
    assert section.get("PartOf") == "maelstrom.target"


def test_the_target_starts_all_three() -> None:
    wants = unit("maelstrom.target")["Unit"]["Wants"].split()
    assert sorted(wants) == sorted(
        f"maelstrom-{n}.service" for n in ("broker", "api", "controller")
    )
    assert {p.name for p in UNITS.iterdir()} == {*wants, "maelstrom.target"}


def test_the_documented_units_are_the_shipped_ones() -> None:
    text = (REPO / "docs" / "deployment.md").read_text()
    for path in Path(UNITS).iterdir():
        assert path.name in text
    assert "Restart=on-failure" not in text
