"""Serial and simulated boards as devices: config ↔ protocol, readings → points.

`BoardDevice` maps a configured device onto what the board announced in its
hello (sensors by address, then by name, then by position; actuators and inputs
by channel), feeds readings into sensor points, and drives the board's outputs
from actuator points. `SimulatedDevice` is the same, plus a simulated board on a
pseudo-terminal that it starts and stops.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from services.common.schema.config import Device, DigitalInput, Sensor, Severity
from services.common.schema.state import DeviceStatus
from services.controller.devices import protocol as p
from services.controller.devices.board_safety import BoardDuty
from services.controller.devices.points import CELSIUS, RECOVER_AFTER, ActuatorPoint
from services.controller.devices.serial_board import BoardInfo, SerialBoard
from services.controller.events import events
from services.controller.sim.board import SimulatedBoard
from services.controller.sim.hydrometer import SimulatedHydrometer
from services.controller.sim.physics import Fermenter, Kettle, make_plant

if TYPE_CHECKING:
    from services.controller.devices.registry import Registry

log = logging.getLogger(__name__)

BOARD_ERRORS = {
    "nc": "missing (the probe did not answer)",
    "crc": "CRC error (bad wiring or interference)",
    "conv": "conversion timed out",
}
TRIP_ERRORS = {
    "nc": "not answering",
    "crc": "CRC errors",
    "conv": "the probe restarted: its power-on 85.0 °C",
}
FIRMWARE_FAULT_READINGS = 3  # devices/arduino/maelstrom/guards.h


def address_key(address: str) -> str:
    """A DS18B20 written any of the usual ways → one key: its 48-bit serial, Linux order.

    `28FFC579A2160312` (ROM bytes in bus order, as a board's 1-Wire search returns
    them), `28-0316a279c5ff` (Linux w1) and `0316A279C5FF` (Tasmota's Id) are one probe.
    Anything else (a name like `beer`) is compared as it is, ignoring case.
    """
    text = address.replace("-", "").replace(":", "").lower()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return text
    if len(raw) == 8:  # family, serial (little-endian), CRC
        return raw[1:7][::-1].hex()
    if len(raw) == 7:  # family + serial, Linux order
        return raw[1:].hex()
    return text


def match_sensors(sensors: list[Sensor], info: BoardInfo) -> dict[int, Sensor]:
    """Board sensor index → configured sensor."""
    by_address = {address_key(a): i for i, a in info.sensors.items()}
    mapping: dict[int, Sensor] = {}
    for position, sensor in enumerate(sensors):
        if sensor.address:
            key = sensor.address.strip()
            index = (
                int(key[1:])
                if key.startswith("#") and key[1:].isdigit()
                else by_address.get(address_key(key))
            )
        else:
            index = by_address.get(address_key(sensor.id))
            if index is None and position in info.sensors:
                index = position
        if index is None or index not in info.sensors or index in mapping:
            continue
        mapping[index] = sensor
    return mapping


class BoardDevice:
    """A board speaking the serial protocol, on a port or a URL."""

    def __init__(self, device: Device, registry: Registry) -> None:
        self.device = device
        self.registry = registry
        self.board: SerialBoard | None = None
        self._sensors: dict[int, Sensor] = {}
        self._inputs: dict[int, DigitalInput] = {}
        self._attached: list[str] = []
        self._info: BoardInfo | None = None  # the last hello
        self._fallback_alarmed = False
        self._told: dict[int, tuple[BoardDuty | None, object]] = {}  # channel → last duty told
        self._probe_trips: dict[int, str] = {}  # channel → the probe whose failures tripped it

    @property
    def offline_alarm(self) -> str:
        return f"{self.device.id}-offline"

    @property
    def fallback_alarm(self) -> str:
        return f"{self.device.id}-fallback"

    @property
    def limit_alarm(self) -> str:
        return f"{self.device.id}-limit"

    def port(self) -> str:
        assert self.device.serial is not None
        return self.device.serial.port

    def same_link(self, device: Device) -> bool:
        return (device.kind, device.serial, device.simulation) == (
            self.device.kind,
            self.device.serial,
            self.device.simulation,
        )

    async def start(self) -> None:
        ctx = self.registry.ctx
        self.board = SerialBoard(
            self.device.id,
            self.port(),
            ctx.clock,
            self,
            baud=self.device.serial.baud if self.device.serial else 57600,
            timing=ctx.timing.board,
        )
        self._attach_actuators()
        await self.board.start()

    async def stop(self) -> None:
        self._detach_actuators()
        if self.board is not None:
            await self.board.stop()
        now = self.registry.ctx.clock.monotonic()
        for io in (*self.device.sensors, *self.device.inputs):
            self.registry.sensor(self.device.id, io.id).lost("device removed", now)
        self.registry.ctx.alarms.forget_source(self.device.id)
        self._publish_status(None)  # not ours to report any more

    async def abandon(self) -> None:
        """The controller dies (kill -9): the port closes, nothing is switched off or said."""
        if self.board is not None:
            await self.board.abandon()

    def reconfigure(self, device: Device) -> bool:
        """Apply a changed configuration in place when the link is unchanged."""
        if not self.same_link(device) or device.serial != self.device.serial:
            return False
        # An actuator that keeps its id but moves (another channel, other polarity) lets
        # go of its old output like a removed one: otherwise the old channel's last state
        # would be refreshed to the board for ever.
        wiring = {a.id: (a.channel, a.inverted) for a in device.actuators}
        moved = {
            a.id
            for a in self.device.actuators
            if a.id in self._attached and wiring.get(a.id) != (a.channel, a.inverted)
        }
        self._detach_actuators(only=moved)
        self.device = device
        self._attach_actuators()
        if self.board is not None and self.board.info is not None:
            self._map(self.board.info)
        return True

    def supervise(self, now: float) -> None:
        """A probe the board stopped reporting (without saying why) is stale."""
        if self.board is None or not self.board.online:
            return
        self._tell_duties()
        self._clear_probe_trips()
        limit = self.registry.ctx.timing.board.lost_after_s
        for sensor in self._sensors.values():
            point = self.registry.sensor(self.device.id, sensor.id)
            if point.error is None and point.ts is not None and now - point.ts > limit:
                point.lost(f"stale (no reading for {now - point.ts:.0f} s)", now)
                self.registry.reading_changed(point, now)

    # actuators --------------------------------------------------------------------------------
    def _attach_actuators(self) -> None:
        assert self.board is not None
        board = self.board
        for actuator in self.device.actuators:
            if actuator.channel is None:
                log.warning(
                    "device %s: actuator %s has no channel; it cannot be switched",
                    self.device.id,
                    actuator.id,
                )
                continue
            point = self.registry.actuator(self.device.id, actuator.id)
            channel, inverted = actuator.channel, actuator.inverted
            if inverted and actuator.id not in self._attached:
                # The board's safe state (reset, X, watchdog) drives the pin low, which
                # energises an active-low relay: polarity belongs in the firmware.
                log.warning(
                    "device %s: actuator %s is inverted on the host; if the host dies the "
                    "board's watchdog will switch it ON. Set active-low in the firmware instead.",
                    self.device.id,
                    actuator.id,
                )
            point.attach(lambda on, c=channel, i=inverted: board.set_output(c, on != i))
            point.trip_clearer = lambda c=channel: board.clear_limit(c)
            if actuator.id not in self._attached:
                self._attached.append(actuator.id)

    def _detach_actuators(self, only: set[str] | None = None) -> None:
        """Let go of actuators (all, or `only` these), switching their outputs off."""
        for actuator in self.device.actuators:
            if actuator.id not in self._attached or (only is not None and actuator.id not in only):
                continue
            self.registry.actuator(self.device.id, actuator.id).detach()
            if self.board is not None and actuator.channel is not None:
                self.board.set_output(actuator.channel, actuator.inverted)  # off
                self.board.forget_output(actuator.channel)
        self._attached = [a for a in self._attached if only is not None and a not in only]

    # what the board enforces by itself -----------------------------------------------------------
    def _tell_duties(self) -> None:
        """Each output's high limit and fallback thermostat, as its loop asks, on the board
        (the board sends nothing it already has)."""
        board = self.board
        if board is None or not board.online:
            return
        index_of = {s.id: (i, s.offset) for i, s in self._sensors.items()}
        for actuator in self.device.actuators:
            channel = actuator.channel
            if actuator.id not in self._attached or channel is None:
                continue
            duty = self.registry.actuator(self.device.id, actuator.id).duty
            told = (duty, self._sensors)
            if self._told.get(channel) == told:
                continue  # (duties and mappings compare by identity first: cheap)
            self._told[channel] = told
            found = None
            # The board judges its own probes only, and its "off" is the pin low: an
            # output inverted on the host would be switched ON by its limit.
            if duty is not None and duty.sensor.device == self.device.id and not actuator.inverted:
                found = index_of.get(duty.sensor.id)
            if found is None or duty is None:
                board.set_limit(channel, None)
                board.set_fallback(channel, None)
                continue
            index, offset = found  # the board reads raw: the calibration comes off
            if duty.limit_c is None:
                board.set_limit(channel, None)
            else:
                board.set_limit(channel, index, p.to_raw(duty.limit_c - offset))
            f = duty.fallback
            board.set_fallback(
                channel,
                None
                if f is None
                else p.SetFallback(
                    0,
                    channel,
                    index,
                    f.cools,
                    p.to_raw(f.setpoint_c - offset),
                    max(1, p.to_raw(f.differential_c)),
                    min(3600, round(f.min_off_s)),
                ),
            )

    def _duty(self, channel: int) -> tuple[str, BoardDuty | None]:
        for actuator in self.device.actuators:
            if actuator.channel == channel and actuator.id in self._attached:
                return actuator.id, self.registry.actuator(self.device.id, actuator.id).duty
        return f"channel {channel}", None

    def board_limit_tripped(self, trip: p.LimitTripped) -> None:
        sensor = self._sensors.get(trip.sensor)
        probe = sensor.id if sensor is not None else f"#{trip.sensor}"
        offset = sensor.offset if sensor is not None else 0.0
        name, duty = self._duty(trip.channel)
        if trip.celsius is None:
            # A failing probe: the loop already holds its outputs off and raises its sensor
            # alarm; the board's latch is the backstop against a host that would not. It is
            # cleared once the controller trusts the probe again (`_clear_probe_trips`).
            failure = TRIP_ERRORS.get(trip.error or "", trip.error)
            if trip.channel not in self._probe_trips and sensor is not None:
                self._probe_trips[trip.channel] = sensor.id
                self.registry.ctx.alarms.condition(
                    self.limit_alarm,
                    True,
                    f"Board {self.device.name or self.device.id} holds {name} off: probe "
                    f"{probe} failed {FIRMWARE_FAULT_READINGS} readings in a row ({failure}); "
                    "released once the probe reads sane again",
                    kind="board_limit",
                    severity=Severity.medium,
                    source=self.device.id,
                )
            return
        limit = f" {duty.limit_c:g} °C" if duty is not None and duty.limit_c else ""
        why = f"probe {probe} read {trip.celsius + offset:.1f} °C, at or above its{limit} limit"
        for point in self._points_on(trip.channel):
            if point.board_trip is None:
                log.warning(
                    "board %s: its high limit holds %s off: %s", self.device.id, point.actuator, why
                )
            point.board_trip = why

    def _clear_probe_trips(self) -> None:
        if self.board is None or not self._probe_trips:
            return
        for channel, sensor_id in list(self._probe_trips.items()):
            point = self.registry.sensor(self.device.id, sensor_id)
            if point.error is None and point.good_streak >= RECOVER_AFTER:
                del self._probe_trips[channel]
                log.info(
                    "board %s: probe %s sane again: its limit released", self.device.id, sensor_id
                )
                self.board.clear_limit(channel)
        if not self._probe_trips:
            self.registry.ctx.alarms.condition(self.limit_alarm, False)

    def board_fallback(self, channel: int, on: bool | None, seconds: int) -> None:
        alarms = self.registry.ctx.alarms
        if on is None:  # the board handed control back
            if self._fallback_alarmed:
                self._fallback_alarmed = False
                alarms.condition(self.fallback_alarm, False)
            return
        if not self._fallback_alarmed:
            self._fallback_alarmed = True
            alarms.condition(
                self.fallback_alarm,
                True,
                f"Board {self.device.name or self.device.id} stopped hearing the controller: "
                "its own fallback thermostat holds the outputs until it hears it again",
                kind="board_fallback",
                severity=Severity.medium,
                source=self.device.id,
            )
            name = self._duty(channel)[0]
            events.info("board %s: fallback thermostat holds %s (%s)", self.device.id, name, on)

    def output_fresh(self, channel: int) -> bool:
        now = self.registry.ctx.clock.monotonic()
        for point in self._points_on(channel):
            duty, decided = point.duty, point.decided_at
            if duty is not None and decided is not None and now - decided > duty.heartbeat_s:
                return False
        return True

    # BoardListener ----------------------------------------------------------------------------
    def board_online(self, info: BoardInfo) -> None:
        self._map(info)
        self._info = info
        self._told.clear()  # a new session (or a reset): the board knows nothing
        if self._probe_trips:  # and holds nothing latched
            self._probe_trips.clear()
            self.registry.ctx.alarms.condition(self.limit_alarm, False)
        self._tell_duties()
        self.registry.ctx.alarms.condition(self.offline_alarm, False)
        self._publish_status(True)

    def _publish_status(self, online: bool | None, reason: str | None = None) -> None:
        """`status/devices/<id>`: the board's link and firmware (Home Assistant shows both)."""
        ctx = self.registry.ctx
        topic = ctx.mqtt.topics.device_status(self.device.id)
        if online is None:
            ctx.mqtt.publish(topic, None, qos=1, retain=True)
            return
        info = self._info
        status = DeviceStatus(
            device=self.device.id,
            online=online,
            board=info.board if info else "",
            firmware=info.firmware if info else "",
            reason=reason,
            ts=ctx.clock.now(),
        )
        ctx.mqtt.publish(topic, status.model_dump_json().encode(), qos=1, retain=True)

    def _map(self, info: BoardInfo) -> None:
        self._sensors = match_sensors(self.device.sensors, info)
        for sensor in self.device.sensors:
            if sensor not in self._sensors.values():
                log.warning(
                    "device %s: sensor %s (address %r) not found on the board, which has %s",
                    self.device.id,
                    sensor.id,
                    sensor.address,
                    ", ".join(info.sensors.values()) or "no sensors",
                )
                point = self.registry.sensor(self.device.id, sensor.id)
                point.lost("not found on the board", self.registry.ctx.clock.monotonic())
                self.registry.reading_changed(point)
        for actuator in self.device.actuators:
            if actuator.channel is not None and actuator.channel not in info.actuators:
                log.warning(
                    "device %s: actuator %s: the board has no output channel %d",
                    self.device.id,
                    actuator.id,
                    actuator.channel,
                )
        self._inputs = {i.channel: i for i in self.device.inputs if i.channel is not None}
        for channel, level in info.inputs.items():
            self.board_input(channel, level)

    def _points_on(self, channel: int) -> list[ActuatorPoint]:
        return [
            self.registry.actuator(self.device.id, a.id)
            for a in self.device.actuators
            if a.channel == channel and a.id in self._attached
        ]

    def board_reset(self, info: BoardInfo) -> None:
        self._forced_off(reset=True)

    def board_outputs_off(self, why: str) -> None:
        log.info("board %s: every output off as of now (%s)", self.device.id, why)
        self._forced_off(reset=False)

    def _forced_off(self, *, reset: bool) -> None:
        now = self.registry.ctx.clock.monotonic()
        for actuator in self.device.actuators:
            if actuator.id in self._attached:
                point = self.registry.actuator(self.device.id, actuator.id)
                point.forced_off(now, reset=reset)
                if self.board is not None and actuator.channel is not None:
                    # the driver took the pin low; an inverted output's "off" is high
                    self.board.set_output(actuator.channel, point.desired != actuator.inverted)

    def board_output_trouble(self, channel: int, why: str | None) -> None:
        for point in self._points_on(channel):
            point.trouble = why

    def board_offline(self, reason: str) -> None:
        ctx = self.registry.ctx
        now = ctx.clock.monotonic()
        for actuator in self.device.actuators:
            if actuator.id in self._attached:  # nobody knows what an offline board does
                self.registry.actuator(self.device.id, actuator.id).confirmed = None
        for io in (*self.device.sensors, *self.device.inputs):
            point = self.registry.sensor(self.device.id, io.id)
            point.lost("board offline", now)  # an input's level too: an interlock fails safe
            self.registry.reading_changed(point, now)
        ctx.alarms.condition(
            self.offline_alarm,
            True,
            f"Board {self.device.name or self.device.id} offline: {reason}",
            kind="board_offline",
            severity=Severity.high,
            source=self.device.id,
        )
        self._publish_status(False, reason)

    def board_temperature(self, index: int, celsius: float | None, error: str | None) -> None:
        sensor = self._sensors.get(index)
        if sensor is None:
            return
        point = self.registry.sensor(self.device.id, sensor.id)
        point.unit = CELSIUS  # the protocol's unit, whatever the configuration says
        why = BOARD_ERRORS.get(error, error) if error else None
        point.reading(
            celsius, why, self.registry.ctx.clock.monotonic(), sensor.offset, ds18b20=True
        )
        self.registry.reading_changed(point)

    def board_input(self, channel: int, level: bool) -> None:
        config = self._inputs.get(channel)
        if config is not None:
            self.registry.input_changed(self.device, config, level == config.active_high)

    def board_output(self, channel: int, on: bool) -> None:
        for actuator in self.device.actuators:
            if actuator.channel == channel and actuator.id in self._attached:
                point = self.registry.actuator(self.device.id, actuator.id)
                point.confirmed = on != actuator.inverted


KETTLE_CONTACTOR = 3
"""The simulated kettle's master-contactor output."""


class SimulatedDevice(BoardDevice):
    """A simulated board on a pty, driven through the very same `SerialBoard`."""

    def __init__(self, device: Device, registry: Registry) -> None:
        super().__init__(device, registry)
        ctx = registry.ctx
        seed = None if ctx.sim_seed is None else ctx.sim_seed + sum(map(ord, device.id))
        kept = ctx.sim_boards
        # Boards kept across controller restarts go on running when it stops, like real
        # hardware: the next controller opens the same port (and the board resets).
        self._kept = kept is not None
        sim = kept.get(device.id) if kept is not None else None
        self.sim: SimulatedBoard = sim or SimulatedBoard(
            device.id,
            make_plant(device.simulation or "fermenter"),
            ctx.clock,
            interval=ctx.timing.sim_interval_s,
            seed=seed if seed is not None else random.randrange(1 << 30),
        )
        if kept is not None:
            kept[device.id] = self.sim

        # a fermenter has a simulated iSpindel in it: `ispindel/<device id>/gravity`
        plant = self.sim.plant
        self.hydrometer = (
            SimulatedHydrometer(device.id, plant, ctx.clock, ctx.mqtt, seed=seed)
            if isinstance(plant, Fermenter)
            else None
        )

    def port(self) -> str:
        return self.sim.port

    def _wire_plant(self) -> None:
        """A contactor configured on the kettle's channel 3 is wired in series with the
        element (the simulation's wiring follows the brewer's configuration)."""
        if isinstance(self.sim.plant, Kettle):
            self.sim.plant.contactor_wired = any(
                a.channel == KETTLE_CONTACTOR for a in self.device.actuators
            )

    def reconfigure(self, device: Device) -> bool:
        done = super().reconfigure(device)
        self._wire_plant()
        return done

    def channel_of(self, actuator_id: str) -> int | None:
        """The board channel a configured actuator is wired to."""
        for actuator in self.device.actuators:
            if actuator.id == actuator_id:
                return actuator.channel
        return None

    async def start(self) -> None:
        self._wire_plant()
        if not self.sim.running:
            await self.sim.start()
        if self.hydrometer is not None:
            await self.hydrometer.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self.hydrometer is not None:
            await self.hydrometer.stop()
        if not self._kept:
            await self.sim.stop()

    async def abandon(self) -> None:
        await super().abandon()
        if self.hydrometer is not None:  # the next controller brings its own
            await self.hydrometer.stop()
        if not self._kept:
            await self.sim.stop()
