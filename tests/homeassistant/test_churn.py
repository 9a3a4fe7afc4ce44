"""How many state rows Home Assistant would write, measured on the real services.

Home Assistant records a row whenever an entity's state or attributes change (not
for a message that renders the same). So the measure is: per entity, how often
what its templates render from our topics changes. Three loops run at once on a
controller whose simulated time runs 60 × faster: one idle (off), one whose
compressor waits out a long minimum off time, one running a profile. The figures
are printed per simulated hour (`pytest -s` shows them; docs/home-assistant.md
quotes them) and bounded here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.homeassistant.ha_rules import TEMPLATES
from tests.homeassistant.test_controls_round_trip import DEVICE
from tests.homeassistant.test_round_trip import Api
from tests.support.broker import Broker
from tests.support.probe import MqttProbe
from tests.support.services import Service

DEBUG = False
SPEED = 60
SIM_MINUTES = 15
PAIRS = (
    ("state_topic", "value_template"),
    ("json_attributes_topic", "json_attributes_template"),
    ("current_temperature_topic", "current_temperature_template"),
    ("temperature_state_topic", "temperature_state_template"),
    ("mode_state_topic", "mode_state_template"),
    ("action_topic", "action_template"),
)
BOUND_PER_HOUR = {"idle": 15, "waiting": 15, "profile": 40}
"""Most rows any one entity may write per hour. A reading that really moves (the beer
cooling) and relay switching are news; a countdown or a raw elapsed time is not."""
PROFILE = {
    "id": "week",
    "name": "Week",
    "points": [{"offset": 0, "temperature": 18.0}, {"offset": 7 * 86400, "temperature": 21.0}],
}


def loop(loop_id: str, device: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": loop_id,
        "name": loop_id.capitalize(),
        "kind": "fermenter",
        "sensor": {"device": device, "id": "beer"},
        "heater": {"device": device, "id": "heater"},
        "cooler": {"device": device, "id": "cooler"},
        "setpoint_min": -2.0,
        "setpoint_max": 30.0,
        **fields,
    }


@pytest.fixture
def brewery(broker: Broker, tmp_path: Path, probe: MqttProbe) -> Iterator[Api]:
    api = Api(broker, tmp_path).start()
    env = api.env | {"MAELSTROM_SIM_SPEED": str(SPEED)}
    controller = Service("services.controller", env, tmp_path / "controller.log")
    try:
        probe.subscribe("homeassistant/#")
        probe.subscribe("maelstrom/data/+")
        probe.subscribe("maelstrom/target/+")
        api.call("POST", "/api/profiles", PROFILE)
        for name in ("idle", "waiting", "profile"):
            api.call("POST", "/api/devices", DEVICE | {"id": f"{name}-board", "name": name})
        api.call("POST", "/api/loops", loop("idle", "idle-board", mode="off"))
        # Wants to cool at once; the compressor's minimum off time (counted from the
        # controller's start) holds it for the whole measurement.
        api.call(
            "POST",
            "/api/loops",
            loop("waiting", "waiting-board", mode="constant", setpoint=2.0, compressor={"min_off_s": 3600, "min_on_s": 180}),
        )  # fmt: skip
        api.call(
            "POST", "/api/loops", loop("profile", "profile-board", mode="constant", setpoint=18.0)
        )
        yield api
    finally:
        controller.stop()
        api.stop()


def renders(config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (config[t], TEMPLATES.from_string(config[k]))
        for t, k in PAIRS
        if t in config and k in config
    ]


@pytest.mark.flaky(reruns=2)  # simulated time at 60× real: a loaded machine can skew a run
def test_entities_write_few_state_rows_idle_waiting_and_running_a_profile(
    brewery: Api, probe: MqttProbe
) -> None:
    for name in ("idle", "waiting", "profile"):
        probe.wait_for(f"maelstrom/target/{name}", timeout=20)
    probe.publish("maelstrom/cmd/loops/profile/profile", '{"action": "start", "profile": "week"}')
    probe.wait_for("maelstrom/target/profile", lambda m: m.json()["mode"] == "profile", timeout=15)
    probe.wait_for(
        "homeassistant/select/maelstrom_loop_profile/profile/config",
        lambda m: bool(m.payload) and "Week" in m.json()["options"],
        timeout=15,
    )
    start = probe.mark()
    first = probe.wait_for("maelstrom/data/waiting", since=start, timeout=15).json()["ts"]
    probe.wait_for(
        "maelstrom/data/waiting",
        lambda m: m.json()["ts"] - first >= SIM_MINUTES * 60,
        since=start,
        timeout=SIM_MINUTES * 60 / SPEED * 3 + 10,
    )
    messages = probe.messages[start:]
    last = {m.topic: m.json() for m in messages if m.topic.startswith("maelstrom/data/")}
    assert last["maelstrom/data/waiting"]["state"] == "waiting"
    assert last["maelstrom/data/waiting"]["relays"] == {"heater": False, "cooler": False}
    assert last["maelstrom/data/profile"]["mode"] == "profile"

    configs = {
        m.topic: m.json()
        for m in probe.messages
        if m.topic.startswith("homeassistant/") and m.payload and "/maelstrom_loop_" in m.topic
    }
    report: dict[str, dict[str, float]] = defaultdict(dict)
    for topic, config in configs.items():
        loop_id = topic.split("/")[2].removeprefix("maelstrom_loop_")
        parts = renders(config)
        if not parts:
            continue  # a button: nothing to record
        current: dict[int, str] = {}
        changes = -1
        previous = None
        for m in messages:
            hits = [i for i, (t, _) in enumerate(parts) if t == m.topic]
            if not hits:
                continue
            data = m.json()
            for i in hits:
                current[i] = parts[i][1].render(value=m.text, value_json=data).strip()
            snapshot = tuple(sorted(current.items()))
            if snapshot != previous and previous is not None and DEBUG:
                print(loop_id, topic.split("/")[3], [c for c in snapshot if c not in previous])
            if snapshot != previous:
                changes += 1
                previous = snapshot
        stamps = [m.json()["ts"] for m in messages if m.topic == f"maelstrom/data/{loop_id}"]
        hours = (stamps[-1] - stamps[0]) / 3600
        assert hours > 0.8 * SIM_MINUTES / 60, (loop_id, hours)
        report[loop_id][topic.split("/")[1] + "." + topic.split("/")[3]] = max(0, changes) / hours

    print("\nstate rows per entity per simulated hour (Home Assistant's recorder):")
    for loop_id, rows in sorted(report.items()):
        worst = max(rows, key=rows.get)
        print(
            f"  {loop_id}: worst {worst} {rows[worst]:.0f}/h; "
            + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rows.items()))
        )
    for loop_id in sorted(report):
        stamps = [m.json()["ts"] for m in messages if m.topic == f"maelstrom/data/{loop_id}"]
        rate = len(stamps) / ((stamps[-1] - stamps[0]) / 3600)
        print(f"  {loop_id}: {rate:.0f} messages per hour on maelstrom/data/{loop_id}")
    for loop_id, rows in report.items():
        for key, per_hour in rows.items():
            assert per_hour <= BOUND_PER_HOUR[loop_id], (loop_id, key, per_hour, rows)
