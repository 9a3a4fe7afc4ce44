# ruff: noqa: F811 - the journeys' fixtures are imported, then named as test arguments
"""A notification target and a stream added from its page posts to a (local) Brewfather stand-in: on a stack of
its own, so the journeys before it cannot leave the fermenter in a state that delays
the first post."""

from __future__ import annotations

import http.server
import json
import queue
import threading
from typing import Any, ClassVar

import pytest
from playwright.sync_api import Page, expect

from tests.webui.stack import Stack, save_screenshot
from tests.webui.test_journeys import browser, go, page, stack, toast  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("webui-streams"),
    pytest.mark.flaky(reruns=2),
]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[queue.Queue[dict[str, Any]]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.put(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_notification_target_is_added_and_tested_from_its_page(stack: Stack, page: Page) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        go(page, "notifications")
        page.get_by_label("Id", exact=True).first.fill("webhook")
        page.get_by_label("Name", exact=True).fill("Brewery webhook")
        url = f"json://brewer:s3cret@127.0.0.1:{server.server_port}/hook"
        page.get_by_label("Apprise URL").fill(url)
        page.get_by_role("button", name="Save target").click()
        toast(page, "Target webhook saved")
        row = page.locator('tr[data-target="webhook"]')
        expect(row).to_contain_text("json://brewer:****@127.0.0.1")
        expect(row).not_to_contain_text("s3cret")
        row.get_by_role("button", name="Send a test to Brewery webhook").click()
        toast(page, "Test sent to Brewery webhook")
        posted = _Hook.received.get(timeout=30)
        assert posted["title"] == "Maelstrom test notification"
        expect(row.locator(".target-state")).to_contain_text("ok")
        log = page.locator("table.deliveries tbody tr").first
        expect(log).to_contain_text("test")
        expect(log).to_contain_text("sent")
        save_screenshot(page, "notifications")
    finally:
        server.shutdown()
        stack.api("DELETE", "/api/notifications/targets/webhook")


def test_a_stream_is_added_and_its_first_post_shown(stack: Stack, page: Page) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        go(page, "streams")
        page.get_by_label("Id", exact=True).fill("fermenter-bf")
        page.get_by_label("URL", exact=True).fill(
            f"http://127.0.0.1:{server.server_port}/stream?id=LoggingId1234"
        )
        page.get_by_label("Loop", exact=True).select_option("fermenter")
        page.get_by_label("Beer").fill("Pale Ale")
        page.get_by_label("Chamber / fridge sensor").fill("sim-fermenter/chamber")
        page.get_by_role("button", name="Save stream").click()
        toast(page, "Stream fermenter-bf saved")
        posted = _Hook.received.get(timeout=30)
        assert posted["beer"] == "Pale Ale" and "aux_temp" in posted
        row = page.locator('tr[data-stream="fermenter-bf"]')
        expect(row).to_contain_text("stream?id=Lo****")
        page.get_by_role("button", name="Refresh").click()
        expect(row).to_contain_text('"beer":"Pale Ale"')
        expect(row.locator(".buffered")).to_have_text("0")
        save_screenshot(page, "streams")
    finally:
        server.shutdown()
        stack.api("DELETE", "/api/streams/fermenter-bf")


# --- phone, screenshots, connection -----------------------------------------------------------
