"""The whole system for browser tests: Mosquitto, the API (+ UI, /ws), the controller in
demo mode, and headless Chromium — started once per test module."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import Broker, mosquitto_client
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import REPO, Service, service_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DOCS_SCREENSHOT = REPO / "docs" / "screenshots" / "dashboard.png"
SIM_SPEED = "30"
"""Simulated seconds per real second: fermenter temperatures visibly move within a test."""


@dataclass
class Stack:
    broker: Broker
    url: str
    workdir: Path
    services: dict[str, Service] = field(default_factory=dict)

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text

    def mosquitto_pub(self, topic: str, payload: str, retain: bool = False) -> None:
        args = [mosquitto_client("mosquitto_pub"), "-p", str(self.broker.port), "-t", topic]
        args += ["-m", payload, "-q", "1"] + (["-r"] if retain else [])
        subprocess.run(args, check=True, timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{s.output()[-3000:]}" for n, s in self.services.items())


def start_stack(workdir: Path) -> Stack:
    (workdir / "broker").mkdir(parents=True)
    broker = Broker(workdir / "broker")
    broker.start()
    http_port = free_port()
    env = service_env(
        broker.url,
        MAELSTROM_HTTP_PORT=str(http_port),
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_DATABASE_URL=f"sqlite:///{workdir / 'maelstrom.db'}",
        MAELSTROM_DEMO="1",
        MAELSTROM_SIM_SPEED=SIM_SPEED,
        # The journeys are about brewing, not logging in (tests/webui/test_access.py is).
        MAELSTROM_AUTH="off",
    )
    stack = Stack(broker, f"http://127.0.0.1:{http_port}", workdir)
    stack.services["api"] = Service("services.api", env, workdir / "api.log")
    stack.services["controller"] = Service("services.controller", env, workdir / "controller.log")
    try:
        wait_for_port(http_port, timeout=20)
    except TimeoutError:
        stop_stack(stack)
        pytest.fail("the API did not listen:\n" + stack.logs())
    wait_until_ready(stack)
    return stack


def wait_until_ready(stack: Stack) -> None:
    """The demo is there (boards, loops) and the controller publishes live state."""
    status, loops = stack.api("GET", "/api/loops")
    ids = {loop.get("id") for loop in loops} if status == 200 else set()
    if not {"fermenter", "kettle"} <= ids:
        stop_stack(stack)
        pytest.fail(f"MAELSTROM_DEMO=1 gave no fermenter and kettle ({status}: {loops})")
    probe = MqttProbe(stack.broker.port)
    try:
        probe.subscribe("maelstrom/data/+")
        probe.wait_for("maelstrom/data/fermenter", lambda m: bool(m.payload), timeout=30)
    except TimeoutError:
        stop_stack(stack)
        pytest.fail("no live state on maelstrom/data/fermenter:\n" + stack.logs())
    finally:
        probe.close()


def stop_stack(stack: Stack) -> None:
    for service in stack.services.values():
        service.stop()
    stack.broker.stop()


def save_screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def publish_docs_screenshot(path: Path) -> None:
    """The README shows the dashboard; refresh docs/ only when asked (keeps runs clean)."""
    import os

    if os.environ.get("MAELSTROM_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)
