"""`python -m services.controller`: runs the control loops until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal

from services.common.config import Config
from services.common.logs import attach_mqtt_logging, setup_logging
from services.common.mqtt import MqttClient


async def main() -> None:
    config = Config.from_env()
    setup_logging(config.log_level)
    async with MqttClient(config, "controller") as mqtt:
        attach_mqtt_logging(mqtt, "controller")
        await wait_for_stop_signal()


async def wait_for_stop_signal() -> None:
    """Return on SIGINT or SIGTERM, so the `async with` blocks shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
