"""Devices that speak MQTT themselves: generic JSON topics, Tasmota, iSpindel.

Readings go into the same sensor points as a board's, with the same
plausibility checks; a device that has said nothing for `mqtt.stale_after_s` is
treated as a lost sensor (its points report `stale`, the loops using them fail
safe). Actuators are switched by publishing their command payload; the state
echo, when the device has one, confirms it, and commands are repeated until it
does — and every 30 s regardless, so a Tasmota with `PulseTime` set switches its
relay off by itself if the controller goes quiet.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from services.common import jsontext
from services.common.mqtt import Message
from services.common.schema.config import (
    Actuator,
    ActuatorRole,
    Device,
    DigitalInput,
    MqttPreset,
    Sensor,
    Severity,
)
from services.common.topics import NativeTopics
from services.controller.devices.boards import address_key
from services.controller.devices.echoes import EchoJudge
from services.controller.devices.points import CELSIUS, temperature_unit, to_celsius

if TYPE_CHECKING:
    from services.controller.devices.registry import Registry

log = logging.getLogger(__name__)

LEVELS = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}
"""Digital input payloads (Tasmota's ON/OFF, ESPHome's true/false, plain 1/0)."""

RESEND_S = 30.0
"""Actuator commands are repeated this often even when confirmed."""
PULSE_TIME = 100 + int(2 * RESEND_S)
"""Tasmota's PulseTime (values above 111 mean value − 100 seconds): 60 s, twice our resend."""


class ReadingError(ValueError):
    pass


def walk(data: Any, path: str) -> Any:
    """`a.b.0.c` into nested JSON objects and lists."""
    for key in path.split("."):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            raise ReadingError(f"no {key!r} in the payload")
    return data


def number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise ReadingError(f"{value!r} is not a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ReadingError(f"{value!r} is not a number") from None
    if not math.isfinite(result):
        raise ReadingError(f"{value!r} is not a finite number")
    return result


class MqttDevice:
    """Base: subscriptions, staleness, actuator commands with echo."""

    def __init__(self, device: Device, registry: Registry) -> None:
        assert device.mqtt is not None
        self.device = device
        self.link = device.mqtt
        self.registry = registry
        self.ctx = registry.ctx
        self._subs: list[tuple[str, Any]] = []
        self.quiet = False  # True: stopping must not command anything (lease lost)
        self._started_at = 0.0
        self._last_heard: float | None = None
        self._stale = False
        self._sent_at: dict[str, float] = {}
        self._unconfirmed_since: dict[str, float] = {}  # actuator id → first unconfirmed send
        self._echo: dict[str, Actuator] = {}
        self._judges: dict[str, EchoJudge] = {}  # actuator id → how its echoes answer us

    # life cycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._started_at = self.ctx.clock.monotonic()
        self._wire()

    def _wire(self) -> None:
        """Subscribe to the device's topics and attach its actuators to their points."""
        for sensor in self.device.sensors:
            point = self.registry.sensor(self.device.id, sensor.id)
            unit = self.unit(sensor)
            point.unit = CELSIUS if temperature_unit(unit) else unit  # °F arrives converted
        self.subscribe_sensors()
        for config in self.device.inputs:
            if config.topic:
                self._subscribe(config.topic, lambda m, c=config: self._on_input(m, c))
        for actuator in self.device.actuators:
            topic = self.command_topic(actuator)
            if topic is None:
                log.warning(
                    "device %s: actuator %s has no command topic", self.device.id, actuator.id
                )
                continue
            state = self.state_topic(actuator)
            if state is not None:
                self._echo[state] = actuator
                self._subscribe(state, self._on_echo)
            point = self.registry.actuator(self.device.id, actuator.id)
            point.attach(lambda on, a=actuator: self._command(a, on))

    async def stop(self) -> None:
        for topic, handler in self._subs:
            self.ctx.mqtt.unsubscribe(topic, handler)
        self._subs.clear()
        for actuator in self.device.actuators:
            point = self.registry.actuator(self.device.id, actuator.id)
            if point.sink is not None:
                self._command(actuator, False, force=True)
            point.detach()
        now = self.ctx.clock.monotonic()
        for io in (*self.device.sensors, *self.device.inputs):
            self.registry.sensor(self.device.id, io.id).lost("device removed", now)
        self.ctx.alarms.forget_source(self.device.id)

    def reconfigure(self, device: Device) -> bool:
        """Apply an edit in place when the preset is unchanged.

        Subscriptions are cheap to redo, but switching an unchanged actuator off and on
        again is not: a compressor would short-cycle. So an actuator whose wiring (command
        topic, payloads, polarity) is unchanged is handed over as it is; only removed or
        rewired ones are switched off first.
        """
        if device.mqtt is None or device.mqtt.preset != self.link.preset:
            return False
        rewired = make_mqtt_device(device, self.registry)  # no I/O: only to read its wiring
        kept = {
            a.id
            for a in device.actuators
            if any(
                o.id == a.id and self._wiring(o) == rewired._wiring(a)
                for o in self.device.actuators
            )
        }
        for topic, handler in self._subs:
            self.ctx.mqtt.unsubscribe(topic, handler)
        self._subs.clear()
        self._echo.clear()
        for actuator in self.device.actuators:
            if actuator.id in kept:
                continue
            point = self.registry.actuator(self.device.id, actuator.id)
            if point.sink is not None:
                self._command(actuator, False)  # as it was wired
            point.detach()
        old_device, self.device, self.link = self.device, device, device.mqtt
        now = self.ctx.clock.monotonic()
        sensor_ids = {sensor.id for sensor in device.sensors}
        for sensor in old_device.sensors:
            if sensor.id not in sensor_ids:
                self.registry.sensor(device.id, sensor.id).lost("sensor removed", now)
        self._wire()
        return True

    def _wiring(self, actuator: Actuator) -> tuple[object, ...]:
        return (
            self.command_topic(actuator),
            actuator.payload_on,
            actuator.payload_off,
            actuator.inverted,
        )

    def _subscribe(self, topic: str, handler: Any) -> None:
        self.ctx.mqtt.subscribe(topic, handler)
        self._subs.append((topic, handler))

    # what each kind of device overrides -------------------------------------------------------
    def unit(self, sensor: Sensor) -> str:
        return sensor.unit

    def subscribe_sensors(self) -> None:
        for sensor in self.device.sensors:
            if not sensor.topic:
                log.warning("device %s: sensor %s has no topic", self.device.id, sensor.id)
                continue
            self._subscribe(sensor.topic, lambda m, s=sensor: self._on_value(m, s))

    def command_topic(self, actuator: Actuator) -> str | None:
        return actuator.command_topic

    def state_topic(self, actuator: Actuator) -> str | None:
        return actuator.state_topic

    # readings ---------------------------------------------------------------------------------
    def _on_value(self, message: Message, sensor: Sensor) -> None:
        try:
            if sensor.json_path:
                value = number(walk(message.json(), sensor.json_path))
            else:
                text = message.text.strip()
                value = number(jsontext.loads(text) if text[:1] in "{[" else text)
        except (ReadingError, ValueError) as exc:
            log.warning("device %s: dropped %s: %s", self.device.id, message.topic, exc)
            return
        self.deliver(sensor, value)

    def _on_input(self, message: Message, config: DigitalInput) -> None:
        text = message.payload.decode("utf-8", "replace").strip().lower()
        if text not in LEVELS:
            log.warning(
                "device %s: dropped %s: %r is not a level (ON/OFF, 1/0, true/false)",
                self.device.id,
                message.topic,
                text[:40],
            )
            return
        self.heard(self.ctx.clock.monotonic())
        self.registry.input_changed(self.device, config, LEVELS[text] == config.active_high)

    def deliver(
        self,
        sensor: Sensor,
        value: float | None,
        error: str | None = None,
        unit: str | None = None,
        *,
        ds18b20: bool = False,
    ) -> None:
        """A reading in `unit` (default: the sensor's); temperatures go on as °C."""
        if value is not None:
            value = to_celsius(value, self.unit(sensor) if unit is None else unit)
        now = self.ctx.clock.monotonic()
        self.heard(now)
        point = self.registry.sensor(self.device.id, sensor.id)
        offset = sensor.offset if value is not None else 0.0
        point.reading(value, error, now, offset, ds18b20=ds18b20)
        self.registry.reading_changed(point)

    def heard(self, now: float) -> None:
        self._last_heard = now
        if self._stale:
            self._stale = False
            log.info("device %s is reporting again", self.device.id)
            self.ctx.alarms.condition(f"{self.device.id}-offline", False)

    def supervise(self, now: float) -> None:
        since = self._last_heard if self._last_heard is not None else self._started_at
        if not self._stale and now - since > self.link.stale_after_s and self.device.sensors:
            self.went_quiet(f"stale: no message for {now - since:.0f} s")
        for actuator in self.device.actuators:
            point = self.registry.actuator(self.device.id, actuator.id)
            if point.sink is None:
                continue
            confirmed = point.confirmed == point.desired
            has_echo = self.state_topic(actuator) is not None
            judge = self._judge(actuator)
            judge.supervise(now, self.ctx.timing.board.refresh_s)
            trouble = self.setup_trouble(actuator, now) or judge.trouble
            # A device that has gone quiet is lost (its readings go stale), not disobeying.
            if has_echo and not confirmed and not self._stale:
                since = self._unconfirmed_since.setdefault(actuator.id, now)
                if now - since > 3 * self.ctx.timing.board.refresh_s:
                    state = "ON" if point.desired else "OFF"
                    trouble = trouble or f"{state} not confirmed for {now - since:.0f} s"
            else:
                self._unconfirmed_since.pop(actuator.id, None)
            if trouble != point.trouble and trouble is not None:
                log.warning("device %s: %s: %s", self.device.id, actuator.id, trouble)
            point.trouble = trouble
            every = self.ctx.timing.board.refresh_s if has_echo and not confirmed else RESEND_S
            if now - self._sent_at.get(actuator.id, -math.inf) >= every:
                self._command(actuator, point.desired)

    def setup_trouble(self, actuator: Actuator, now: float) -> str | None:
        """Why the device's own failsafe settings for `actuator` are not confirmed."""
        return None

    def went_quiet(self, reason: str) -> None:
        now = self.ctx.clock.monotonic()
        self._stale = True
        for sensor in self.device.sensors:
            point = self.registry.sensor(self.device.id, sensor.id)
            point.lost(reason, now)
            self.registry.reading_changed(point)
        self.ctx.alarms.condition(
            f"{self.device.id}-offline",
            True,
            f"Device {self.device.name or self.device.id}: {reason}",
            kind="board_offline",
            severity=Severity.high,
            source=self.device.id,
        )

    # actuators --------------------------------------------------------------------------------
    def _judge(self, actuator: Actuator) -> EchoJudge:
        judge = self._judges.get(actuator.id)
        if judge is None:
            judge = self._judges[actuator.id] = EchoJudge(f"device {self.device.id}: {actuator.id}")
        return judge

    def _command(self, actuator: Actuator, on: bool, *, force: bool = False) -> None:
        topic = self.command_topic(actuator)
        if topic is None:
            return
        if actuator.inverted:
            on = not on
        payload = actuator.payload_on if on else actuator.payload_off
        now = self.ctx.clock.monotonic()
        self._sent_at[actuator.id] = now
        if self.quiet:
            return  # let go without a word: another controller holds this device's lease
        judge = self._judge(actuator)
        if judge.holding(now) and not force:
            return  # it contradicted us N times in a row: stop commanding it (echoes.py)
        judge.sent(now)
        # Expires when the next resend is due: a broker never replays a stale ON to a
        # relay that reconnects an hour later.
        self.ctx.mqtt.publish(topic, payload, qos=1, expiry_s=RESEND_S)

    def _on_echo(self, message: Message) -> None:
        actuator = self._echo.get(message.topic)
        if actuator is None:
            return
        text = message.payload.decode("utf-8", "replace").strip()
        if text not in (actuator.payload_on, actuator.payload_off):
            log.warning(
                "device %s: unexpected state %r on %s", self.device.id, text[:40], message.topic
            )
            return
        on = (text == actuator.payload_on) != actuator.inverted
        point = self.registry.actuator(self.device.id, actuator.id)
        point.confirmed = on
        if point.sink is not None:
            self._judge(actuator).echo(point.desired, on, self.ctx.clock.monotonic())


class TasmotaDevice(MqttDevice):
    """A Tasmota: DS18B20 readings in `tele/<topic>/SENSOR`, relays via `cmnd/<topic>/POWER<n>`."""

    def __init__(self, device: Device, registry: Registry) -> None:
        super().__init__(device, registry)
        self._confirmed_setup: set[str] = set()  # "PulseTime1", "PowerOnState" read back
        self._setup_sent_at = 0.0

    @property
    def name(self) -> str:
        return self.link.name or self.device.id

    def subscribe_sensors(self) -> None:
        if self.device.sensors:
            self._subscribe(NativeTopics.tasmota_sensor(self.name), self._on_sensor)
        self._subscribe(NativeTopics.tasmota_lwt(self.name), self._on_lwt)
        self._subscribe(NativeTopics.tasmota_result(self.name), self._on_result)
        self._send_setup()

    # Tasmota's own failsafe: PulseTime switches a relay off by itself unless the ON is
    # repeated in time (Tasmota re-arms it on every ON: our resends), and PowerOnState 0
    # keeps it off after a mains blip. Set and read back on every (re)connect; a heater
    # or cooler whose Tasmota does not confirm both is not driven (loss of control).
    def _guarded(self) -> list[Actuator]:
        roles = (ActuatorRole.heater, ActuatorRole.cooler)
        return [a for a in self.device.actuators if a.role in roles]

    def _send_setup(self) -> None:
        self._setup_sent_at = self.ctx.clock.monotonic()
        guarded = self._guarded()
        for actuator in guarded:
            command = f"PulseTime{actuator.channel or 1}"
            self.ctx.mqtt.publish(
                NativeTopics.tasmota_command(self.name, command), str(PULSE_TIME), qos=1
            )
        if guarded:
            self.ctx.mqtt.publish(
                NativeTopics.tasmota_command(self.name, "PowerOnState"), "0", qos=1
            )

    def _on_result(self, message: Message) -> None:
        try:
            data = message.json()
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        for key, value in data.items():
            if isinstance(value, dict):
                value = value.get("Set")
            if (key.startswith("PulseTime") and value == PULSE_TIME) or (
                key == "PowerOnState" and value == 0
            ):
                self._confirmed_setup.add(key)

    def setup_trouble(self, actuator: Actuator, now: float) -> str | None:
        if actuator not in self._guarded() or self._stale:
            return None
        wanted = {f"PulseTime{actuator.channel or 1}", "PowerOnState"}
        missing = wanted - self._confirmed_setup
        if not missing:
            return None
        if now - self._setup_sent_at < 3 * self.ctx.timing.board.refresh_s:
            return None  # give it time to answer
        if now - self._setup_sent_at > RESEND_S:
            self._send_setup()  # ask again; still not driven meanwhile
        return f"the Tasmota did not confirm {' and '.join(sorted(missing))} (its own failsafe)"

    def command_topic(self, actuator: Actuator) -> str | None:
        return actuator.command_topic or NativeTopics.tasmota_power_command(
            self.name, actuator.channel
        )

    def state_topic(self, actuator: Actuator) -> str | None:
        return actuator.state_topic or NativeTopics.tasmota_power_state(self.name, actuator.channel)

    def _on_sensor(self, message: Message) -> None:
        try:
            data = message.json()
            if not isinstance(data, dict):
                raise ReadingError("not a JSON object")
        except ValueError as exc:
            log.warning("device %s: dropped %s: %s", self.device.id, message.topic, exc)
            return
        fahrenheit = str(data.get("TempUnit", "C")).upper() == "F"
        ds18b20 = any(str(key).upper().startswith("DS18B20") for key in data)
        for sensor, raw in self._match(data):
            if raw is None:
                self.deliver(sensor, None, "missing from the Tasmota report")
                continue
            try:
                value = number(raw)
            except ReadingError as exc:
                log.warning("device %s: sensor %s: %s", self.device.id, sensor.id, exc)
                continue
            # Tasmota says which unit it reports in; the configured one only says "temperature"
            unit = ("°F" if fahrenheit else CELSIUS) if temperature_unit(sensor.unit) else ""
            # A DS18B20 on a Tasmota reads 85.0 after a power blip and −127 when lost,
            # as on a board: the same checks (on °C; a °F report is converted first).
            probe = ds18b20 and unit == CELSIUS
            self.deliver(sensor, value, unit=unit, ds18b20=probe)

    def _match(self, data: dict[str, Any]) -> list[tuple[Sensor, Any]]:
        """Each configured sensor and its raw value: by JSON path, by DS18B20 address, by
        key (`ds18b20-2`), and the rest in order among the probes nobody claimed."""
        probes = sorted(
            (k, v) for k, v in data.items() if isinstance(v, dict) and "Temperature" in v
        )
        claimed: set[str] = set()
        found: dict[str, Any] = {}
        for sensor in self.device.sensors:
            if sensor.json_path:
                try:
                    found[sensor.id] = walk(data, sensor.json_path)
                except ReadingError:
                    found[sensor.id] = None
                continue
            wanted = address_key(sensor.address) if sensor.address else ""
            for key, probe in probes:
                if (wanted and address_key(str(probe.get("Id", ""))) == wanted) or (
                    not wanted and key.lower() == sensor.id.lower()
                ):
                    found[sensor.id] = probe["Temperature"]
                    claimed.add(key)
                    break
            else:
                if wanted:
                    found[sensor.id] = None
        rest = iter([probe for key, probe in probes if key not in claimed])
        result = []
        for sensor in self.device.sensors:
            if sensor.id not in found:
                found[sensor.id] = next(rest, {}).get("Temperature")
            result.append((sensor, found[sensor.id]))
        return result

    def _on_lwt(self, message: Message) -> None:
        text = message.payload.decode("utf-8", "replace").strip()
        if text == "Offline":
            self.went_quiet("Tasmota reports Offline (last will)")
        elif text == "Online":
            self.heard(self.ctx.clock.monotonic())
            self._confirmed_setup = set()  # it restarted: settings confirmed afresh
            self._send_setup()


ISPINDEL_FIELDS = ("temperature", "gravity", "angle", "battery", "RSSI", "tilt")


class ISpindelDevice(MqttDevice):
    """An iSpindel: `ispindel/<name>/temperature`, `…/gravity` (plain numbers)."""

    def __init__(self, device: Device, registry: Registry) -> None:
        super().__init__(device, registry)
        self._confirmed_setup: set[str] = set()  # "PulseTime1", "PowerOnState" read back
        self._setup_sent_at = 0.0

    @property
    def name(self) -> str:
        return self.link.name or self.device.id

    def field(self, sensor: Sensor) -> str:
        return sensor.address or sensor.id

    def unit(self, sensor: Sensor) -> str:
        if self.field(sensor) != "temperature" and sensor.unit == "°C":
            return ""  # gravity in SG or °Plato, as the iSpindel is set up
        return sensor.unit

    def subscribe_sensors(self) -> None:
        for sensor in self.device.sensors:
            topic = sensor.topic or NativeTopics.ispindel(self.name, self.field(sensor))
            self._subscribe(topic, lambda m, s=sensor: self._on_value(m, s))


def make_mqtt_device(device: Device, registry: Registry) -> MqttDevice:
    assert device.mqtt is not None
    preset = device.mqtt.preset
    if preset == MqttPreset.tasmota:
        return TasmotaDevice(device, registry)
    if preset == MqttPreset.ispindel:
        return ISpindelDevice(device, registry)
    return MqttDevice(device, registry)
