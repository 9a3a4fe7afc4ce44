"""The physical models behave like a kettle and a fermentation chamber."""

from __future__ import annotations

import pytest

from services.controller.sim.physics import (
    PLANT_MATRIX,
    WATER_J_PER_KG_K,
    Fermenter,
    FermenterParams,
    Kettle,
    KettleParams,
    Variant,
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


def test_the_plant_matrix_spans_the_home_breweries_it_claims() -> None:
    names = [v.name for v in PLANT_MATRIX]
    assert len(names) >= 12 and len(set(names)) == len(names)
    fermenters = [v.params for v in PLANT_MATRIX if isinstance(v.params, FermenterParams)]
    kettles = [v.params for v in PLANT_MATRIX if isinstance(v.params, KettleParams)]
    litres = [p.beer_litres for p in fermenters]
    assert min(litres) <= 5 and max(litres) >= 60
    heaters = [p.heater_w for p in fermenters]
    assert min(heaters) <= 40 and max(heaters) >= 200
    assert len({p.cooling_w for p in fermenters}) >= 3
    assert len({p.wall_w_per_k for p in fermenters}) >= 3  # chamber insulation
    assert max(p.ambient_swing_c for p in fermenters) >= 5
    assert (
        min(k.water_litres for k in kettles) <= 10 and max(k.water_litres for k in kettles) >= 100
    )
    assert min(k.element_w for k in kettles) <= 1000 and max(k.element_w for k in kettles) >= 5000


@pytest.mark.parametrize("variant", PLANT_MATRIX, ids=lambda v: v.name)
def test_every_plant_of_the_matrix_behaves_physically(variant: Variant) -> None:
    if isinstance(variant.params, KettleParams):
        kettle = variant.plant(start_c=60.0)
        assert isinstance(kettle, Kettle)
        kettle.advance(600.0, {"element": True})
        ideal = variant.params.element_w * 600.0 / variant.params.water_j_per_k
        assert 0.6 * ideal < kettle.water - 60.0 < ideal  # lags and losses, never more
        return
    p = variant.params
    cooled, heated, idle = (variant.plant(start_c=18.0) for _ in range(3))
    for _ in range(6):  # six hours: the beer follows the chamber, the chamber the outputs
        cooled.advance(3600.0, {"cooler": True})
        heated.advance(3600.0, {"heater": True})
        idle.advance(3600.0, {})
    assert isinstance(cooled, Fermenter) and isinstance(heated, Fermenter)
    assert cooled.air < cooled.beer < idle.beer < heated.beer < heated.air
    # the compressor can hold a cold crash against the warmest room of the day
    worst_room = p.ambient_c + p.ambient_swing_c
    assert p.cooling_w > p.wall_w_per_k * (worst_room - 2.0) + 1.0
