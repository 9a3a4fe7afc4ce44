"""Configuration objects: the REST resources the API stores and publishes on
`<prefix>/config/<kind>/<id>` (retained) for the controller.

`version` increments on every stored change; REST updates must send the version
they read (a stale one gets 409).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from .base import Celsius, Id, MqttTopic, Percent, Seconds, Strict, TopicSegment
from .outputs import OUTPUT_TYPES, ActuatorType, OutputSettings
from .watchdogs import Watchdogs, merged

__all__ = ["ActuatorType", "OutputSettings"]  # re-exported: part of a loop's configuration

# --- io configuration: boards and their physical IO ---------------------------------


class ActuatorRole(StrEnum):
    heater = "heater"
    cooler = "cooler"
    pump = "pump"
    other = "other"


class Sensor(Strict):
    id: Id
    name: str = ""
    address: str = Field(
        "", description="Board-specific address, e.g. a DS18B20 ROM code '28-0316a279c5ff'."
    )
    offset: float = Field(
        0.0, ge=-10, le=10, description="Calibration offset added to every reading, °C."
    )
    unit: str = "°C"
    # For MQTT devices: where the reading comes from.
    topic: MqttTopic | None = Field(None, description="MQTT devices: topic carrying the reading.")
    json_path: str | None = Field(
        None,
        description="MQTT devices: dotted path into a JSON payload, e.g. 'DS18B20.Temperature'.",
    )


class Actuator(Strict):
    id: Id
    name: str = ""
    role: ActuatorRole = ActuatorRole.other
    channel: int | None = Field(None, ge=0, le=255, description="Board pin or relay channel.")
    inverted: bool = Field(
        False, description="Relay energised when the output is off (active-low boards)."
    )
    type: ActuatorType | None = Field(
        None,
        description="What it switches: ssr, relay, compressor, glycol_valve, pump. A loop "
        "driving it takes this type's timings unless its own heater_output/cooler_output "
        "sets them; a loop that names another type is refused.",
    )
    # For MQTT devices: how to switch it.
    command_topic: MqttTopic | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_topic: MqttTopic | None = Field(
        None, description="MQTT devices: where the device echoes its state."
    )


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class DigitalInput(Strict):
    id: Id
    name: str = ""
    channel: int | None = Field(None, ge=0, le=255)
    active_high: bool = True
    alarm_text: str = Field(
        "", description="Raised as an alarm while active, e.g. 'pilot light out'."
    )
    severity: Severity = Severity.high
    topic: MqttTopic | None = None


SERIAL_PORT_PATTERN = re.compile(
    r"^(/dev/(tty[\w.-]*|cu\.[\w.-]+|pts/\d+|serial/by-(id|path)/[\w.:+@-]+)"
    r"|(socket|rfc2217)://[\w.\[\]:-]+(/[\w.=&?-]*)?)$"
)
"""What a serial port may be: the controller opens it, so a path to any other file
(`/etc/shadow`, a disk) or a pyserial URL that runs code (`spy://`, `loop://` tricks)
is refused at the edge. Pseudo-terminals (/dev/pts/N) are the simulated board's."""


class SerialLink(Strict):
    port: str = Field(
        ...,
        min_length=1,
        max_length=255,
        description="A serial device: /dev/tty*, /dev/cu.*, /dev/pts/N, /dev/serial/by-id/…, "
        "/dev/serial/by-path/…, or socket://host:port, rfc2217://host:port.",
    )
    baud: int = Field(57600, gt=0)

    @field_validator("port")
    @classmethod
    def _serial_port_only(cls, port: str) -> str:
        if not SERIAL_PORT_PATTERN.match(port) or ".." in port:
            raise ValueError(
                "must be a serial device (/dev/tty*, /dev/serial/by-id/…) "
                f"or socket:// / rfc2217://, not {port[:80]!r}"
            )
        return port


class MqttPreset(StrEnum):
    generic = "generic"
    tasmota = "tasmota"
    ispindel = "ispindel"


class MqttLink(Strict):
    preset: MqttPreset = MqttPreset.generic
    name: TopicSegment | None = Field(
        None, description="Tasmota topic / iSpindel name, e.g. 'fermfridge'."
    )
    stale_after_s: Seconds = Field(
        300.0, description="No reading for this long means the device is lost."
    )
    token: str | None = Field(
        None,
        max_length=200,
        description="iSpindel / GravityMon over HTTP: the token it sends to "
        "POST /api/ingest/ispindel (unset: HTTP posts are refused).",
    )


class DeviceKind(StrEnum):
    serial = "serial"
    mqtt = "mqtt"
    simulated = "simulated"


class Device(Strict):
    id: Id
    name: str = ""
    kind: DeviceKind
    enabled: bool = True
    controller_id: str | None = Field(
        None, description="Only the controller with this MAELSTROM_CONTROLLER_ID drives it."
    )
    serial: SerialLink | None = None
    mqtt: MqttLink | None = None
    simulation: Literal["fermenter", "kettle", "glycol"] | None = None
    sensors: list[Sensor] = Field(default_factory=list)
    actuators: list[Actuator] = Field(default_factory=list)
    inputs: list[DigitalInput] = Field(default_factory=list)
    version: int = 0

    @model_validator(mode="after")
    def _link_matches_kind(self) -> Device:
        if self.kind == DeviceKind.serial and self.serial is None:
            raise ValueError("a serial device needs 'serial': {'port': ...}")
        if self.kind == DeviceKind.mqtt and self.mqtt is None:
            raise ValueError("an mqtt device needs 'mqtt': {'preset': ...}")
        for kind, items in (
            ("sensor", self.sensors),
            ("actuator", self.actuators),
            ("input", self.inputs),
        ):
            ids = [i.id for i in items]
            if len(ids) != len(set(ids)):
                raise ValueError(f"{kind} ids must be unique within a device")
        # Two actuators on one channel: switching one switches the other (a heater and a
        # cooler on one relay heat while the loop says it cools).
        channels = [a.channel for a in self.actuators if a.channel is not None]
        if len(channels) != len(set(channels)):
            raise ValueError("each actuator needs its own channel")
        return self


# --- temperature profiles -------------------------------------------------------------


class Interpolation(StrEnum):
    linear = "linear"  # BrewPi's beer-profile rule
    step = "step"


MAX_PROFILE_SECONDS = 10 * 366 * 86400.0
"""Ten years: longer than any brew, and far from where date arithmetic overflows."""

FIRST_YEAR, LAST_YEAR = 1970, 9000
"""Dates a profile point may carry (`datetime` ends at 9999; a profile runs past its points)."""


class ProfilePoint(Strict):
    offset: Seconds | None = Field(
        None, le=MAX_PROFILE_SECONDS, description="Seconds after the profile's start."
    )
    at: datetime | None = Field(
        None,
        description="An absolute date-time (timezone-aware), between 1970 and 9000.",
    )

    @field_validator("at", mode="before")
    @classmethod
    def _at_is_text(cls, value: object) -> object:
        # pydantic would read a number as seconds since 1970; the schema says a date-time string.
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("'at' is a date-time string like 2026-11-24T18:00:00+00:00")
        return value

    temperature: Celsius | None = Field(
        ..., description="°C; null means control off for this segment."
    )

    @model_validator(mode="after")
    def _one_time(self) -> ProfilePoint:
        if (self.offset is None) == (self.at is None):
            raise ValueError(
                "a point has exactly one of 'offset' (seconds from start) or 'at' (date-time)"
            )
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("'at' needs a timezone, e.g. 2026-11-24T18:00:00+00:00")
        if self.at is not None and not FIRST_YEAR <= self.at.year <= LAST_YEAR:
            raise ValueError(f"'at' must fall between {FIRST_YEAR} and {LAST_YEAR}")
        return self


class ProfileKind(StrEnum):
    """What a profile is for, so lists can offer a kettle only mash programs."""

    mash = "mash"  # a kettle loop
    fermentation = "fermentation"  # a fermenter loop


class Ramp(Strict):
    """How the setpoint travels from the previous step's target to this one's."""

    duration_s: Seconds | None = Field(None, gt=0, description="Over this many seconds.")
    rate_c_per_h: float | None = Field(
        None, gt=0, le=10_000, description="At this rate, °C per hour (°C/min × 60)."
    )

    @model_validator(mode="after")
    def _one(self) -> Ramp:
        if (self.duration_s is None) == (self.rate_c_per_h is None):
            raise ValueError("a ramp has exactly one of 'duration_s' or 'rate_c_per_h'")
        return self


class ConditionType(StrEnum):
    time = "time"  # the hold is over
    gravity = "gravity"  # gravity at or below `gravity`
    attenuation = "attenuation"  # apparent attenuation at or above `percent`
    stable = "stable"  # gravity changed less than `delta` over `hours`
    confirm = "confirm"  # the brewer says so


class StepCondition(Strict):
    """What a step waits for once its hold is over. `limit_s` (from the moment the target
    was reached) advances anyway: "gravity ≤ 1.012 or 10 days, whichever first"."""

    type: ConditionType = ConditionType.time
    gravity: float | None = Field(None, ge=0.98, le=1.2, description="gravity: SG at or below.")
    percent: Percent | None = Field(None, description="attenuation: apparent, % at or above.")
    original_gravity: float | None = Field(
        None,
        ge=1.0,
        le=1.2,
        description="attenuation: OG entered; null: the first good reading of the run.",
    )
    delta: float | None = Field(None, gt=0, le=0.1, description="stable: SG change below this")
    hours: float | None = Field(None, gt=0, le=24 * 30, description="stable: over this window")
    prompt: str = Field("", max_length=300, description="confirm: what the brewer is asked.")
    limit_s: Seconds | None = Field(
        None, gt=0, description="Advance anyway this long after the target was reached."
    )

    @model_validator(mode="after")
    def _complete(self) -> StepCondition:
        needs = {
            ConditionType.gravity: ("gravity",),
            ConditionType.attenuation: ("percent",),
            ConditionType.stable: ("delta", "hours"),
        }.get(self.type, ())
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"condition {self.type.value!r} needs {', '.join(missing)}")
        return self


class ProfileStep(Strict):
    name: str = Field("", max_length=200)
    temperature: Celsius | None = Field(
        ..., description="Target °C; null: control off (free rise) during the step."
    )
    ramp: Ramp | None = Field(None, description="null: straight to the target.")
    hold_s: Seconds = Field(
        0.0, description="Held this long, counted from the moment the target is reached."
    )
    tolerance: float = Field(
        0.5, gt=0, le=10, description="|PV − target| within this counts as reached, °C."
    )
    until: StepCondition = Field(
        default_factory=StepCondition, description="What ends the step once the hold is over."
    )


class Profile(Strict):
    """Either `points` (BrewPi's (time, temperature) rule) or `steps` (programs)."""

    id: Id
    name: str = ""
    kind: ProfileKind | None = Field(None, description="mash or fermentation; null: any loop.")
    interpolation: Interpolation = Interpolation.linear
    points: list[ProfilePoint] | None = Field(None, min_length=1)
    steps: list[ProfileStep] | None = Field(None, min_length=1, max_length=100)
    version: int = 0

    @model_validator(mode="after")
    def _ascending(self) -> Profile:
        if (self.points is None) == (self.steps is None):
            raise ValueError("a profile has either 'points' or 'steps'")
        if self.points is None:
            return self
        relative = [p.offset is not None for p in self.points]
        if any(relative) and not all(relative):
            raise ValueError("points must all use 'offset' or all use 'at', not a mix")
        times = [p.offset if p.offset is not None else p.at.timestamp() for p in self.points]  # type: ignore[union-attr]
        for i, (a, b) in enumerate(itertools.pairwise(times)):
            if b <= a:
                # Name the row, as the editor numbers it from 0 in the API's terms.
                key = "offset" if relative[0] else "at"
                raise ValueError(
                    f"points[{i + 1}].{key} must come after points[{i}].{key}"
                    " (point times must be strictly ascending)"
                )
        return self


# --- control loops ------------------------------------------------------------------------


class LoopMode(StrEnum):
    off = "off"  # all outputs off
    manual = "manual"  # fixed output, no feedback
    constant = "constant"  # hold `setpoint`
    profile = "profile"  # follow the running profile


class LoopKind(StrEnum):
    fermenter = "fermenter"
    kettle = "kettle"
    other = "other"


class IoRef(Strict):
    """A point on a device: `{"device": "sim", "id": "beer"}`."""

    device: Id
    id: Id


class InterlockLevel(StrEnum):
    active = "active"
    inactive = "inactive"


class Interlock(Strict):
    """A digital input that must be satisfied for the loop's outputs to run: a float switch
    ("liquid present"), a lid switch, a pump's flow switch (docs/safety.md)."""

    device: Id
    id: Id = Field(..., description="The input's id on that device.")
    require: InterlockLevel = Field(
        InterlockLevel.active,
        description="The outputs may run only while the input is this (an unknown level — "
        "no report yet, the device offline — counts as open).",
    )
    name: str = Field("", max_length=100, description="What it means, e.g. 'liquid present'.")

    @property
    def ref(self) -> str:
        return f"{self.device}/{self.id}"


class PidSettings(Strict):
    kp: float = Field(..., ge=0, description="Proportional gain: output % per °C of error.")
    ki: float = Field(
        ..., ge=0, description="Integral gain: output % per °C·second of accumulated error."
    )
    kd: float = Field(
        ..., ge=0, description="Derivative gain on measurement: output % per °C/second."
    )


PID_DEFAULTS: dict[LoopKind, PidSettings] = {
    # Tuned on the simulated models (docs/control.md, bench/bench_controller.py).
    # 20 L of beer, τ ≈ 5 h to the chamber air, a 100 W compressor in 30-min windows:
    # 1 °C off → 80 % output; Ti = kp/ki ≈ 2.2 h; no derivative (it only adds noise here).
    LoopKind.fermenter: PidSettings(kp=80.0, ki=0.01, kd=0.0),
    # 30 L of water, a 3.5 kW element, element and thermowell lags of ~30 s: full power
    # until ~1.2 °C short, Ti = 2000 s, a little derivative against the lag's overshoot.
    LoopKind.kettle: PidSettings(kp=80.0, ki=0.04, kd=150.0),
    LoopKind.other: PidSettings(kp=20.0, ki=0.01, kd=0.0),
}


class CompressorProtection(Strict):
    min_on_s: Seconds = 180.0
    min_off_s: Seconds = 300.0
    dead_time_s: Seconds = Field(
        600.0, description="Minimum time between heating and cooling (either way)."
    )
    window_s: Seconds = Field(
        1800.0, gt=0, description="Time-proportioning window of the cooler (compressor)."
    )


class Cascade(Strict):
    """Beer → chamber cascade (BrewPi's rule): the beer loop's PID sets the chamber-air
    setpoint within `below_c`/`above_c` of the beer target, and the chamber loop's PID
    drives the heater and the cooler. Without a usable chamber reading the loop controls
    the beer directly, and switches back and forth without a bump (docs/control.md)."""

    chamber: IoRef = Field(..., description="The chamber-air probe.")
    below_c: float = Field(
        10.0, ge=0, le=40, description="The chamber setpoint stays at least beer target − this."
    )
    above_c: float = Field(
        10.0, ge=0, le=40, description="The chamber setpoint stays at most beer target + this."
    )
    beer_pid: PidSettings | None = Field(
        None, description="Beer loop: °C of chamber offset per °C (null: CASCADE_BEER_PID)."
    )
    chamber_pid: PidSettings | None = Field(
        None, description="Chamber loop: output % per °C of air error (null: CASCADE_CHAMBER_PID)."
    )


CASCADE_BEER_PID = PidSettings(kp=4.0, ki=4.0 / 7200.0, kd=0.0)
"""1 °C of beer error asks for the air 4 °C colder (or warmer); Ti = 2 h: the beer follows
the air with τ ≈ 5 h in a 20 L fermenter, so the integral must be slower than the air."""
CASCADE_CHAMBER_PID = PidSettings(kp=10.0, ki=10.0 / 1800.0, kd=0.0)
"""The chamber air answers a 100 W compressor in minutes (≈ 0.15 °C per % at full
cooling): 10 % per °C and Ti = 30 min."""


class Chiller(Strict):
    """A glycol chiller: this loop's sensor is the reservoir's probe and its cooler the
    chiller's compressor; the fermenters that name it in `glycol.chiller` share it
    (control/glycol.py, docs/control.md "Glycol")."""

    approach_c: float = Field(
        6.0,
        ge=0,
        le=30,
        description="While any fermenter calls: the reservoir this far "
        "below the coldest calling fermenter's setpoint, °C.",
    )
    idle_approach_c: float = Field(
        3.0,
        ge=0,
        le=30,
        description="When none has called for idle_after_s: this far below "
        "the coldest setpoint, °C.",
    )
    floor_c: Celsius = Field(
        -4.0,
        ge=-30,
        description="Never colder than this (the glycol "
        "mix's freezing point, beer icing in a jacket).",
    )
    ceiling_c: Celsius = Field(12.0, le=40, description="Never warmer than this.")
    differential_c: float = Field(
        1.0, gt=0, le=10, description="The compressor's thermostat band around the setpoint."
    )
    min_on_s: Seconds = Field(180.0, description="The compressor runs at least this long.")
    min_off_s: Seconds = Field(300.0, description="…and rests at least this long.")
    idle_after_s: Seconds = Field(1800.0, description="No call for this long: idle approach.")
    shortage_c: float = Field(
        2.0,
        gt=0,
        le=30,
        description="Reservoir this far above its setpoint: glycol is short, "
        "only the highest calling priority is served.",
    )
    override_c: float = Field(
        1.5,
        gt=0,
        le=30,
        description="A fermenter this far above its setpoint is served whatever its priority.",
    )
    fixed_c: Celsius | None = Field(
        None, description="A fixed reservoir setpoint instead of following the demand."
    )


class GlycolSupply(Strict):
    """A fermenter whose cooler is a glycol valve or pump on a shared chiller."""

    chiller: Id = Field(..., description="The chiller loop's id.")
    priority: int = Field(
        0, ge=0, le=100, description="Higher is served first when the glycol is short."
    )


CHILLER_MIN_ON_S = 120.0
CHILLER_MIN_OFF_S = 180.0
"""A compressor's floors (the `compressor` output type's): oil return, pressures equalising."""


class AlarmThresholds(Strict):
    high: Celsius | None = Field(None, description="Alarm when PV rises above this.")
    low: Celsius | None = Field(None, description="Alarm when PV falls below this.")
    deviation: float | None = Field(
        None, gt=0, description="Alarm when |PV − SP| exceeds this (after settling)."
    )
    setpoint_timeout_s: Seconds | None = Field(
        None, description="Alarm when SP not reached within this time."
    )
    stale_after_s: Seconds = Field(
        30.0, gt=0, description="No reading for this long is a lost sensor."
    )


class Protections(Strict):
    """Independent protections outside the PID (docs/safety.md). null: the loop kind's
    default (`PROTECTION_DEFAULTS`); 0 switches a check off (never for a kettle's cutout)."""

    cutout_c: Celsius | None = Field(
        None, description="High-limit cutout: at or above this every output goes off, latched."
    )
    no_rise_s: Seconds | None = Field(
        None,
        description="Heating at ≥ 80 % for this long must raise the PV (dry fire, probe in air).",
    )
    min_rise_c: float | None = Field(
        None,
        ge=0,
        le=50,
        description="…by at least this much, °C (default: from element_w and volume_l).",
    )
    element_w: float | None = Field(None, gt=0, le=100_000, description="Heater power, W.")
    volume_l: float | None = Field(None, gt=0, le=100_000, description="Liquid volume, litres.")
    runaway_c: float | None = Field(
        None,
        ge=0,
        le=50,
        description="A rise (heater off) or fall (cooler off) this large within runaway_s trips: a stuck relay.",
    )
    runaway_s: Seconds | None = None
    glitch_s: Seconds | None = Field(
        None, description="A running compressor rides through bad readings for this long."
    )
    fault_free_s: Seconds | None = Field(
        None,
        description="After a fault the compressor waits this long without one (and its min off).",
    )
    max_starts_per_hour: int | None = Field(None, ge=0, le=60)


PROTECTION_DEFAULTS: dict[LoopKind, Protections] = {
    # Water cannot pass 100 °C: the kettle's cutout catches a probe reading dry fire, and
    # "no rise" a probe out of the water (3.5 kW into 30 L: 16 °C in 10 min; 1 °C asked).
    LoopKind.kettle: Protections(
        cutout_c=105.0,
        no_rise_s=600.0,
        min_rise_c=1.0,
        runaway_c=2.0,
        runaway_s=600.0,
        glitch_s=0.0,
        fault_free_s=0.0,
        max_starts_per_hour=0,
    ),
    # A fermenter's 60 W mat barely moves 20 L in minutes: no rise check by default; a
    # welded compressor pulls the beer down ≈ 2 °C/h while the heater fights it.
    LoopKind.fermenter: Protections(
        cutout_c=40.0,
        no_rise_s=0.0,
        min_rise_c=0.0,
        runaway_c=2.0,
        runaway_s=3600.0,
        glitch_s=30.0,
        fault_free_s=300.0,
        max_starts_per_hour=6,
    ),
    LoopKind.other: Protections(
        cutout_c=105.0,
        no_rise_s=0.0,
        min_rise_c=0.0,
        runaway_c=0.0,
        runaway_s=600.0,
        glitch_s=30.0,
        fault_free_s=300.0,
        max_starts_per_hour=6,
    ),
}


class ProfileRun(Strict):
    profile: Id
    started_at: float = Field(..., description="Unix time the profile's offset 0 corresponds to.")
    paused_at: float | None = Field(
        None, description="Unix time it was paused; null while running."
    )
    # Step profiles only: where the run is (services/common/programs.py).
    step: int | None = Field(None, ge=0, description="Steps: index of the step in force.")
    step_started_at: float | None = Field(None, description="Steps: Unix time the step began.")
    ramp_from: float | None = Field(None, description="Steps: °C the step's ramp starts from.")
    reached_at: float | None = Field(
        None, description="Steps: Unix time the target was reached (the hold's start)."
    )
    waiting_since: float | None = Field(
        None, description="Steps: Unix time the hold ended and the condition began to be awaited."
    )
    confirmed: bool = Field(False, description="Steps: the brewer confirmed this step.")
    extra_s: Seconds = Field(0.0, description="Steps: seconds the hold was extended by.")
    original_gravity: float | None = Field(
        None, description="Steps: the first good gravity reading of the run (for attenuation)."
    )


MIN_WINDOW_S = 1.0
"""A relay window shorter than this switches faster than a relay (or a zero-cross SSR
on 50 Hz mains) can follow."""
MIN_COMPRESSOR_WINDOW_S = 60.0
MAX_COMPRESSOR_HOLD_S = 3600.0
"""Minimum on/off longer than an hour: a typo, and a compressor that cannot be stopped."""
MAX_DEAD_TIME_S = 4 * 3600.0
SETPOINT_LIMITS: dict[LoopKind, tuple[float, float]] = {
    LoopKind.fermenter: (-10.0, 40.0),  # above 40 °C yeast dies and fermenters soften
    LoopKind.kettle: (-5.0, 105.0),
    LoopKind.other: (-50.0, 150.0),
}
"""The setpoint range each kind of loop may be configured for, °C."""


class Loop(Strict):
    id: Id
    name: str = ""
    kind: LoopKind = LoopKind.fermenter
    sensor: IoRef
    heater: IoRef | None = None
    cooler: IoRef | None = None
    gravity: IoRef | None = Field(
        None,
        description="A hydrometer's gravity sensor for gravity steps, e.g. "
        "{'device': 'ispindel1', 'id': 'gravity'}.",
    )
    interlocks: list[Interlock] = Field(
        default_factory=list,
        max_length=16,
        description="Digital inputs that must all be satisfied for any output to run; one "
        "open forces every output off with the <loop>-interlock alarm.",
    )
    contactor: IoRef | None = Field(
        None,
        description="A master contactor feeding this loop's outputs: energised only while a "
        "loop that lists it needs power, dropped when any of them trips a protection.",
    )
    mode: LoopMode = LoopMode.off
    setpoint: Celsius = 20.0
    manual_output: float = Field(
        0.0, ge=-100, le=100, description="Manual mode: + heats, − cools, %."
    )
    profile: ProfileRun | None = None
    pid: PidSettings | None = Field(None, description="null: the defaults for the loop's kind.")
    setpoint_min: Celsius = -5.0
    setpoint_max: Celsius = 105.0
    window_s: Seconds = Field(
        10.0, gt=0, description="Time-proportioning window for relay outputs."
    )
    compressor: CompressorProtection = CompressorProtection()
    heater_output: OutputSettings | None = Field(
        None,
        description="What the heater is (ssr, relay, …) and its timings; null: an SSR on "
        "`window_s`.",
    )
    cooler_output: OutputSettings | None = Field(
        None,
        description="What the cooler is (compressor, glycol_valve, pump, …) and its timings; "
        "null: a compressor on `compressor`'s timings.",
    )
    heat_cool_band_c: float = Field(
        0.2,
        ge=0,
        le=5,
        description="Heat↔cool dead band: after cooling the loop heats only once the PV is "
        "this far below the setpoint, and the other way round.",
    )
    cascade: Cascade | None = Field(
        None, description="Beer → chamber cascade (fermenters with a chamber probe)."
    )
    chiller: Chiller | None = Field(
        None,
        description="This loop is a glycol chiller: its sensor is the reservoir probe, its "
        "cooler the compressor; the reservoir setpoint follows the fermenters' demand.",
    )
    glycol: GlycolSupply | None = Field(
        None, description="This fermenter is cooled from a chiller loop's glycol."
    )
    alarms: AlarmThresholds = AlarmThresholds()
    protections: Protections = Protections()
    watchdogs: Watchdogs = Field(
        default_factory=Watchdogs,
        description="Band, silent-device and stuck-step alarms; null fields: the kind's defaults.",
    )
    board_fallback: bool = Field(
        False,
        description="While the controller is silent, the board holding this loop's probe and "
        "outputs keeps an on/off thermostat (±0.5 °C, the compressor's min off) around the "
        "last setpoint. Serial boards only; never for a kettle.",
    )
    target_revision: int = Field(
        0,
        ge=0,
        description="Revision of the target (mode, setpoint, manual_output, profile) as the "
        "controller last published it. The target changes only by commands; a PUT keeps it.",
    )
    version: int = 0

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: object) -> object:
        # A fermenter's default ceiling is its kind's, not the kettle's boil.
        if isinstance(data, dict) and "setpoint_max" not in data:
            kind = data.get("kind", LoopKind.fermenter)
            if kind in SETPOINT_LIMITS:
                data = {**data, "setpoint_max": min(105.0, SETPOINT_LIMITS[LoopKind(kind)][1])}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> Loop:
        if self.heater is None and self.cooler is None:
            raise ValueError("a loop needs a heater, a cooler, or both")
        if self.heater is not None and self.heater == self.cooler:
            raise ValueError("the heater and the cooler must be different actuators")
        if self.contactor is not None and self.contactor in (self.heater, self.cooler):
            raise ValueError(
                "the master contactor must be its own actuator, not the heater or cooler"
            )
        lo, hi = SETPOINT_LIMITS[self.kind]
        if self.setpoint_max > hi or self.setpoint_min < lo:
            raise ValueError(f"a {self.kind} loop's setpoints must stay within {lo:g}..{hi:g} °C")
        if self.window_s < MIN_WINDOW_S:
            raise ValueError(f"window_s must be at least {MIN_WINDOW_S:g} s")
        c = self.compressor
        if c.window_s < MIN_COMPRESSOR_WINDOW_S:
            raise ValueError(f"compressor.window_s must be at least {MIN_COMPRESSOR_WINDOW_S:g} s")
        if max(c.min_on_s, c.min_off_s) > MAX_COMPRESSOR_HOLD_S:
            raise ValueError(
                f"compressor min_on_s and min_off_s must be at most {MAX_COMPRESSOR_HOLD_S:g} s"
            )
        if c.dead_time_s > MAX_DEAD_TIME_S:
            raise ValueError(f"compressor.dead_time_s must be at most {MAX_DEAD_TIME_S:g} s")
        if self.kind == LoopKind.kettle and self.board_fallback:
            raise ValueError("a kettle's element is never left to the board's fallback thermostat")
        for name, out in (
            ("heater_output", self.heater_output),
            ("cooler_output", self.cooler_output),
        ):
            if out is not None:
                OUTPUT_TYPES[out.type].check(name, out)
        self._check_glycol()
        if self.cascade is not None and self.cascade.chamber == self.sensor:
            raise ValueError("the cascade's chamber probe must not be the loop's own sensor")
        if self.kind == LoopKind.kettle and self.protections.cutout_c == 0:
            raise ValueError("a kettle's high-limit cutout cannot be switched off")
        if self.setpoint_min >= self.setpoint_max:
            raise ValueError("setpoint_min must be below setpoint_max")
        if not self.setpoint_min <= self.setpoint <= self.setpoint_max:
            raise ValueError(f"setpoint must be within {self.setpoint_min}..{self.setpoint_max} °C")
        if self.mode == LoopMode.profile and self.profile is None:
            raise ValueError("mode 'profile' needs a 'profile' run")
        return self

    def _check_glycol(self) -> None:
        c = self.chiller
        if c is not None:
            if self.cooler is None or self.heater is not None:
                raise ValueError("a chiller drives its compressor as its cooler, and no heater")
            if self.cascade is not None or self.glycol is not None:
                raise ValueError("a chiller has no cascade and no glycol supply of its own")
            if c.floor_c >= c.ceiling_c:
                raise ValueError("chiller.floor_c must be below chiller.ceiling_c")
            if c.fixed_c is not None and not c.floor_c <= c.fixed_c <= c.ceiling_c:
                raise ValueError("chiller.fixed_c must be within floor_c..ceiling_c")
            if c.min_on_s < CHILLER_MIN_ON_S or c.min_off_s < CHILLER_MIN_OFF_S:
                raise ValueError(
                    f"a chiller's compressor needs min_on_s ≥ {CHILLER_MIN_ON_S:g} s and "
                    f"min_off_s ≥ {CHILLER_MIN_OFF_S:g} s"
                )
            if max(c.min_on_s, c.min_off_s) > MAX_COMPRESSOR_HOLD_S:
                raise ValueError(
                    f"chiller min_on_s and min_off_s must be at most {MAX_COMPRESSOR_HOLD_S:g} s"
                )
        if self.glycol is not None:
            if self.cooler is None:
                raise ValueError("a loop on a glycol chiller needs its valve or pump as cooler")
            if self.glycol.chiller == self.id:
                raise ValueError("glycol.chiller names another loop: the chiller")

    @property
    def pid_settings(self) -> PidSettings:
        return self.pid or PID_DEFAULTS[self.kind]

    @property
    def watchdog_settings(self) -> Watchdogs:
        """Every watchdog setting, the kind's default where none is set."""
        return merged(self.watchdogs, self.kind.value)

    @property
    def protection_settings(self) -> Protections:
        """Every protection setting, the kind's default where none is set."""
        defaults = PROTECTION_DEFAULTS[self.kind]
        cooler = self.cooler_output.type if self.cooler_output is not None else None
        if cooler in (ActuatorType.glycol_valve, ActuatorType.pump):
            # No compressor behind a valve or a pump: its starts are no compressor's starts
            # (the chiller protects its own), and a fault leaves nothing to cool down.
            defaults = defaults.model_copy(update={"max_starts_per_hour": 0, "fault_free_s": 0.0})
        own = self.protections.model_dump(exclude_none=True)
        merged = Protections(**{**defaults.model_dump(), **own})
        p = merged
        if self.protections.min_rise_c is None and p.element_w and p.volume_l and p.no_rise_s:
            # a quarter of what every joule would give: losses, lag, a partly-on window
            expected = p.element_w * p.no_rise_s / (p.volume_l * 4186.0)
            merged = merged.model_copy(update={"min_rise_c": min(10.0, 0.25 * expected)})
        return merged


def with_actuator_types(loop: Loop, device: Callable[[str], Device | None]) -> Loop:
    """`loop` with each output's type taken from its actuator where the loop declares none
    (`Actuator.type`); raises ValueError naming the field when the two disagree."""
    update: dict[str, OutputSettings] = {}
    for field, ref, own in (
        ("heater_output", loop.heater, loop.heater_output),
        ("cooler_output", loop.cooler, loop.cooler_output),
    ):
        dev = device(ref.device) if ref is not None else None
        actuator = next((a for a in dev.actuators if a.id == ref.id), None) if dev and ref else None
        if actuator is None or actuator.type is None:
            continue
        if own is None:
            update[field] = OutputSettings(type=actuator.type)
        elif own.type != actuator.type:
            raise ValueError(
                f"{field}: the loop says {own.type.value}, but actuator {ref.device}/{ref.id} "  # type: ignore[union-attr]
                f"is a {actuator.type.value}"
            )
    return loop.model_copy(update=update) if update else loop


# --- app settings -------------------------------------------------------------------------


class Setting(Strict):
    """An app setting (`/api/settings/{key}`); published on `config/settings/<key>` as
    its bare JSON value."""

    key: Id
    value: JsonValue = Field(..., description="Any JSON value.")
    version: int = 0


ConfigObject = Device | Profile | Loop
CONFIG_MODELS: dict[str, type[Device] | type[Profile] | type[Loop]] = {
    "devices": Device,
    "profiles": Profile,
    "loops": Loop,
}
"""Config kind (topic level / REST resource) → model. Settings are free-form key → JSON."""
