// Dashboard: a card per loop — live numbers, state, profile position, quick controls and a
// chart of the last hours (from history, then extended live from the socket).
import { h, fill } from "../ui/dom.js";
import { field, select, numberInput, numberValue, setOptions } from "../ui/forms.js";
import { asList, MODES, STATE_TEXT } from "../ui/data.js";
import { temperature, percent, duration, dateTime } from "../ui/format.js";
import { attempt, showInfo } from "../ui/toast.js";
import { Chart, COLOURS } from "../ui/chart.js";
import { loadColumns, loopSeries } from "../ui/history.js";
import { addAnnotation, annotations, loopCommand } from "../calls.js";
import { ProgramStatus } from "./program-status.js";

const STALE_AFTER_MS = 20000; // the controller publishes every loop at least every 5 s

const RANGES = [
  { value: 3600, label: "1 hour" },
  { value: 6 * 3600, label: "6 hours" },
  { value: 24 * 3600, label: "24 hours" },
  { value: 3 * 86400, label: "3 days" },
];

export function mount(root, ctx) {
  const { api, socket, live, topics } = ctx;
  const cards = new Map();
  // Profiles by id, from the REST list and from the config topic, whichever is newer:
  // the list may answer after the topic has already told of a change.
  const profileMap = new Map();
  const gone = new Set();
  const goneLoops = new Set();
  const keepProfile = (p) => {
    const known = profileMap.get(p.id);
    if (!gone.has(p.id) && (!known || (known.version ?? 0) <= (p.version ?? 0))) profileMap.set(p.id, p);
  };
  const profiles = () => [...profileMap.values()].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  let range = Number(sessionStorage.getItem("maelstrom.range")) || 6 * 3600;
  const stops = [];

  const rangeSelect = select(RANGES, range, {
    onchange: () => {
      range = Number(rangeSelect.value);
      sessionStorage.setItem("maelstrom.range", String(range));
      for (const card of cards.values()) card.loadHistory(range);
    },
  });
  const grid = h("div", { class: "cards" });
  const empty = h("p", { class: "empty" }, "No loops yet. ", h("a", { href: "#/loops" }, "Create a loop"), " to see it here.");
  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Dashboard"), h("div", { class: "inline" }, field("Chart range", rangeSelect))),
    grid);

  const cardFor = (id) => {
    let card = cards.get(id);
    if (!card) {
      card = new LoopCard(id, ctx, profiles);
      cards.set(id, card);
      empty.remove();
      grid.append(card.el);
      // The latest state first: its time is "now" for the history query (under a
      // simulated clock the controller's time runs ahead of the wall clock).
      const state = live.loops.get(id);
      if (state) card.setState(state);
      card.loadHistory(range);
    }
    return card;
  };

  const removeCard = (id) => {
    cards.get(id)?.destroy();
    cards.delete(id);
    if (!cards.size) grid.append(empty);
  };

  (async () => {
    const loaded = await attempt("Loading loops", () => Promise.all([api.loops.list(), api.profiles.list()]));
    if (!loaded.ok) return;
    const [loops, profileList] = loaded.value;
    asList(profileList, "profiles").forEach(keepProfile);
    const list = asList(loops, "loops");
    for (const loop of list) if (!goneLoops.has(loop.id)) cardFor(loop.id).setConfig(loop);
    for (const [id, state] of live.loops) cardFor(id).setState(state);
    if (!cards.size) grid.append(empty);
    for (const card of cards.values()) card.refreshProfiles();
  })();

  stops.push(live.on("loop", ({ loop, state }) => {
    if (state) cardFor(loop).setState(state);
  }));
  // Configuration as the API publishes it: another screen, HA or mosquitto_pub changed it.
  const onConfig = ({ topic, payload }) => {
    const id = topics.parts(topic)[2];
    if (!payload || typeof payload !== "object") {
      goneLoops.add(id);
      removeCard(id);
    } else {
      goneLoops.delete(id);
      cardFor(id).setConfig(payload);
    }
  };
  stops.push(socket.subscribe(topics.config("loops"), onConfig));
  const onProfile = ({ topic, payload }) => {
    const id = topics.parts(topic)[2];
    if (payload && typeof payload === "object") {
      gone.delete(id);
      keepProfile(payload);
    } else {
      profileMap.delete(id);
      gone.add(id);
    }
    for (const card of cards.values()) card.refreshProfiles();
  };
  stops.push(socket.subscribe(topics.config("profiles"), onProfile));

  // A card whose loop has gone quiet says so, rather than showing old numbers as live.
  const staleTimer = setInterval(() => { for (const card of cards.values()) card.checkStale(); }, 2000);
  stops.push(() => clearInterval(staleTimer));

  return () => {
    stops.forEach((stop) => stop());
    for (const card of cards.values()) card.destroy();
  };
}

class LoopCard {
  constructor(id, ctx, getProfiles) {
    this.id = id;
    this.ctx = ctx;
    this.getProfiles = getProfiles;
    this.config = null;
    this.state = null;
    const c = (cls, text = "—") => h("span", { class: cls }, text);
    this.n = {
      name: h("h2", {}, id),
      state: c("state-chip"),
      pv: c("big"),
      sp: c("value"),
      heat: h("meter", { min: 0, max: 100, value: 0, "aria-label": "Heat output" }),
      heatText: c("value"),
      cool: h("meter", { min: 0, max: 100, value: 0, "aria-label": "Cool output" }),
      coolText: c("value"),
      mode: c("chip mode-chip"),
      profile: h("p", { class: "profile-position", "aria-live": "polite" }),
      alarms: h("p", { class: "card-alarms" }),
      updated: c("updated", ""),
    };
    const n = this.n;
    this.modeSelect = select(MODES, "off", { onchange: () => this.send("mode", { value: this.modeSelect.value }, `Mode: ${this.modeSelect.selectedOptions[0].text}`) });
    this.spInput = numberInput("", { step: "0.1", required: true });
    this.outputInput = numberInput("", { step: "1", min: -100, max: 100 });
    this.profileSelect = select([], "");
    this.stopBtn = h("button", { type: "button", onclick: () => this.send("profile", { action: "stop" }, "Profile stopped") }, "Stop profile");
    this.pauseBtn = h("button", { type: "button", onclick: () => this.send("profile", { action: this.state?.profile?.paused ? "resume" : "pause" }) }, "Pause");
    const spForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.setSetpoint(); } },
      field("Setpoint °C", this.spInput), h("button", { type: "submit" }, "Set"));
    this.manualForm = h("form", { class: "inline-form", hidden: true, onsubmit: (e) => { e.preventDefault(); this.setOutput(); } },
      field("Manual output % (+ heat, − cool)", this.outputInput), h("button", { type: "submit" }, "Apply"));
    const profileForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.startProfile(); } },
      field("Profile", this.profileSelect), h("button", { type: "submit" }, "Start"));
    this.chartHost = h("div", { class: "chart-host" });
    this.program = new ProgramStatus((body, text) => this.send("profile", body, text)); // program-status.js
    this.noteInput = h("input", { type: "text", maxLength: 500, placeholder: "e.g. pitched yeast", autocomplete: "off" });
    const noteForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.addNote(); } },
      field("Note on the chart", this.noteInput), h("button", { type: "submit" }, "Add note"));
    this.notesList = h("ul", { class: "notes", "aria-label": "Notes on this chart" });
    this.el = h("article", { class: "card loop-card", "data-loop": id, "aria-label": `Loop ${id}` },
      h("header", { class: "card-head" }, n.name, h("span", { class: "chips" }, n.mode, n.state)),
      h("dl", { class: "metrics" },
        h("div", { class: "metric pv" }, h("dt", {}, "Temperature (PV)"), h("dd", {}, n.pv)),
        h("div", { class: "metric sp" }, h("dt", {}, "Setpoint (SP)"), h("dd", {}, n.sp)),
        h("div", { class: "metric heat" }, h("dt", {}, "Heat"), h("dd", {}, n.heat, " ", n.heatText)),
        h("div", { class: "metric cool" }, h("dt", {}, "Cool"), h("dd", {}, n.cool, " ", n.coolText))),
      n.profile, this.program.el, n.alarms,
      h("details", { class: "controls", open: true },
        h("summary", {}, "Controls"),
        h("div", { class: "controls-grid" },
          field("Mode", this.modeSelect), spForm, this.manualForm, profileForm,
          h("div", { class: "button-row" }, this.pauseBtn, this.stopBtn),
          noteForm)),
      this.chartHost, this.notesList, n.updated);
    this.chart = new Chart(this.chartHost, [
      { label: "PV", colour: COLOURS.pv },
      { label: "SP", colour: COLOURS.sp, dash: [6, 4], step: true },
      { label: "Heat %", colour: COLOURS.heat, scale: "pct", step: true },
      { label: "Cool %", colour: COLOURS.cool, scale: "pct", step: true },
    ], { height: 200, label: `Chart of ${id}: temperature, setpoint and output` });
    this.refreshProfiles();
  }

  setConfig(loop) {
    if (this.config && (loop.version ?? 0) < (this.config.version ?? 0)) return; // an older answer
    this.config = loop;
    this.n.name.textContent = loop.name || loop.id;
    this.spInput.min = loop.setpoint_min ?? "";
    this.spInput.max = loop.setpoint_max ?? "";
    if (document.activeElement !== this.spInput) this.spInput.value = loop.setpoint ?? "";
    if (document.activeElement !== this.outputInput) this.outputInput.value = loop.manual_output ?? 0;
    if (document.activeElement !== this.modeSelect) this.modeSelect.value = loop.mode;
    this.manualForm.hidden = loop.mode !== "manual";
    if (loop.profile?.profile) this.profileSelect.value = loop.profile.profile;
  }

  refreshProfiles() {
    const current = this.profileSelect.value || this.config?.profile?.profile || "";
    const options = this.getProfiles().map((p) => ({ value: p.id, label: p.name || p.id }));
    setOptions(this.profileSelect, options.length ? options : [{ value: "", label: "No profiles yet" }], current);
  }

  checkStale() {
    const stale = this.receivedAt !== undefined && Date.now() - this.receivedAt > STALE_AFTER_MS;
    this.el.classList.toggle("stale", stale);
    if (stale) this.n.updated.textContent = `No update since ${new Date(this.receivedAt).toLocaleTimeString()} — is the controller running?`;
  }

  setState(s) {
    this.state = s;
    this.receivedAt = Date.now();
    this.el.classList.remove("stale");
    const n = this.n;
    if (s.name && !this.config?.name) n.name.textContent = s.name;
    n.pv.textContent = temperature(s.pv, 2);
    n.sp.textContent = temperature(s.sp);
    n.heat.value = s.output?.heat ?? 0;
    n.cool.value = s.output?.cool ?? 0;
    n.heatText.textContent = percent(s.output?.heat);
    n.coolText.textContent = percent(s.output?.cool);
    n.mode.textContent = `Mode: ${MODES.find((m) => m.value === s.mode)?.label ?? s.mode}`;
    const text = STATE_TEXT[s.state] ?? s.state;
    n.state.textContent = s.state === "waiting" && s.waiting_reason ? `${text}: ${s.waiting_reason}` : text;
    n.state.dataset.state = s.state;
    if (document.activeElement !== this.modeSelect) this.modeSelect.value = s.mode;
    this.manualForm.hidden = s.mode !== "manual";
    const p = s.profile;
    if (p) {
      const status = p.finished ? "finished, holding the last temperature" : p.paused ? "paused" : "running";
      fill(n.profile,
        h("strong", {}, `Profile ${p.name || p.profile}`), ` (${status}): `,
        h("span", { class: "step" }, `step ${p.step + 1} of ${p.steps}`), " · ",
        h("span", { class: "remaining" }, `${duration(p.remaining_s)} left`),
        p.next_setpoint !== null && p.next_setpoint !== undefined && !p.finished
          ? [" · ", h("span", { class: "next" }, `next ${temperature(p.next_setpoint)}${p.next_at ? ` at ${dateTime(p.next_at)}` : ""}`)]
          : null);
      this.pauseBtn.textContent = p.paused ? "Resume profile" : "Pause profile";
    } else {
      fill(n.profile, "No profile running.");
      this.pauseBtn.textContent = "Pause profile";
    }
    this.program.update(p);
    this.pauseBtn.disabled = !p;
    this.stopBtn.disabled = !p;  // nothing to stop: a stray click must not change the mode
    const alarmText = (id) => this.ctx.live.alarms.get(id)?.message ?? id;
    fill(n.alarms, s.alarms?.length ? `Alarm: ${s.alarms.map(alarmText).join("; ")}` : "");
    n.updated.textContent = s.ts ? `Updated ${new Date(s.ts * 1000).toLocaleTimeString()}` : "";
    if (s.ts) this.chart.append(s.ts, [s.pv, s.sp, s.output?.heat, s.output?.cool]);
  }

  async loadHistory(range) {
    this.chart.keep(range);
    const mine = (this.loads = (this.loads ?? 0) + 1); // only the latest range's answer counts
    const now = Math.max(Date.now() / 1000, this.state?.ts ?? 0);
    const result = await attempt(`Loading the history of ${this.id}`, () =>
      loadColumns(this.ctx.api, loopSeries(this.id), Math.floor(now - range), Math.ceil(now), 600));
    if (!result.ok || mine !== this.loads) return;
    const columns = result.value;
    // Keep live points newer than what history has.
    const [xs] = columns;
    const last = xs.length ? xs[xs.length - 1] : -Infinity;
    const liveData = this.chart.data;
    liveData[0].forEach((x, i) => {
      if (x > last) columns.forEach((col, k) => col.push(liveData[k][i]));
    });
    this.chart.setData(columns);
    this.chart.host.dataset.range = String(range); // history for this range is in
    this.loadNotes(Math.floor(now - range), Math.ceil(now));
  }

  async loadNotes(from, to) {
    const r = await attempt(`Loading the notes of ${this.id}`, () => annotations(this.ctx.api, { from, to, loop: this.id }));
    if (!r.ok) return;
    this.notes = asList(r.value, "annotations").sort((a, b) => a.ts - b.ts);
    this.showNotes();
  }

  showNotes() {
    this.chart.setMarkers(this.notes);
    fill(this.notesList, this.notes.map((note) => h("li", {}, h("time", {}, dateTime(note.ts)), " ", note.text)));
  }

  async addNote() {
    const text = this.noteInput.value.trim();
    if (!text) return;
    // On the loop's own clock, so the note lands where the chart says "now".
    const note = { text, loop: this.id, ...(this.state?.ts ? { ts: this.state.ts } : {}) };
    const r = await attempt("Adding the note", () => addAnnotation(this.ctx.api, note));
    if (!r.ok) return;
    this.noteInput.value = "";
    this.notes = [...(this.notes ?? []), r.value].sort((a, b) => a.ts - b.ts);
    this.showNotes();
    showInfo(`Note added to ${this.config?.name || this.id}`);
  }

  async send(command, body, confirmation) {
    const { ok, value } = await attempt(`${this.config?.name || this.id}: ${command}`, () =>
      loopCommand(this.ctx.api, this.id, command, body));
    if (ok) {
      if (value && typeof value === "object" && value.id) this.setConfig(value);
      if (confirmation) showInfo(`${this.config?.name || this.id}: ${confirmation}`);
    } else if (this.config) {
      this.setConfig(this.config); // put the controls back to what is in force
    }
  }

  setSetpoint() {
    const value = numberValue(this.spInput);
    if (value === null || Number.isNaN(value)) {
      this.spInput.reportValidity();
      return;
    }
    this.send("setpoint", { value }, `setpoint ${temperature(value)}`);
  }

  setOutput() {
    const value = numberValue(this.outputInput);
    if (value === null || Number.isNaN(value)) return;
    this.send("output", { value }, `manual output ${value} %`);
  }

  startProfile() {
    const profile = this.profileSelect.value;
    if (!profile) {
      showInfo("Create a profile first, on the Profiles tab.");
      return;
    }
    this.send("profile", { action: "start", profile }, `profile ${profile} started`);
  }

  destroy() {
    this.chart.destroy();
    this.program.destroy();
    this.el.remove();
  }
}
