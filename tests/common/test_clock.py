import asyncio

from services.common.clock import SimClock
from tests.support.waiting import eventually


async def test_sim_clock_wakes_sleepers_in_order_at_their_deadlines() -> None:
    clock = SimClock(start=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper("late", 3600)), asyncio.create_task(sleeper("early", 60))]
    await asyncio.sleep(0)
    await clock.advance(7200)
    await asyncio.gather(*tasks)
    assert woke == [("early", 60.0), ("late", 3600.0)]
    assert clock.now() == 7200.0


async def test_a_periodic_task_runs_once_per_period_of_simulated_time() -> None:
    clock = SimClock(start=0.0)
    ticks: list[float] = []

    async def every_minute() -> None:
        while True:
            await clock.sleep(60)
            ticks.append(clock.now())

    task = asyncio.create_task(every_minute())
    await asyncio.sleep(0)
    await clock.advance(24 * 3600)  # a simulated day, in milliseconds
    task.cancel()
    assert len(ticks) == 24 * 60
    assert ticks[-1] == 24 * 3600


async def test_running_faster_than_real_time_waits_for_lines_in_flight() -> None:
    # The demo's clock at 30 × real time: a serial round trip that a busy machine makes
    # take 100 ms must not become 3 simulated seconds (a board "not acknowledging").
    clock = SimClock(start=0.0)
    delivered = asyncio.Event()
    asked = asyncio.Event()

    async def settle() -> None:
        asked.set()
        await delivered.wait()  # a line still on its way

    runner = asyncio.create_task(clock.run(1000.0, tick=0.001, settle=settle))
    try:
        await asyncio.wait_for(asked.wait(), 5)
        assert clock.now() == 0.0  # asked before time moved on
        delivered.set()
        await eventually(lambda: clock.now() > 0.0, what="time moving on")
    finally:
        runner.cancel()
