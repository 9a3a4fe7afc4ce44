"""The repeater survives a failing step (with a logged error) and stops on cancel."""

from __future__ import annotations

import pytest

from services.common.repeater import Repeater
from tests.support.waiting import eventually


async def test_a_failing_step_is_logged_and_the_task_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("a bad moment")

    repeater = Repeater("sweeper", step, 0.001, backoff_max_s=0.01).start()
    await eventually(lambda: len(calls) >= 5, 5)
    await repeater.stop()
    assert "sweeper failed (1 in a row)" in caplog.text
    assert repeater.failures == 0  # it recovered
    after = len(calls)
    assert repeater._task is None and len(calls) == after
