"""The controller's timing knobs, in one place.

Production uses the defaults with the real clock. Tests and benchmarks that run
days of simulated time scale them up (a reading every 20 s instead of every
second) so ten days take seconds, not hours; the control code is the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from services.common.clock import Clock, RealClock
from services.controller.devices.serial_board import BoardTiming


@dataclass(frozen=True)
class Timing:
    supervise_s: float = 1.0  # stale-sensor checks and periodic state publishing
    publish_every_s: float = 5.0  # loop state and sensor readings at least this often
    sim_interval_s: float = 1.0  # a simulated board's reading period
    orphan_grace_s: float = 5.0  # wait this long for a loop's device before running it anyway
    lease_renew_s: float = 5.0  # device leases renewed this often, valid 3 × as long
    board: BoardTiming = field(default_factory=BoardTiming)


@dataclass(frozen=True)
class Options:
    clock: Clock = field(default_factory=RealClock)
    timing: Timing = field(default_factory=Timing)
    sim_seed: int | None = None  # sensor noise of simulated boards; None: random
    state_path: str | None = None  # the controller's disk state; None: keeps none (tests)
    # Simulated boards that outlive this controller (a campaign restarting it keeps its
    # "hardware"): device id → board; None: each simulated device makes its own.
    sim_boards: dict[str, Any] | None = None


def sim_speed_from_env(env: dict[str, str] | None = None) -> float:
    """`MAELSTROM_SIM_SPEED`: how much faster than real time simulated time runs (default 1)."""
    text = (env if env is not None else os.environ).get("MAELSTROM_SIM_SPEED", "").strip()
    if not text:
        return 1.0
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"MAELSTROM_SIM_SPEED must be a number, got {text!r}") from None
    if not 0 < speed <= 10_000:
        raise ValueError(f"MAELSTROM_SIM_SPEED must be between 0 and 10000, got {speed}")
    return speed
