"""Glycol fermenters sharing one chiller, on the simulated clock: each fermenter's loop
drives its valve, the chiller follows their demand and protects its compressor."""

from __future__ import annotations

from services.common.clock import SimClock
from services.controller.control.glycol import ChillerControl, ChillerSettings, FermenterDemand
from services.controller.sim.glycol_loop import HOUR, run_glycol

HOLD_BAND_C = 0.5
"""Both fermenters hold within ±0.5 °C of their setpoints once there."""


async def test_a_cold_crash_on_one_fermenter_while_another_holds_on_one_chiller() -> None:
    crash_at = 6 * HOUR
    run = await run_glycol(
        {"fv1": lambda t: 18.0, "fv2": lambda t: 2.0 if t >= crash_at else 18.0},
        hours=36,
        clock=SimClock(),
    )
    worst1, rms1 = run.error("fv1", 1 * HOUR)  # fv1 holds 18 °C, through the −4 °C glycol too
    arrived = next(
        t for t, b in zip(run.times, run.beer["fv2"], strict=True) if t > crash_at and b < 2.3
    )
    worst2, rms2 = run.error("fv2", arrived)  # fv2 holds 2 °C from the moment it got there
    worst0, _ = run.error("fv2", 1 * HOUR, crash_at)
    ons, offs = run.periods(True), run.periods(False)
    settings = ChillerSettings()
    assert run.system is not None
    print(
        f"glycol: fv1 hold RMS {rms1:.3f} (max {worst1:.2f}) °C; fv2 crash 18 → 2 °C in "
        f"{(arrived - crash_at) / HOUR:.1f} h, then RMS {rms2:.3f} (max {worst2:.2f}) °C; "
        f"compressor {run.starts} starts, shortest on {min(ons):.0f} s, off {min(offs):.0f} s, "
        f"{run.system.compressor_j / 3.6e6:.2f} kWh pumped out"
    )
    assert worst1 <= HOLD_BAND_C and worst0 <= HOLD_BAND_C and worst2 <= HOLD_BAND_C
    assert arrived - crash_at < 8 * HOUR
    assert min(offs) >= settings.min_off_s and min(ons) >= settings.min_on_s
    # the reservoir followed the demand: 12–15 °C while both held 18, the floor for the crash
    before = [sp for t, sp in zip(run.times, run.reservoir_sp, strict=True) if t < crash_at]
    during = [
        sp for t, sp in zip(run.times, run.reservoir_sp, strict=True) if crash_at < t < arrived
    ]
    assert min(before) >= 18.0 - settings.approach_c
    assert max(before) <= 18.0 - settings.idle_approach_c
    assert set(during) == {settings.floor_c}


def test_short_glycol_goes_to_the_higher_priority_unless_another_is_far_off() -> None:
    control = ChillerControl(ChillerSettings(), switched_at=0.0)
    crash = FermenterDemand("fv1", 2.0, 10.0, 1.0, priority=1)
    holding = FermenterDemand("fv2", 18.0, 18.4, 0.3)
    drifting = FermenterDemand("fv3", 18.0, 20.0, 1.0)
    decision = control.update(1000.0, 8.0, [crash, holding, drifting])  # −4 °C asked, 8 there
    assert decision.short and decision.reservoir_setpoint == -4.0
    assert decision.granted == {"fv1": True, "fv2": False, "fv3": True}
    recovered = control.update(1010.0, -4.0, [crash, holding, drifting])
    assert not recovered.short and all(recovered.granted.values())


def test_the_compressor_waits_out_its_minimum_off_time() -> None:
    control = ChillerControl(ChillerSettings(min_off_s=300.0), switched_at=0.0)
    hold = [FermenterDemand("fv1", 18.0, 18.5, 0.5)]
    early = control.update(100.0, 20.0, hold)  # warm glycol, but it stopped at 0
    assert not early.compressor and early.next_at == 300.0
    assert early.waiting == "minimum off time"
    assert control.update(300.0, 20.0, hold).compressor


def test_a_chillers_minimum_off_counts_from_when_its_board_switched_it_off() -> None:
    # It had stopped long ago in the controller's view; the board (a new session, its
    # watchdog) says its outputs went off only now: the compressor waits from now.
    control = ChillerControl(ChillerSettings(min_off_s=300.0), switched_at=0.0)
    hold = [FermenterDemand("fv1", 18.0, 18.5, 0.5)]
    control.went_off(1000.0)
    assert not control.update(1100.0, 20.0, hold).compressor
    assert control.update(1300.0, 20.0, hold).compressor
