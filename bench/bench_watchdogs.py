"""What the watchdogs cost the controller's supervisor: one cycle over N running loops
(band, silent devices, stuck steps), side by side with the loops' own supervision in
the same cycle. Fermenter loops on simulated boards, real broker, real ptys."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.bench_controller import add_fermenters
from services.common.config import Config
from services.controller.app import running_controller
from tests.support.broker import Broker

CYCLES = 200


async def _cycle_costs(loops: int) -> tuple[float, float]:
    """µs per cycle: (the watchdogs, the loops' own `supervise`)."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        broker.start()
        try:
            config = Config.from_env({"MAELSTROM_MQTT_URL": broker.url})
            async with running_controller(config) as ctl:
                await add_fermenters(ctl, loops)
                now = ctl.options.clock.monotonic()
                started = time.perf_counter()
                for _ in range(CYCLES):
                    ctl.watchdogs.supervise(ctl.loops.loops)
                watchdogs = (time.perf_counter() - started) / CYCLES * 1e6
                started = time.perf_counter()
                for _ in range(CYCLES):
                    ctl.loops.supervise(now)
                own = (time.perf_counter() - started) / CYCLES * 1e6
        finally:
            broker.stop()
    return watchdogs, own


def main() -> None:
    print("Watchdogs per supervisor cycle (once a second), fermenter loops on simulated boards:\n")
    print("| loops | watchdogs, µs per cycle | per loop, µs | loops' own supervise, µs | ratio |")
    print("|---|---|---|---|---|")
    for n in (10, 100):
        watchdogs, own = asyncio.run(_cycle_costs(n))
        print(
            f"| {n} | {watchdogs:.0f} | {watchdogs / n:.1f} | {own:.0f} | {watchdogs / own:.2f} |"
        )


if __name__ == "__main__":
    main()
