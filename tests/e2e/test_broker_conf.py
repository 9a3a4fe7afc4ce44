"""broker/mosquitto.conf: retained messages survive a broker crash (kill -9) soon after they change."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.broker import mosquitto_binary
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import REPO


def shipped_conf(workdir: Path, port: int) -> Path:
    """The shipped configuration, on the test's port and in its directory."""
    text = (REPO / "broker" / "mosquitto.conf").read_text()
    text = re.sub(r"(?m)^listener 1883 127\.0\.0\.1$", f"listener {port} 127.0.0.1", text)
    text = re.sub(r"(?m)^persistence_location .*$", f"persistence_location {workdir}/", text)
    text = re.sub(r"(?m)^log_dest .*$", "log_dest stderr", text)
    conf = workdir / "mosquitto.conf"
    conf.write_text(text + "user root\n")
    return conf


def test_retained_changes_survive_a_broker_crash(tmp_path: Path) -> None:
    port = free_port()
    conf = shipped_conf(tmp_path, port)
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        probe = MqttProbe(port)
        for loop in ("fv1", "fv2", "fv3", "fv4"):
            probe.publish(f"maelstrom/config/loops/{loop}", {"id": loop}, retain=True)
        probe.publish("maelstrom/config/loops/fv2", b"", retain=True)  # deleted
        probe.close()
    finally:
        broker.kill()  # no clean shutdown, no final save
        broker.wait()
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        probe = MqttProbe(port).subscribe("maelstrom/config/loops/#")
        # Retained messages come with the SUBACK, so before anything published after it.
        probe.publish("maelstrom/config/loops/marker", b"after")
        probe.wait_for("maelstrom/config/loops/marker")
        retained = sorted(m.topic.rsplit("/", 1)[1] for m in probe.messages if m.retain)
        assert retained == ["fv1", "fv3", "fv4"]
        probe.close()
    finally:
        broker.terminate()
        broker.wait()
