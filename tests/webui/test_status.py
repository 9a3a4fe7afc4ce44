"""A second API instance that crashes never makes the page say "Api offline" while the
first one runs (issue 16, finding 10): the broker publishes the dead instance's last
will, the running instance answers `online` at once, and the page waits that out."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.support.broker import Broker
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env
from tests.webui.stack import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("webui-status")]

OFFLINE_GRACE_S = 3.0
"""webui/js/live.js OFFLINE_GRACE_MS: how long a page waits before it believes `offline`."""

RECORD_SERVICES = """() => {
  const el = document.getElementById("services");
  window.servicesShown = [];
  const note = () => window.servicesShown.push(el.hidden ? "" : el.textContent);
  new MutationObserver(note).observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
}"""


@dataclass
class TwoApis:
    broker: Broker
    ports: tuple[int, int]
    first: Service
    second: Service


@pytest.fixture
def apis(tmp_path: Path) -> Iterator[TwoApis]:
    """Two API processes on one broker, each with its own port and database (the second
    on a port of its own, so it gets as far as the broker). Started before the browser
    launches, so they boot meanwhile."""
    (tmp_path / "broker-data").mkdir()
    broker = Broker(tmp_path / "broker-data")
    broker.start()
    ports = (free_port(), free_port())

    def api(name: str, port: int) -> Service:
        env = service_env(
            broker.url,
            MAELSTROM_HTTP_HOST="127.0.0.1",
            MAELSTROM_HTTP_PORT=str(port),
            MAELSTROM_DATABASE_URL=f"sqlite:///{tmp_path / name}.db",
            MAELSTROM_DEMO="0",
            MAELSTROM_AUTH="off",
        )
        return Service("services.api", env, tmp_path / f"{name}.log")

    two = TwoApis(broker, ports, api("first", ports[0]), api("second", ports[1]))
    yield two
    two.second.stop()
    two.first.stop()
    broker.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser-deps)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 800})
        browser.close()


def test_a_crashed_second_api_never_shows_api_offline(apis: TwoApis, page: Page) -> None:
    probe = MqttProbe(apis.broker.port)
    try:
        probe.subscribe("maelstrom/status/api")
        for port in apis.ports:
            wait_for_port(port, timeout=20)
        page.goto(f"http://127.0.0.1:{apis.ports[0]}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "online")
        expect(page.locator("#services")).to_be_hidden()
        page.evaluate(RECORD_SERVICES)

        mark = probe.mark()
        apis.second.stop(signal.SIGKILL)
        # The broker publishes the dead one's last will; the running API answers online.
        probe.wait_for("maelstrom/status/api", lambda m: m.text == "offline", 30, mark)
        probe.wait_for("maelstrom/status/api", lambda m: m.text == "online", 10, mark)
        # What is under test is an absence: give the page its whole grace period to be wrong.
        page.wait_for_timeout((OFFLINE_GRACE_S + 0.5) * 1000)
        shown = page.evaluate("window.servicesShown")
        assert not [s for s in shown if "Api" in s], shown
        expect(page.locator("#services")).to_be_hidden()
        # (A service that really stops is still reported: test_journeys.py, controller offline.)
    finally:
        probe.close()
