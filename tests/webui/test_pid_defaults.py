"""The loop editor shows the PID and watchdog defaults the controller really uses."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.schema.config import PID_DEFAULTS
from services.common.schema.watchdogs import WATCHDOG_DEFAULTS

DATA_JS = Path(__file__).resolve().parents[2] / "webui" / "js" / "ui" / "data.js"


def test_the_ui_copy_of_pid_defaults_matches_the_schema() -> None:
    text = DATA_JS.read_text()
    shown = {
        kind: {k: float(v) for k, v in re.findall(r"(kp|ki|kd): ([0-9.]+)", body)}
        for kind, body in re.findall(r"(\w+): \{ (kp: [^}]*)\}", text)
    }
    assert shown == {kind.value: pid.model_dump() for kind, pid in PID_DEFAULTS.items()}


def test_the_ui_copy_of_watchdog_defaults_matches_the_schema() -> None:
    text = DATA_JS.read_text()
    shown = {
        kind: {k: float(v) for k, v in re.findall(r"(\w+): ([0-9.]+)", body)}
        for kind, body in re.findall(r"(\w+): \{ (band_c: [^}]*)\}", text)
    }
    assert shown == {kind: w.model_dump() for kind, w in WATCHDOG_DEFAULTS.items()}
