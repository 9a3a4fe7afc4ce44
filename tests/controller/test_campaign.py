"""The short randomised fault campaign (the long one: `make bench BENCH=safety`)."""

from __future__ import annotations

from services.common.config import Config
from tests.controller.campaign import run_campaign
from tests.controller.support import publish_config
from tests.support.broker import Broker
from tests.support.probe import MqttProbe


async def test_a_short_fault_campaign_breaks_no_invariant(
    config: Config, probe: MqttProbe, broker: Broker
) -> None:
    # seed 3 puts a board reset on a running compressor in its first hour: the reset
    # short-cycle of FMEA row 9 shows up here as a min-off violation if it comes back;
    # and a broker outage and a controller restart within its 8 hours
    figures = await run_campaign(
        config, hours=8.0, seed=3, publish=lambda o: publish_config(probe, o), broker=broker
    )
    assert figures.injected >= 10, figures
    assert figures.broker_outages >= 1 and figures.restarts >= 1, figures
    assert figures.violations == [], figures.violations
