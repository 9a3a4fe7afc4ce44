"""Commands on `<prefix>/cmd/loops/<loop>/<command>`, parsed the same way everywhere.

Home Assistant and mosquitto_pub send bare text (`20.5`, `constant`); the UI may
send JSON (`{"value": 20.5}`). Both are accepted. REST, the browser and MQTT all
end up here, so a command means the same thing whichever way it arrives.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .config import LoopMode
from .target import TargetFields

HA_MODES = {
    "heat": LoopMode.constant,
    "cool": LoopMode.constant,
    "heat_cool": LoopMode.constant,
    "auto": LoopMode.profile,
}
"""Home Assistant climate modes accepted as loop modes."""


MAX_OFFSET_S = 10 * 366 * 86_400.0
"""No profile is longer than ten years: a larger offset is a typo (or Infinity)."""


class CommandError(ValueError):
    pass


class SetpointCommand(BaseModel):
    value: float = Field(..., allow_inf_nan=False)


class ModeCommand(BaseModel):
    value: LoopMode


class OutputCommand(BaseModel):
    value: float = Field(..., ge=-100, le=100)


class ProfileCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["start", "pause", "resume", "stop", "jump", "skip", "extend", "confirm"]
    profile: str | None = Field(
        None, description="start: which profile (default: the loop's current one)"
    )
    offset: float | None = Field(
        None,
        ge=0,
        le=MAX_OFFSET_S,
        allow_inf_nan=False,
        description="start/jump: begin this many seconds into the profile",
    )
    step: int | None = Field(
        None, ge=0, le=1000, description="step profiles, start/skip: go to this step (0-based)"
    )
    seconds: float | None = Field(
        None,
        gt=0,
        le=MAX_OFFSET_S,
        allow_inf_nan=False,
        description="step profiles, extend: lengthen the running hold by this much",
    )


class TargetCommand(BaseModel):
    """The whole target at once (mode, setpoint, manual_output, profile): a restore sends it."""

    model_config = ConfigDict(extra="forbid")
    value: TargetFields


class AckCommand(BaseModel):
    """`ack`: acknowledge every alarm of the loop (the payload is ignored; Home
    Assistant's button sends `PRESS`). Not a target change: the alarms are the
    controller's, the target stays as it is."""


class AutotuneCommand(BaseModel):
    """`autotune`: a relay-feedback run that identifies the plant and proposes PID gains
    (docs/control.md). Not a target change: the loop keeps its mode and setpoint, and the
    brewer applies the proposal by editing the loop's `pid` (a configuration change)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["start", "abort", "discard"]
    output: Literal["heat", "cool"] | None = Field(
        None, description="start: which output the relay drives (default: the one in use)."
    )
    step_pct: float = Field(
        100.0, ge=10, le=100, description="start: the relay's output while it is on, %."
    )
    hysteresis_c: float = Field(
        0.1, ge=0.05, le=1.0, description="start: the relay switches this far past the setpoint."
    )
    max_deviation_c: float = Field(
        1.5, ge=0.3, le=5.0, description="start: the run aborts this far from the setpoint."
    )
    cycles: int = Field(3, ge=2, le=6, description="start: oscillations measured.")
    rule: Literal["simc", "tyreus-luyben", "ziegler-nichols"] = Field(
        "simc", description="start: the tuning rule of the proposal."
    )


LoopCommand = SetpointCommand | ModeCommand | OutputCommand | ProfileCommand | TargetCommand


def _scalar(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="strict").strip()
    if not text:
        raise CommandError("empty payload")
    try:
        value = json.loads(text)
    except RecursionError:
        raise CommandError("payload is nested too deeply") from None
    except ValueError:
        return text
    if isinstance(value, dict) and "value" in value and len(value) == 1:
        return value["value"]
    return value


def parse_loop_command(command: str, raw: bytes) -> LoopCommand | AckCommand | AutotuneCommand:
    """Parse the payload of `cmd/loops/<loop>/<command>`; raises CommandError saying why."""
    if command == "ack":
        return AckCommand()
    try:
        if command == "setpoint":
            return SetpointCommand(value=_scalar(raw))
        if command == "output":
            return OutputCommand(value=_scalar(raw))
        if command == "mode":
            value = _scalar(raw)
            if isinstance(value, str):
                value = HA_MODES.get(value.lower(), value.lower())
            return ModeCommand(value=value)
        if command == "profile":
            value = _scalar(raw)
            if isinstance(value, str):
                value = {"action": value}
            return ProfileCommand.model_validate(value)
        if command == "target":
            return TargetCommand(value=TargetFields.model_validate(_scalar(raw)))
        if command == "autotune":
            value = _scalar(raw)
            if isinstance(value, str):
                value = {"action": value.lower()}
            return AutotuneCommand.model_validate(value)
    except UnicodeDecodeError as exc:
        raise CommandError("payload is not UTF-8") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandError(f"{command}: {first['msg']}") from exc
    raise CommandError(f"unknown loop command {command!r}")


OUTPUT_FAULTS = ("stuck_on", "refused")


class SimulateCommand(BaseModel):
    """`<prefix>/cmd/devices/<device>/simulate`: fault injection on a simulated board.

    `{"sensor": "beer", "fault": "85"}` (or `-127`, `missing`, `stuck`: frozen at its
    last value, `in_air`: the probe reads the room, `none` to heal),
    `{"output": "cooler", "fault": "stuck_on"}` (a welded relay: on whatever it is told;
    or `refused`: the board answers N; `none` to heal) — `output` is the actuator's id,
    `{"board": "silent"}` (or `garbage`, `deaf`: sends but hears nothing, `reset`,
    `normal`), `{"input": 8, "level": true}`,
    `{"hydrometer": "silent"}` (or `noisy`, `low_battery`, `normal`: a fermenter's iSpindel).
    """

    model_config = ConfigDict(extra="forbid")
    sensor: str | None = None
    output: str | None = Field(None, description="An actuator id of the simulated device.")
    fault: (
        Literal["85", "-127", "missing", "stuck", "in_air", "stuck_on", "refused", "none"] | None
    ) = None
    board: Literal["normal", "silent", "garbage", "deaf", "reset"] | None = None
    input: int | None = Field(None, ge=0, le=255)
    level: bool | None = None
    hydrometer: Literal["normal", "silent", "noisy", "low_battery"] | None = Field(
        None, description="The simulated fermenter's iSpindel (docs/programs.md)."
    )

    @field_validator("fault", mode="before")
    @classmethod
    def _fault_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
        return value

    @model_validator(mode="after")
    def _complete(self) -> SimulateCommand:
        if self.sensor is not None and self.output is not None:
            raise ValueError("one fault at a time: 'sensor' or 'output', not both")
        if (self.sensor is None and self.output is None) != (self.fault is None):
            raise ValueError("'fault' goes with 'sensor' or 'output'")
        if self.sensor is not None and self.fault in OUTPUT_FAULTS:
            raise ValueError(f"{self.fault!r} is an output fault: use 'output'")
        if self.output is not None and self.fault not in (*OUTPUT_FAULTS, "none"):
            raise ValueError("an output fault is 'stuck_on', 'refused' or 'none'")
        if (self.input is None) != (self.level is None):
            raise ValueError("'input' and 'level' go together")
        if (
            self.fault is None
            and self.board is None
            and self.input is None
            and self.hydrometer is None
        ):
            raise ValueError(
                "say what to simulate: 'sensor' or 'output' + 'fault', 'board', 'input' + "
                "'level', or 'hydrometer'"
            )
        return self


def parse_simulate_command(raw: bytes) -> SimulateCommand:
    try:
        return SimulateCommand.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "payload"
        raise CommandError(f"{where}: {first['msg']}") from exc
