"""Profile commands over MQTT (start, pause, resume, jump, stop) and a run that
survives a controller restart, on a simulated board in simulated time."""

from __future__ import annotations

import json

import pytest

from services.common.config import Config
from services.common.schema.config import AlarmThresholds, ProfileRun
from tests.controller.support import (
    DAY,
    DAYS_OF_READINGS,
    HOUR,
    ale_profile,
    fermenter_device,
    fermenter_loop,
    publish_config,
    sim_controller,
)
from tests.support.probe import MqttProbe, received

PROFILE = "maelstrom/cmd/loops/fermenter/profile"
STALE = AlarmThresholds(stale_after_s=300)


def state(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


async def test_start_pause_resume_jump_stop(config: Config, probe: MqttProbe) -> None:
    probe.subscribe("maelstrom/data/fermenter")
    async with sim_controller(config, DAYS_OF_READINGS) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, ale_profile())
        publish_config(probe, fermenter_loop(mode="constant", setpoint=20.0, alarms=STALE))
        await run.running("fermenter")

        mark = probe.mark()
        probe.publish(PROFILE, {"action": "start", "profile": "ale", "offset": 3 * DAY})
        started = await received(
            probe, "maelstrom/data/fermenter", state(lambda s: s["mode"] == "profile"), mark
        )
        progress = json.loads(started.payload)["profile"]
        assert progress["step"] == 1 and progress["next_setpoint"] == 21.0
        assert json.loads(started.payload)["sp"] == 18.0

        await run.advance(12 * HOUR)
        assert run.loop("fermenter").sp == pytest.approx(19.5, abs=0.01)  # half-way up the ramp

        mark = probe.mark()
        probe.publish(PROFILE, "pause")
        await received(
            probe, "maelstrom/data/fermenter", state(lambda s: s["profile"]["paused"]), mark
        )
        await run.advance(DAY)
        assert run.loop("fermenter").sp == pytest.approx(19.5, abs=0.01)  # time stood still

        mark = probe.mark()
        probe.publish(PROFILE, "resume")
        await received(
            probe, "maelstrom/data/fermenter", state(lambda s: not s["profile"]["paused"]), mark
        )
        await run.advance(6 * HOUR)
        assert run.loop("fermenter").sp == pytest.approx(20.25, abs=0.01)

        mark = probe.mark()
        probe.publish(PROFILE, {"action": "jump", "offset": 8 * DAY})
        await received(probe, "maelstrom/data/fermenter", state(lambda s: s["sp"] == 2.0), mark)

        mark = probe.mark()
        probe.publish(PROFILE, "stop")
        stopped = await received(
            probe, "maelstrom/data/fermenter", state(lambda s: s["mode"] == "constant"), mark
        )
        assert json.loads(stopped.payload)["sp"] == 2.0  # holds where the profile was
        assert json.loads(stopped.payload)["profile"] is None


async def test_a_running_profile_survives_a_controller_restart(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/data/fermenter")
    publish_config(probe, fermenter_device())
    publish_config(probe, ale_profile())
    async with sim_controller(config, DAYS_OF_READINGS) as run:
        # as the API persists it: the run anchored 3.5 days ago
        run_config = ProfileRun(profile="ale", started_at=run.clock.now() - 3.5 * DAY)
        publish_config(probe, fermenter_loop(mode="profile", profile=run_config, alarms=STALE))
        await run.running("fermenter")
        before = run.loop("fermenter").state(run.clock.now()).profile
        assert before is not None and before.elapsed_s == pytest.approx(3.5 * DAY, abs=60)
    mark = probe.mark()
    async with sim_controller(config, DAYS_OF_READINGS) as run:  # a new process, same clock start
        await run.running("fermenter")
        after = await received(
            probe, "maelstrom/data/fermenter", state(lambda s: s["profile"] is not None), mark
        )
        assert json.loads(after.payload)["sp"] == pytest.approx(19.5, abs=0.05)


async def test_stop_leaves_an_off_loop_off_and_bad_offsets_are_refused(
    config: Config, probe: MqttProbe
) -> None:
    probe.subscribe("maelstrom/data/fermenter")
    probe.subscribe("maelstrom/logs/controller")
    async with sim_controller(config, DAYS_OF_READINGS) as run:
        publish_config(probe, fermenter_device())
        publish_config(probe, ale_profile())
        parked = ProfileRun(profile="ale", started_at=run.clock.now() - DAY)
        publish_config(probe, fermenter_loop(mode="off", profile=parked, alarms=STALE))
        await run.running("fermenter")

        mark = probe.mark()
        probe.publish(PROFILE, '{"action":"jump","offset":Infinity}')
        await received(probe, "maelstrom/logs/controller", lambda m: b"finite" in m.payload, mark)
        assert run.loop("fermenter").cfg.profile == parked

        mark = probe.mark()
        probe.publish(PROFILE, "stop")
        stopped = await received(
            probe, "maelstrom/data/fermenter", state(lambda s: s["profile"] is None), mark
        )
        assert json.loads(stopped.payload)["mode"] == "off"
        await run.advance(HOUR)
        assert run.loop("fermenter").cfg.mode == "off"
        sim = run.sim("sim-fermenter")
        assert not any(sim.outputs.values())
