"""Which loops this controller runs, fed from configuration and commands.

A controller runs a loop when it drives the loop's sensor device. A loop whose
device is not configured at all is run by the controller without an id (after
a short grace, since retained configuration arrives in no particular order) so
that someone reports it as faulted rather than nobody.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from services.common.mqtt import Message, MqttClient, PayloadError
from services.common.schema.commands import (
    AckCommand,
    AutotuneCommand,
    CommandError,
    parse_loop_command,
)
from services.common.schema.config import Device, Loop, Severity, with_actuator_types
from services.common.schema.target import CommandReply, LoopTarget
from services.controller.control.chiller import ChillerRuntime, Chillers
from services.controller.control.loop import LoopEnv, LoopRuntime
from services.controller.targets import Targets

log = logging.getLogger(__name__)


class LoopManager:
    def __init__(
        self,
        env: LoopEnv,
        configured_loops: Mapping[str, Loop],
        configured_devices: Mapping[str, Device],
        controller_id: str | None,
        orphan_grace_s: float,
        targets: Targets,
    ) -> None:
        self.env = env
        self.targets = targets
        self.loops: dict[str, LoopRuntime] = {}
        # Glycol chillers (loops with a `chiller` section) run beside the loops they cool.
        if env.chillers is None:
            env.chillers = Chillers()
        self.chillers: dict[str, ChillerRuntime] = env.chillers.running
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
            if loop is None or not self.owns(loop, now) or loop.chiller is not None:
                self.stop(loop_id, remove_state=loop is None)
        for loop_id in list(self.chillers):
            loop = self._configured.get(loop_id)
            if loop is None or not self.owns(loop, now) or loop.chiller is None:
                self.stop(loop_id, remove_state=loop is None)
        for loop_id, configured in self._configured.items():
            self._seen_at.setdefault(loop_id, now)
            if not self.owns(configured, now):
                continue
            loop = self._typed(configured)
            if loop is None:
                continue  # refused: what runs (if anything) goes on as it was
            if loop.chiller is not None:
                self._reconcile_chiller(loop)
                continue
            runtime = self.loops.get(loop_id)
            if runtime is None:
                runtime = LoopRuntime(loop, self.targets.for_loop(loop), self.env)
                self.loops[loop_id] = runtime
                log.info("loop %s: running (%s, %s)", loop_id, loop.kind, loop.mode)
                runtime.start()
            elif runtime.configured != loop:  # not `cfg`: a command must not be undone here
                runtime.configure(loop)
        for loop_id in list(self._seen_at):
            if loop_id not in self._configured:
                del self._seen_at[loop_id]

    def _typed(self, loop: Loop) -> Loop | None:
        """The loop with its outputs' types from its actuators (`Actuator.type`), or None
        when the two contradict each other (refused with the `<loop>-actuator-type` alarm)."""
        try:
            typed, why = with_actuator_types(loop, self._devices.get), None
        except ValueError as exc:
            typed, why = None, str(exc)
        self.env.alarms.condition(
            f"{loop.id}-actuator-type",
            why is not None,
            f"Refused the configuration of loop {loop.id}: {why}",
            kind="config",
            severity=Severity.high,
            source=loop.id,
        )
        return typed

    def _reconcile_chiller(self, loop: Loop) -> None:
        chiller = self.chillers.get(loop.id)
        if chiller is None:
            chiller = ChillerRuntime(
                loop, self.targets.for_loop(loop), self.env, lambda: self.loops.values()
            )
            self.chillers[loop.id] = chiller
            log.info("chiller %s: running (%s)", loop.id, loop.mode)
            chiller.start()
        elif chiller.configured != loop:
            chiller.configure(loop)

    @property
    def running(self) -> dict[str, LoopRuntime | ChillerRuntime]:
        return {**self.loops, **self.chillers}

    def stop(self, loop_id: str, remove_state: bool) -> None:
        chiller = self.chillers.pop(loop_id, None)
        if chiller is not None:
            log.info("chiller %s: stopped", loop_id)
            chiller.stop(remove_state=remove_state)
        runtime = self.loops.pop(loop_id, None)
        if runtime is not None:
            log.info("loop %s: stopped", loop_id)
            runtime.stop(remove_state=remove_state)
        if remove_state:  # deleted, not handed over: its target goes with it
            self.targets.forget(loop_id)

    def adopted(self, target: LoopTarget) -> None:
        runtime = self.running.get(target.loop)
        if runtime is not None:
            runtime.adopt(target)

    def stop_all(self) -> None:
        for loop_id in list(self.running):
            self.stop(loop_id, remove_state=False)

    def abandon_all(self) -> None:
        """The controller dies (kill -9): the loops stop deciding, and switch nothing."""
        for runtime in self.loops.values():
            runtime.abandon()
        self.loops.clear()

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
        chiller = self.chillers.get(source)
        if chiller is not None:
            chiller.publish(self.env.clock.monotonic())

    def publish_all(self, now: float) -> None:
        for runtime in self.running.values():
            runtime.publish(now, force=True)

    def supervise(self, now: float) -> None:
        waiting = self.env.registry.waiting
        running = self.running
        if any(loop_id not in running for loop_id in self._configured) or any(
            r.cfg.sensor.device in waiting for r in running.values()
        ):
            self.reconcile()  # an orphan's grace may have run out, or a lease changed hands
        for runtime in self.running.values():
            runtime.supervise(now)

    def on_command(self, message: Message) -> None:
        """`cmd/loops/<loop>/<command>`: applied once, here, by the controller that runs
        the loop; the sender hears the result when it asked (MQTT 5 response topic)."""
        mqtt = self.env.registry.ctx.mqtt
        parts = mqtt.topics.parts(message.topic)
        if len(parts) != 4:
            return
        _, _, loop_id, command = parts
        if loop_id in self.chillers:
            self._chiller_command(self.chillers[loop_id], message, command)
            return
        runtime = self.loops.get(loop_id)
        if runtime is None:
            if loop_id not in self._configured:
                log.warning("command %s for unknown loop %r dropped", command, loop_id)
                _reply(
                    mqtt,
                    message,
                    CommandReply(
                        ok=False,
                        loop=loop_id,
                        command=command,
                        runs=False,
                        error=f"this controller has no loop {loop_id!r}",
                    ),
                )
            return  # another controller's loop: it answers
        by = message.user_property("by") or "mqtt"
        try:
            parsed = parse_loop_command(command, message.payload)
            if isinstance(parsed, AckCommand):
                count = self.env.alarms.acknowledge_source(loop_id, by)
                log.info("loop %s: %d alarms acknowledged by %s", loop_id, count, by)
                target = runtime.target
            elif isinstance(parsed, AutotuneCommand):
                runtime.autotune(parsed, by)
                target = runtime.target
            else:
                target = runtime.command(parsed, by)
        except (CommandError, PayloadError) as exc:
            log.warning("loop %s: %s command from %s refused: %s", loop_id, command, by, exc)
            runtime.refused(command, str(exc), by)
            _reply(
                mqtt,
                message,
                CommandReply(
                    ok=False, loop=loop_id, command=command, error=str(exc), target=runtime.target
                ),
            )
            return
        runtime.accepted()
        _reply(mqtt, message, CommandReply(ok=True, loop=loop_id, command=command, target=target))

    def _chiller_command(self, chiller: ChillerRuntime, message: Message, command: str) -> None:
        """A chiller takes the target's commands (its mode: `off` stops it), nothing else."""
        mqtt = self.env.registry.ctx.mqtt
        by = message.user_property("by") or "mqtt"
        try:
            parsed = parse_loop_command(command, message.payload)
            if isinstance(parsed, AckCommand):
                self.env.alarms.acknowledge_source(chiller.id, by)
                target = chiller.target
            elif isinstance(parsed, AutotuneCommand):
                raise CommandError("a chiller is a thermostat: there is nothing to autotune")
            else:
                target = chiller.command(parsed, by)
        except (CommandError, PayloadError) as exc:
            log.warning("chiller %s: %s command from %s refused: %s", chiller.id, command, by, exc)
            _reply(
                mqtt,
                message,
                CommandReply(ok=False, loop=chiller.id, command=command, error=str(exc)),
            )
            return
        _reply(
            mqtt, message, CommandReply(ok=True, loop=chiller.id, command=command, target=target)
        )


def _reply(mqtt: MqttClient, message: Message, reply: CommandReply) -> None:
    # Only under <prefix>/replies/: a sender must not make the controller publish elsewhere.
    topic = message.response_topic
    if (
        topic
        and mqtt.topics.parts(topic)[:1] == ["replies"]
        and "+" not in topic
        and "#" not in topic
    ):
        mqtt.publish(
            message.response_topic,
            reply.model_dump_json().encode(),
            qos=1,
            correlation=message.correlation,
        )
