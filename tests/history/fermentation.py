"""A week of lager fermentation at 1 Hz, from a small physical model.

Stands in for the controller's simulated board (not available to these tests):
beer and chamber air as two thermal masses, a cooler and a heater driven by a PI
loop, yeast heat peaking on day two, a daily ambient swing, a door opened for
two minutes, one implausible reading (the loop faults for a second), a
diacetyl rest and a cold crash. Readings are DS18B20-like: noisy, 0.0625 °C steps.
An iSpindel reports gravity every 15 minutes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import NamedTuple

DAY = 86_400
WEEK = 7 * DAY
BEER_J_PER_K = 20 * 4180.0  # 20 L of wort
AIR_J_PER_K = 15_000.0  # chamber air, shelves and walls
BEER_AIR_W_PER_K = 8.0
AIR_ROOM_W_PER_K = 2.5
COOLER_W = 120.0
HEATER_W = 60.0


class Second(NamedTuple):
    """What the controller would publish for one second of the run."""

    t: int  # seconds since the start
    pv: float | None  # beer sensor, quantised; None when the reading was implausible
    sp: float
    heat: float
    cool: float
    mode: str
    state: str
    gravity: float | None  # an iSpindel reading this second, if any


def setpoint(t: float) -> float:
    """18 °C for four days, ramp to 21 °C (diacetyl rest), hold, then crash to 2 °C."""
    if t < 4 * DAY:
        return 18.0
    if t < 5 * DAY:
        return 18.0 + 3.0 * (t - 4 * DAY) / DAY
    if t < 6 * DAY:
        return 21.0
    return 2.0


def mode(t: int) -> str:
    if t < DAY:
        return "constant"
    if 5 * DAY + 3600 <= t < 5 * DAY + 4200:
        return "off"  # the brewer pauses control for ten minutes
    return "profile"


def yeast_watts(t: float) -> float:
    return 14.0 * math.exp(-(((t - 2 * DAY) / (0.8 * DAY)) ** 2))


def gravity(t: float) -> float:
    """SG 1.050 → 1.010 along a logistic curve centred on day two."""
    return 1.010 + 0.040 / (1 + math.exp((t - 2 * DAY) / (0.35 * DAY)))


def week(seed: int = 7, seconds: int = WEEK) -> Iterator[Second]:
    rnd = random.Random(seed)
    beer, air = 18.0, 18.0
    integral = 0.0
    door_open = range(3 * DAY + 12 * 3600, 3 * DAY + 12 * 3600 + 120)
    glitch = 2 * DAY + 43_210
    for t in range(seconds):
        sp = setpoint(t)
        m = mode(t)
        if t % 60 == 0:  # slow drivers: once a minute is plenty
            room = 20.0 + 4.0 * math.sin(2 * math.pi * t / DAY)
            yeast = yeast_watts(t)
        reading = round((beer + rnd.gauss(0, 0.03)) / 0.0625) * 0.0625
        pv: float | None = reading
        if t == glitch:
            pv = None  # 85.0 from the sensor: implausible, the loop faults
        if m == "off" or pv is None:
            out = 0.0
        else:
            error = sp - reading
            integral = min(max(integral + 0.002 * error, -60.0), 60.0)
            out = min(max(60.0 * error + integral, -100.0), 100.0)
        heat, cool = round(max(out, 0.0), 1) + 0.0, round(max(-out, 0.0), 1) + 0.0  # no -0.0
        state = (
            "fault"
            if pv is None
            else "off"
            if m == "off"
            else "heating"
            if heat > 0
            else "cooling"
            if cool > 0
            else "idle"
        )
        room_w = AIR_ROOM_W_PER_K * (room - air) * (20 if t in door_open else 1)
        beer_w = BEER_AIR_W_PER_K * (air - beer)
        air += (room_w - beer_w + HEATER_W * heat / 100 - COOLER_W * cool / 100) / AIR_J_PER_K
        beer += (beer_w + yeast) / BEER_J_PER_K
        sg = round(gravity(t) + rnd.gauss(0, 0.0003), 4) if t % 900 == 0 else None
        yield Second(t, pv, round(sp, 4), heat, cool, m, state, sg)
