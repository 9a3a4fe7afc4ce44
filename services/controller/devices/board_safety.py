"""What a loop asks a serial board to enforce by itself (docs/serial-protocol.md).

A board cannot know the loops; the loop tells each of its outputs' points a
`BoardDuty` — the probe the output answers to, the high limit the firmware must
hold it off above, and the optional fallback thermostat for when the controller
goes silent — and `BoardDevice` turns that into the board's `C` and `F` lines,
provided the probe is on the same board (a board can only judge its own probes).

Only heaters get a firmware high limit: it is there so that no host bug can keep an
element on above the cutout. A compressor above the cutout is no hazard, and a
latched cooler would stop a fermenter's cooling on a flaky probe.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.schema.config import IoRef, Loop, LoopKind

FALLBACK_DIFFERENTIAL_C = 0.5
"""The board's fallback thermostat switches at setpoint ± this (on/off hysteresis)."""
HEARTBEAT_SLACK_S = 10.0
"""A loop decides at every reading, and at the latest when its probe goes stale
(`stale_after_s`); one that has not decided for that long plus this slack is hung:
the host stops renewing its outputs and the board switches them off."""


@dataclass(frozen=True)
class Fallback:
    cools: bool
    setpoint_c: float
    differential_c: float
    min_off_s: float


@dataclass(frozen=True)
class BoardDuty:
    sensor: IoRef
    limit_c: float | None = None
    fallback: Fallback | None = None
    heartbeat_s: float = 40.0
    """Not renewed once the loop has not decided for this long."""


def heater_duty(loop: Loop, cutout: float | None, setpoint: float | None) -> BoardDuty:
    """`cutout`: the loop's `protections.cutout_c`, its kind's default filled in."""
    fallback = None
    if _fallback_allowed(loop, setpoint):
        assert setpoint is not None
        fallback = Fallback(False, setpoint, FALLBACK_DIFFERENTIAL_C, 0.0)
    return BoardDuty(loop.sensor, cutout or None, fallback, heartbeat_s(loop))


def cooler_duty(loop: Loop, setpoint: float | None) -> BoardDuty:
    fallback = None
    if _fallback_allowed(loop, setpoint):
        assert setpoint is not None
        min_off = loop.compressor.min_off_s
        fallback = Fallback(True, setpoint, FALLBACK_DIFFERENTIAL_C, min_off)
    return BoardDuty(loop.sensor, None, fallback, heartbeat_s(loop))


def heartbeat_s(loop: Loop) -> float:
    return loop.alarms.stale_after_s + HEARTBEAT_SLACK_S


def _fallback_allowed(loop: Loop, setpoint: float | None) -> bool:
    # Never a kettle: an element left on a board's thermostat with nobody watching.
    return loop.board_fallback and loop.kind != LoopKind.kettle and setpoint is not None
