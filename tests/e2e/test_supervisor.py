"""`make run-all`'s supervisor: a process that dies comes back, and the others never stop.

The real deploy/supervisord.conf, on the test's own ports and files: the broker is
killed (-9) under it, and the API and the controller keep running (same processes)
and keep controlling; Ctrl-C then stops the services first, so they still say
`offline`, and the broker last.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.broker import Broker, mosquitto_binary
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import REPO, service_env

VENV_BIN = Path(sys.executable).parent
CONF = REPO / "deploy" / "supervisord.conf"


@dataclass
class Supervised:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    broker: Broker
    http: str
    log: Path

    def ctl(self, *args: str) -> str:
        result = subprocess.run(
            [str(VENV_BIN / "supervisorctl"), "-c", str(CONF), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return result.stdout.strip()

    def pid(self, name: str) -> int:
        text = self.ctl("pid", name)
        return int(text) if text.isdigit() else 0

    def wait_pid(self, name: str, other_than: int = 0, timeout: float = 20) -> int:
        """The process's pid once it runs (and is not `other_than`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid(name)
            if pid and pid != other_than:
                return pid
            time.sleep(0.1)  # polling supervisord, which announces nothing
        raise TimeoutError(f"{name} not running after {timeout}s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    broker = Broker(tmp_path)  # only its configuration: supervisord runs the broker
    broker.conf.write_text(broker.conf.read_text() + "user root\n")
    http_port = free_port()
    env = service_env(
        broker.url,
        PYTHON=str(VENV_BIN / "python"),
        MOSQUITTO=mosquitto_binary(),
        MAELSTROM_RUN_DIR=str(tmp_path),
        MAELSTROM_BROKER_CONF=str(broker.conf),
        MAELSTROM_HTTP_PORT=str(http_port),
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / 'maelstrom.db'}",
        MAELSTROM_DEMO="1",
    )
    log = tmp_path / "supervisord.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "supervisord"), "-c", str(CONF)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Supervised(proc, env, broker, f"http://127.0.0.1:{http_port}", log)
    try:
        wait_for_port(http_port, timeout=30)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def health(http: str) -> dict:
    with urllib.request.urlopen(http + "/api/health", timeout=5) as resp:
        return json.loads(resp.read())


def fresh_state(probe: MqttProbe, since: float) -> None:
    """A loop state the controller measured after `since`: control is running."""
    probe.wait_for(
        "maelstrom/data/fermenter",
        lambda m: not m.retain and json.loads(m.payload).get("ts", 0) > since,
        timeout=20,
    )


def test_a_killed_broker_comes_back_and_control_never_stops(supervised: Supervised) -> None:
    api, controller = (
        supervised.wait_pid("services:api"),
        supervised.wait_pid("services:controller"),
    )
    broker = supervised.wait_pid("broker")
    probe = MqttProbe(supervised.broker.port).subscribe("maelstrom/#")
    try:
        for service in ("api", "controller"):
            probe.wait_for(f"maelstrom/status/{service}", lambda m: m.text == "online", timeout=20)
        fresh_state(probe, time.time())
    finally:
        probe.close()

    killed_at = time.time()
    subprocess.run(["kill", "-9", str(broker)], check=True)
    assert supervised.wait_pid("broker", other_than=broker) != broker
    wait_for_port(supervised.broker.port, timeout=20)

    probe = MqttProbe(supervised.broker.port).subscribe("maelstrom/#")
    try:
        fresh_state(probe, killed_at)  # the controller reconnected and publishes again
        probe.wait_for("maelstrom/status/api", lambda m: m.text == "online", timeout=20)
        deadline = time.monotonic() + 20
        while not health(supervised.http)["broker"]["ok"]:
            assert time.monotonic() < deadline, "the API did not get its broker back"
            time.sleep(0.1)  # polling the health endpoint
        # The same processes: supervisord restarted the broker alone.
        assert supervised.pid("services:api") == api
        assert supervised.pid("services:controller") == controller

        # Ctrl-C: the services stop first and say so; the broker goes last.
        mark = probe.mark()
        supervised.proc.send_signal(signal.SIGINT)
        for service in ("api", "controller"):
            probe.wait_for(
                f"maelstrom/status/{service}", lambda m: m.text == "offline", since=mark, timeout=20
            )
    finally:
        probe.close()
    assert supervised.proc.wait(30) == 0
    out = supervised.output()
    assert out.index("stopped: api") < out.index("stopped: broker")
    assert out.index("stopped: controller") < out.index("stopped: broker")
    assert "Traceback" not in out, out[-3000:]
