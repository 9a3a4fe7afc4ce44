"""What a parsed loop command does to a loop's target — one pure function. The
controller that runs the loop applies it (it owns the target); the API uses the
same rules only to say what a profile stop holds.

Profile commands:

- `start` runs a profile (`offset` s into it; profiles with dates run at their dates)
  and switches the loop to `profile` mode.
- `pause` / `resume` stop and continue the run's clock; `resume` also switches the loop
  to `profile` mode (it asks for the profile to run).
- `jump` moves the run to `offset` s from its start; the mode is kept.
- `stop` ends the run. Only a loop that was following it (`profile` mode) goes on
  holding the temperature reached (`constant`); a loop that is `off` or `manual`
  stays so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from services.common.profiles import Schedule, jump, pause, resume
from services.common.schema.commands import (
    CommandError,
    LoopCommand,
    ModeCommand,
    OutputCommand,
    ProfileCommand,
    SetpointCommand,
    TargetCommand,
)
from services.common.schema.config import Loop, LoopMode, Profile, ProfileRun

FindProfile = Callable[[str], Profile | None]


def profile_temperature(profile: Profile, run: ProfileRun, now: float) -> float | None:
    """The profile's setpoint at `now` for this run (None: control off in that segment)."""
    temperature = Schedule.of(profile).temperature(run, now)
    return None if temperature is None else round(temperature, 2)


def _profile_update(
    loop: Loop, cmd: ProfileCommand, now: float, find_profile: FindProfile
) -> dict[str, Any]:
    run = loop.profile
    if cmd.action == "start":
        profile_id = cmd.profile or (run.profile if run else None)
        if profile_id is None:
            raise CommandError("profile start: say which profile ('profile': id)")
        profile = find_profile(profile_id)
        if profile is None:
            raise CommandError(f"profile start: no profile {profile_id!r}")
        new_run = Schedule.of(profile).start(now, cmd.offset or 0.0)
        return {"mode": LoopMode.profile, "profile": new_run}
    if run is None:
        raise CommandError(f"profile {cmd.action}: no profile has been started on this loop")
    if cmd.profile is not None and cmd.profile != run.profile:
        raise CommandError(
            f"profile {cmd.action}: the loop runs {run.profile!r}, not {cmd.profile!r}"
        )
    if cmd.action == "pause":
        return {"profile": pause(run, now)}
    if cmd.action == "resume":
        return {"mode": LoopMode.profile, "profile": resume(run, now)}
    if cmd.action == "jump":
        if cmd.offset is None:
            raise CommandError("profile jump: say where to ('offset': seconds from the start)")
        return {"profile": jump(run, now, cmd.offset)}
    # stop
    if loop.mode != LoopMode.profile:
        return {"profile": None}  # an off or manual loop stays off or manual
    profile = find_profile(run.profile)
    temperature = profile_temperature(profile, run, now) if profile else None
    update: dict[str, Any] = {"mode": LoopMode.constant, "profile": None}
    if temperature is not None:  # hold the temperature the profile had reached
        update["setpoint"] = min(max(temperature, loop.setpoint_min), loop.setpoint_max)
    return update


def apply_loop_command(loop: Loop, cmd: LoopCommand, now: float, find_profile: FindProfile) -> Loop:
    """The loop after `cmd` at `now`; raises CommandError saying why it cannot apply."""
    update: dict[str, Any]
    if isinstance(cmd, SetpointCommand):
        if not loop.setpoint_min <= cmd.value <= loop.setpoint_max:
            raise CommandError(
                f"setpoint {cmd.value:g} is outside {loop.setpoint_min:g}..{loop.setpoint_max:g} °C"
            )
        update = {"setpoint": cmd.value}
    elif isinstance(cmd, ModeCommand):
        if cmd.value == LoopMode.profile and loop.profile is None:
            raise CommandError("mode profile: start a profile first (command 'profile')")
        update = {"mode": cmd.value}
    elif isinstance(cmd, TargetCommand):
        update = cmd.value.model_dump()
        run = cmd.value.profile
        if run is not None and find_profile(run.profile) is None:
            raise CommandError(f"target: no profile {run.profile!r}")
    elif isinstance(cmd, OutputCommand):
        if cmd.value > 0 and loop.heater is None:
            raise CommandError("output > 0 heats, but the loop has no heater")
        if cmd.value < 0 and loop.cooler is None:
            raise CommandError("output < 0 cools, but the loop has no cooler")
        update = {"manual_output": cmd.value}
    else:
        update = _profile_update(loop, cmd, now, find_profile)
    if all(getattr(loop, key) == value for key, value in update.items()):
        return loop
    try:
        return Loop.model_validate({**loop.model_dump(), **update})
    except ValidationError as exc:
        raise CommandError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from exc
