"""The physical models behave like a kettle and a fermentation chamber."""

from __future__ import annotations

import pytest

from services.controller.sim.physics import (
    WATER_J_PER_KG_K,
    Fermenter,
    FermenterParams,
    Kettle,
    KettleParams,
)


def run(plant, seconds: float, step: float = 10.0, **on: bool) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / step)):
        plant.advance(step, on)


def test_the_kettle_heats_at_the_elements_power_less_losses() -> None:
    params = KettleParams(start_c=65.0)
    kettle = Kettle(params)
    run(kettle, 120, element=True)  # past the element's lag
    before = kettle.water
    run(kettle, 600, element=True)
    rate = (kettle.water - before) / 600
    ideal = params.element_w / params.water_j_per_k
    losses = params.loss_w_per_k * (kettle.water - params.ambient_c) / params.water_j_per_k
    assert rate == pytest.approx(ideal - losses, rel=0.05)
    assert params.time_to_heat(7.0) == pytest.approx(30 * WATER_J_PER_KG_K * 7 / 3500)


def test_the_kettle_probe_lags_and_the_element_keeps_heating_after_off() -> None:
    kettle = Kettle(KettleParams(start_c=65.0))
    run(kettle, 300, step=1.0, element=True)
    assert kettle.temperature("water") < kettle.water  # the probe trails the water
    at_off = kettle.water
    run(kettle, 30, step=1.0)
    assert kettle.water > at_off  # heat stored in the element still flows in


def test_the_compressor_cools_the_chamber_first_and_the_beer_slowly() -> None:
    fermenter = Fermenter(FermenterParams(ambient_swing_c=0.0, yeast_peak_w=0.0))
    run(fermenter, 3600, cooler=True)
    assert fermenter.air < 8.0  # the chamber air drops fast
    assert fermenter.beer > 18.0  # 20 L of beer follows slowly
    assert fermenter.air < fermenter.beer


def test_the_evaporator_lags_the_compressor() -> None:
    fermenter = Fermenter(FermenterParams(ambient_swing_c=0.0, yeast_peak_w=0.0))
    run(fermenter, 60, step=1.0, cooler=True)
    early = 20.0 - fermenter.air
    run(fermenter, 600, step=1.0, cooler=True)
    assert 20.0 - fermenter.air > 5 * early  # cooling builds up over minutes


def test_yeast_warms_the_beer_during_active_fermentation() -> None:
    fermenter = Fermenter(FermenterParams(ambient_swing_c=0.0))
    run(fermenter, 36 * 3600, step=60.0)
    assert fermenter.beer > fermenter.air > 20.0
    assert fermenter.yeast_w() == pytest.approx(FermenterParams().yeast_peak_w)
