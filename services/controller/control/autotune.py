"""Relay-feedback autotune (Åström–Hägglund): identify a loop's plant, propose PID gains.

The loop's PID is replaced for a while by a relay with hysteresis around the
setpoint: full output `high` while the reading is below `setpoint − hysteresis`,
`low` once it is above `setpoint + hysteresis`. Any plant with lag then settles
into a limit cycle whose period and amplitude are the plant's own. The relay is
safe by construction: it only ever asks for the two levels the brewer allowed,
the loop's actuators still enforce their windows and minimum on/off times, and
the run aborts when the reading strays more than `max_deviation_c` from the
setpoint, when it lasts too long, or when the caller aborts it (a protection
trip, a sensor fault, the brewer).

What is identified, over the last `cycles` whole periods:

* the ultimate point: the first Fourier coefficients of the output actually
  applied and of the reading give the plant's frequency response G(jω) at the
  limit cycle's frequency, so `ultimate_gain` = 1/|G| and `ultimate_period_s`
  need no square-wave or symmetry assumption (a heat-only kettle's relay spends
  far longer off than on);
* an integrating-plus-dead-time model, dy/dt = gain · u(t − dead_time) + drift,
  fitted by least squares to the recorded reading. A fermenter's beer and a
  mash kettle are both lag-dominant: their time constant (hours) is far beyond
  anything a relay run around the setpoint can see, so what is identifiable —
  and what the tuning needs — is the rate `gain` (°C/s per % of output), the
  lag (`lag_s`: the kettle element's sheath, the chamber air between the
  evaporator and the beer) and the dead time.

The proposal uses SIMC (Skogestad 2003) for an integrating process with the
closed-loop time constant τc = `tau_c_factor` · θ (θ counting half the output's
time-proportioning window, which the relay run never saw): kp = 1 / (gain · (τc + θ)),
Ti = 4 (τc + θ), and Td = the lag when the lag is long enough to be worth a
derivative. Tyreus–Luyben and Ziegler–Nichols from the ultimate point are
the alternatives (`rule`).

No I/O and no clock of its own: the caller passes its monotonic time with every
reading, as `core.LoopControl` does, so the same code runs under SimClock.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

MAX_SAMPLES = 200_000
"""A run that would keep more readings than this is far longer than any sane one."""


class Rule(StrEnum):
    simc = "simc"
    tyreus_luyben = "tyreus-luyben"
    ziegler_nichols = "ziegler-nichols"


class Phase(StrEnum):
    running = "running"
    done = "done"
    aborted = "aborted"


@dataclass(frozen=True)
class RelaySettings:
    setpoint: float
    high: float  # output %, while the reading is below the setpoint
    low: float  # output %, while it is above
    hysteresis_c: float = 0.1  # above a DS18B20's 1/16 °C step and its noise
    max_deviation_c: float = 1.5
    cycles: int = 3  # periods measured…
    settle_cycles: int = 1  # …after this many are let go (the first one starts anywhere)
    max_duration_s: float = 2 * 86_400.0
    max_half_cycle_s: float = 12 * 3600.0  # no switch for this long: it cannot oscillate
    rule: Rule = Rule.simc
    tau_c_factor: float = 1.5  # SIMC's τc = θ is "tight"; a little slower overshoots less
    window_s: float = 0.0  # the window the tuned PID's output goes through (see `propose`)


@dataclass(frozen=True)
class IdentifiedPlant:
    gain: float  # °C per second, per % of output: the integrating gain K/τ
    dead_time_s: float
    lag_s: float  # a first-order lag besides the dead time (an element's sheath, a wall)
    ultimate_gain: float  # % per °C
    ultimate_period_s: float
    amplitude_c: float  # half the reading's peak-to-peak in the limit cycle
    fit_rms_c: float  # how well the model reproduces the recorded reading


@dataclass(frozen=True)
class Proposal:
    rule: Rule
    kp: float
    ki: float
    kd: float


@dataclass
class _Sample:
    t: float
    pv: float
    u: float  # the output actually in force, %


@dataclass
class RelayAutotune:
    settings: RelaySettings
    started_at: float
    phase: Phase = Phase.running
    reason: str | None = None  # why it ended (aborted), for the brewer
    plant: IdentifiedPlant | None = None
    proposal: Proposal | None = None
    output: float = 0.0
    bias: float | None = None  # the average output of the run: what holds the setpoint
    ups: list[float] = field(default_factory=list)  # times the relay switched to `high`
    switched_at: float | None = None
    samples: list[_Sample] = field(default_factory=list)

    @property
    def cycles_done(self) -> int:
        return max(0, len(self.ups) - 1)

    @property
    def cycles_needed(self) -> int:
        return self.settings.settle_cycles + self.settings.cycles

    def update(self, now: float, pv: float, applied: float) -> float:
        """A reading `pv` at `now`, with `applied` % in force until now: the output to ask."""
        s = self.settings
        if self.phase != Phase.running:
            return self.output
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(_Sample(now, pv, applied))
        if abs(pv - s.setpoint) > s.max_deviation_c:
            self.abort(
                f"{pv:.2f} °C is more than {s.max_deviation_c:g} °C from the setpoint "
                f"{s.setpoint:g} °C"
            )
            return self.output
        if now - self.started_at > s.max_duration_s:
            self.abort(f"no steady oscillation within {s.max_duration_s / 3600:g} h")
            return self.output
        if self.switched_at is not None and now - self.switched_at > s.max_half_cycle_s:
            # e.g. a heat-only kettle at room temperature: the relay's "off" cannot cool it
            self.abort(
                f"the reading did not cross the setpoint band in {s.max_half_cycle_s / 3600:g} h"
            )
            return self.output
        if len(self.samples) <= 1:  # the first reading: start towards the setpoint
            self.output = s.high if pv < s.setpoint else s.low
            self.switched_at = now
        elif self.output == s.high and pv > s.setpoint + s.hysteresis_c:
            self.output = s.low
            self.switched_at = now
        elif self.output == s.low and pv < s.setpoint - s.hysteresis_c:
            self.output = s.high
            self.switched_at = now
            self.ups.append(now)
            if self.cycles_done >= self.cycles_needed:
                self._identify()
        return self.output

    def abort(self, reason: str) -> None:
        if self.phase == Phase.running:
            self.phase = Phase.aborted
            self.reason = reason
            self._end()

    def _end(self) -> None:
        """Keep what the PID resumes from (the average output), forget the readings."""
        if self.samples:
            span = self.samples[-1].t - self.samples[0].t
            total = sum(b.u * (b.t - a.t) for a, b in pairwise(self.samples))
            self.bias = total / span if span > 0 else self.samples[-1].u
        self.samples.clear()

    # identification -----------------------------------------------------------------------
    def _identify(self) -> None:
        s = self.settings
        t0, t1 = self.ups[-1 - s.cycles], self.ups[-1]
        window = [x for x in self.samples if t0 <= x.t <= t1]
        if len(window) < 20:
            self.abort("too few readings in the oscillation to identify the plant")
            return
        period = (t1 - t0) / s.cycles
        g = _first_harmonic(window, 2 * math.pi / period)
        if g is None or abs(g) == 0.0:
            self.abort("the output did not move the reading: nothing to identify")
            return
        gain, dead, lag, rms = _fit_integrating(self.samples, t0, t1, period / 2, 2 * period)
        if gain <= 0.0:
            self.abort("the reading moved against the output: check the wiring")
            return
        pvs = [x.pv for x in window]
        self.plant = IdentifiedPlant(
            gain=gain,
            dead_time_s=dead,
            lag_s=lag,
            ultimate_gain=1.0 / abs(g),
            ultimate_period_s=period,
            amplitude_c=(max(pvs) - min(pvs)) / 2,
            fit_rms_c=rms,
        )
        self.proposal = propose(self.plant, s.rule, s.tau_c_factor, s.window_s)
        self.phase = Phase.done
        self.samples = [x for x in self.samples if x.t >= t0]  # the average of whole cycles
        self._end()


def propose(
    plant: IdentifiedPlant, rule: Rule, tau_c_factor: float = 1.5, window_s: float = 0.0
) -> Proposal:
    """PID gains (the loop's units: %/°C, %/(°C·s), %·s/°C) from the identified plant.

    `window_s`: the time-proportioning window the PID's output will go through. The
    relay ran its output fully on or off, so the run never saw it; on average a
    window delays a duty by half its length, which SIMC counts as dead time."""
    if rule == Rule.simc:
        # Integrating process with a lag: a series PID with Td = the lag, turned into
        # the loop's parallel form (kp·(1 + Td/Ti), Ti + Td, Ti·Td/(Ti + Td)).
        theta = max(plant.dead_time_s + window_s / 2.0, 1.0)
        lag = plant.lag_s
        if lag < 2.0 * theta:
            # A lag not much longer than the dead time is not worth a derivative (it
            # would only amplify the probe's 1/16 °C steps): count it as dead time, PI.
            theta, lag = theta + lag, 0.0
        total = max(tau_c_factor * theta, lag) + theta  # τc no shorter than the lag
        kc, ti, td = 1.0 / (plant.gain * total), 4.0 * total, lag
        kp, ti_p, td_p = kc * (1.0 + td / ti), ti + td, ti * td / (ti + td)
        return Proposal(rule, kp, kp / ti_p, kp * td_p)
    ku, pu = plant.ultimate_gain, plant.ultimate_period_s
    if rule == Rule.tyreus_luyben:
        kp, ti, td = ku / 2.2, 2.2 * pu, pu / 6.3
    else:
        kp, ti, td = 0.6 * ku, pu / 2.0, pu / 8.0
    return Proposal(rule, kp, kp / ti, kp * td)


def _first_harmonic(window: list[_Sample], omega: float) -> complex | None:
    """Y1 / U1 at `omega`: the plant's frequency response from the recorded signals."""
    y1 = u1 = 0j
    for a, b in pairwise(window):
        dt = b.t - a.t
        phasor = complex(math.cos(omega * a.t), -math.sin(omega * a.t)) * dt
        y1 += a.pv * phasor
        u1 += b.u * phasor  # `u` of b was in force from a to b
    return None if abs(u1) == 0.0 else y1 / u1


def _fit_integrating(
    samples: list[_Sample],
    t0: float,
    t1: float,
    max_dead_s: float,
    max_lag_s: float,
    points: int = 400,
) -> tuple[float, float, float, float]:
    """Least-squares fit of an integrator with a lag and a dead time to the reading,

        y(t) = y0 + gain·∫x(s − θ)ds + drift·t,   lag·dx/dt = u − x,

    over [t0, t1]: (gain, θ, lag, rms). θ and the lag are searched on a grid; for
    each pair the rest is linear. The drift takes up the steady losses."""
    start = bisect.bisect_left([x.t for x in samples], t0 - max_dead_s - max_lag_s * 4)
    samples = samples[max(0, start - 1) :]
    times = [x.t for x in samples]
    window = [x for x in samples if t0 <= x.t <= t1]
    window = window[:: max(1, len(window) // points)]
    max_dead_s = min(max_dead_s, t0 - times[0])
    fit = _LinearFit([x.t - t0 for x in window], [x.pv for x in window])
    best: tuple[float, float, float, float] | None = None
    lags = [0.0] + [max_lag_s * 2.0 ** (-k / 2) for k in range(16, -1, -1)]
    steps = 40
    for lag in lags:
        cum = _lagged_integral(samples, lag)

        def integral(t: float, cum: list[float] = cum) -> float:
            if t <= times[0]:
                return 0.0
            i = min(bisect.bisect_left(times, t), len(times) - 1)
            a, b = times[i - 1], times[i]
            f = 0.0 if b == a else (t - a) / (b - a)
            return cum[i - 1] + f * (cum[i] - cum[i - 1])

        for k in range(steps + 1):
            theta = max_dead_s * k / steps
            base = integral(t0 - theta)
            solution = fit.solve([integral(x.t - theta) - base for x in window])
            if solution is not None and (best is None or solution[1] < best[3]):
                best = (solution[0], theta, lag, solution[1])
    if best is None:
        return 0.0, 0.0, 0.0, math.inf
    gain, theta, lag, rss = best
    return gain, theta, lag, math.sqrt(max(rss, 0.0) / len(window))


class _LinearFit:
    """y ≈ a·x + b·t + c for many x columns against the same t and y: the sums over t
    and y are made once, each x costs one pass."""

    def __init__(self, t: list[float], y: list[float]) -> None:
        self.t, self.y = t, y
        self.n = float(len(t))
        self.st = sum(t)
        self.stt = sum(v * v for v in t)
        self.sy = sum(y)
        self.sty = sum(a * b for a, b in zip(t, y, strict=True))
        self.syy = sum(v * v for v in y)

    def solve(self, x: list[float]) -> tuple[float, float] | None:
        """(a, residual sum of squares), or None when x says nothing."""
        sx = sxx = sxt = sxy = 0.0
        for xi, ti, yi in zip(x, self.t, self.y, strict=True):
            sx += xi
            sxx += xi * xi
            sxt += xi * ti
            sxy += xi * yi
        m = [
            [sxx, sxt, sx, sxy],
            [sxt, self.stt, self.st, self.sty],
            [sx, self.st, self.n, self.sy],
        ]
        coef = _solve3(m)
        if coef is None:
            return None
        rss = self.syy - (coef[0] * sxy + coef[1] * self.sty + coef[2] * self.sy)
        return coef[0], rss


def _solve3(m: list[list[float]]) -> list[float] | None:
    """Gaussian elimination with partial pivoting on a 3×4 augmented matrix."""
    n = 3
    scale = max(abs(v) for row in m for v in row[:n]) or 1.0
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12 * scale:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] for i in range(n)]


def _lagged_integral(samples: list[_Sample], lag: float) -> list[float]:
    """∫x at every sample, x the output through a first-order lag (exact for the
    piecewise-constant output: `u` of sample i in force from sample i−1 to i)."""
    cum = [0.0]
    x = samples[0].u
    for a, b in pairwise(samples):
        dt, u = b.t - a.t, b.u
        if lag <= 0.0:
            cum.append(cum[-1] + u * dt)
            x = u
            continue
        decay = math.exp(-dt / lag)
        cum.append(cum[-1] + u * dt + (x - u) * lag * (1.0 - decay))
        x = u + (x - u) * decay
    return cum
