"""`python -m services.controller`: runs the control loops until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

from services.common.clock import RealClock, SimClock
from services.common.config import Config, ConfigError
from services.common.logs import setup_logging
from services.controller.app import running_controller
from services.controller.options import Options, sim_speed_from_env

log = logging.getLogger("services.controller")


async def main() -> None:
    config = Config.from_env()
    setup_logging(config.log_level)
    speed = sim_speed_from_env()
    # A faster-than-real-time demo runs everything (physics and control) on one
    # simulated clock, so the control still sees a consistent world.
    clock = RealClock() if speed == 1 else SimClock(start=time.time())
    options = Options(clock=clock, state_path=config.controller_state)
    async with running_controller(config, options) as ctl:
        runner = None
        if isinstance(clock, SimClock):
            log.warning("simulated time runs at %g × real time (MAELSTROM_SIM_SPEED)", speed)
            # the simulated boards' lines are read before time moves on
            runner = asyncio.create_task(clock.run(speed, settle=ctl.settle))
        await wait_for_stop_signal()
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


async def wait_for_stop_signal() -> None:
    """Return on SIGINT or SIGTERM, so the `async with` blocks shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (ConfigError, ValueError) as exc:
        sys.exit(f"controller: {exc}")
