"""Live state published by the controller on the data channel (retained)."""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel, Field, field_serializer

from .config import LoopMode


class LoopActivity(StrEnum):
    heating = "heating"
    cooling = "cooling"
    idle = "idle"
    waiting = "waiting"  # wants to heat/cool but a compressor timer or dead time holds it
    off = "off"
    fault = "fault"  # outputs forced off: sensor stale, missing or implausible


class Output(BaseModel):
    heat: float = Field(0.0, ge=0, le=100, description="Heater duty, %.")
    cool: float = Field(0.0, ge=0, le=100, description="Cooler duty, %.")


def finite(value: float | None) -> float | None:
    """NaN and ±Infinity as null: JSON has no such numbers (the state must stay parseable)."""
    return value if value is None or math.isfinite(value) else None


class ProfileProgress(BaseModel):
    profile: str
    name: str = ""
    step: int = Field(..., description="Index of the point last passed (0-based).")
    steps: int
    elapsed_s: float
    remaining_s: float
    next_setpoint: float | None = None
    next_at: float | None = Field(None, description="Unix time of the next point.")
    paused: bool = False
    finished: bool = False

    _finite = field_serializer("elapsed_s", "remaining_s", "next_setpoint", "next_at")(
        lambda self, value: finite(value)
    )


class LoopState(BaseModel):
    """`<prefix>/data/<loop>`: published on change and at least every few seconds.
    Serialised without non-finite numbers (they would make the JSON invalid)."""

    loop: str
    name: str = ""
    pv: float | None = Field(
        None, description="Process value: the sensor's reading, °C; null when unusable."
    )
    sp: float | None = Field(None, description="Setpoint in force, °C; null when off or manual.")
    output: Output = Output()
    mode: LoopMode
    state: LoopActivity
    waiting_reason: str | None = None
    profile: ProfileProgress | None = None
    alarms: list[str] = Field([], description="Ids of this loop's active alarms.")
    revision: int = Field(
        0, description="The target's revision (maelstrom/target/<loop>): new command, new number."
    )
    ts: float

    _finite = field_serializer("pv", "sp", "ts")(lambda self, value: finite(value))


class SensorReading(BaseModel):
    """`<prefix>/data/sensors/<device>/<sensor>`."""

    value: float | None
    unit: str = "°C"
    ts: float
    error: str | None = Field(
        None, description="Why value is null: 'disconnected', 'power-on reset (85.0)', ..."
    )
