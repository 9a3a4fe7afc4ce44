// One loop on the dashboard: a compact row at a glance (name, PV, SP, state, outputs,
// profile progress, alarm, and the setpoint field), expanding to the full card (mode,
// manual output, profile, notes, chart). Parts that other modules add (the running-step
// view) render into `card.slots`.
import { h, fill, uid } from "../ui/dom.js";
import { field, select, numberInput, numberValue, setOptions } from "../ui/forms.js";
import { MODES, STATE_TEXT, asList, profileFits } from "../ui/data.js";
import { temperature, percent, duration, dateTime } from "../ui/format.js";
import { fromDisplay, inputValue, unitLabel } from "../ui/units.js";
import { toGravityDisplay } from "../ui/gravity.js";
import { attempt, showInfo } from "../ui/toast.js";
import { addAnnotation, annotations, loopCommand, loopEvents } from "../calls.js";
import { LoopChart } from "./loop-chart.js";
import { LoopChanges } from "../ui/changes.js";
import { plannedCurve } from "./plan.js";
import { Timeline } from "./timeline.js";
import { ProgramStatus } from "../views/program-status.js";
import { AutotunePanel } from "./autotune.js";

const STALE_AFTER_MS = 20000; // the controller publishes every loop at least every 5 s
const WIDE = "(min-width: 900px)";

export class LoopCard {
  /** ctx: the app's; profiles(): every profile; chamberOf(loop): "device/sensor" or null. */
  constructor(id, ctx, { profiles, chamberOf, range }) {
    this.id = id;
    this.ctx = ctx;
    // A page opened while the controller is down never hears from it: judge staleness from here.
    this.openedAt = Date.now();
    this.getProfiles = profiles;
    this.chamberOf = chamberOf;
    this.range = range;
    this.config = null;
    this.state = null;
    this.chart = null;
    this.notes = [];
    // Profile and step changes on the chart (timeline.js); a program's events live.
    this.timeline = new Timeline((pid) => this.getProfiles().find((p) => p.id === pid)?.name || pid);
    this.stopEvents = ctx.socket.subscribe(ctx.topics.loopEvents(id), ({ payload }) => {
      if (this.timeline.programEvent(payload)) this.showNotes();
    });
    const c = (cls, text = "—") => h("span", { class: cls }, text);
    this.n = {
      name: h("span", { class: "loop-title" }, id),
      state: c("state-chip"),
      alarm: c("chip alarm-chip", ""),
      pv: c("big"),
      sp: c("value"),
      heat: h("meter", { min: 0, max: 100, value: 0, "aria-label": "Heat output" }),
      heatText: c("value"),
      cool: h("meter", { min: 0, max: 100, value: 0, "aria-label": "Cool output" }),
      coolText: c("value"),
      mode: c("chip mode-chip"),
      // A phone's compact row folds the profile line into this chip (app.css).
      progress: c("chip progress-chip", ""),
      profile: h("p", { class: "profile-position", "aria-live": "polite" }),
      alarms: h("p", { class: "card-alarms" }),
      interlocks: h("p", { class: "card-interlocks" }),
      updated: c("updated", ""),
    };
    const n = this.n;
    n.alarm.hidden = true;
    const detailId = uid("loop-detail");
    this.toggle = h("button", { type: "button", class: "expand", "aria-expanded": "false", "aria-controls": detailId,
      onclick: () => this.setOpen(!this.open, true) }, n.name, h("span", { class: "chevron", "aria-hidden": "true" }, "▸"));

    // The setpoint: always at hand, and honest about what it will do.
    this.spInput = numberInput("", { required: true });
    this.spButton = h("button", { type: "submit" }, "Set");
    this.spHint = h("small", { class: "hint sp-hint" });
    this.spForm = h("form", { class: "inline-form sp-form", onsubmit: (e) => { e.preventDefault(); this.setSetpoint(); } },
      field(`Setpoint ${unitLabel()}`, this.spInput), this.spButton, this.spHint);

    this.modeSelect = select(MODES, "off", { onchange: () => this.send("mode", { value: this.modeSelect.value }, `Mode: ${this.modeSelect.selectedOptions[0].text}`) });
    this.outputInput = numberInput("");
    this.profileSelect = select([], "");
    this.stopBtn = h("button", { type: "button", onclick: () => this.send("profile", { action: "stop" }, "Profile stopped") }, "Stop profile");
    this.pauseBtn = h("button", { type: "button", onclick: () => this.send("profile", { action: this.state?.profile?.paused ? "resume" : "pause" }) }, "Pause");
    this.outputLabel = h("span", {}, "Manual output % (+ heat, − cool)");
    this.manualForm = h("form", { class: "inline-form", hidden: true, onsubmit: (e) => { e.preventDefault(); this.setOutput(); } },
      field(this.outputLabel, this.outputInput), h("button", { type: "submit" }, "Apply"));
    const profileForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.startProfile(); } },
      field("Profile", this.profileSelect), h("button", { type: "submit" }, "Start"));
    this.noteInput = h("input", { type: "text", maxLength: 500, placeholder: "e.g. pitched yeast", autocomplete: "off" });
    const noteForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.addNote(); } },
      field("Note on the chart", this.noteInput), h("button", { type: "submit" }, "Add note"));
    this.notesList = h("ul", { class: "notes", "aria-label": "Notes on this chart" });
    this.changes = new LoopChanges(ctx, id, () => this.showNotes()); // who changed what
    this.chartHost = h("div", { class: "chart-host" });
    this.slots = { step: h("div", { class: "slot-step" }) }; // the running-step view renders here
    this.program = new ProgramStatus((body, text) => this.send("profile", body, text)); // program-status.js
    this.slots.step.append(this.program.el);
    this.autotune = new AutotunePanel((command, body, text) => this.send(command, body, text),
      (body) => this.ctx.api.loops.patch(this.id, body)); // autotune.js

    this.metrics = {
      heat: h("div", { class: "metric heat", hidden: true }, h("dt", {}, "Heat"), h("dd", {}, n.heat, " ", n.heatText)),
      cool: h("div", { class: "metric cool", hidden: true }, h("dt", {}, "Cool"), h("dd", {}, n.cool, " ", n.coolText)),
    };
    this.detail = h("div", { class: "loop-detail", id: detailId, hidden: true },
      n.alarms, n.interlocks, this.slots.step,
      h("div", { class: "controls-grid" },
        field("Mode", this.modeSelect), this.manualForm, profileForm,
        h("div", { class: "button-row" }, this.pauseBtn, this.stopBtn), noteForm),
      this.autotune.el, this.chartHost, this.notesList, this.changes.el);
    this.el = h("article", { class: "card loop-card", "data-loop": id, "aria-label": `Loop ${id}` },
      h("header", { class: "card-head" }, h("h2", {}, this.toggle), h("span", { class: "chips" }, n.mode, n.progress, n.state, n.alarm)),
      h("dl", { class: "metrics" },
        h("div", { class: "metric pv" }, h("dt", {}, "Temperature"), h("dd", {}, n.pv)),
        h("div", { class: "metric sp" }, h("dt", {}, "Setpoint"), h("dd", {}, n.sp)),
        this.metrics.heat, this.metrics.cool),
      n.profile, this.spForm, this.detail, n.updated);
    this.refreshProfiles();
    const saved = localStorage.getItem(`maelstrom.open.${id}`);
    this.setOpen(saved === null ? window.matchMedia(WIDE).matches : saved === "1");
  }

  /** Expand to the full card (the chart is made on first opening), or back to the row. */
  setOpen(open, byBrewer = false) {
    this.open = open;
    this.detail.hidden = !open;
    this.toggle.setAttribute("aria-expanded", String(open));
    this.el.classList.toggle("open", open);
    if (byBrewer) localStorage.setItem(`maelstrom.open.${this.id}`, open ? "1" : "0");
    if (open) this.ensureChart();
  }

  /** The wiring the chart draws changed (outputs, or the board's chamber probe): redraw. */
  rewire() {
    if (!this.chart || !this.config) return;
    const same = this.chart.chamber === this.chamberOf(this.config)
      && this.chart.gravity === this.hydrometer()
      && this.chart.keys.includes("heat") === Boolean(this.config.heater)
      && this.chart.keys.includes("cool") === Boolean(this.config.cooler);
    if (same) return;
    this.chart.destroy();
    this.chart = null;
    this.ensureChart();
  }

  ensureChart() {
    if (this.chart || !this.open || !this.config) return;
    this.chart = new LoopChart(this.chartHost, {
      id: this.id,
      outputs: { heat: Boolean(this.config.heater), cool: Boolean(this.config.cooler) },
      chamber: this.chamberOf(this.config),
      gravity: this.hydrometer(),
      now: () => this.now(),
    });
    this.loadHistory(this.range);
  }

  /** The loop's hydrometer: "device/sensor" of its gravity reading, or null. */
  hydrometer() {
    const g = this.config?.gravity;
    return g?.device && g?.id ? `${g.device}/${g.id}` : null;
  }

  /** A reading of the hydrometer that the chart has not drawn yet, in the brewer's unit. */
  newGravity() {
    const key = this.chart?.gravity;
    const reading = key && this.ctx.live.sensors.get(key);
    if (!reading || reading.value == null || reading.ts === this.gravityTs) return undefined;
    this.gravityTs = reading.ts;
    return toGravityDisplay(reading.value, reading.unit);
  }

  /** The loop's clock: its last state's time, else the wall clock. */
  now() {
    return Math.max(Date.now() / 1000, this.state?.ts ?? 0);
  }

  setConfig(loop) {
    if (this.config && (loop.version ?? 0) < (this.config.version ?? 0)) return; // an older answer
    this.config = loop;
    this.n.name.textContent = loop.name || loop.id;
    this.el.setAttribute("aria-label", `Loop ${loop.name || loop.id}`);
    this.metrics.heat.hidden = !loop.heater;
    this.metrics.cool.hidden = !loop.cooler;
    this.outputLabel.textContent = loop.heater && loop.cooler ? "Manual output % (+ heat, − cool)" : loop.heater ? "Manual output % (heat)" : "Manual output % (cool)";
    if (document.activeElement !== this.spInput) this.spInput.value = inputValue(loop.setpoint, { digits: 1 });
    if (document.activeElement !== this.outputInput) this.outputInput.value = String(loop.manual_output ?? 0);
    if (document.activeElement !== this.modeSelect) this.modeSelect.value = loop.mode;
    if (loop.profile?.profile) this.profileSelect.value = loop.profile.profile;
    this.showMode(loop.mode);
    this.refreshProfiles();
    this.rewire();
    this.ensureChart();
  }

  /** The setpoint control says what it will do in this mode. */
  showMode(mode) {
    this.manualForm.hidden = mode !== "manual";
    if (mode === "profile") {
      this.spButton.textContent = "Hold instead";
      this.spHint.textContent = "A profile is running: this holds the setpoint instead of the profile.";
      this.spButton.title = this.spHint.textContent; // a phone's compact row hides the hint
    } else {
      this.spButton.textContent = "Set";
      this.spHint.textContent = "";
      this.spButton.title = mode === "constant" ? "" : `Used when the loop holds a setpoint (now: ${MODES.find((m) => m.value === mode)?.label ?? mode}).`;
    }
  }

  refreshProfiles() {
    const current = this.profileSelect.value || this.config?.profile?.profile || "";
    const options = this.getProfiles().filter((p) => profileFits(p, this.config)).map((p) => ({ value: p.id, label: p.name || p.id }));
    setOptions(this.profileSelect, options.length ? options : [{ value: "", label: "No profiles for this loop yet" }], current);
    this.updatePlan();
  }

  checkStale() {
    const heardAt = this.receivedAt ?? this.openedAt;
    const stale = Date.now() - heardAt > STALE_AFTER_MS;
    this.el.classList.toggle("stale", stale);
    if (!stale) return;
    const since = this.receivedAt === undefined ? "No update since this page opened" : `No update since ${new Date(this.receivedAt).toLocaleTimeString()}`;
    this.n.updated.textContent = `${since} — is the controller running?`;
  }

  setState(s, chamberReading) {
    const first = !this.state;
    this.state = s;
    // A simulated clock runs ahead of the wall: history loaded before the loop's first
    // state ended at the wall's "now", short of the loop's. Load it again on the loop's.
    if (first && this.chart && s.ts && this.loadedNow && s.ts - this.loadedNow > 60) this.loadHistory(this.range);
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
    n.mode.textContent = MODES.find((m) => m.value === s.mode)?.label ?? s.mode;
    n.mode.dataset.mode = s.mode;
    const text = STATE_TEXT[s.state] ?? s.state;
    // The reason is stable text; the countdown comes from waiting_until (the state's clock).
    const left = s.waiting_until != null && s.ts != null ? ` (${Math.max(0, Math.round(s.waiting_until - s.ts))} s left)` : "";
    n.state.textContent = s.state === "waiting" && s.waiting_reason ? `${text}: ${s.waiting_reason}${left}` : text;
    n.state.dataset.state = s.state;
    n.state.hidden = s.state === "off" && s.mode === "off"; // "Off Off" says nothing twice
    if (document.activeElement !== this.modeSelect) this.modeSelect.value = s.mode;
    this.showMode(s.mode);
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
      n.profile.classList.remove("none");
      n.progress.textContent = p.finished ? "▶ finished" : `▶ ${p.step + 1}/${p.steps}${p.paused ? " paused" : ` · ${duration(p.remaining_s)}`}`;
      n.progress.title = n.profile.textContent;
    } else {
      n.profile.classList.add("none");
      fill(n.profile, "No profile running.");
      n.progress.textContent = "";
      this.pauseBtn.textContent = "Pause profile";
    }
    if (s.chiller) { // a glycol chiller (docs/control.md "Glycol"): its reservoir, who calls
      const c = s.chiller;
      const waiting = c.demand.filter((d) => !d.granted).map((d) => d.loop);
      fill(n.profile, h("strong", {}, "Glycol reservoir"),
        ` held at ${temperature(c.reservoir_setpoint)} · compressor ${c.compressor ? "on" : "off"}`,
        ` · ${c.calling} of ${c.demand.length} fermenters calling`,
        c.short ? ` · short: ${waiting.length ? `${waiting.join(", ")} wait` : "priority in force"}` : "");
      n.profile.classList.remove("none");
    }
    this.program.update(p);
    this.autotune.update(s.autotune ?? null);
    if (s.ts && this.timeline.live(p, s.ts)) this.showNotes();
    this.pauseBtn.disabled = !p;
    this.stopBtn.disabled = !p; // nothing to stop: a stray click must not change the mode
    const alarmText = (id) => this.ctx.live.alarms.get(id)?.message ?? id;
    const alarms = s.alarms ?? [];
    fill(n.alarms, alarms.length ? `Alarm: ${alarms.map(alarmText).join("; ")}` : "");
    // Interlocks (a float switch, a lid switch): any not satisfied holds every output off.
    const locks = s.interlocks ?? [];
    const lockText = (i) => i.satisfied === true ? "closed" : i.satisfied === false ? "open" : "unknown";
    fill(n.interlocks, ...locks.map((i) =>
      h("span", { class: "chip interlock-chip", "data-satisfied": String(i.satisfied), title: i.input },
        `Interlock ${i.name}: ${lockText(i)}`)));
    n.alarm.hidden = !alarms.length;
    n.alarm.textContent = alarms.length ? `Alarm${alarms.length > 1 ? ` ×${alarms.length}` : ""}` : "";
    n.alarm.title = alarms.map(alarmText).join("; ");
    n.updated.textContent = s.ts ? `Updated ${new Date(s.ts * 1000).toLocaleTimeString()}` : "";
    if (s.ts && this.chart) {
      this.chart.append(s.ts, {
        pv: s.pv, sp: s.sp, heat: s.output?.heat, cool: s.output?.cool, chamber: chamberReading ?? null, gravity: this.newGravity(),
      });
    }
    this.updatePlan();
  }

  /** The running profile's curve ahead of now, on the chart. */
  updatePlan() {
    if (!this.chart) return;
    const p = this.state?.profile;
    const profile = p && this.getProfiles().find((x) => x.id === p.profile);
    this.chart.setPlan(profile ? plannedCurve(profile, p, this.state.ts ?? this.now()) : null);
  }

  setRange(range) {
    this.range = range;
    if (this.chart) this.loadHistory(range);
  }

  async loadHistory(range) {
    if (!this.chart) return;
    const mine = (this.loads = (this.loads ?? 0) + 1); // only the latest range's answer counts
    this.loadedNow = this.now();
    const chart = this.chart;
    const r = await attempt(`Loading the history of ${this.id}`, () => chart.load(this.ctx.api, range));
    if (!r.ok || mine !== this.loads || chart !== this.chart) return;
    this.updatePlan();
    const now = this.now();
    this.loadNotes(Math.floor(now - range), Math.ceil(now));
    this.changes.load(Math.floor(now - range), Math.ceil(now));
  }

  async loadNotes(from, to) {
    const asked = this.now();
    const events = (kind) => attempt(`Loading the ${kind} changes of ${this.id}`, () => loopEvents(this.ctx.api, { from, to, loop: this.id, kind }));
    const [notes, profiles, steps] = await Promise.all([
      attempt(`Loading the notes of ${this.id}`, () => annotations(this.ctx.api, { from, to, loop: this.id })),
      events("profile"),
      events("step"),
    ]);
    if (!notes.ok) return;
    this.notes = asList(notes.value, "annotations").sort((a, b) => a.ts - b.ts);
    // Profile starts and stops and point profiles' steps, as recorded (timeline.js).
    const recorded = (r) => (r.ok ? asList(r.value, "events") : []);
    this.timeline.fromHistory(recorded(profiles), recorded(steps), asked);
    this.showNotes();
  }

  showNotes() {
    const marks = [...this.timeline.marks, ...this.notes, ...this.changes.markers()];
    this.chart?.setMarkers(marks.sort((x, y) => x.ts - y.ts));
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
    this.notes = [...this.notes, r.value].sort((a, b) => a.ts - b.ts);
    this.showNotes();
    showInfo(`Note added to ${this.config?.name || this.id}`, "Adding the note");
  }

  /** A command; a refusal shows the controller's reason (the API's 409 detail). */
  async send(command, body, confirmation) {
    const action = `${this.config?.name || this.id}: ${command}`;
    const { ok, value } = await attempt(action, () => loopCommand(this.ctx.api, this.id, command, body));
    if (ok) {
      if (value && typeof value === "object" && value.id) this.setConfig(value);
      if (confirmation) showInfo(`${this.config?.name || this.id}: ${confirmation}`, action);
    } else if (this.config) {
      this.setConfig(this.config); // put the controls back to what is in force
    }
    return ok;
  }

  async setSetpoint() {
    const shown = numberValue(this.spInput);
    if (shown === null || Number.isNaN(shown)) {
      this.spInput.reportValidity();
      return;
    }
    const value = fromDisplay(shown);
    const mode = this.state?.mode ?? this.config?.mode;
    if (!(await this.send("setpoint", { value }, mode === "profile" ? null : `setpoint ${temperature(value)}`))) return;
    // "Hold instead": the brewer chose this setpoint over the running profile.
    if (mode === "profile") await this.send("mode", { value: "constant" }, `holding ${temperature(value)} instead of the profile`);
  }

  setOutput() {
    const value = numberValue(this.outputInput);
    if (value === null || Number.isNaN(value)) return;
    this.send("output", { value }, `manual output ${value} %`);
  }

  startProfile() {
    const profile = this.profileSelect.value;
    if (!profile) {
      showInfo("Create a profile for this loop first, on the Profiles tab.");
      return;
    }
    this.send("profile", { action: "start", profile }, `profile ${profile} started`);
  }

  destroy() {
    this.stopEvents();
    this.chart?.destroy();
    this.changes.destroy();
    this.program.destroy();
    this.el.remove();
  }
}
