"""A simulated iSpindel floating in the simulated fermenter: it publishes the beer's
gravity (from the fermenter's attenuation curve), temperature and battery voltage on
`ispindel/<name>/…` every `interval` s, as a real one does over MQTT — so the demo and
the tests exercise gravity steps through the same iSpindel device code as real ones.

Modes (`{"hydrometer": …}` on `<prefix>/cmd/devices/<device>/simulate`): `normal`,
`silent` (a flat battery or out of Wi-Fi range: nothing arrives), `noisy` (a tilted or
foam-covered iSpindel: ± 0.005 SG), `low_battery` (3.3 V reported).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from services.common.clock import Clock
from services.common.mqtt import MqttClient
from services.common.topics import NativeTopics
from services.controller.sim.physics import Fermenter

log = logging.getLogger(__name__)

INTERVAL_S = 900.0
"""An iSpindel's usual reporting period (15 min)."""
NOISE_SG = 0.0004
NOISY_SG = 0.005
MODES = ("normal", "silent", "noisy", "low_battery")


class SimulatedHydrometer:
    def __init__(
        self,
        name: str,
        plant: Fermenter,
        clock: Clock,
        mqtt: MqttClient,
        *,
        interval: float = INTERVAL_S,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self.plant = plant
        self.clock = clock
        self.mqtt = mqtt
        self.interval = interval
        self.mode = "normal"
        self.sent = 0
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown hydrometer mode {mode!r}; use {', '.join(MODES)}")
        self.mode = mode

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sim-ispindel-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:  # a report when it wakes up (is switched on), then every interval
            try:
                self.report()
            except Exception:
                log.exception("simulated iSpindel %s failed a report", self.name)
            await self.clock.sleep(self.interval)

    def report(self) -> None:
        """One report: gravity, temperature and battery, each on its own topic."""
        if self.mode == "silent":
            return
        noise = NOISY_SG if self.mode == "noisy" else NOISE_SG
        gravity = self.plant.gravity() + self._rng.gauss(0.0, noise)
        battery = 3.3 if self.mode == "low_battery" else 4.05
        for field, value in (
            ("battery", f"{battery:.2f}"),
            ("temperature", f"{self.plant.beer:.2f}"),
            ("gravity", f"{gravity:.4f}"),  # last: the reading a gravity step acts on
        ):
            self.mqtt.publish(NativeTopics.ispindel(self.name, field), value, qos=0)
        self.sent += 1
