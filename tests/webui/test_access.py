"""Logging in, as a brewer's browser does it (headless Chromium, the real API process):
first-run setup, login, a viewer's read-only dashboard, logout — and a page of another
origin that cannot change a setpoint with a logged-in brewer's session."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.broker import Broker, mosquitto_client
from tests.support.ports import free_port, wait_for_port
from tests.support.probe import MqttProbe
from tests.support.services import Service, service_env
from tests.webui.stack import CHROMIUM, CHROMIUM_ARGS

# One server for the module, in order: the first test creates the owner the others log in as.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("webui-access"),
    pytest.mark.flaky(reruns=2),
]

OWNER = ("anna", "correct horse battery")
BREWER = ("ben", "ben's long password")
VIEWER = ("vera", "vera's long password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("access")
    (workdir / "broker").mkdir()
    broker = Broker(workdir / "broker")
    broker.start()
    port = free_port()
    env = service_env(
        broker.url,
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_DATABASE_URL=f"sqlite:///{workdir / 'maelstrom.db'}",
        MAELSTROM_DEMO="1",
    )
    api = Service("services.api", env, workdir / "api.log")
    controller = Service("services.controller", env, workdir / "controller.log")
    try:
        wait_for_port(port, timeout=20)
        yield {"url": f"http://127.0.0.1:{port}", "broker": broker, "api": api}
    finally:
        controller.stop()
        api.stop()
        broker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser: Browser, url: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(url + "/")
    return page


def log_in(page: Page, name: str, password: str) -> None:
    form = page.get_by_role("form", name="Log in")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-menu")).to_contain_text(name)


def call(server: dict[str, Any], page: Page, method: str, path: str, body: Any) -> int:
    """A same-origin call from the page, with its session and CSRF token, as the UI does."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const status = await (await fetch("/api/auth/status")).json();
            const r = await fetch(path, {method, body: JSON.stringify(body),
                headers: {"Content-Type": "application/json", "X-CSRF-Token": status.csrf}});
            return r.status;
        }""",
        [method, path, body],
    )


def add_brewer_and_viewer(server: dict[str, Any], page: Page) -> None:
    """As the owner logged in on `page`."""
    for user, role in ((BREWER, "brewer"), (VIEWER, "viewer")):
        body = {"name": user[0], "password": user[1], "role": role}
        assert call(server, page, "POST", "/api/users", body) == 201


def test_setup_login_viewer_and_logout(server: dict[str, Any], browser: Browser) -> None:
    page = new_page(browser, server["url"])
    setup = page.get_by_role("form", name="Create the owner")
    setup.get_by_label("Name").fill(OWNER[0])
    setup.get_by_label("Password").fill(OWNER[1])
    setup.get_by_role("button", name="Create owner").click()
    expect(page.locator("#user-menu")).to_contain_text("anna · admin")
    expect(page.get_by_role("link", name="Users")).to_be_visible()
    add_brewer_and_viewer(server, page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("form", name="Log in")).to_be_visible()

    log_in(page, *VIEWER)
    expect(page.locator("#access-banner")).to_contain_text("read-only")
    expect(page.locator("#view button").first).to_be_visible()
    enabled = page.locator("#view").locator("button:enabled, input:enabled, select:enabled")
    expect(enabled).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_be_hidden()
    # a viewer may still change her own password
    page.get_by_role("button", name="Password").click()
    dialog = page.get_by_role("form", name="Change password")
    dialog.get_by_label("Current password").fill(VIEWER[1])
    dialog.get_by_label("New password").fill("vera's new password")
    dialog.get_by_role("button", name="Change").click()
    expect(page.locator("#user-menu")).to_contain_text("vera · viewer")
    page.get_by_role("button", name="Log out").click()
    log_in(page, "vera", "vera's new password")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("form", name="Log in")).to_be_visible()


def ensure_users(server: dict[str, Any], browser: Browser) -> None:
    """The owner, brewer and viewer, made here if the first test has not (a retry's fresh server)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(server["url"] + "/")
    created = page.evaluate(
        """async ([name, password]) => (await fetch("/api/auth/setup", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({name, password})})).status""",
        list(OWNER),
    )
    if created == 201:
        add_brewer_and_viewer(server, page)
    else:
        assert created == 409  # already set up
    context.close()


EVIL_PAGE = """<!doctype html><html><body><script>
const api = "{api}";
window.results = {{}};
(async () => {{
  try {{
    const r = await fetch(api + "/api/loops/fermenter/setpoint", {{method: "POST",
      mode: "no-cors", credentials: "include", headers: {{"Content-Type": "text/plain"}}, body: "31.5"}});
    window.results.fetch = r.type;
  }} catch (e) {{ window.results.fetch = String(e); }}
  const ws = new WebSocket(api.replace("http", "ws") + "/ws");
  ws.onopen = () => {{ ws.send(JSON.stringify({{op: "publish",
      topic: "maelstrom/cmd/loops/fermenter/setpoint", payload: "31.5"}})); window.results.ws = "open"; }};
  ws.onerror = () => {{ window.results.ws = "refused"; }};
  const form = document.createElement("form");
  form.method = "POST"; form.enctype = "text/plain"; form.target = "sink";
  form.action = api + "/api/loops/fermenter/setpoint";
  const input = document.createElement("input"); input.name = "31.5"; input.value = "";
  form.append(input); document.body.append(form);
  const sink = document.createElement("iframe"); sink.name = "sink";
  sink.onload = () => {{ window.results.form = "sent"; }};
  document.body.append(sink);
  form.submit();
}})();
</script></body></html>"""


class EvilSite:
    """A page of another origin, served by the standard library on its own thread."""

    def __init__(self, api_url: str) -> None:
        body = EVIL_PAGE.format(api=api_url).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_another_origin_cannot_change_a_setpoint_with_a_brewers_session(
    server: dict[str, Any], browser: Browser
) -> None:
    ensure_users(server, browser)
    context = browser.new_context()
    page = context.new_page()
    page.goto(server["url"] + "/")
    log_in(page, *BREWER)
    before = page.evaluate("async () => (await (await fetch('/api/loops/fermenter')).json())")
    probe = MqttProbe(server["broker"].port)
    probe.subscribe("maelstrom/cmd/#")
    # 127.0.0.1 on another port: another origin but the same *site*, so the SameSite
    # cookie IS sent; only the Origin check and the CSRF token stand in the way.
    evil = EvilSite(server["url"])
    try:
        attacker = context.new_page()
        attacker.goto(evil.url)
        attacker.wait_for_function(
            "window.results.fetch && window.results.ws && window.results.form", timeout=10_000
        )
        assert attacker.evaluate("window.results.ws") == "refused"
    finally:
        evil.close()
    after = page.evaluate("async () => (await (await fetch('/api/loops/fermenter')).json())")
    assert after["setpoint"] == before["setpoint"] != 31.5
    assert not [m for m in probe.messages if m.topic.endswith("/setpoint")]
    # ...while the brewer's own page, with the CSRF token, may; and the controller
    # records who, whether the command came by REST or by the page's socket
    probe.subscribe("maelstrom/target/fermenter")
    assert call(server, page, "POST", "/api/loops/fermenter/setpoint", 20.5) == 200
    by_rest = probe.wait_for("maelstrom/target/fermenter", lambda m: m.json()["setpoint"] == 20.5)
    assert by_rest.json()["changed_by"] == "ben"
    page.evaluate(
        """() => { const ws = new WebSocket(`ws://${location.host}/ws`);
            ws.onopen = () => ws.send(JSON.stringify({op: "publish",
                topic: "maelstrom/cmd/loops/fermenter/setpoint", payload: "19.5"})); }"""
    )
    by_socket = probe.wait_for(
        "maelstrom/target/fermenter", lambda m: m.json()["setpoint"] == 19.5, timeout=15
    )
    assert by_socket.json()["changed_by"] == "ben"
    probe.close()


def test_a_brewers_setpoint_change_shows_in_history_with_their_name(
    server: dict[str, Any], browser: Browser
) -> None:
    """Audit beside the alarms: on the loop's chart and on the Alarms tab, who did it."""
    ensure_users(server, browser)
    page = new_page(browser, server["url"])
    log_in(page, *BREWER)
    fermenter = page.locator('article.loop-card[data-loop="fermenter"]')
    fermenter.get_by_label("Setpoint °C", exact=True).fill("13.5")
    fermenter.locator("form.sp-form button[type=submit]").click()
    by_ben = re.compile(r"setpoint \d+\.\d °C → 13\.5 °C by ben")
    changes = fermenter.get_by_role("list", name="Who changed what on this loop")
    expect(changes.locator("li", has_text=by_ben)).to_have_count(1, timeout=15_000)
    # mosquitto_pub, as docs/topics.md shows it, naming its author (MQTT 5 `by`) or not
    pub = [mosquitto_client("mosquitto_pub"), "-p", str(server["broker"].port), "-q", "1"]
    topic = ["-t", "maelstrom/cmd/loops/fermenter/setpoint"]
    subprocess.run([*pub, "-V", "mqttv5", *topic, "-m", "14", "-D", "publish", "user-property",
                    "by", "brewhouse-tablet"], check=True, timeout=10)  # fmt: skip
    expect(changes.locator("li").first).to_contain_text("→ 14.0 °C by brewhouse-tablet")
    subprocess.run([*pub, *topic, "-m", "14.5"], check=True, timeout=10)
    expect(changes.locator("li").first).to_contain_text("14.0 °C → 14.5 °C by mqtt")
    page.goto(f"{server['url']}/#/alarms")
    everything = page.get_by_role("list", name="Who changed what", exact=True)
    expect(everything.locator("li", has_text=by_ben).first).to_contain_text("fermenter: ")
