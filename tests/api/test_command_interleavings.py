"""Property: any interleaving of REST and MQTT commands ends on the last one — on REST,
on `maelstrom/data/<loop>` and on the controller's disk — each applied exactly once.

A real API and a real controller run in a background event loop for the whole
test, so hypothesis can drive many examples against one stack.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.config import Config
from services.controller.app import Controller, running_controller
from services.controller.options import Options
from tests.api.conftest import FERMENTER_DEVICE, FERMENTER_LOOP, start_api
from tests.support.probe import MqttProbe
from tests.support.waiting import eventually

T = TypeVar("T")
RUNS = 25


class Stack:
    """API + controller on an event loop of their own (a thread)."""

    def __init__(self, config: Config, state: Path) -> None:
        self.config, self.state = config, state
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._stop = asyncio.Event()
        self._ready: Future[tuple[TestClient, Controller]] = Future()
        self._main = asyncio.run_coroutine_threadsafe(self._run(), self.loop)
        self.api, self.controller = self._ready.result(30)

    async def _run(self) -> None:
        try:
            api = await start_api(self.config)
            for kind, body in (("devices", FERMENTER_DEVICE), ("loops", FERMENTER_LOOP)):
                assert (await api.post(f"/api/{kind}", json=body)).status == 201
            options = Options(state_path=str(self.state))
            async with running_controller(self.config, options) as controller:
                await eventually(lambda: "fv1" in controller.loops.loops, 10)
                self._ready.set_result((api, controller))
                await self._stop.wait()
            await api.close()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._main.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def stack(config: Config, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(config, tmp_path / "controller-state.json")
    yield s
    s.close()


COMMANDS = st.lists(
    st.tuples(st.sampled_from(["rest", "mqtt"]), st.integers(100, 300).map(lambda t: t / 10)),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=RUNS,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(commands=COMMANDS)
def test_interleaved_commands_converge_on_the_last_applied_once_each(
    stack: Stack, probe: MqttProbe, commands: list[tuple[str, float]]
) -> None:
    probe.subscribe("maelstrom/target/fv1").subscribe("maelstrom/data/fv1")
    before = stack.controller.targets.get("fv1")
    assert before is not None
    mark = probe.mark()
    for road, value in commands:
        if road == "rest":
            resp = stack.run(stack.api.post("/api/loops/fv1/setpoint", data=str(value)))
            assert resp.status == 200
        else:
            probe.publish("maelstrom/cmd/loops/fv1/setpoint", str(value))
    last = commands[-1][1]
    changes = sum(
        1
        for i, (_, value) in enumerate(commands)
        if value != (commands[i - 1][1] if i else before.setpoint)
    )
    revision = before.revision + changes
    probe.wait_for(
        "maelstrom/data/fv1", lambda m: m.json()["revision"] == revision, timeout=10, since=mark
    )

    async def rest_view() -> dict[str, Any]:
        async def stored() -> dict[str, Any] | None:
            loop = await (await stack.api.get("/api/loops/fv1")).json()
            return loop if loop["target_revision"] == revision else None

        return await eventually(stored, 5, "the API mirrors the last target")

    loop = stack.run(rest_view())
    assert loop["setpoint"] == last
    disk = json.loads(stack.state.read_text())["body"]["targets"]["fv1"]
    assert (disk["setpoint"], disk["revision"]) == (last, revision)
    # each command once: one target per revision, none repeated, none replayed
    revisions = [
        m.json()["revision"] for m in probe.messages[mark:] if m.topic == "maelstrom/target/fv1"
    ]
    assert revisions == list(range(before.revision + 1, revision + 1))
