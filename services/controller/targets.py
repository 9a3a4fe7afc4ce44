"""The targets of the loops this controller runs — it is their only writer.

A target changes only when a command is applied (`commit`): the revision goes up,
the new target is written to disk *before* anything acts on it, then published
retained on `<prefix>/target/<loop>`. A kill -9 at any point leaves the old target
everywhere or the new one everywhere: what is on disk is re-published at start.

A loop seen for the first time starts from its configuration's target fields
(provisional). If the broker still holds a target this controller published
before (its disk was lost or damaged), that one is adopted instead — but never
over a target from disk or a command applied since.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from services.common.clock import Clock
from services.common.mqtt import Message, MqttClient
from services.common.schema.config import Loop
from services.common.schema.target import LoopTarget
from services.controller.state_file import Snapshot
from services.controller.validation import why

log = logging.getLogger(__name__)

Adopted = Callable[[LoopTarget], None]


class Targets:
    def __init__(self, mqtt: MqttClient, clock: Clock, save: Callable[[], None]) -> None:
        self.mqtt = mqtt
        self.clock = clock
        self._save = save
        self._targets: dict[str, LoopTarget] = {}
        self._provisional: set[str] = set()
        self._on_adopted: list[Adopted] = []
        self._from_broker: dict[str, LoopTarget] = {}  # retained, for loops not yet running

    # disk --------------------------------------------------------------------------------------
    def restore(self, snapshot: Snapshot) -> None:
        for loop_id, data in snapshot.targets.items():
            try:
                target = LoopTarget.model_validate(data)
            except ValidationError as exc:
                log.warning("stored target of loop %s does not load: %s", loop_id, why(exc))
                continue
            if target.loop == loop_id:
                self._targets[loop_id] = target

    def snapshot_into(self, snapshot: Snapshot) -> None:
        snapshot.targets = {
            loop_id: target.model_dump(mode="json")
            for loop_id, target in self._targets.items()
            if loop_id not in self._provisional
        }

    # MQTT --------------------------------------------------------------------------------------
    def start(self) -> None:
        self.mqtt.subscribe(self.mqtt.topics.all_loop_targets, self._on_retained)
        self.mqtt.on_connect(self.publish_all)

    def on_adopted(self, handler: Adopted) -> None:
        self._on_adopted.append(handler)

    def _on_retained(self, message: Message) -> None:
        """The broker's copy of a target: adopted only over a provisional one."""
        if not message.retain or not message.payload.strip():
            return  # our own live publishes coming back
        loop_id = message.topic.rsplit("/", 1)[-1]
        if loop_id in self._targets and loop_id not in self._provisional:
            return
        try:
            target = LoopTarget.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning("ignored the broker's target on %s: %s", message.topic, why(exc))
            return
        if target.loop != loop_id:
            return
        if loop_id not in self._targets:
            self._from_broker[loop_id] = target  # its configuration has not come yet
            return
        log.info("loop %s: took the broker's target (revision %d)", loop_id, target.revision)
        self._provisional.discard(loop_id)
        self._targets[loop_id] = target
        self._save()
        for handler in self._on_adopted:
            handler(target)

    def publish(self, target: LoopTarget) -> None:
        self.mqtt.publish(
            self.mqtt.topics.loop_target(target.loop),
            target.model_dump_json().encode(),
            qos=1,
            retain=True,
        )

    def publish_all(self) -> None:
        """After every (re)connect: the broker's copies may be stale or gone."""
        for target in self._targets.values():
            self.publish(target)

    # the targets -------------------------------------------------------------------------------
    def get(self, loop_id: str) -> LoopTarget | None:
        return self._targets.get(loop_id)

    def for_loop(self, loop: Loop) -> LoopTarget:
        """The loop's target; a new loop starts (provisionally) from its configuration."""
        target = self._targets.get(loop.id)
        if target is not None:
            return target
        adopted = self._from_broker.pop(loop.id, None)
        if adopted is not None:
            log.info("loop %s: took the broker's target (revision %d)", loop.id, adopted.revision)
            self._targets[loop.id] = adopted
            self._save()
            return adopted
        target = LoopTarget.of(loop, ts=self.clock.now())
        self._targets[loop.id] = target
        self._provisional.add(loop.id)
        self.publish(target)  # the target in force, for everyone to see
        return target

    def commit(self, target: LoopTarget) -> LoopTarget:
        """Store a changed target: revision + 1, on disk, then published."""
        current = self._targets.get(target.loop)
        revision = (current.revision if current else 0) + 1
        target = target.model_copy(update={"revision": revision})
        self._targets[target.loop] = target
        self._provisional.discard(target.loop)
        self._save()  # before anyone acts on it
        self.publish(target)
        return target

    def forget(self, loop_id: str) -> None:
        """The loop was deleted: its target goes too (a new loop of that id starts afresh)."""
        self._from_broker.pop(loop_id, None)
        if self._targets.pop(loop_id, None) is not None:
            self._provisional.discard(loop_id)
            self._save()
            self.mqtt.publish(self.mqtt.topics.loop_target(loop_id), None, qos=1, retain=True)
