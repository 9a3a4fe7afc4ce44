"""Readings taken while the broker is away, delivered once it is back.

The controller goes on measuring and controlling with no broker (its boards are on
serial). What it would have published on `data/…` — loop states and sensor readings,
each with the wall time it was taken (`ts`) — is held here instead, bounded in count
and in age (on the monotonic clock, so a wall-clock step neither keeps nor drops
anything early), and published in order once the broker is back: on the same topics,
with the same payloads and retain flags, so the retained copy ends at the newest and
the history recorder stores every reading at the time it was taken.

While anything is held, new readings queue behind it, so subscribers see readings
in the order they were taken. The backlog is sent at QoS 1 in slices, each waiting
for the broker's acknowledgements: nothing is let go before the broker has it, and
paho's own queue is never overrun. A reading that cannot be held (the bound) is
dropped oldest first, counted and said once in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from services.common.clock import Clock
from services.common.mqtt import MqttClient, encode_payload

log = logging.getLogger(__name__)

MAX_HELD = 100_000
"""Readings held at most (a fermenter's two sensors and loop: about 10 hours)."""
MAX_AGE_S = 24 * 3600.0
"""Older readings are let go: the recorder refuses nothing this old, but it must end."""
SLICE = 200
"""Backlog messages in flight before waiting for the broker's acknowledgements."""


@dataclass(frozen=True)
class _Held:
    taken_at: float  # monotonic
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Backfill:
    """`publish()` for data: straight through while connected, held while not."""

    def __init__(
        self,
        mqtt: MqttClient,
        clock: Clock,
        max_held: int = MAX_HELD,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        self._mqtt = mqtt
        self._clock = clock
        self.max_age_s = max_age_s
        self._held: deque[_Held] = deque(maxlen=max_held)
        self._draining: asyncio.Task[None] | None = None
        self.delivered = 0  # backlog messages the broker acknowledged
        self.dropped = 0  # readings let go: over the bound or too old
        self._warned = False

    @property
    def held(self) -> int:
        return len(self._held)

    def start(self) -> None:
        self._mqtt.on_connect(self._on_connect)

    async def stop(self) -> None:
        if self._draining is not None:
            self._draining.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._draining

    def publish(self, topic: str, payload: Any, *, qos: int = 0, retain: bool = False) -> None:
        if not self._held and self._mqtt.connected.is_set():
            self._mqtt.publish(topic, payload, qos=qos, retain=retain)
            return
        now = self._clock.monotonic()
        if len(self._held) == self._held.maxlen:
            self._drop(1, "the backlog is full")
        self._held.append(_Held(now, topic, encode_payload(payload), qos, retain))
        self._expire(now)
        if self._mqtt.connected.is_set():
            self._on_connect()  # connected meanwhile: make sure a drain runs

    def _on_connect(self) -> None:
        if self._held and (self._draining is None or self._draining.done()):
            self._draining = asyncio.get_running_loop().create_task(
                self._drain(), name="controller-backfill"
            )

    async def _drain(self) -> None:
        if self._held:
            log.info("broker back: publishing %d readings taken while it was away", self.held)
        while self._held and self._mqtt.connected.is_set():
            self._expire(self._clock.monotonic())
            batch = [self._held[i] for i in range(min(SLICE, len(self._held)))]
            infos = [self._mqtt.publish(h.topic, h.payload, qos=1, retain=h.retain) for h in batch]
            sent = 0
            for info in infos:
                while not info.is_published() and info.rc == 0:
                    if not self._mqtt.connected.is_set():
                        break
                    await asyncio.sleep(0.005)
                if not info.is_published():
                    break
                sent += 1
            # Only what the broker acknowledged leaves the backlog; the rest goes again
            # (a duplicate has its reading's own `ts`: the recorder stores it once).
            acknowledged = {id(h) for h in batch[:sent]}
            while self._held and id(self._held[0]) in acknowledged:
                self._held.popleft()
            self.delivered += sent
            if sent < len(batch):
                if self._mqtt.connected.is_set():
                    await asyncio.sleep(0.1)  # paho's queue was full: let it empty
                else:
                    return  # lost the broker again: the next connect drains the rest
        if not self._held:
            self._warned = False

    def _expire(self, now: float) -> None:
        old = 0
        while self._held and now - self._held[0].taken_at > self.max_age_s:
            self._held.popleft()
            old += 1
        if old:
            self._drop(old, f"older than {self.max_age_s:g} s")

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        if not self._warned:
            self._warned = True
            log.warning("broker away: readings dropped from the backlog (%s)", why)
