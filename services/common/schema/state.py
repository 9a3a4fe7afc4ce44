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


DISPLAY_BAND_C = 0.2
"""A probe's last digit flickers (DS18B20 steps of 1/16 °C, noise): `pv_display` holds its
value until the reading has really moved by this much."""


def displayed(pv: float | None, shown: float | None) -> float | None:
    """The next `pv_display` after reading `pv` (None when unusable)."""
    if pv is None:
        return None
    if shown is None or abs(pv - shown) >= DISPLAY_BAND_C:
        return round(pv, 1)
    return shown


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
    ends_at: float | None = Field(
        None, description="Unix time the profile ends, to the minute; null while paused."
    )
    paused: bool = False
    finished: bool = False
    # step profiles (programs) only
    step_name: str | None = Field(None, description="Steps: the running step's name.")
    target: float | None = Field(None, description="Steps: the running step's target, °C.")
    reached_at: float | None = Field(None, description="Steps: when the hold began.")
    hold_remaining_s: float | None = Field(
        None, description="Steps: seconds left in the hold (null: target not reached yet)."
    )
    waiting_for: str | None = Field(
        None,
        description="Steps: what the step waits for, in words ('Add the grain, then confirm').",
    )
    confirm: str | None = Field(
        None, description="Steps: the prompt of a confirmation the step waits for."
    )

    _finite = field_serializer(
        "elapsed_s", "remaining_s", "next_setpoint", "next_at", "ends_at", "hold_remaining_s"
    )(lambda self, value: finite(value))


class RefusedCommand(BaseModel):
    """The last command the controller refused for a loop, and why (until one is applied)."""

    command: str
    message: str
    by: str = "mqtt"
    ts: float


class AlarmDetail(BaseModel):
    """One of a loop's alarms that still needs attention: active, or cleared but not
    yet acknowledged (what Home Assistant's problem sensor shows)."""

    id: str
    message: str = ""
    severity: str = "medium"
    active: bool = True
    raised_at: float = 0.0
    acknowledged: bool = False


class InterlockState(BaseModel):
    """One of a loop's interlocks (a float switch, a lid switch) as the controller sees it."""

    input: str = Field(..., description="device/input")
    name: str = ""
    satisfied: bool | None = Field(
        None, description="true: the outputs may run; false: open; null: level unknown."
    )


class IdentifiedPlantState(BaseModel):
    """What an autotune run identified: an integrator with a lag and a dead time."""

    gain: float = Field(
        ..., description="°C per second per % of output (the integrating gain K/τ)."
    )
    time_constant_s: float = Field(..., description="The first-order lag besides the dead time.")
    dead_time_s: float
    ultimate_gain: float = Field(..., description="% per °C at the oscillation's frequency.")
    ultimate_period_s: float
    amplitude_c: float = Field(..., description="Half the reading's swing during the run.")
    fit_rms_c: float = Field(..., description="How far the model is from the recorded reading.")
    identified_at: float = Field(..., description="Unix time.")


class PidProposal(BaseModel):
    rule: str
    kp: float
    ki: float
    kd: float


class AutotuneState(BaseModel):
    """A loop's autotune run (`cmd/loops/<loop>/autotune`), docs/control.md."""

    phase: str = Field(..., description="running, done, aborted or discarded.")
    output: str = Field(..., description="heat or cool: what the relay drives.")
    started_at: float = Field(..., description="Unix time.")
    by: str = "mqtt"
    cycles_done: int = 0
    cycles_needed: int = 0
    reason: str | None = Field(None, description="Why it was aborted.")
    plant: IdentifiedPlantState | None = Field(
        None, description="The identified plant (kept after a discard)."
    )
    proposal: PidProposal | None = Field(
        None, description="Proposed PID gains: apply by setting the loop's `pid`."
    )
    applied: bool = Field(False, description="The loop's PID is the proposal.")


class GlycolDemand(BaseModel):
    """One fermenter on a chiller, as the chiller last saw it."""

    loop: str
    setpoint: float
    cool: float = Field(..., description="What its loop asks of its valve, %.")
    priority: int = 0
    granted: bool = Field(True, description="false: its valve waits for a higher priority.")


class ChillerState(BaseModel):
    """A chiller loop's own part of its state (docs/control.md "Glycol")."""

    reservoir_setpoint: float = Field(..., description="°C the reservoir is held at now.")
    compressor: bool = Field(..., description="The compressor is running.")
    short: bool = Field(False, description="The reservoir is not keeping up: priority rules.")
    calling: int = Field(0, description="How many fermenters call for glycol now.")
    demand: list[GlycolDemand] = []
    starts: int = Field(0, description="Compressor starts since the controller started.")


class LoopState(BaseModel):
    """`<prefix>/data/<loop>`: published on change and at least every few seconds.
    Serialised without non-finite numbers (they would make the JSON invalid)."""

    loop: str
    name: str = ""
    pv: float | None = Field(
        None, description="Process value: the sensor's reading, °C; null when unusable."
    )
    pv_display: float | None = Field(
        None,
        description="pv to 0.1 °C, moved only when pv has moved by DISPLAY_BAND_C: for "
        "displays that record every change (Home Assistant), not for control.",
    )
    sp: float | None = Field(None, description="Setpoint in force, °C; null when off or manual.")
    chamber_sp: float | None = Field(
        None,
        description="Cascade: the chamber-air setpoint the beer loop asks for, °C; null when "
        "the loop controls the beer directly (no cascade, or no usable chamber reading).",
    )
    output: Output = Output()
    mode: LoopMode
    state: LoopActivity
    waiting_reason: str | None = Field(
        None, description="Why a waiting loop waits; stable text (no countdown)."
    )
    waiting_until: float | None = Field(
        None, description="Unix time the wait ends (when a timer is what holds the loop)."
    )
    profile: ProfileProgress | None = None
    alarms: list[str] = Field([], description="Ids of this loop's active alarms.")
    alarm_details: list[AlarmDetail] = Field(
        [], description="This loop's active and cleared-unacknowledged alarms."
    )
    interlocks: list[InterlockState] = Field(
        [], description="The loop's interlocks; any not satisfied holds every output off."
    )
    relays: dict[str, bool | None] = Field(
        {},
        description="heater/cooler/contactor: what the device last said its relay is doing "
        "(null: not confirmed yet).",
    )
    relay_starts: dict[str, int] = Field(
        {},
        description="heater/cooler: times the relay was switched on since the controller "
        "started (a counter: it restarts from 0 with the controller).",
    )
    last_error: RefusedCommand | None = Field(
        None, description="The last refused command, until a later one is applied."
    )
    revision: int = Field(
        0, description="The target's revision (maelstrom/target/<loop>): new command, new number."
    )
    autotune: AutotuneState | None = Field(None, description="The last autotune run, if any.")
    chiller: ChillerState | None = Field(None, description="A chiller loop: its reservoir.")
    ts: float

    _finite = field_serializer("pv", "pv_display", "sp", "ts")(lambda self, value: finite(value))


class SensorReading(BaseModel):
    """`<prefix>/data/sensors/<device>/<sensor>`."""

    value: float | None
    unit: str = "°C"
    ts: float
    error: str | None = Field(
        None, description="Why value is null: 'disconnected', 'power-on reset (85.0)', ..."
    )


class DeviceStatus(BaseModel):
    """`<prefix>/status/devices/<device>` (retained): a board's link, from its controller."""

    device: str
    online: bool
    board: str = Field("", description="What the board says it is (its hello).")
    firmware: str = Field("", description="The firmware version the board reported.")
    reason: str | None = Field(None, description="Why it is offline.")
    ts: float

    _finite = field_serializer("ts")(lambda self, value: finite(value))


class ProgramEvent(BaseModel):
    """`<prefix>/events/<loop>` (not retained): a step profile moved on or waits.

    `kind`: `started` (a step began), `reached` (its target: the hold starts),
    `waiting` (the hold is over, the condition is awaited), `data` (the gravity
    data changed what the step waits for: stale, not trusted, too few readings),
    `finished`. `confirm` is the prompt when the step waits for the brewer."""

    loop: str
    profile: str
    kind: str
    step: int
    name: str
    text: str
    confirm: str | None = None
    ts: float
