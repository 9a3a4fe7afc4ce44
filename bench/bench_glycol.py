"""Four glycol fermenters on one chiller: the reservoir following the demand (ours)
against the usual fixed reservoir setpoint, side by side on the same plants and the
same schedule (`services/controller/sim/glycol_loop.py`, simulated time).

The schedule, 5 days: fv1 an ale at 18 °C that cold-crashes to 2 °C on day 2; fv2 a
lager at 10 °C; fv3 and fv4 ales at 18 and 17 °C (every beer starts at 18 °C; the
room is 20 °C). The fixed setpoint
is the one a brewery sets so that a crash is possible at all: −4 °C. Printed: chiller
compressor starts, heat pumped and electricity (kWh, at a fraction of the Carnot COP
between glycol and room: colder glycol costs more per joule), the
shortest on and off periods, and each fermenter's tracking (RMS and max, °C, from 6 h
in, the crash's pull-down excluded).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from services.controller.control.glycol import ChillerSettings
from services.controller.sim.glycol_loop import HOUR, GlycolTrace, run_glycol

DAYS = float(os.environ.get("BENCH_GLYCOL_DAYS", "5"))
CRASH_AT = 36 * HOUR

SCHEDULE: dict[str, Callable[[float], float]] = {
    "fv1": lambda t: 2.0 if t >= CRASH_AT else 18.0,
    "fv2": lambda t: 10.0,
    "fv3": lambda t: 18.0,
    "fv4": lambda t: 17.0,
}


def figures(trace: GlycolTrace) -> dict[str, float]:
    assert trace.system is not None
    out = {
        "starts": float(trace.starts),
        "kwh": trace.system.compressor_j / 3.6e6,
        "electric": trace.system.electric_j / 3.6e6,
        "min_on": min(trace.periods(True), default=0.0),
        "min_off": min(trace.periods(False), default=0.0),
    }
    arrived = next(
        (
            t
            for t, b in zip(trace.times, trace.beer["fv1"], strict=True)
            if t > CRASH_AT and b < 2.3
        ),
        trace.times[-1],
    )
    out["crash_h"] = (arrived - CRASH_AT) / HOUR
    for name in SCHEDULE:
        if name == "fv1":
            before = trace.error(name, 6 * HOUR, CRASH_AT)
            after = trace.error(name, arrived)
            out["fv1_rms"] = max(before[1], after[1])
            out["fv1_max"] = max(before[0], after[0])
        else:
            worst, rms = trace.error(name, 6 * HOUR)
            out[f"{name}_rms"], out[f"{name}_max"] = rms, worst
    return out


def main() -> None:
    ours = asyncio.run(run_glycol(SCHEDULE, DAYS * 24))
    fixed = asyncio.run(run_glycol(SCHEDULE, DAYS * 24, settings=ChillerSettings(fixed_c=-4.0)))
    a, b = figures(ours), figures(fixed)
    print(f"4 glycol fermenters, one chiller, {DAYS:g} days (fv1 crashes 18 → 2 °C on day 2)")
    print(f"{'figure':<28}{'following demand':>18}{'fixed −4 °C':>14}{'ratio':>8}")
    rows = [
        ("chiller starts", "starts", "{:.0f}"),
        ("heat pumped, kWh", "kwh", "{:.2f}"),
        ("chiller electricity, kWh", "electric", "{:.2f}"),
        ("shortest on, s", "min_on", "{:.0f}"),
        ("shortest off, s", "min_off", "{:.0f}"),
        ("fv1 crash 18 → 2 °C, h", "crash_h", "{:.1f}"),
    ] + [
        (f"{n} {kind} error, °C", f"{n}_{kind}", "{:.3f}")
        for n in SCHEDULE
        for kind in ("rms", "max")
    ]
    for label, key, fmt in rows:
        ratio = a[key] / b[key] if b[key] else float("nan")
        print(f"{label:<28}{fmt.format(a[key]):>18}{fmt.format(b[key]):>14}{ratio:>8.2f}")
