"""Which loops this controller runs, fed from configuration and commands.

A controller runs a loop when it drives the loop's sensor device. A loop whose
device is not configured at all is run by the controller without an id (after
a short grace, since retained configuration arrives in no particular order) so
that someone reports it as faulted rather than nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.common.mqtt import Message, PayloadError
from services.common.schema.commands import CommandError, parse_loop_command
from services.common.schema.config import Device, Loop
from services.controller.control.loop import LoopEnv, LoopRuntime

log = logging.getLogger(__name__)


class LoopManager:
    def __init__(
        self,
        env: LoopEnv,
        configured_loops: Mapping[str, Loop],
        configured_devices: Mapping[str, Device],
        controller_id: str | None,
        orphan_grace_s: float,
    ) -> None:
        self.env = env
        self.loops: dict[str, LoopRuntime] = {}
        self._configured = configured_loops
        self._devices = configured_devices
        self._controller_id = controller_id
        self._grace = orphan_grace_s
        self._seen_at: dict[str, float] = {}

    def owns(self, loop: Loop, now: float) -> bool:
        if loop.sensor.device in self.env.registry.waiting:
            return False  # another controller holds its device's lease: the loop is theirs
        device = self._devices.get(loop.sensor.device)
        if device is not None:
            return device.controller_id == self._controller_id
        if self._controller_id is not None:
            return False
        return now - self._seen_at.get(loop.id, now) >= self._grace

    def reconcile(self) -> None:
        """Start, reconfigure or stop loops to match the configuration."""
        now = self.env.clock.monotonic()
        for loop_id in list(self.loops):
            loop = self._configured.get(loop_id)
            if loop is None or not self.owns(loop, now):
                self.stop(loop_id, remove_state=loop is None)
        for loop_id, loop in self._configured.items():
            self._seen_at.setdefault(loop_id, now)
            if not self.owns(loop, now):
                continue
            runtime = self.loops.get(loop_id)
            if runtime is None:
                runtime = LoopRuntime(loop, self.env)
                self.loops[loop_id] = runtime
                log.info("loop %s: running (%s, %s)", loop_id, loop.kind, loop.mode)
                runtime.start()
            elif runtime.configured != loop:  # not `cfg`: a command must not be undone here
                runtime.configure(loop)
        for loop_id in list(self._seen_at):
            if loop_id not in self._configured:
                del self._seen_at[loop_id]

    def stop(self, loop_id: str, remove_state: bool) -> None:
        runtime = self.loops.pop(loop_id, None)
        if runtime is not None:
            log.info("loop %s: stopped", loop_id)
            runtime.stop(remove_state=remove_state)

    def stop_all(self) -> None:
        for loop_id in list(self.loops):
            self.stop(loop_id, remove_state=False)

    def profile_changed(self, profile_id: str) -> None:
        for runtime in self.loops.values():
            if runtime.cfg.profile is not None and runtime.cfg.profile.profile == profile_id:
                runtime.profile_changed()

    def alarms_changed(self, source: str) -> None:
        """An alarm of `source` changed: its loop's state lists its active alarms."""
        runtime = self.loops.get(source)
        if runtime is not None:
            runtime.alarm_changed()
            runtime.publish(self.env.clock.monotonic())

    def supervise(self, now: float) -> None:
        waiting = self.env.registry.waiting
        if any(loop_id not in self.loops for loop_id in self._configured) or any(
            r.cfg.sensor.device in waiting for r in self.loops.values()
        ):
            self.reconcile()  # an orphan's grace may have run out, or a lease changed hands
        for runtime in self.loops.values():
            runtime.supervise(now)

    def on_command(self, message: Message) -> None:
        parts = self.env.registry.ctx.mqtt.topics.parts(message.topic)
        if len(parts) != 4:
            return
        _, _, loop_id, command = parts
        runtime = self.loops.get(loop_id)
        if runtime is None:
            if loop_id not in self._configured:
                log.warning("command %s for unknown loop %r dropped", command, loop_id)
            return  # another controller's loop
        try:
            runtime.command(parse_loop_command(command, message.payload))
        except (CommandError, PayloadError) as exc:
            log.warning("loop %s: %s command dropped: %s", loop_id, command, exc)
