"""Loop commands — setpoint, mode, output, profile start/pause/resume/stop/jump —
validated against the loop, persisted and re-published, whichever way they came.

`maelstrom/cmd/loops/<loop>/<command>` over MQTT (Home Assistant, mosquitto_pub,
the browser) and `POST /api/loops/{id}/{command}` over REST both end in
`execute()`. The controller also applies commands in memory at once; the config
this publishes afterwards is what makes them durable.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.api.errors import ApiError, Invalid
from services.api.store import STORE, ConfigStore
from services.common.clock import Clock, RealClock
from services.common.mqtt import Message
from services.common.schema.commands import (
    CommandError,
    LoopCommand,
    ModeCommand,
    OutputCommand,
    ProfileCommand,
    SetpointCommand,
    parse_loop_command,
)
from services.common.schema.config import Interpolation, Loop, LoopMode, Profile, ProfileRun
from services.common.web import MQTT

log = logging.getLogger(__name__)


def profile_temperature(profile: Profile, run: ProfileRun, now: float) -> float | None:
    """The profile's setpoint at `now` for this run (None: control off in that segment)."""
    points = profile.points
    if points[0].offset is not None:
        t = (run.paused_at if run.paused_at is not None else now) - run.started_at
        times = [p.offset or 0.0 for p in points]
    else:
        t = now
        times = [p.at.timestamp() for p in points if p.at is not None]
    if t <= times[0]:
        return points[0].temperature
    if t >= times[-1]:
        return points[-1].temperature
    for (t0, p0), (t1, p1) in itertools.pairwise(zip(times, points, strict=True)):
        if t0 <= t < t1:
            a, b = p0.temperature, p1.temperature
            if profile.interpolation == Interpolation.step:
                return a
            if a is None or b is None:  # BrewPi: an empty cell on either side means off
                return None
            return round(a + (b - a) * (t - t0) / (t1 - t0), 2)
    return points[-1].temperature


def _profile_action(
    loop: Loop, cmd: ProfileCommand, now: float, find_profile: Callable[[str], Profile | None]
) -> dict[str, Any]:
    run = loop.profile
    if cmd.offset is not None and not math.isfinite(cmd.offset):
        raise CommandError(f"profile {cmd.action}: offset must be a finite number of seconds")
    if cmd.action == "start":
        profile_id = cmd.profile or (run.profile if run else None)
        if profile_id is None:
            raise CommandError("profile start: say which profile ('profile': id)")
        if find_profile(profile_id) is None:
            raise CommandError(f"profile start: no profile {profile_id!r}")
        started = now - (cmd.offset or 0.0)
        return {
            "mode": LoopMode.profile,
            "profile": ProfileRun(profile=profile_id, started_at=started),
        }
    if run is None:
        raise CommandError(f"profile {cmd.action}: no profile has been started on this loop")
    if cmd.profile is not None and cmd.profile != run.profile:
        raise CommandError(
            f"profile {cmd.action}: the loop runs {run.profile!r}, not {cmd.profile!r}"
        )
    if cmd.action == "pause":
        if run.paused_at is not None:
            return {}
        return {"profile": run.model_copy(update={"paused_at": now})}
    if cmd.action == "resume":
        if run.paused_at is None:
            return {"mode": LoopMode.profile}
        started = run.started_at + (now - run.paused_at)
        return {
            "mode": LoopMode.profile,
            "profile": ProfileRun(profile=run.profile, started_at=started),
        }
    if cmd.action == "jump":
        if cmd.offset is None:
            raise CommandError("profile jump: say where to ('offset': seconds from the start)")
        paused = now if run.paused_at is not None else None
        return {
            "mode": LoopMode.profile,
            "profile": ProfileRun(
                profile=run.profile, started_at=now - cmd.offset, paused_at=paused
            ),
        }
    # stop: hold the temperature the profile had reached
    profile = find_profile(run.profile)
    temperature = profile_temperature(profile, run, now) if profile else None
    update: dict[str, Any] = {"mode": LoopMode.constant, "profile": None}
    if temperature is not None:
        update["setpoint"] = min(max(temperature, loop.setpoint_min), loop.setpoint_max)
    return update


def apply_command(
    loop: Loop,
    cmd: LoopCommand,
    now: float,
    find_profile: Callable[[str], Profile | None],
) -> Loop:
    """The loop after `cmd`; raises CommandError saying why it cannot apply."""
    update: dict[str, Any]
    if isinstance(cmd, SetpointCommand):
        if not loop.setpoint_min <= cmd.value <= loop.setpoint_max:
            raise CommandError(
                f"setpoint {cmd.value} is outside {loop.setpoint_min}..{loop.setpoint_max} °C"
            )
        update = {"setpoint": cmd.value}
    elif isinstance(cmd, ModeCommand):
        if cmd.value == LoopMode.profile and loop.profile is None:
            raise CommandError("mode profile: start a profile first (command 'profile')")
        update = {"mode": cmd.value}
    elif isinstance(cmd, OutputCommand):
        if cmd.value > 0 and loop.heater is None:
            raise CommandError("output > 0 heats, but the loop has no heater")
        if cmd.value < 0 and loop.cooler is None:
            raise CommandError("output < 0 cools, but the loop has no cooler")
        update = {"manual_output": cmd.value}
    else:
        update = _profile_action(loop, cmd, now, find_profile)
    if not update:
        return loop
    try:
        return Loop.model_validate({**loop.model_dump(), **update})
    except ValidationError as exc:
        raise CommandError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from exc


class LoopCommands:
    """Runs loop commands from MQTT and REST through one path."""

    def __init__(self, store: ConfigStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def execute(self, loop_id: str, command: str, raw: bytes) -> Loop:
        """Parse, apply, persist (version + 1) and publish; raises ApiError on bad input."""
        try:
            cmd = parse_loop_command(command, raw)
        except CommandError as exc:
            raise Invalid("invalid command", {"field": command, "message": str(exc)}) from exc
        return self.apply(loop_id, command, cmd)

    def apply(self, loop_id: str, command: str, cmd: LoopCommand) -> Loop:
        def change(loop: Loop) -> Loop:
            try:
                return apply_command(loop, cmd, self.clock.now(), self._find_profile)
            except CommandError as exc:
                raise Invalid("invalid command", {"field": command, "message": str(exc)}) from exc

        return self.store.update("loops", loop_id, change, echo_unchanged=True)

    def _find_profile(self, profile_id: str) -> Profile | None:
        found = self.store.find("profiles", profile_id)
        return found if isinstance(found, Profile) else None

    def on_message(self, message: Message) -> None:
        parts = message.topic.split("/")[-4:]  # …/cmd/loops/<loop>/<command>
        loop_id, command = parts[2], parts[3]
        try:
            loop = self.execute(loop_id, command, message.payload)
        except ApiError as exc:
            log.warning(
                "dropped command on %s (%r): %s %s",
                message.topic,
                message.payload[:100],
                exc.error,
                exc.detail,
            )
            return
        log.info("loop %s: %s command applied (version %d)", loop_id, command, loop.version)


LOOP_COMMANDS = web.AppKey("loop_commands", LoopCommands)


def setup_loop_commands(app: web.Application, clock: Clock | None = None) -> None:
    async def commands_ctx(app: web.Application) -> AsyncIterator[None]:
        commands = LoopCommands(app[STORE], clock or RealClock())
        app[LOOP_COMMANDS] = commands
        mqtt = app[MQTT]
        mqtt.subscribe(mqtt.topics.all_loop_commands, commands.on_message)
        yield
        mqtt.unsubscribe(mqtt.topics.all_loop_commands, commands.on_message)

    app.cleanup_ctx.append(commands_ctx)
