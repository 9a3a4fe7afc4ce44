"""The brewer's screen in a real browser, against the real stack: a journey per tab.

One stack per module (Mosquitto, the API with the UI and /ws, the controller with the
demo's simulated boards) and one headless Chromium; each test opens its own page.
Playwright's expect() waits for what a brewer would see; nothing sleeps.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.ports import free_port, wait_for_port
from tests.support.services import Service, service_env
from tests.webui.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Stack,
    publish_docs_screenshot,
    save_screenshot,
    start_stack,
    stop_stack,
)

# The journeys share one stack (one broker, API and controller at 30× simulated time) and
# wait on a loaded 2-core machine for what that stack does in real time: a journey that
# timed out is tried again, up to twice (pytest-rerunfailures), and says so in the report.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("webui"),
    pytest.mark.flaky(reruns=2),
]

TABS = [
    "dashboard",
    "profiles",
    "loops",
    "io",
    "alarms",
    "notifications",
    "streams",
    "logs",
    "settings",
    "debugger",
]
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("webui"))
    yield s
    stop_stack(s)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make browser-deps)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser: Browser, stack: Stack, width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.script_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.script_errors.append(str(e)))  # type: ignore[attr-defined]
    page.goto(stack.url + "/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    return page


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    p = open_page(browser, stack)
    yield p
    errors = p.script_errors  # type: ignore[attr-defined]
    p.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def go(page: Page, tab: str) -> None:
    page.goto(f"{page.url.split('#')[0]}#/{tab}")
    expect(page.locator("#view")).to_have_attribute("data-view", tab.split("/")[0])


def toast(page: Page, text: str | re.Pattern[str]) -> None:
    """A message to the brewer says `text`; on failure, say what the page said instead."""
    try:
        expect(page.locator(".toast").filter(has_text=text).first).to_be_visible()
    except AssertionError as exc:
        shown = page.locator(".toast").all_inner_texts()
        raise AssertionError(f"no message {text!r}; the page showed {shown}") from exc


def card(page: Page, loop: str):
    return page.locator(f'article.loop-card[data-loop="{loop}"]')


# --- dashboard -------------------------------------------------------------------------


def test_dashboard_shows_every_loop_live(stack: Stack, page: Page) -> None:
    for loop in ("fermenter", "kettle"):
        expect(card(page, loop).locator(".metric.pv .big")).to_have_text(
            re.compile(r"\d+\.\d\d °C")
        )
        expect(card(page, loop).locator(".state-chip")).not_to_have_text("—")
    chart = card(page, "fermenter").locator(".chart")
    expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))


def test_configure_a_loop_and_watch_pv_move_on_the_dashboard(stack: Stack, page: Page) -> None:
    go(page, "loops/fermenter")
    form = page.locator("form.loop-form")
    form.get_by_label("Mode").select_option("constant")
    form.get_by_label("Setpoint °C", exact=True).fill("12")
    form.get_by_label("High limit °C").fill("30")
    form.get_by_role("button", name="Save loop").click()
    toast(page, "Loop Fermenter saved")
    status, loop = stack.api("GET", "/api/loops/fermenter")
    assert status == 200
    assert (loop["mode"], loop["setpoint"], loop["alarms"]["high"]) == ("constant", 12.0, 30.0)

    go(page, "dashboard")
    fermenter = card(page, "fermenter")
    expect(fermenter.locator(".metric.sp .value")).to_have_text("12.0 °C")
    pv = fermenter.locator(".metric.pv .big")
    expect(pv).to_have_text(re.compile(r"\d+\.\d\d °C"))
    first = pv.inner_text()
    expect(pv).not_to_have_text(first)  # the simulated beer cools towards 12 °C
    expect(fermenter.locator(".state-chip")).to_have_text(re.compile("Cooling|Waiting|Idle"))

    fermenter.get_by_label("Note on the chart").fill("pitched yeast")
    fermenter.get_by_role("button", name="Add note").click()
    expect(fermenter.locator(".notes")).to_contain_text("pitched yeast")
    status, notes = stack.api("GET", "/api/history/annotations?loop=fermenter&from=0&to=4102444800")
    assert status == 200
    assert [n["text"] for n in notes["annotations"]] == ["pitched yeast"]


def test_start_a_profile_and_see_its_position(stack: Stack, page: Page) -> None:
    status, _ = stack.api(
        "PUT",
        "/api/profiles/ramp",
        {
            "id": "ramp",
            "name": "Ramp",
            "points": [
                {"offset": 0, "temperature": 18},
                {"offset": 86400, "temperature": 18},
                {"offset": 2 * 86400, "temperature": 20},
            ],
        },
    )
    assert status in (200, 201)
    fermenter = card(page, "fermenter")
    expect(fermenter.get_by_label("Profile")).to_contain_text("Ramp")
    fermenter.get_by_label("Profile").select_option("ramp")
    fermenter.get_by_role("button", name="Start", exact=True).click()
    position = fermenter.locator(".profile-position")
    expect(position).to_contain_text("Profile Ramp (running): step 1 of 3")
    expect(position).to_contain_text("left")
    expect(position).to_contain_text("next 18.0 °C")
    fermenter.get_by_role("button", name="Pause profile").click()
    expect(position).to_contain_text("paused")
    fermenter.get_by_role("button", name="Resume profile").click()
    expect(position).to_contain_text("running")

    # Part-way: from the Profiles tab, start at the second point.
    go(page, "profiles/ramp")
    page.get_by_label("Loop", exact=True).select_option("fermenter")
    page.get_by_label("Start from point").select_option(label="2: 18.0 °C at 1 days")
    expect(page.get_by_label(re.compile("^Start at"))).to_have_value("1")
    page.get_by_role("button", name="Start on loop").click()
    toast(page, "started on fermenter")
    go(page, "dashboard")
    expect(card(page, "fermenter").locator(".profile-position")).to_contain_text("step 2 of 3")
    save_screenshot(page, "dashboard-profile")
    card(page, "fermenter").get_by_role("button", name="Stop profile").click()
    expect(card(page, "fermenter").locator(".profile-position")).to_have_text("No profile running.")


# --- profiles ----------------------------------------------------------------------------


def test_create_a_profile_in_the_editor_and_see_its_curve(stack: Stack, page: Page) -> None:
    go(page, "profiles/new")
    page.get_by_label("Name", exact=True).fill("Lager")
    expect(page.get_by_label("Id", exact=True)).to_have_value("lager")  # made from the name
    expect(page.get_by_label("Time unit")).to_have_value("days")
    chart = page.locator(".chart")
    expect(chart).to_have_attribute("data-points", "5")
    page.get_by_label("Point 5 temperature °C").fill("4")
    summary = page.locator(".curve-summary")
    expect(summary).to_contain_text("to 4.0 °C")
    page.get_by_role("button", name="Add point").click()
    page.get_by_label("Point 6 time in days").fill("14")
    page.get_by_label("Point 6 temperature °C").fill("1")
    expect(chart).to_have_attribute("data-points", "6")
    expect(summary).to_contain_text("6 points over 14 d: from 18.0 °C to 1.0 °C")

    # Times out of order: the preview says so, and the API's refusal is shown in words.
    page.get_by_label("Point 6 time in days").fill("5")
    expect(summary).to_contain_text("Times must go up")
    page.get_by_role("button", name="Create profile").click()
    toast(page, re.compile(r"points\[5\]\.offset must come after points\[4\]", re.I))
    # The message points at the row: its time field is marked.
    expect(page.get_by_label("Point 6 time in days")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Point 6 time in days").fill("14")

    page.get_by_role("button", name="Create profile").click()
    toast(page, "Profile Lager saved")
    expect(page.locator(".toast-error")).to_have_count(0)  # the success settles the error
    expect(page).to_have_url(re.compile("#/profiles/lager$"))
    expect(page.locator(".item-list")).to_contain_text("Lager")
    status, saved = stack.api("GET", "/api/profiles/lager")
    assert status == 200
    assert [p["temperature"] for p in saved["points"]] == [18, 18, 21, 21, 4, 1]
    assert saved["points"][-1]["offset"] == 14 * 86400
    save_screenshot(page, "profiles")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export BrewPi CSV").click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.splitlines()[0] == "date,temperature,days"
    assert len(csv_text.splitlines()) == 7

    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_label("Id", exact=True)).to_have_value("lager-copy")
    page.get_by_role("button", name="Create profile").click()
    toast(page, "Profile Copy of Lager saved")
    expect(page).to_have_url(re.compile("#/profiles/lager-copy$"))
    assert stack.api("GET", "/api/profiles/lager-copy")[0] == 200
    # The new address re-mounts the tab; wait for that, or the file goes to the old form.
    current = page.locator('ul.item-list a[aria-current="true"]')
    expect(current).to_have_attribute("href", "#/profiles/lager-copy")

    page.get_by_label("BrewPi CSV file").set_input_files(
        files=[{"name": "cold-crash.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    expect(page.get_by_label("Save as id")).to_have_value("cold-crash")
    page.get_by_role("button", name="Import", exact=True).click()
    toast(page, "Imported cold-crash.csv as cold-crash")
    expect(page).to_have_url(re.compile("#/profiles/cold-crash$"))
    expect(page.locator(".chart")).to_have_attribute("data-points", "6")


def test_build_a_lager_program_in_the_step_editor_and_follow_it(stack: Stack, page: Page) -> None:
    """12 °C for 10 days, ramp to 16 °C over 2 days, hold 2 days, crash to 1 °C: no point
    arithmetic, each step in its own words; then its step and hold on the dashboard."""
    go(page, "profiles")
    page.get_by_role("button", name="New program").click()
    expect(page).to_have_url(re.compile("#/profiles/new-program$"))
    page.get_by_label("Id", exact=True).fill("lager-program")
    page.get_by_label("Name", exact=True).fill("Lager")
    steps = page.locator(".step-card")
    first = steps.nth(0)
    first.get_by_label("Step name").fill("Primary")
    first.get_by_label("Target °C").fill("12")
    expect(first.get_by_label("Hold unit")).to_have_value("days")
    first.get_by_label("Hold", exact=True).fill("10")
    page.get_by_role("button", name="Add step").click()
    second = steps.nth(1)
    second.get_by_label("Step name").fill("Diacetyl rest")
    second.get_by_label("Target °C").fill("16")
    second.get_by_label("Ramp", exact=True).select_option("duration")
    second.get_by_label("Ramp time", exact=True).fill("2")
    second.get_by_label("Hold", exact=True).fill("2")
    page.get_by_role("button", name="Add step").click()
    third = steps.nth(2)
    third.get_by_label("Step name").fill("Crash")
    third.get_by_label("Target °C").fill("1")
    third.get_by_label("Hold", exact=True).fill("2")
    summary = page.locator(".program-summary")
    expect(summary).to_contain_text(
        "3 steps, expected 16 d (ramps + holds), between 1.0 °C and 16.0 °C"
    )
    expect(page.locator(".chart")).to_have_attribute("data-points", "9")
    page.get_by_role("button", name="Create program").click()
    toast(page, "Program Lager saved")
    expect(page).to_have_url(re.compile("#/profiles/lager-program$"))
    expect(page.locator(".item-list")).to_contain_text("3 steps, fermentation")
    status, saved = stack.api("GET", "/api/profiles/lager-program")
    assert status == 200, saved
    assert [(s["temperature"], s["hold_s"], s["ramp"]) for s in saved["steps"]] == [
        (12, 864000, None),
        (16, 172800, {"duration_s": 172800, "rate_c_per_h": None}),
        (1, 172800, None),
    ]
    save_screenshot(page, "step-editor")

    page.get_by_label("Loop", exact=True).select_option("fermenter")
    page.get_by_role("button", name="Start on loop").click()
    toast(page, "Program Lager started on fermenter")
    go(page, "dashboard")
    program = card(page, "fermenter").locator(".program-status")
    expect(program).to_contain_text("Step 1 of 3: Primary — 12.0 °C")
    expect(program).to_contain_text("Waiting for: heading for 12 °C")
    expect(program).to_contain_text("Hold starts when the target is reached.")

    # A rest the beer is already at: the hold starts at once and counts down.
    status, _ = stack.api(
        "PUT",
        "/api/profiles/hold-here",
        {
            "id": "hold-here",
            "name": "Hold here",
            "kind": "fermentation",
            "steps": [{"name": "Rest", "temperature": 19, "tolerance": 5, "hold_s": 7200}],
        },
    )
    assert status in (200, 201)
    fermenter = card(page, "fermenter")
    fermenter.get_by_label("Profile").select_option("hold-here")
    fermenter.get_by_role("button", name="Start", exact=True).click()
    expect(program).to_contain_text("Step 1 of 1: Rest — 19.0 °C")
    expect(program.locator(".countdown")).to_have_text(re.compile(r"^1:\d\d:\d\d$"))
    save_screenshot(page, "dashboard-program")
    fermenter.get_by_role("button", name="Stop profile").click()
    expect(program).to_be_hidden()

    # A step that waits for the brewer: the dashboard asks, the Confirm button answers (REST).
    status, _ = stack.api(
        "PUT",
        "/api/profiles/dough-in",
        {
            "id": "dough-in",
            "name": "Dough in",
            "kind": "mash",
            "steps": [
                {
                    "name": "Strike",
                    "temperature": 20,
                    "tolerance": 5,
                    "until": {"type": "confirm", "prompt": "Add the grain, then confirm"},
                },
                {"name": "Rest", "temperature": 21, "tolerance": 5, "hold_s": 3600},
            ],
        },
    )
    assert status in (200, 201)
    kettle = card(page, "kettle")
    kettle.get_by_label("Profile").select_option("dough-in")
    kettle.get_by_role("button", name="Start", exact=True).click()
    waiting = kettle.locator(".program-status")
    expect(waiting).to_contain_text("Waiting for: Add the grain, then confirm")
    kettle.get_by_role("button", name="Confirm: Add the grain, then confirm").click()
    expect(waiting).to_contain_text("Step 2 of 2: Rest")
    expect(waiting.locator(".countdown")).to_be_visible()
    kettle.get_by_role("button", name="Stop profile").click()
    expect(waiting).to_be_hidden()
    assert stack.api("POST", "/api/loops/kettle/mode", {"value": "off"})[0] == 200  # as it was


# --- IO, loops, settings ------------------------------------------------------------------


def test_io_shows_live_readings_and_adds_a_tasmota_device(stack: Stack, page: Page) -> None:
    go(page, "io")
    board = page.locator('article.device[data-device="sim-fermenter"]')
    expect(board).to_be_visible()
    expect(board.locator(".reading").first).to_have_text(re.compile(r"\d+\.\d\d °C"))
    save_screenshot(page, "io")
    page.get_by_label("Preset").select_option("tasmota")
    page.get_by_label("Id", exact=True).fill("fermfridge")
    page.get_by_label("Name", exact=True).fill("Fermentation fridge")
    page.get_by_label("Tasmota topic").fill("fermfridge")
    page.get_by_role("button", name="Add device").click()
    toast(page, "Device fermfridge added")
    tasmota = page.locator('article.device[data-device="fermfridge"]')
    expect(tasmota).to_contain_text("MQTT · tasmota · fermfridge")
    status, device = stack.api("GET", "/api/devices/fermfridge")
    assert status == 200
    assert device["mqtt"]["preset"] == "tasmota"
    assert device["sensors"][0]["json_path"] == "DS18B20.Temperature"


def test_loops_tab_creates_a_loop_with_defaults_per_kind(stack: Stack, page: Page) -> None:
    # A second kettle needs an element of its own: a heater drives one loop only.
    board = {
        "id": "kettle-2-board",
        "kind": "simulated",
        "simulation": "kettle",
        "sensors": [{"id": "water"}],
        "actuators": [{"id": "element", "role": "heater", "channel": 1}],
    }
    assert stack.api("POST", "/api/devices", board)[0] == 201
    go(page, "loops/new")
    form = page.locator("form.loop-form")
    form.get_by_label("Id", exact=True).fill("kettle-2")
    form.get_by_label("Kind", exact=True).select_option("kettle")
    expect(form.get_by_label("Kp (% per °C)")).to_have_value("80")
    expect(form.get_by_label("Kp (% per °C)")).to_be_disabled()
    form.get_by_label("Sensor", exact=True).select_option("kettle-2-board/water")
    form.get_by_label("Heater", exact=True).select_option("kettle-2-board/element")
    form.get_by_label("Setpoint °C", exact=True).fill("66")
    save_screenshot(page, "loops")
    form.get_by_role("button", name="Create loop").click()
    toast(page, "Loop kettle-2 saved")
    status, loop = stack.api("GET", "/api/loops/kettle-2")
    assert status == 200
    assert loop["kind"] == "kettle" and loop["pid"] is None and loop["setpoint"] == 66
    stack.api("DELETE", "/api/loops/kettle-2")
    stack.api("DELETE", "/api/devices/kettle-2-board")


def test_loop_editor_sets_the_watchdogs_over_the_kinds_defaults(stack: Stack, page: Page) -> None:
    go(page, "loops/fermenter")
    form = page.locator("form.loop-form")
    band = form.get_by_label("Band around the setpoint ± °C")
    minutes = form.get_by_label("Outside the band for (min)")
    expect(band).to_have_attribute("placeholder", "1")  # the fermenter's defaults
    expect(minutes).to_have_attribute("placeholder", "30")
    expect(form.get_by_label("Program step waiting longer than (h)")).to_have_attribute(
        "placeholder", "48"
    )
    band.fill("0.5")
    minutes.fill("45")
    form.get_by_label("Device silent after (missed reports)").fill("0")  # off
    form.get_by_role("button", name="Save loop").click()
    toast(page, "Loop Fermenter saved")
    status, loop = stack.api("GET", "/api/loops/fermenter")
    assert status == 200
    watchdogs = loop["watchdogs"]
    assert (watchdogs["band_c"], watchdogs["band_s"], watchdogs["silent_reports"]) == (0.5, 2700, 0)
    assert watchdogs["step_wait_s"] is None  # untouched: still the kind's default
    page.reload()
    expect(form.get_by_label("Band around the setpoint ± °C")).to_have_value("0.5")
    loop["watchdogs"] = {}
    assert stack.api("PUT", "/api/loops/fermenter", loop)[0] == 200  # as it was


def test_settings_are_added_and_kept(stack: Stack, page: Page) -> None:
    go(page, "settings")
    page.get_by_label("New setting").fill("brewery_name")
    page.get_by_label("Value", exact=True).fill("Garage brewery")
    page.get_by_role("button", name="Add setting").click()
    toast(page, "brewery_name added")
    expect(page.get_by_label("Value of brewery_name")).to_have_value('"Garage brewery"')
    status, setting = stack.api("GET", "/api/settings/brewery_name")
    assert status == 200 and setting["value"] == "Garage brewery"
    save_screenshot(page, "settings")


# --- alarms ----------------------------------------------------------------------------------


def test_generate_alarm_then_acknowledge_it_from_the_banner(stack: Stack, page: Page) -> None:
    go(page, "debugger")
    page.get_by_role("button", name="Generate Alarm").click()
    banner = page.locator("#alarm-banner .banner-alarm").filter(
        has_text="Test alarm from the Debugger"
    )
    expect(banner).to_be_visible()
    alarm_id = banner.get_attribute("data-alarm")
    assert alarm_id and alarm_id.startswith("test-")
    banner.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(banner).to_have_count(0)
    go(page, "alarms")
    item = page.locator(f'.alarm-item[data-alarm="{alarm_id}"]')
    expect(item).to_have_attribute("data-acknowledged", "true")
    expect(item.locator(".ack-state")).to_contain_text("Acknowledged")
    save_screenshot(page, "alarms")


def test_an_alarm_from_mosquitto_pub_appears_and_ack_alarms_clears_the_banner(
    stack: Stack, page: Page
) -> None:
    stack.mosquitto_pub(
        "maelstrom/alarms/pilot-light",
        '{"message": "Pilot light out", "severity": "high", "kind": "input"}',
        retain=True,
    )
    banner = page.locator('#alarm-banner .banner-alarm[data-alarm="pilot-light"]')
    expect(banner).to_contain_text("Pilot light out")
    expect(page.locator("#alarm-count")).to_be_visible()
    go(page, "alarms")
    item = page.locator('.alarm-item[data-alarm="pilot-light"]')
    expect(item).to_contain_text("Pilot light out")
    expect(item.locator(".sev")).to_have_text("high")
    go(page, "debugger")
    page.get_by_role("button", name="Ack Alarms").click()
    toast(page, "All alarms acknowledged")
    expect(banner).to_have_count(0)
    go(page, "alarms")
    expect(item).to_have_attribute("data-acknowledged", "true")


def test_a_sensor_fault_turns_the_outputs_off_and_raises_an_alarm(stack: Stack, page: Page) -> None:
    go(page, "debugger")
    page.get_by_label("Simulated board").select_option("sim-fermenter")
    page.get_by_label("Sensor", exact=True).select_option("beer")
    page.get_by_label("Fault").select_option("85")
    page.get_by_role("button", name="Apply sensor fault").click()
    # the loop's own alarm (the board's limit on the heater may add a medium one of its own)
    alarm = page.locator('#alarm-banner .banner-alarm[data-alarm="fermenter-sensor"]')
    expect(alarm.filter(has_text="85")).to_be_visible()
    go(page, "dashboard")
    fermenter = card(page, "fermenter")
    expect(fermenter.locator(".state-chip")).to_have_text("Fault — outputs off")
    expect(fermenter.locator(".metric.heat .value")).to_have_text("0 %")
    expect(fermenter.locator(".metric.cool .value")).to_have_text("0 %")
    save_screenshot(page, "dashboard-fault")
    go(page, "debugger")
    page.get_by_label("Simulated board").select_option("sim-fermenter")
    page.get_by_label("Sensor", exact=True).select_option("beer")
    page.get_by_label("Fault").select_option("none")
    page.get_by_role("button", name="Apply sensor fault").click()
    go(page, "dashboard")
    expect(fermenter.locator(".state-chip")).not_to_have_text("Fault — outputs off")
    expect(fermenter.locator(".metric.pv .big")).to_have_text(re.compile(r"\d+\.\d\d °C"))


def test_autotune_starts_and_aborts_from_the_loop_card(stack: Stack, page: Page) -> None:
    status, live = stack.api("GET", "/api/loops/kettle")
    assert status == 200
    kettle = card(page, "kettle")
    pv = kettle.locator(".metric.pv .big")
    expect(pv).to_have_text(re.compile(r"\d+\.\d\d °C"))
    here = round(float(pv.inner_text().split()[0]), 1)  # hold where the water is
    assert stack.api("POST", "/api/loops/kettle/setpoint", {"value": here})[0] == 200
    assert stack.api("POST", "/api/loops/kettle/mode", {"value": "constant"})[0] == 200
    if kettle.locator(".loop-detail").is_hidden():
        kettle.locator("button.expand").click()
    panel = kettle.get_by_role("region", name="Autotune")
    expect(panel).to_contain_text("Never run")
    panel.get_by_role("button", name="Start autotune").click()
    expect(panel.locator(".autotune-status")).to_contain_text("Autotune running")
    expect(panel.locator(".autotune-status")).to_contain_text("cycle 0 of 4 (heat)")
    save_screenshot(page, "dashboard-autotune")
    panel.get_by_role("button", name="Abort autotune").click()
    expect(panel.locator(".autotune-status")).to_contain_text("Autotune aborted: aborted by")
    expect(panel.get_by_role("button", name="Start autotune")).to_be_visible()
    assert stack.api("POST", "/api/loops/kettle/mode", {"value": live["mode"]})[0] == 200


# --- logs and the debugger -----------------------------------------------------------------


def test_logs_tail_filters_and_pauses(stack: Stack, page: Page) -> None:
    go(page, "logs")
    expect(page.locator(".log-list")).to_have_attribute("data-live", "true")
    lines = page.locator(".log-list .log")
    stack.mosquitto_pub("maelstrom/logs/brewer", '{"level": "info", "message": "mash in at 67"}')
    expect(lines.filter(has_text="mash in at 67")).to_have_count(1)
    page.get_by_label("Level").select_option("error")
    expect(lines.filter(has_text="mash in at 67")).to_have_count(0)
    stack.mosquitto_pub("maelstrom/logs/brewer", '{"level": "error", "message": "boil over"}')
    expect(lines.filter(has_text="boil over")).to_have_count(1)
    page.get_by_role("button", name="Pause").click()
    stack.mosquitto_pub("maelstrom/logs/brewer", '{"level": "critical", "message": "fire"}')
    expect(page.get_by_text("1 new line waiting")).to_be_visible()
    expect(lines.filter(has_text="fire")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(lines.filter(has_text="fire")).to_have_count(1)
    save_screenshot(page, "logs")


def test_debugger_watches_publishes_and_calls_the_api(stack: Stack, page: Page) -> None:
    go(page, "debugger")
    page.get_by_label("Topic", exact=True).fill("maelstrom/logs/ui")
    page.get_by_label("Payload (JSON, or plain text)").fill(
        '{"level": "info", "message": "hello from the test"}'
    )
    page.get_by_role("button", name="Publish", exact=True).click()
    message = page.locator('.message[data-topic="maelstrom/logs/ui"]')
    expect(message.filter(has_text="hello from the test")).to_have_count(1)

    page.get_by_label("Path").fill("/api/health")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".response-status")).to_have_text("OK")
    expect(page.locator(".response")).to_contain_text('"broker"')
    page.get_by_label("Method").select_option("POST")
    page.get_by_label("Path").fill("/api/loops/fermenter/setpoint")
    page.get_by_label("Body (JSON)").fill('{"value": 999}')
    page.get_by_role("button", name="Send").click()
    # the controller refuses it, and says why
    expect(page.locator(".response-status")).to_have_text(re.compile("^HTTP 409"))
    expect(page.locator(".response")).to_contain_text("outside")
    save_screenshot(page, "debugger")


# --- second pass: units, alarm history, compact dashboard, chart, export, editor --------------


def use_fahrenheit(page: Page, name: str = "") -> None:
    go(page, "settings")
    page.get_by_label("Temperature unit").select_option("F")
    if name:
        page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_label("Temperature unit")).to_have_value("F")  # after the reload


def test_a_fahrenheit_brewer_sets_152_on_the_kettle(stack: Stack, page: Page) -> None:
    use_fahrenheit(page)
    go(page, "dashboard")
    kettle = card(page, "kettle")
    expect(kettle.locator(".metric.pv .big")).to_have_text(re.compile(r"\d+\.\d\d °F"))
    kettle.get_by_label("Setpoint °F").fill("152")
    kettle.get_by_role("button", name="Set", exact=True).click()
    toast(page, "Mash kettle: setpoint 152.0 °F")
    status, loop = stack.api("GET", "/api/loops/kettle")
    assert status == 200 and round(loop["setpoint"], 1) == 66.7  # the API stays in °C
    # A refusal says the controller's reason, not just "conflict".
    kettle.get_by_label("Setpoint °F").fill("999")
    kettle.get_by_role("button", name="Set", exact=True).click()
    expect(page.locator(".toast-error")).to_contain_text("outside")

    # A decimal comma is a decimal point, not a thousand times more.
    fermenter = card(page, "fermenter")
    fermenter.get_by_label("Setpoint °F").fill("64,5")
    fermenter.get_by_role("button", name=re.compile("^(Set|Hold instead)$")).click()
    toast(page, "64.5 °F")
    status, loop = stack.api("GET", "/api/loops/fermenter")
    assert round(loop["setpoint"], 2) == 18.06
    go(page, "loops/kettle")
    expect(page.get_by_label("Setpoint °F", exact=True)).to_have_value("152")
    expect(page.get_by_label("Highest allowed °F")).to_have_value(re.compile(r"^2\d\d"))


def history_row(page: Page, alarm_id: str):
    return page.locator(f'table.history tr[data-alarm="{alarm_id}"]')


def test_alarm_history_shows_how_each_alarm_ended_and_who_acknowledged(
    stack: Stack, page: Page
) -> None:
    go(page, "settings")
    page.get_by_label("Your name").fill("Anna")
    page.get_by_role("button", name="Save", exact=True).click()
    toast(page, "Saved in this browser")
    go(page, "alarms")
    for alarm_id, text in (("door-open", "Door open"), ("low-water", "Low water")):
        stack.mosquitto_pub(f"maelstrom/alarms/{alarm_id}", f'{{"message": "{text}"}}', True)
    door = page.locator('.alarm-item[data-alarm="door-open"]')
    water = page.locator('.alarm-item[data-alarm="low-water"]')
    # raise → acknowledge → clear
    door.get_by_role("button", name="Acknowledge alarm: Door open").click()
    expect(door).to_have_attribute("data-acknowledged", "true")
    expect(door.locator(".ack-state")).to_contain_text("Acknowledged by Anna")
    door.get_by_role("button", name="Clear alarm: Door open").click()
    expect(door).to_have_count(0)
    # raise → clear → acknowledge
    water.get_by_role("button", name="Clear alarm: Low water").click()
    expect(water.locator(".alarm-state")).to_have_text("Cleared")
    water.get_by_role("button", name="Acknowledge alarm: Low water").click()
    expect(water).to_have_count(0)

    for alarm_id in ("door-open", "low-water"):
        row = history_row(page, alarm_id)
        expect(row.locator(".final-state")).to_have_text("Cleared")
        expect(row.locator(".acked")).to_contain_text("Anna")
    ids = page.locator("table.history tr[data-alarm]").evaluate_all(
        "rows => rows.map(r => r.dataset.alarm)"
    )
    assert ids.index("low-water") < ids.index("door-open")  # newest first
    status, body = stack.api("GET", "/api/alarms")
    assert status == 200
    recent = {a["id"]: a for a in body["recent"]}
    for alarm_id in ("door-open", "low-water"):
        a = recent[alarm_id]
        assert (a["state"], a["acknowledged_by"]) == ("cleared", "Anna")
        assert a["cleared_at"] and a["acknowledged_at"]
    save_screenshot(page, "alarms-history")


def test_the_phone_dashboard_shows_three_loops_at_a_glance(stack: Stack, browser: Browser) -> None:
    # The fullest first screen: the auth-off banner and a profile running on two loops.
    for loop_id, profile in (("fermenter", "ale"), ("kettle", "mash")):
        started = stack.api(
            "POST", f"/api/loops/{loop_id}/profile", {"action": "start", "profile": profile}
        )
        assert started[0] == 200, started
    board = {
        "id": "kettle-3-board",
        "kind": "simulated",
        "simulation": "kettle",
        "sensors": [{"id": "water"}],
        "actuators": [{"id": "element", "role": "heater", "channel": 1}],
    }
    loop = {
        "id": "hlt",
        "name": "Hot liquor tank",
        "kind": "kettle",
        "sensor": {"device": "kettle-3-board", "id": "water"},
        "heater": {"device": "kettle-3-board", "id": "element"},
        "setpoint": 75,
    }
    assert stack.api("POST", "/api/devices", board)[0] == 201
    assert stack.api("POST", "/api/loops", loop)[0] == 201
    stack.api("POST", "/api/alarms/ack", {"by": "test"})  # earlier tests' alarms: a calm start
    page = open_page(browser, stack, 390, 844)
    expect(page.locator("#alarm-banner .banner-alarm")).to_have_count(0)
    try:
        expect(page.locator("#access-banner")).to_contain_text("Authentication is OFF")
        for loop_id in ("fermenter", "kettle"):  # the profile's line, folded into the row
            expect(card(page, loop_id).locator(".progress-chip")).to_have_text(
                re.compile(r"▶ \d+/")
            )
        for loop_id in ("fermenter", "kettle", "hlt"):
            row = card(page, loop_id)
            for part in (row.locator(".metric.pv"), row.get_by_label(re.compile("^Setpoint"))):
                expect(part).to_be_visible()
                box = part.bounding_box()
                assert box and box["y"] + box["height"] <= 844, f"{loop_id}: below the fold"
        kettle = card(page, "kettle")
        expect(kettle.locator(".metric.cool")).to_be_hidden()  # a kettle has no cooler
        expect(card(page, "fermenter").locator(".metric.cool")).to_be_visible()
        save_screenshot(page, "dashboard-phone-rows")
        kettle.get_by_role("button", name=re.compile("^Mash kettle")).click()
        options = kettle.get_by_label("Profile").locator("option").all_inner_texts()
        # mash profiles only: no fermentation profile for a kettle (other journeys add some)
        _, profiles = stack.api("GET", "/api/profiles")
        fermenting = {p["name"] or p["id"] for p in profiles if p.get("kind") == "fermentation"}
        assert "Step mash" in options and not fermenting & set(options), options
        expect(kettle.locator(".chart")).to_be_visible()
        assert not page.script_errors  # type: ignore[attr-defined]
    finally:
        page.context.close()
        for loop_id in ("fermenter", "kettle"):
            stack.api("POST", f"/api/loops/{loop_id}/profile", {"action": "stop"})
        stack.api("DELETE", "/api/loops/hlt")
        stack.api("DELETE", "/api/devices/kettle-3-board")


def test_the_chart_shows_the_plan_of_a_running_profile(stack: Stack, page: Page) -> None:
    status, _ = stack.api(
        "POST", "/api/loops/fermenter/profile", {"action": "start", "profile": "ale"}
    )
    assert status == 200
    try:
        chart = card(page, "fermenter").locator(".chart")
        expect(chart).to_have_attribute("data-plan", re.compile(r"^[2-9]|\d\d"))
        expect(chart.locator(".u-legend")).to_contain_text("Plan")
        expect(chart.locator(".u-legend")).to_contain_text("Chamber")
        expect(chart).to_have_attribute("data-markers", re.compile("▶ Ale, 10 days"))
        card(page, "fermenter").get_by_label("Setpoint °C").fill("19")
        expect(card(page, "fermenter").get_by_role("button", name="Hold instead")).to_be_visible()
        save_screenshot(page, "dashboard-plan")
    finally:
        stack.api("POST", "/api/loops/fermenter/profile", {"action": "stop"})


def around_now() -> str:
    """A range for history queries that holds the stack's simulated clock (30× ahead)."""
    now = int(time.time())
    return f"from={now - 86400}&to={now + 30 * 86400}"


def wait_api(stack: Stack, path: str, ok, timeout: float = 20.0) -> Any:
    """Poll a GET until `ok(body)`: what the recorder has written (it writes once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = stack.api("GET", path)
        if status == 200 and ok(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: still {status} {body!r}")
        time.sleep(0.2)


def test_the_chart_draws_the_hydrometers_gravity_on_its_own_axis_from_history(
    stack: Stack, browser: Browser
) -> None:
    simulate = "maelstrom/cmd/devices/sim-fermenter/simulate"
    stack.mosquitto_pub(simulate, '{"hydrometer": "silent"}')  # only our readings
    page = None
    try:
        # A reading as the fermenter's iSpindel sends it, then recorded by the API.
        stack.mosquitto_pub("ispindel/sim-fermenter/gravity", "1.042")
        wait_api(
            stack,
            f"/api/history?series=sensor/ispindel/gravity&{around_now()}",
            lambda body: 1.042 in body["series"][0]["min"],
        )
        page = open_page(browser, stack)  # a fresh page: the gravity comes from history
        fermenter = card(page, "fermenter")
        chart = fermenter.locator(".chart")
        expect(chart).to_have_attribute("data-gravity", re.compile(r"^[1-9]\d*$"))
        expect(chart.locator(".u-legend")).to_contain_text("Gravity SG")
        expect(fermenter.locator(".chart-gravity")).to_have_text("Gravity 1.042 SG")
        expect(card(page, "kettle").locator(".chart-gravity")).to_have_count(0)  # no hydrometer
        # A brewer who reads Plato.
        go(page, "settings")
        page.get_by_label("Gravity unit").select_option("P")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_label("Gravity unit")).to_have_value("P")  # after the reload
        go(page, "dashboard")
        expect(fermenter.locator(".chart-gravity")).to_have_text("Gravity 10.5 °P")
        expect(chart.locator(".u-legend")).to_contain_text("Gravity °P")
        save_screenshot(page, "dashboard-gravity")
        assert not page.script_errors  # type: ignore[attr-defined]
    finally:
        stack.mosquitto_pub(simulate, '{"hydrometer": "normal"}')
        if page is not None:
            page.context.close()


def test_step_changes_are_recorded_and_marked_on_the_chart_after_a_reload(
    stack: Stack, page: Page
) -> None:
    quick = {
        "id": "quick-steps",
        "name": "Quick steps",
        "kind": "fermentation",
        "interpolation": "step",
        # at the stack's 30× simulated time: a step every 2 s
        "points": [{"offset": o, "temperature": t} for o, t in ((0, 18), (60, 19), (120, 20))]
        + [{"offset": 86400, "temperature": 20}],
    }
    assert stack.api("PUT", "/api/profiles/quick-steps", quick)[0] in (200, 201)
    started = stack.api(
        "POST", "/api/loops/fermenter/profile", {"action": "start", "profile": "quick-steps"}
    )
    assert started[0] == 200, started
    try:
        # The API's history has the step changes (the controller's loop state, recorded).
        wait_api(
            stack,
            f"/api/history/events?loop=fermenter&kind=step&{around_now()}&limit=10000",
            lambda body: [e["value"] for e in body["events"]][-3:] == ["1", "2", "3"],
        )
        page.reload()  # nothing seen live: the marks come from history
        chart = card(page, "fermenter").locator(".chart")
        # who started it ("… by lab", issue 15's marks) may sit between the steps' marks
        marks = re.compile(r"▶ Quick steps \|(?: [^|▶]+ \|)*? step 2 \|(?: [^|▶]+ \|)*? step 3")
        expect(chart).to_have_attribute("data-markers", marks)
        save_screenshot(page, "dashboard-step-marks")
    finally:
        stack.api("POST", "/api/loops/fermenter/profile", {"action": "stop"})
        stack.api("DELETE", "/api/profiles/quick-steps")


def test_export_csv_downloads_a_wide_file_whose_rows_match_the_history(
    stack: Stack, page: Page
) -> None:
    page.get_by_label("Chart range").select_option("3600")
    expect(card(page, "kettle").locator(".chart")).to_have_attribute("data-range", "3600")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.reader(Path(download.value.path()).read_text().splitlines()))
    header = rows[0]
    assert header[:2] == ["time", "ts"]
    assert "loop/kettle/pv [°C]" in header and "sensor/sim-fermenter/chamber [°C]" in header
    col = header.index("loop/kettle/pv [°C]")
    csv_pv = {float(r[1]): float(r[col]) for r in rows[1:] if r[col]}
    first, last = min(csv_pv), max(csv_pv)
    status, history = stack.api(
        "GET", f"/api/history?series=loop/kettle/pv&from={first}&to={last + 0.001}&points=10000"
    )
    assert status == 200
    series = history["series"][0]
    assert series["bucket_s"] == 0
    assert dict(zip(series["t"], series["avg"], strict=True)) == csv_pv
    # The range stays chosen in a new tab.
    other = page.context.new_page()
    other.goto(stack.url + "/")
    expect(other.get_by_label("Chart range")).to_have_value("3600")
    other.close()


def test_editing_a_loop_while_a_setpoint_command_arrives_keeps_both(
    stack: Stack, page: Page
) -> None:
    go(page, "loops/fermenter")
    form = page.locator("form.loop-form")
    form.get_by_label("Name", exact=True).fill("Fermenter one")
    form.get_by_label("Deviation from setpoint °C").fill("2,5")
    status, _ = stack.api("POST", "/api/loops/fermenter/setpoint", {"value": 17.5})
    assert status == 200
    form.get_by_role("button", name="Save loop").click()
    toast(page, "Loop Fermenter one saved")
    expect(page.locator(".toast-error")).to_have_count(0)
    status, loop = stack.api("GET", "/api/loops/fermenter")
    assert (loop["name"], loop["setpoint"], loop["alarms"]["deviation"]) == (
        "Fermenter one",
        17.5,
        2.5,
    )
    loop["name"] = "Fermenter"
    assert stack.api("PUT", "/api/loops/fermenter", loop)[0] == 200


def test_io_form_shows_default_topics_warns_about_telePeriod_and_unsaved_edits(
    stack: Stack, page: Page
) -> None:
    device = {
        "id": "tasfridge",
        "name": "Tasmota fridge",
        "kind": "mqtt",
        "mqtt": {"preset": "tasmota", "name": "tasfridge"},
        "sensors": [{"id": "ds18b20", "json_path": "DS18B20.Temperature"}],
        "actuators": [{"id": "power1", "role": "cooler", "channel": 1}],
    }
    loop = {
        "id": "tasloop",
        "sensor": {"device": "tasfridge", "id": "ds18b20"},
        "cooler": {"device": "tasfridge", "id": "power1"},
    }
    assert stack.api("POST", "/api/devices", device)[0] == 201
    assert stack.api("POST", "/api/loops", loop)[0] == 201
    try:
        go(page, "io/tasfridge")
        editor = page.locator(".editor")
        expect(editor.locator(".stale-warning")).to_contain_text("TelePeriod 10")
        expect(editor.get_by_label("sensor 1 Topic")).to_have_attribute(
            "placeholder", "tele/tasfridge/SENSOR"
        )
        expect(editor.get_by_label("actuator 1 Command topic")).to_have_attribute(
            "placeholder", "cmnd/tasfridge/POWER1"
        )
        editor.get_by_label("Name", exact=True).fill("Garage fridge")
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.get_by_role("link", name="Dashboard").click()
        expect(page.locator("#view")).to_have_attribute("data-view", "io")
        assert asked and "unsaved" in asked[0].lower()
        expect(editor.get_by_label("Name", exact=True)).to_have_value("Garage fridge")
    finally:
        stack.api("DELETE", "/api/loops/tasloop")
        stack.api("DELETE", "/api/devices/tasfridge")


def test_the_debugger_input_simulation_raises_a_visible_alarm(stack: Stack, page: Page) -> None:
    go(page, "debugger")
    page.get_by_label("Simulated board").select_option("sim-fermenter")
    expect(page.get_by_label("Digital input")).to_contain_text("Chamber door open")
    page.get_by_role("button", name="Make input active").click()
    banner = page.locator("#alarm-banner .banner-alarm").filter(has_text="Chamber door open")
    expect(banner).to_be_visible()
    page.get_by_role("button", name="Make input inactive").click()
    expect(banner).to_contain_text("(cleared)")
    banner.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(banner).to_have_count(0)


def test_without_the_token_the_header_says_not_authorised(stack: Stack, browser: Browser) -> None:
    port = free_port()
    env = service_env(
        stack.broker.url,
        MAELSTROM_HTTP_PORT=str(port),
        MAELSTROM_HTTP_HOST="127.0.0.1",
        MAELSTROM_DATABASE_URL=f"sqlite:///{stack.workdir / 'guarded.db'}",
        MAELSTROM_DEMO="0",
        MAELSTROM_API_TOKEN="s3cret",
    )
    guarded = Service("services.api", env, stack.workdir / "guarded-api.log")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        wait_for_port(port, timeout=20)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        # not "Disconnected — reconnecting…": the page asks who you are
        expect(page.get_by_role("form", name="Log in")).to_be_visible()
        connection = page.locator("#connection")
        expect(connection).not_to_have_attribute("data-state", "online")
        page.goto(f"http://127.0.0.1:{port}/?token=s3cret")
        expect(connection).to_have_attribute("data-state", "online")
    finally:
        context.close()
        guarded.stop()


# --- notifications and streams -----------------------------------------------------------------


def test_every_tab_fits_a_phone_without_horizontal_scrolling(
    stack: Stack, browser: Browser
) -> None:
    page = open_page(browser, stack, 390, 844)
    try:
        for tab in TABS:
            go(page, tab)
            expect(page.locator("#view h1")).to_be_visible()
            if tab == "dashboard":
                expect(card(page, "fermenter")).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            save_screenshot(page, f"{tab}-phone")
            assert overflow <= 0, f"{tab}: {overflow}px of horizontal scrolling on a phone"
        # the step editor too: a program is built on a phone at the brew day
        go(page, "profiles/mash-program")
        expect(page.locator(".step-card").first).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        save_screenshot(page, "step-editor-phone")
        assert overflow <= 0, f"step editor: {overflow}px of horizontal scrolling on a phone"
        assert not page.script_errors  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_screenshots_of_every_tab(stack: Stack, page: Page) -> None:
    for tab in TABS:
        go(page, tab)
        expect(page.locator("#view h1")).to_be_visible()
        if tab == "dashboard":
            page.get_by_label("Chart range").select_option("3600")
            for loop in ("fermenter", "kettle"):
                chart = card(page, loop).locator(".chart")
                expect(chart).to_have_attribute("data-range", "3600")
            expect(card(page, "kettle").locator(".chart")).to_have_attribute(
                "data-points", re.compile(r"^[1-9]\d*$")
            )
        path = save_screenshot(page, tab)
        if tab == "dashboard":
            publish_docs_screenshot(path)


def test_broker_restart_shows_disconnected_then_recovers_without_reload(
    stack: Stack, page: Page
) -> None:
    page.evaluate("window.__sameDocument = true")
    connection = page.locator("#connection")
    stack.broker.stop()
    try:
        expect(connection).to_have_attribute(
            "data-state", re.compile("broker-offline|disconnected")
        )
        expect(connection).to_contain_text(re.compile("offline|Disconnected"))
        expect(page.locator("#services")).to_be_hidden()  # the broker is to blame, not them
    finally:
        stack.broker.start()
    expect(connection).to_have_attribute("data-state", "online", timeout=30_000)
    expect(connection).to_have_text("Connected")
    assert page.evaluate("window.__sameDocument") is True  # recovered without a reload
    pv = card(page, "fermenter").locator(".metric.pv .big")
    expect(pv).not_to_have_text(pv.inner_text(), timeout=30_000)  # live data flows again


def test_a_stopped_controller_is_announced(stack: Stack, page: Page) -> None:
    """Last in the module: it stops the controller for good."""
    warning = page.locator("#services")
    expect(warning).to_be_hidden()
    stack.services["controller"].stop()
    expect(warning).to_have_text("Controller offline")
    stale = card(page, "fermenter").locator(".updated")
    expect(stale).to_contain_text("is the controller running?", timeout=30_000)
    save_screenshot(page, "controller-offline")
