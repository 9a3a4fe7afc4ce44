import asyncio

from services.common.clock import SimClock


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
