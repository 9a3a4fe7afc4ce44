"""Device leases: a device is driven by one controller instance at a time.

Every controller instance (a random id per process, plus `MAELSTROM_CONTROLLER_ID`)
publishes, retained, on `<prefix>/lease/<device>` a lease for each device it drives,
and renews it every `renew_s`. Each lease carries an MQTT 5 message expiry of
`3 × renew_s`: a controller that dies (kill -9, power cut, network gone) stops
renewing, and the broker itself drops its retained lease, so a standby controller
takes over within that time. (A last will cannot do this: MQTT allows one will per
client, and ours already says `offline` on the status topic.) A clean stop releases
its leases at once.

A controller never drives a device whose lease another instance holds (received,
or renewed, less than `3 × renew_s` ago): it logs why and raises `<device>-lease`.
When two claim at once (both started together), the older claim wins — the same
comparison on both sides, so both agree — and the other lets go without commanding
anything.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from services.common.clock import Clock
from services.common.mqtt import Message, MqttClient
from services.common.schema.config import Severity
from services.controller.alarms import AlarmManager

log = logging.getLogger(__name__)


class Lease(BaseModel):
    device: str
    instance: str
    controller_id: str | None = None
    claimed_at: float  # wall time of the claim: the older claim wins a tie
    ts: float


@dataclass
class _Held:
    lease: Lease
    heard_at: float  # monotonic


def new_instance_id(controller_id: str | None) -> str:
    return f"{controller_id or 'controller'}-{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(
        self,
        mqtt: MqttClient,
        clock: Clock,
        alarms: AlarmManager,
        instance: str,
        controller_id: str | None,
        renew_s: float,
        on_lost: Callable[[str], None],
    ) -> None:
        self.mqtt = mqtt
        self.clock = clock
        self.alarms = alarms
        self.instance = instance
        self.controller_id = controller_id
        self.renew_s = renew_s
        self.on_lost = on_lost
        self.mine: dict[str, Lease] = {}
        self._others: dict[str, _Held] = {}
        self._renewed_at = -float("inf")

    @property
    def valid_s(self) -> float:
        return 3 * self.renew_s

    def start(self) -> None:
        self.mqtt.subscribe(self.mqtt.topics.all_leases, self._on_lease)

    # queries ------------------------------------------------------------------------------
    def holder(self, device_id: str) -> Lease | None:
        """Another instance's live lease on `device_id`, or None."""
        held = self._others.get(device_id)
        if held is None or self.clock.monotonic() - held.heard_at > self.valid_s:
            return None
        return held.lease

    # claiming -------------------------------------------------------------------------------
    def claim(self, device_id: str) -> bool:
        """Take the lease (True), or report who has it (False, with an alarm)."""
        other = self.holder(device_id)
        if other is not None:
            self._refuse(device_id, other)
            return False
        now = self.clock.now()
        lease = Lease(
            device=device_id,
            instance=self.instance,
            controller_id=self.controller_id,
            claimed_at=now,
            ts=now,
        )
        self.mine[device_id] = lease
        self._publish(lease)
        self.alarms.condition(self._alarm(device_id), False)
        return True

    def release(self, device_id: str) -> None:
        if self.mine.pop(device_id, None) is not None:
            self.mqtt.publish(self.mqtt.topics.lease(device_id), None, qos=1, retain=True)

    def release_all(self) -> None:
        for device_id in list(self.mine):
            self.release(device_id)

    def supervise(self) -> None:
        if self.clock.monotonic() - self._renewed_at < self.renew_s:
            return
        self._renewed_at = self.clock.monotonic()
        for lease in self.mine.values():
            self._publish(lease.model_copy(update={"ts": self.clock.now()}))

    # MQTT -------------------------------------------------------------------------------------
    def _publish(self, lease: Lease) -> None:
        self.mqtt.publish(
            self.mqtt.topics.lease(lease.device),
            lease.model_dump(mode="json"),
            qos=1,
            retain=True,
            expiry_s=self.valid_s,
        )

    def _on_lease(self, message: Message) -> None:
        parts = self.mqtt.topics.parts(message.topic)
        if len(parts) != 2:
            return
        device_id = parts[1]
        if not message.payload:
            self._others.pop(device_id, None)  # released
            return
        try:
            lease = Lease.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning("dropped lease on %s: %s", message.topic, exc.errors()[0]["msg"])
            return
        if lease.instance == self.instance:
            return  # our own, coming back
        self._others[device_id] = _Held(lease, self.clock.monotonic())
        mine = self.mine.get(device_id)
        if mine is not None and (lease.claimed_at, lease.instance) < (
            mine.claimed_at,
            mine.instance,
        ):
            del self.mine[device_id]  # the older claim wins; the topic is theirs now
            self._refuse(device_id, lease)
            self.on_lost(device_id)

    def _alarm(self, device_id: str) -> str:
        return f"{device_id}-lease"

    def _refuse(self, device_id: str, other: Lease) -> None:
        why = (
            f"Device {device_id} is driven by controller {other.instance}; "
            f"this controller ({self.instance}) leaves it alone"
        )
        if not self.alarms.is_active(self._alarm(device_id)):
            log.warning("%s", why)
        self.alarms.condition(
            self._alarm(device_id),
            True,
            why,
            kind="lease",
            severity=Severity.high,
            source=device_id,
        )
