"""Step profiles (programs) run by the controller on simulated boards, through a real pty
and a real broker, in simulated time.

* The 3-rest mash (66 °C 60 min, 72 °C 15 min, 78 °C 10 min) on the simulated kettle:
  each hold starts the decision the kettle's reading is within tolerance of the target,
  and lasts its length to within one control cycle (a reading: 1 s here).
* A dough-in step waits for the brewer's confirmation (MQTT), with a low alarm.
* The simulated fermenter's iSpindel: "gravity ≤ 1.013 or 10 days" advances on gravity;
  with the iSpindel quiet for a day it does not advance on the stale value; a noisy
  iSpindel never makes a gravity "stable"; one on a low battery is not believed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.common.config import Config
from services.common.schema.config import (
    AlarmThresholds,
    Device,
    IoRef,
    MqttLink,
    Profile,
    ProfileStep,
    Sensor,
    StepCondition,
)
from services.controller.devices.serial_board import BoardTiming
from services.controller.options import Timing
from tests.controller.support import (
    DAY,
    HOUR,
    SimRun,
    eventually,
    fermenter_device,
    fermenter_loop,
    kettle_device,
    kettle_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

CYCLE_S = 1.0
"""The simulated kettle board reads once a second: every decision is one such cycle."""
RESTS = [("Beta rest", 66.0, 3600.0), ("Alpha rest", 72.0, 900.0), ("Mash out", 78.0, 600.0)]


def three_rest_mash() -> Profile:
    return Profile(
        id="mash",
        name="3-rest mash",
        kind="mash",
        steps=[ProfileStep(name=n, temperature=t, hold_s=h) for n, t, h in RESTS],
    )


def events_of(probe: MqttProbe, loop: str = "kettle") -> list[dict[str, object]]:
    topic = f"maelstrom/events/{loop}"
    return [json.loads(m.payload) for m in probe.messages if m.topic == topic]


async def test_a_three_rest_mash_holds_each_rest_from_its_target(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/events/kettle")
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, three_rest_mash())
        publish_config(probe, kettle_loop(mode="off"))
        await run.running("kettle")
        loop, sim = run.loop("kettle"), run.sim("sim-kettle")
        probe.publish("maelstrom/cmd/loops/kettle/profile", {"action": "start", "profile": "mash"})
        await eventually(lambda: loop.cfg.mode == "profile", what="profile mode")
        started = run.clock.now()
        first_within: dict[int, float] = {}  # when the loop's reading was first within 0.5 °C
        reached: dict[int, float] = {}
        step_started: dict[int, float] = {0: started}
        water_in_hold: dict[int, list[float]] = {0: [], 1: [], 2: []}
        while (loop.cfg.profile.step or 0) < len(RESTS):
            await run.advance(CYCLE_S)
            assert run.clock.now() - started < 4 * HOUR, "the mash did not finish"
            r = loop.cfg.profile
            i = r.step or 0
            if i < len(RESTS):
                step_started.setdefault(i, r.step_started_at)
                if loop.pv is not None and abs(loop.pv - RESTS[i][1]) <= 0.5:
                    first_within.setdefault(i, run.clock.now())
                if r.reached_at is not None:
                    reached[i] = r.reached_at
                    water_in_hold[i].append(sim.plant.water)
        finished = run.clock.now()

        hold_errors = []
        for i, (name, target, hold) in enumerate(RESTS):
            end = step_started[i + 1] if i + 1 < len(RESTS) else finished
            # the hold starts in the very decision the reading is within tolerance
            assert reached[i] == first_within[i], name
            hold_errors.append(end - reached[i] - hold)
            deviation = max(abs(w - target) for w in water_in_hold[i])
            print(
                f"{name}: reached {target:g} °C after {reached[i] - step_started[i]:.0f} s, "
                f"held {end - reached[i]:.0f} s for {hold:.0f} s, "
                f"water within {deviation:.2f} °C of the target during the hold"
            )
            assert 0 <= end - reached[i] - hold <= CYCLE_S
            assert deviation < 1.0
        ramps = sum(reached[i] - step_started[i] for i in range(len(RESTS)))
        holds = sum(h for _, _, h in RESTS)
        print(f"total {finished - started:.0f} s = ramps {ramps:.0f} s + holds {holds:.0f} s")
        print(f"hold length error per rest (s): {hold_errors}")
        assert abs((finished - started) - (ramps + holds)) <= CYCLE_S * len(RESTS)

        await eventually(lambda: len(events_of(probe)) >= 6, what="six events", timeout=30)
        kinds = [(e["kind"], e["step"]) for e in events_of(probe)]
        assert kinds == [
            ("reached", 0),
            ("started", 1),
            ("reached", 1),
            ("started", 2),
            ("reached", 2),
            ("finished", 2),
        ]
        state = loop.state(run.clock.now())
        assert state.profile is not None and state.profile.finished and state.sp == 78.0


async def test_dough_in_waits_for_the_brewers_confirmation(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/events/kettle")
    probe.subscribe("maelstrom/alarms/kettle-confirm")
    profile = Profile(
        id="doughin",
        kind="mash",
        steps=[
            ProfileStep(
                name="Strike",
                temperature=40,
                until=StepCondition(type="confirm", prompt="Add the grain, then confirm"),
            ),
            ProfileStep(name="Rest", temperature=45, hold_s=600),
        ],
    )
    async with sim_controller(config) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, profile)
        publish_config(probe, kettle_loop(mode="off"))
        await run.running("kettle")
        loop = run.loop("kettle")
        probe.publish(
            "maelstrom/cmd/loops/kettle/profile", {"action": "start", "profile": "doughin"}
        )
        await eventually(lambda: loop.cfg.mode == "profile", what="profile mode")
        await run.advance_until(lambda: loop.cfg.profile.waiting_since is not None, HOUR, step=5)
        alarm = await received(probe, "maelstrom/alarms/kettle-confirm", lambda m: bool(m.payload))
        record = json.loads(alarm.payload)
        assert record["severity"] == "low" and "Add the grain, then confirm" in record["message"]
        waiting = [e for e in events_of(probe) if e["kind"] == "waiting"]
        assert waiting and waiting[0]["confirm"] == "Add the grain, then confirm"
        state = loop.state(run.clock.now())
        assert state.profile.confirm == "Add the grain, then confirm"
        assert state.profile.waiting_for == "Add the grain, then confirm"

        await run.advance(30 * 60)  # the brewer is slow: the step keeps waiting at 40 °C
        assert loop.cfg.profile.step == 0 and loop.sp == 40.0

        mark = probe.mark()
        probe.publish("maelstrom/cmd/loops/kettle/profile", "confirm")
        await eventually(lambda: loop.cfg.profile.step == 1, what="the rest after confirming")
        assert loop.sp == 45.0
        await received(
            probe,
            "maelstrom/alarms/kettle-confirm",
            lambda m: json.loads(m.payload)["state"] != "active",
            since=mark,
        )


# --- fermentation on gravity: the simulated fermenter's iSpindel ----------------------------


WEEKS_OF_READINGS = Timing(
    supervise_s=300.0,
    publish_every_s=900.0,
    sim_interval_s=300.0,
    board=BoardTiming(refresh_s=300.0, lost_after_s=1500.0, watchdog_s=1500),
)
"""A fermenter read every 5 minutes (a real board: every second) so a week of fermentation
takes seconds; the loop's `stale_after_s` is 1500 to match. The iSpindel reports every
15 minutes, as a real one."""


def ispindel_device() -> Device:
    """The simulated fermenter's iSpindel, as a brewer would add a real one."""
    return Device(
        id="ispindel",
        name="iSpindel in the simulated fermenter",
        kind="mqtt",
        mqtt=MqttLink(preset="ispindel", name="sim-fermenter", stale_after_s=3 * HOUR),
        sensors=[Sensor(id="gravity", unit="SG"), Sensor(id="battery", unit="V")],
    )


def gravity_profile(hold_s: float = 0.0, **until: object) -> Profile:
    return Profile(
        id="ferment",
        name="Ferment to gravity",
        kind="fermentation",
        steps=[
            ProfileStep(
                name="Primary", temperature=19, hold_s=hold_s, until=StepCondition(**until)
            ),
            ProfileStep(name="Cold crash", temperature=2),
        ],
    )


@contextlib.asynccontextmanager
async def fermenting(config: Config, probe: MqttProbe, profile: Profile) -> AsyncIterator[SimRun]:
    probe.subscribe("maelstrom/events/fermenter")
    async with sim_controller(config, WEEKS_OF_READINGS) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, ispindel_device())
        publish_config(probe, profile)
        publish_config(
            probe,
            fermenter_loop(
                gravity=IoRef(device="ispindel", id="gravity"),
                alarms=AlarmThresholds(stale_after_s=1500),
            ),
        )
        await run.running("fermenter")
        loop = run.loop("fermenter")
        probe.publish(
            "maelstrom/cmd/loops/fermenter/profile", {"action": "start", "profile": profile.id}
        )
        await eventually(lambda: loop.cfg.mode == "profile", what="profile mode")
        yield run


async def hydrometer(run: SimRun, probe: MqttProbe, mode: str) -> None:
    """Set the simulated iSpindel's mode, and wait until the board took it: simulated
    time must not run on ahead of the command (hours pass in a moment)."""
    probe.publish("maelstrom/cmd/devices/sim-fermenter/simulate", {"hydrometer": mode})
    driver = run.ctl.registry.simulated("sim-fermenter")
    await eventually(lambda: driver.hydrometer.mode == mode, what=f"hydrometer {mode}")


async def advance_with_readings(
    run: SimRun, predicate: Any, max_s: float, step: float = 60.0
) -> float:
    """Advance `step` at a time until `predicate()`, each time waiting until the
    controller has every report the simulated iSpindel sent: they travel through the
    broker, and simulated time must not outrun them (they would arrive late, bunched)."""
    driver = run.ctl.registry.simulated("sim-fermenter")
    point = run.ctl.registry.sensor("ispindel", "gravity")
    assert point is not None
    arrived = [0]
    point.subscribe(lambda _: arrived.__setitem__(0, arrived[0] + 1))
    sent = driver.hydrometer.sent
    start = run.clock.monotonic()
    while not predicate():
        if run.clock.monotonic() - start >= max_s:
            raise AssertionError(f"not within {max_s:g} simulated seconds")
        await run.advance(step)
        await eventually(
            lambda: arrived[0] >= driver.hydrometer.sent - sent, what="the iSpindel's reports"
        )
    return run.clock.monotonic() - start


async def test_a_gravity_step_advances_on_gravity_before_its_time_limit(
    config: Config, probe: MqttProbe
) -> None:
    profile = gravity_profile(type="gravity", gravity=1.013, limit_s=10 * DAY)
    async with fermenting(config, probe, profile) as run:
        loop, sim = run.loop("fermenter"), run.sim("sim-fermenter")
        started = run.clock.now()
        took = await run.advance_until(lambda: loop.cfg.profile.step == 1, 10 * DAY, step=600)
        print(
            f"gravity ≤ 1.013 after {took / DAY:.2f} days (sim gravity {sim.plant.gravity():.4f})"
        )
        assert took < 5 * DAY  # on gravity, not on the 10-day limit
        assert sim.plant.gravity() <= 1.0135
        assert loop.sp == 2.0
        assert loop.cfg.profile.original_gravity == pytest.approx(1.049, abs=0.002)
        await eventually(
            lambda: any(
                e["kind"] == "started" and "gravity" in e["text"]
                for e in events_of(probe, "fermenter")
            ),
            what="the step change event",
            timeout=30,
        )
        assert run.clock.now() - started == pytest.approx(took)


async def test_a_stale_hydrometer_does_not_advance_a_gravity_step(
    config: Config, probe: MqttProbe
) -> None:
    # four days at least, then gravity ≤ 1.013: readings below 1.013 arrive during the
    # hold, then the iSpindel goes quiet for a day across the end of the hold
    profile = gravity_profile(hold_s=4 * DAY, type="gravity", gravity=1.013, limit_s=10 * DAY)
    async with fermenting(config, probe, profile) as run:
        loop, sim = run.loop("fermenter"), run.sim("sim-fermenter")
        started = run.clock.now()
        await run.advance_until(lambda: run.clock.now() - started >= 3.5 * DAY, 4 * DAY, step=600)
        assert sim.plant.gravity() < 1.013
        await hydrometer(run, probe, "silent")
        await run.advance_until(lambda: run.clock.now() - started >= 4.5 * DAY, DAY, step=600)
        assert loop.cfg.profile.step == 0
        state = loop.state(run.clock.now())
        assert "stale" in (state.profile.waiting_for or ""), state.profile
        # and the brewer is told, once, why the step does not move on (the wait began stale)
        stale = await eventually(
            lambda: [
                e
                for e in events_of(probe, "fermenter")
                if e["kind"] in ("waiting", "data") and "stale" in e["text"]
            ],
            what="an event saying the gravity is stale",
            timeout=30,
        )
        assert len(stale) == 1, stale
        assert stale[0]["text"].startswith("Primary: gravity reading is stale"), stale
        await hydrometer(run, probe, "normal")
        took = await advance_with_readings(run, lambda: loop.cfg.profile.step == 1, 3 * HOUR)
        print(f"advanced {took / 60:.0f} min after the iSpindel reported again")
        # three fresh readings a quarter of an hour apart, and a few of slack
        assert took <= 6 * 900


async def test_a_noisy_hydrometer_does_not_trigger_stable(config: Config, probe: MqttProbe) -> None:
    profile = gravity_profile(type="stable", delta=0.001, hours=24, limit_s=10 * DAY)
    async with fermenting(config, probe, profile) as run:
        loop = run.loop("fermenter")
        await hydrometer(run, probe, "noisy")
        started = run.clock.now()
        await advance_with_readings(
            run, lambda: run.clock.now() - started >= 6 * DAY, 7 * DAY, step=1800
        )
        assert loop.cfg.profile.step == 0  # fermented out by day 4.5, but too noisy to say
        assert "noisy" in (loop.state(run.clock.now()).profile.waiting_for or "")
        await eventually(
            lambda: any(
                e["kind"] == "data" and "too noisy" in e["text"]
                for e in events_of(probe, "fermenter")
            ),
            what="an event saying the gravity is too noisy",
            timeout=30,
        )
        await hydrometer(run, probe, "normal")
        took = await advance_with_readings(
            run, lambda: loop.cfg.profile.step == 1, 2 * DAY, step=1800
        )
        assert took <= 30 * HOUR  # a quiet window of 24 h, and slack for the last readings


async def test_a_program_keeps_its_place_across_a_controller_restart(
    config: Config, probe: MqttProbe, tmp_path: Path
) -> None:
    state = str(tmp_path / "controller-state")
    async with sim_controller(config, state_path=state) as run:
        publish_config(probe, kettle_device())
        publish_config(probe, three_rest_mash())
        publish_config(probe, kettle_loop(mode="off"))
        await run.running("kettle")
        loop = run.loop("kettle")
        probe.publish("maelstrom/cmd/loops/kettle/profile", {"action": "start", "profile": "mash"})
        await eventually(lambda: loop.cfg.mode == "profile", what="profile mode")
        await run.advance_until(lambda: loop.cfg.profile.reached_at is not None, HOUR, step=5)
        await run.advance(600)  # ten minutes into the beta rest
        before = loop.cfg.profile
        stopped_at = run.clock.now()
    async with sim_controller(config, state_path=state, start=stopped_at + 60) as run:
        await run.running("kettle")
        loop = run.loop("kettle")
        after = loop.cfg.profile
        assert (after.step, after.step_started_at, after.reached_at) == (
            before.step,
            before.step_started_at,
            before.reached_at,
        )
        state_now = loop.state(run.clock.now())
        # the rest goes on counting from when the mash reached 66 °C, not from the restart
        assert state_now.profile.hold_remaining_s == pytest.approx(3600 - 600 - 60, abs=5)


async def test_a_hydrometer_on_a_low_battery_is_not_believed(
    config: Config, probe: MqttProbe
) -> None:
    profile = gravity_profile(type="gravity", gravity=1.013, limit_s=10 * DAY)
    async with fermenting(config, probe, profile) as run:
        loop, sim = run.loop("fermenter"), run.sim("sim-fermenter")
        await hydrometer(run, probe, "low_battery")
        started = run.clock.now()
        await run.advance_until(lambda: run.clock.now() - started >= 4 * DAY, 5 * DAY, step=1800)
        assert sim.plant.gravity() < 1.013 and loop.cfg.profile.step == 0
        waiting = loop.state(run.clock.now()).profile.waiting_for or ""
        assert "low battery (3.30 V)" in waiting, waiting
