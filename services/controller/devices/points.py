"""IO points: the latest reading of a sensor, the wanted state of an actuator.

Devices write into points; control loops read them. A point exists as soon as
anyone asks for it, so a loop configured before its device simply sees "no
reading yet" until the device starts.

Plausibility is judged here, once, for every kind of device: a DS18B20 reads
85.0 °C when it has just been powered (its reset value) and libraries report
−127 °C for a probe that did not answer. 85.0 is only believed when the previous
reading was close to it — a kettle on its way to the boil passes through 85.0
legitimately; a fermenter at 19 °C does not jump there.

Boards (serial, simulated) always report °C from DS18B20s: those checks always
apply, whatever unit text is configured. MQTT sensors in a temperature unit
(°C, C, celsius, °F, F, fahrenheit — °F is converted to °C by the device) must be
within `TEMPERATURE_RANGE`. Whatever the source, a loop never uses a value
outside `TEMPERATURE_RANGE`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.controller.devices.board_safety import BoardDuty

RECOVER_AFTER = 3
"""Consecutive sane readings before a faulted sensor is trusted again."""

NO_READING = "no reading yet"
DS18B20_RANGE = (-55.0, 125.0)
POWER_ON_C = 85.0
DISCONNECTED_C = -127.0
TEMPERATURE_RANGE = (-50.0, 150.0)
"""What a loop will ever believe, °C: beyond it a probe is broken, not the brew."""

CELSIUS = "°C"
_CELSIUS_UNITS = {"°c", "c", "celsius", "degc", "deg c", "℃"}
_FAHRENHEIT_UNITS = {"°f", "f", "fahrenheit", "degf", "deg f", "℉"}


def temperature_unit(unit: str) -> str | None:
    """ "°C" or "°F" when `unit` (free text) names one of them, else None."""
    text = unit.strip().lower()
    if text in _CELSIUS_UNITS:
        return CELSIUS
    if text in _FAHRENHEIT_UNITS:
        return "°F"
    return None


def to_celsius(value: float, unit: str) -> float:
    """A reading in `unit` as °C (unchanged unless the unit is Fahrenheit)."""
    return (value - 32.0) * 5.0 / 9.0 if temperature_unit(unit) == "°F" else value


def out_of_range(celsius: float) -> str | None:
    """Why a temperature (°C) cannot be true of any brew, or None."""
    if celsius <= DISCONNECTED_C:
        return "disconnected (-127)"
    lo, hi = TEMPERATURE_RANGE
    if not lo <= celsius <= hi:
        return f"implausible ({celsius:g} °C)"
    return None


def implausible(raw: float, previous: float | None) -> str | None:
    """Why a temperature reading cannot be true, or None when it can."""
    if raw == POWER_ON_C and (previous is None or abs(previous - POWER_ON_C) > 2.0):
        return "power-on reset (85.0)"
    if raw <= DISCONNECTED_C:
        return "disconnected (-127)"
    lo, hi = DS18B20_RANGE
    if not lo <= raw <= hi:
        return f"implausible ({raw:g})"
    return None


class SensorPoint:
    __slots__ = (
        "_listeners",
        "_previous",
        "device",
        "error",
        "glitch",
        "good_at",
        "good_streak",
        "published",
        "published_at",
        "sensor",
        "ts",
        "unit",
        "value",
    )

    def __init__(self, device: str, sensor: str) -> None:
        self.device = device
        self.sensor = sensor
        self.unit = "°C"
        self.value: float | None = None  # the last usable value (offset applied)
        self.error: str | None = None  # why the latest reading is unusable
        self.glitch = False  # the error is a bad reading (a glitch), not a lost device
        self.ts: float | None = None  # the latest reading, usable or not
        self.good_at: float | None = None  # the latest usable reading
        self.good_streak = 0
        self.published: tuple[float | None, str | None] = (None, "never")
        self.published_at = float("-inf")
        self._previous: float | None = None
        self._listeners: list[Callable[[SensorPoint], None]] = []

    def subscribe(self, listener: Callable[[SensorPoint], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[SensorPoint], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def reading(
        self,
        raw: float | None,
        error: str | None,
        now: float,
        offset: float = 0.0,
        *,
        ds18b20: bool = False,
        lost: bool = False,
    ) -> None:
        """A new reading from the device (raw, before calibration), or why there is none.

        `ds18b20`: the reading is a DS18B20's, in °C (boards): its own checks apply.
        Otherwise a point whose unit is °C gets the range check.
        """
        if raw is not None and error is None:
            if ds18b20:
                error = implausible(raw, self._previous)
            elif self.unit == CELSIUS:
                error = out_of_range(raw)
        if raw is None or error is not None:
            self.error = error or "no value"
            self.glitch = not lost
            self.good_streak = 0
        else:
            self.value = raw + offset
            self.error = None
            self.good_at = now
            self.good_streak += 1
            self._previous = raw
        self.ts = now
        for listener in self._listeners:
            listener(self)

    def lost(self, reason: str, now: float) -> None:
        """The device is gone: the value can no longer be trusted."""
        self.reading(None, reason, now, lost=True)

    def status(self, now: float, stale_after: float) -> tuple[float | None, str | None]:
        """(value, None) when usable now, else (None, why)."""
        if self.error is not None:
            return None, self.error
        if self.good_at is None:
            return None, NO_READING
        age = now - self.good_at
        if age > stale_after:
            return None, f"stale (no reading for {age:.0f} s)"
        assert self.value is not None
        why = out_of_range(self.value)  # a calibration offset or a mislabelled unit
        if why is not None:
            return None, why
        return self.value, None


class ActuatorPoint:
    """Where the control wants an actuator; the device that drives it attaches a sink.

    The device reports back on the point: `trouble` says why it cannot be sure the
    output does what it is told (no acknowledgement, refused, not confirmed), and
    `forced_off(now)` says the output went off behind the control's back (the board
    reset; with `reset` False: it is known off as of then, nothing else is wrong — a
    session's first hello, the board's watchdog), so the loop starts its minimum off
    time from that moment.

    The loop that drives the point also says what a board should enforce on its own
    (`duty`: a high limit, a fallback thermostat) and when it last decided
    (`decided_at`, the per-loop heartbeat); the board reports a tripped limit back
    in `board_trip`, and `clear_board_trip()` asks it to clear its latch.
    """

    __slots__ = (
        "_listeners",
        "actuator",
        "board_trip",
        "confirmed",
        "decided_at",
        "desired",
        "device",
        "duty",
        "sink",
        "trip_clearer",
        "trouble",
    )

    def __init__(self, device: str, actuator: str) -> None:
        self.device = device
        self.actuator = actuator
        self.desired = False
        self.confirmed: bool | None = None  # what the device last said it is doing
        self.trouble: str | None = None  # why control of it is lost, or None
        self.sink: Callable[[bool], None] | None = None
        self.duty: BoardDuty | None = None
        self.decided_at: float | None = None  # monotonic; None: no loop drives it
        self.board_trip: str | None = None  # the board's own high limit holds it off: why
        self.trip_clearer: Callable[[], None] | None = None
        self._listeners: list[Callable[[ActuatorPoint, float, bool], None]] = []

    def subscribe(self, listener: Callable[[ActuatorPoint, float, bool], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[ActuatorPoint, float, bool], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def forced_off(self, now: float, *, reset: bool = True) -> None:
        """The device switched the output off by itself at `now` (monotonic); `reset`: it
        reset (its readings are to be trusted afresh), not only its outputs off."""
        self.desired = False
        for listener in list(self._listeners):
            listener(self, now, reset)

    def set(self, on: bool) -> None:
        if on == self.desired:
            return
        self.desired = on
        if self.sink is not None:
            self.sink(on)

    def attach(self, sink: Callable[[bool], None]) -> None:
        self.sink = sink
        sink(self.desired)

    def detach(self) -> None:
        self.sink = None
        self.confirmed = None
        self.trouble = None
        self.trip_clearer = None

    def clear_board_trip(self) -> None:
        """The brewer acknowledged the trip: the board may switch the output again."""
        self.board_trip = None
        if self.trip_clearer is not None:
            self.trip_clearer()
