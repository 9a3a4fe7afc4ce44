"""Which devices this controller drives, and the IO points they read and write.

The registry starts a driver for every enabled device assigned to this
controller (`controller_id` equal to `MAELSTROM_CONTROLLER_ID`, both possibly
unset), reconfigures it in place when only its IO list changes, restarts it when
its link changes, and stops it when it is deleted. It publishes sensor readings
(on change, and at least every `publish_every_s`) and raises digital-input
alarms.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from services.common.clock import Clock
from services.common.mqtt import MqttClient
from services.common.schema.config import Device, DeviceKind, DigitalInput
from services.controller.alarms import AlarmManager
from services.controller.backfill import Backfill
from services.controller.devices.boards import BoardDevice, SimulatedDevice
from services.controller.devices.leases import Leases
from services.controller.devices.mqtt_devices import make_mqtt_device
from services.controller.devices.points import ActuatorPoint, SensorPoint
from services.controller.options import Timing

log = logging.getLogger(__name__)


class DeviceDriver(Protocol):
    device: Device

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def reconfigure(self, device: Device) -> bool: ...

    def supervise(self, now: float) -> None: ...


@dataclass
class DeviceContext:
    clock: Clock
    mqtt: MqttClient
    alarms: AlarmManager
    timing: Timing
    controller_id: str | None = None
    sim_seed: int | None = None
    leases: Leases | None = None  # None: drive every assigned device (no arbitration)
    data: Backfill | None = None  # readings held while the broker is away; None: MQTT only
    sim_boards: dict[str, Any] | None = None  # simulated boards kept across restarts


class Registry:
    def __init__(self, ctx: DeviceContext) -> None:
        self.ctx = ctx
        self.drivers: dict[str, DeviceDriver] = {}
        self.sensors: dict[tuple[str, str], SensorPoint] = {}
        self.actuators: dict[tuple[str, str], ActuatorPoint] = {}
        self._topics = ctx.mqtt.topics
        self.waiting: dict[str, Device] = {}  # assigned, but another controller holds the lease
        self._tasks: set[asyncio.Task[None]] = set()

    # points -----------------------------------------------------------------------------------
    def sensor(self, device_id: str, sensor_id: str) -> SensorPoint:
        key = (device_id, sensor_id)
        point = self.sensors.get(key)
        if point is None:
            point = self.sensors[key] = SensorPoint(device_id, sensor_id)
        return point

    def actuator(self, device_id: str, actuator_id: str) -> ActuatorPoint:
        key = (device_id, actuator_id)
        point = self.actuators.get(key)
        if point is None:
            point = self.actuators[key] = ActuatorPoint(device_id, actuator_id)
        return point

    # devices ----------------------------------------------------------------------------------
    def assigned(self, device: Device) -> bool:
        return device.enabled and device.controller_id == self.ctx.controller_id

    def drives(self, device_id: str) -> bool:
        return device_id in self.drivers

    def simulated(self, device_id: str) -> SimulatedDevice | None:
        driver = self.drivers.get(device_id)
        return driver if isinstance(driver, SimulatedDevice) else None

    async def apply(self, device_id: str, device: Device | None) -> None:
        """Bring the running drivers in line with a device's new configuration."""
        driver = self.drivers.get(device_id)
        if device is not None and not self.assigned(device):
            device = None
        if driver is not None and device is not None and driver.reconfigure(device):
            return
        if driver is not None:
            del self.drivers[device_id]
            log.info("device %s: stopping", device_id)
            await driver.stop()
            if self.ctx.leases is not None:
                self.ctx.leases.release(device_id)
        self.waiting.pop(device_id, None)
        if device is None:
            return
        if self.ctx.leases is not None and not self.ctx.leases.claim(device_id):
            self.waiting[device_id] = device  # retried when the lease lapses
            return
        driver = self._make(device)
        self.drivers[device_id] = driver
        log.info("device %s (%s): starting", device_id, device.kind)
        await driver.start()

    def _make(self, device: Device) -> DeviceDriver:
        if device.kind == DeviceKind.simulated:
            return SimulatedDevice(device, self)
        if device.kind == DeviceKind.serial:
            return BoardDevice(device, self)
        return make_mqtt_device(device, self)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for device_id in list(self.drivers):
            await self.apply(device_id, None)
        self.waiting.clear()

    async def abandon(self) -> None:
        """The controller dies (kill -9): every board's port closes without a word (its
        watchdog takes over), leases are left to lapse; nothing is switched off."""
        for task in list(self._tasks):
            task.cancel()
        for driver in self.drivers.values():
            abandon = getattr(driver, "abandon", None)
            if abandon is not None:
                await abandon()
        self.drivers.clear()
        self.waiting.clear()

    def leases_free(self, device_id: str) -> bool:
        """No other controller holds `device_id`'s lease."""
        return self.ctx.leases is None or self.ctx.leases.holder(device_id) is None

    def lease_lost(self, device_id: str) -> None:
        """Another controller's older claim won: let go of the device without a word."""
        driver = self.drivers.pop(device_id, None)
        if driver is None:
            return
        self.waiting[device_id] = driver.device
        if hasattr(driver, "quiet"):
            driver.quiet = True
        self._spawn(driver.stop())

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # publishing -------------------------------------------------------------------------------------
    def reading_changed(self, point: SensorPoint, now: float | None = None) -> None:
        """Publish a sensor's reading if it changed or the last one is getting old."""
        now = self.ctx.clock.monotonic() if now is None else now
        shown = (None if point.error else point.value, point.error)
        if shown == point.published and now - point.published_at < self.ctx.timing.publish_every_s:
            return
        point.published = shown
        point.published_at = now
        value = shown[0]
        publish = self.ctx.data.publish if self.ctx.data is not None else self.ctx.mqtt.publish
        publish(
            self._topics.sensor_reading(point.device, point.sensor),
            {
                "value": None if value is None else round(value, 4),
                "unit": point.unit,
                "ts": self.ctx.clock.now(),  # wall time: point times are monotonic
                "error": point.error,
            },
            # QoS 1: a reading in flight when the broker dies is sent again (history keeps
            # every one); a few a second per sensor at most. Retained for late subscribers.
            qos=1,
            retain=True,
        )

    def input_changed(self, device: Device, config: DigitalInput, active: bool) -> None:
        """A digital input's level: published as a 0/1 reading; raises its alarm while active."""
        point = self.sensor(device.id, config.id)
        point.unit = ""
        point.reading(1.0 if active else 0.0, None, self.ctx.clock.monotonic())
        self.reading_changed(point)
        if config.alarm_text:
            self.ctx.alarms.condition(
                f"{device.id}-{config.id}",
                active,
                config.alarm_text,
                kind="input",
                severity=config.severity,
                source=device.id,
            )

    def supervise(self, now: float) -> None:
        for driver in self.drivers.values():
            driver.supervise(now)
        leases = self.ctx.leases
        if leases is not None:
            leases.supervise()
            for device_id, device in list(self.waiting.items()):
                if leases.holder(device_id) is None:  # lapsed or released: take over
                    log.info("device %s: its lease is free; driving it", device_id)
                    self.waiting.pop(device_id)
                    self._spawn(self.apply(device_id, device))
