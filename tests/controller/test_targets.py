"""The controller owns its loops' targets and keeps them, with their configuration, on
its own disk: it controls with the broker down, survives kill -9 consistently, and a
stale or deleted configuration never comes back. Real subprocesses, broker and pty."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path
from typing import Any

from services.common.schema.config import Loop
from tests.controller.support import kettle_device, kettle_loop, publish_config
from tests.support.broker import Broker
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env
from tests.support.waiting import until


def state(predicate):  # type: ignore[no-untyped-def]
    return lambda m: bool(m.payload) and predicate(json.loads(m.payload))


def start(env: dict[str, str], tmp_path: Path, name: str) -> Service:
    return Service("services.controller", env, tmp_path / f"{name}.log")


def disk(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(Path(env["MAELSTROM_CONTROLLER_STATE"]).read_text())["body"]


def test_a_controller_started_with_the_broker_down_controls_from_its_disk(
    broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    env = service_env(broker.url)
    publish_config(probe, kettle_device())
    publish_config(probe, kettle_loop(mode="constant", setpoint=20.0))
    probe.subscribe("maelstrom/data/kettle")
    controller = start(env, tmp_path, "first")
    try:
        probe.wait_for("maelstrom/data/kettle", state(lambda s: s["pv"] is not None), timeout=20)
        probe.publish("maelstrom/cmd/loops/kettle/setpoint", "72")
        probe.wait_for("maelstrom/data/kettle", state(lambda s: s["sp"] == 72), timeout=5)
    finally:
        controller.stop()
    probe.close()
    broker.stop()  # and the broker's retained configuration with it, for now

    controller = start(env, tmp_path, "second")
    try:
        until(lambda: "control starts" in controller.output(), 20, "a first reading")
        log = controller.output()
        assert "started from 2 configuration objects on disk" in log, log
        assert "connected to MQTT broker" not in log  # it controls before any broker
        broker.start()
        probe = MqttProbe(broker.port).subscribe("maelstrom/data/kettle")
        heating = probe.wait_for(
            "maelstrom/data/kettle", state(lambda s: s["sp"] == 72 and not s["ts"] < 0), timeout=20
        )
        assert json.loads(heating.payload)["state"] == "heating"
    finally:
        controller.stop()
        probe.close()


def test_kill_9_at_any_moment_leaves_one_target_everywhere(
    broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    """However the controller dies during a burst of commands, after its restart its
    disk, its retained target and its live state agree on one setpoint, the old or the new."""
    env = service_env(broker.url)
    publish_config(probe, kettle_device())
    publish_config(probe, kettle_loop(mode="constant", setpoint=20.0))
    probe.subscribe("maelstrom/data/kettle").subscribe("maelstrom/target/kettle")
    rng = random.Random(11)
    sent: list[float] = [20.0]
    for round_ in range(4):
        controller = start(env, tmp_path, f"run-{round_}")
        mark = probe.mark()
        probe.wait_for(
            "maelstrom/data/kettle", state(lambda s: s["pv"] is not None), timeout=20, since=mark
        )
        burst = [round(rng.uniform(20, 90), 1) for _ in range(30)]
        sent += burst
        for value in burst:
            probe.publish("maelstrom/cmd/loops/kettle/setpoint", str(value))
        # die somewhere in the middle of applying them
        seen = mark + rng.randint(2, 25)
        until(lambda seen=seen: len(probe.messages) > seen, 10, "some commands applied")
        assert controller.stop(signal.SIGKILL) == -signal.SIGKILL

        controller = start(env, tmp_path, f"after-{round_}")
        try:
            mark = probe.mark()
            live = probe.wait_for(
                "maelstrom/data/kettle", state(lambda s: s["pv"] is not None), 20, since=mark
            )
            on_disk = disk(env)["targets"]["kettle"]
            retained = MqttProbe(broker.port).subscribe("maelstrom/target/kettle")
            try:
                target = retained.wait_for("maelstrom/target/kettle", timeout=5).json()
            finally:
                retained.close()
            sp = json.loads(live.payload)["sp"]
            assert sp == on_disk["setpoint"] == target["setpoint"], (sp, on_disk, target)
            assert on_disk["revision"] == target["revision"]
            assert sp in sent
        finally:
            controller.stop()


def test_stale_and_deleted_configuration_never_comes_back(
    broker: Broker, probe: MqttProbe, tmp_path: Path
) -> None:
    env = service_env(broker.url)
    publish_config(probe, kettle_device())
    new = kettle_loop(mode="off", name="New", version=5)
    publish_config(probe, new)
    probe.subscribe("maelstrom/data/kettle")
    controller = start(env, tmp_path, "first")
    try:
        probe.wait_for("maelstrom/data/kettle", state(lambda s: s["name"] == "New"), timeout=20)
    finally:
        controller.stop()
    # the broker restores an old autosave: version 4, heating at 100 %
    old: Loop = kettle_loop(mode="manual", manual_output=100, name="Old", version=4)
    publish_config(probe, old)
    controller = start(env, tmp_path, "second")
    try:
        until(lambda: "ignored the broker's retained loops kettle version 4" in controller.output())
        assert disk(env)["config"]["loops"]["kettle"]["name"] == "New"
        mark = probe.mark()
        # the API, back, says what exists: the loop was deleted while we were away
        probe.publish("maelstrom/config/index", {"devices": ["sim-kettle"], "loops": []})
        gone = probe.wait_for("maelstrom/data/kettle", lambda m: not m.payload, 10, since=mark)
        assert gone is not None
    finally:
        controller.stop()
    publish_config(probe, old)  # and once more, the stale retained copy
    controller = start(env, tmp_path, "third")
    try:
        until(lambda: "ignored the broker's retained loops kettle" in controller.output())
        assert "kettle" not in disk(env)["config"]["loops"]
        assert disk(env)["tombstones"]["loops"]["kettle"] == 5
    finally:
        controller.stop()
