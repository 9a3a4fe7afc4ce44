"""A loop's target — what it is told to do — owned by the controller that runs it.

The target (mode, setpoint, manual output, profile run) changes only by commands.
The controller applies each command once, bumps `revision`, keeps the target on
its own disk and publishes it retained on `<prefix>/target/<loop>`; everyone
else (the API's database, Home Assistant, the UI) follows what it publishes.
A loop's configuration (wiring, PID, limits) is the API's; see `config.Loop`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_serializer

from .base import Celsius, Id, Strict
from .config import Loop, LoopMode, ProfileRun
from .state import finite

TARGET_FIELDS = ("mode", "setpoint", "manual_output", "profile")
"""The fields of `Loop` that are its target (the rest is configuration)."""


class TargetFields(Strict):
    """The target itself: the `target` command's payload (a backup's restore sends it)."""

    mode: LoopMode = LoopMode.off
    setpoint: Celsius = 20.0
    manual_output: float = Field(0.0, ge=-100, le=100)
    profile: ProfileRun | None = None


class LoopTarget(TargetFields):
    """`<prefix>/target/<loop>` (retained), published by the controller that runs the loop."""

    loop: Id
    revision: int = Field(0, ge=0, description="Bumped by the controller on every applied command.")
    changed_by: str | None = Field(None, description="Who sent the last applied command.")
    ts: float = Field(0.0, description="Unix time of the last applied command.")

    _finite = field_serializer("ts")(lambda self, value: finite(value))

    @classmethod
    def of(cls, loop: Loop, **extra: Any) -> LoopTarget:
        """The target a loop's configuration starts with (before any command)."""
        return cls(loop=loop.id, **{k: getattr(loop, k) for k in TARGET_FIELDS}, **extra)

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in TARGET_FIELDS}

    def onto(self, loop: Loop) -> Loop:
        """`loop` (configuration) with this target in force."""
        return loop.model_copy(update=self.fields())


class CommandReply(BaseModel):
    """The controller's answer to a command that asked for one (MQTT 5 response topic)."""

    ok: bool
    loop: str
    command: str
    error: str | None = Field(None, description="Why the command was refused.")
    runs: bool = Field(True, description="False: the controller does not run this loop.")
    target: LoopTarget | None = Field(None, description="The loop's target after the command.")
