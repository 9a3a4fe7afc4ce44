"""The long randomised fault campaign (docs/safety.md): weeks of simulated operation of a
fermenter and a kettle with random faults, clock steps, board resets, setpoint edits,
broker outages and controller restarts, every invariant checked at every step.
`BENCH_SAFETY_DAYS` (default 7) per seed, `BENCH_SAFETY_SEEDS` (default 3) seeds; prints
simulated hours, faults, outages, restarts and violations."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from services.common.config import Config
from services.common.mqtt import encode_payload
from tests.controller.campaign import Figures, run_campaign
from tests.support.broker import Broker
from tests.support.probe import MqttProbe


def main() -> None:
    days = float(os.environ.get("BENCH_SAFETY_DAYS", "7"))
    seeds = int(os.environ.get("BENCH_SAFETY_SEEDS", "3"))
    results: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        broker.start()
        probe = MqttProbe(broker.port)
        try:
            for seed in range(1, seeds + 1):
                config = Config.from_env({"MAELSTROM_MQTT_URL": broker.url})
                started = time.monotonic()

                def publish(obj: object) -> None:
                    kind = {"Device": "devices", "Loop": "loops"}[type(obj).__name__]
                    probe.publish(
                        f"maelstrom/config/{kind}/{obj.id}",  # type: ignore[attr-defined]
                        encode_payload(obj.model_dump(mode="json")),  # type: ignore[attr-defined]
                        retain=True,
                    )

                figures = asyncio.run(
                    run_campaign(config, days * 24.0, seed, publish, broker=broker)
                )
                results.append(figures)
                print(
                    f"seed {seed}: {figures.simulated_h:.0f} simulated h in "
                    f"{time.monotonic() - started:.0f} s, {figures.injected} faults "
                    f"{json.dumps(figures.faults, sort_keys=True)}, {figures.clock_steps} clock "
                    f"steps, {figures.edits} edits, {figures.broker_outages} broker outages, "
                    f"{figures.restarts} controller restarts ({figures.kills} kill -9), "
                    f"trips {json.dumps(figures.trips, sort_keys=True)}, "
                    f"{figures.fallback_s / 60:.0f} min on a board's fallback thermostat, "
                    f"{figures.uncontrolled_heat_s / 60:.0f} min energised above the cutout "
                    f"though told off (welded, deaf, refusing), "
                    f"{len(figures.violations)} violations",
                    flush=True,
                )
                for violation in figures.violations[:10]:
                    print(f"  violation: {violation}")
        finally:
            probe.close()
            broker.stop()
    hours = sum(f.simulated_h for f in results)
    faults = sum(f.injected for f in results)
    outages = sum(f.broker_outages for f in results)
    restarts = sum(f.restarts for f in results)
    kills = sum(f.kills for f in results)
    violations = sum(len(f.violations) for f in results)
    print(
        f"\ntotal: {hours:.0f} simulated hours, {faults} faults injected, {outages} broker "
        f"outages, {restarts} controller restarts ({kills} kill -9), {violations} violations"
    )


if __name__ == "__main__":
    main()
