// Programs: the step editor for step profiles — a card per step (target, ramp, hold counted
// from the target, what ends it), add / reorder / duplicate / remove, the units the brewer
// chooses, a preview of the schedule with its expected duration, start on a loop of the
// right kind, export as BeerJSON. profiles.js mounts it for profiles that have `steps`.
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, numberInput, numberValue, button, section, download } from "../ui/forms.js";
import { temperature, duration } from "../ui/format.js";
import { attempt, showError, showInfo } from "../ui/toast.js";
import { Chart, COLOURS } from "../ui/chart.js";
import { loopCommand } from "../calls.js";

const TIME_UNITS = { min: 60, hours: 3600, days: 86400 };
const RATE_UNITS = { "°C/h": 1, "°C/min": 60 };
const KINDS = [
  { value: "fermentation", label: "Fermentation (a fermenter)" },
  { value: "mash", label: "Mash (a kettle)" },
  { value: "", label: "Any loop" },
];
const LOOP_KIND = { mash: "kettle", fermentation: "fermenter" };
const CONDITIONS = [
  { value: "time", label: "The hold is over" },
  { value: "gravity", label: "Gravity at or below" },
  { value: "attenuation", label: "Attenuation at or above" },
  { value: "stable", label: "Gravity stable" },
  { value: "confirm", label: "The brewer confirms" },
];

/** A blank program: one step to start from. */
export function starterProgram() {
  return { id: "", name: "", kind: "fermentation", steps: [{ name: "Primary", temperature: 19, hold_s: 7 * 86400 }], version: 0 };
}

/** The unit to show `seconds` in: whole numbers, the program's usual unit when it fits. */
function unitFor(seconds, fallback) {
  if (!seconds) return fallback;
  // the program's own unit when it reads well: a mash in minutes (60 min, not 1 hours)
  if (seconds % TIME_UNITS[fallback] === 0 && seconds / TIME_UNITS[fallback] < 1000) return fallback;
  if (seconds % 86400 === 0) return "days";
  if (seconds % 3600 === 0) return "hours";
  return "min";
}

const round = (x) => Math.round(x * 1e6) / 1e6;

/** A number with its unit select; reads and writes seconds. */
function timeField(label, seconds, fallback, onchange, title = "") {
  const unit = select(Object.keys(TIME_UNITS), unitFor(seconds, fallback), { onchange, "aria-label": `${label} unit` });
  const input = numberInput(seconds ? round(seconds / TIME_UNITS[unit.value]) : "", { min: 0, oninput: onchange, title });
  const el = h("div", { class: "with-unit" }, field(label, input), unit);
  return {
    el, input, unit,
    seconds: () => { const v = numberValue(input); return v === null || Number.isNaN(v) ? null : round(v * TIME_UNITS[unit.value]); },
  };
}

class StepCard {
  constructor(editor, step) {
    this.editor = editor;
    const changed = () => editor.changed();
    const until = step.until ?? {};
    const ramp = step.ramp ?? null;
    this.name = textInput(step.name ?? "", { placeholder: "e.g. Beta rest", oninput: changed });
    this.target = numberInput(step.temperature ?? "", { min: -50, max: 150, step: "0.1", oninput: changed });
    this.rampKind = select([{ value: "none", label: "Straight to the target" }, { value: "duration", label: "Ramp over" }, { value: "rate", label: "Ramp at" }],
      ramp ? (ramp.rate_c_per_h ? "rate" : "duration") : "none", { onchange: () => this.show() });
    const defaultUnit = editor.kind() === "mash" ? "min" : "days";
    this.rampTime = timeField("Ramp time", ramp?.duration_s ?? null, defaultUnit, changed);
    this.rateUnit = select(Object.keys(RATE_UNITS), ramp?.rate_c_per_h && ramp.rate_c_per_h % 60 === 0 ? "°C/min" : "°C/h", { onchange: changed, "aria-label": "Ramp rate unit" });
    this.rate = numberInput(ramp?.rate_c_per_h ? round(ramp.rate_c_per_h / RATE_UNITS[this.rateUnit.value]) : "", { min: 0, oninput: changed });
    this.rateEl = h("div", { class: "with-unit" }, field("Ramp rate", this.rate), this.rateUnit);
    this.hold = timeField("Hold", step.hold_s ?? 0, defaultUnit, changed, "Counted from the moment the target is reached.");
    this.holdNote = h("small", { class: "hint" }, "The hold counts from the moment the target is reached.");
    this.tolerance = numberInput(step.tolerance ?? 0.5, { min: 0.1, max: 10, step: "0.1", oninput: changed });
    this.until = select(CONDITIONS, until.type ?? "time", { onchange: () => this.show() });
    this.gravity = numberInput(until.gravity ?? "", { min: 0.98, max: 1.2, step: "0.001", oninput: changed });
    this.percent = numberInput(until.percent ?? "", { min: 0, max: 100, oninput: changed });
    this.og = numberInput(until.original_gravity ?? "", { min: 1, max: 1.2, step: "0.001", oninput: changed });
    this.delta = numberInput(until.delta ?? 0.001, { min: 0.0001, max: 0.1, step: "0.0001", oninput: changed });
    this.hours = numberInput(until.hours ?? 24, { min: 1, oninput: changed });
    this.prompt = textInput(until.prompt ?? "", { placeholder: "e.g. Add the grain, then confirm", oninput: changed });
    this.limit = timeField("Or at most", until.limit_s ?? null, defaultUnit, changed, "Optional: advance anyway this long after the target is reached.");
    this.conds = {
      gravity: [field("Gravity (SG)", this.gravity)],
      attenuation: [field("Attenuation %", this.percent), field("Original gravity", this.og, "Empty: the first reading of the run.")],
      stable: [field("Change below (SG)", this.delta), field("Over hours", this.hours)],
      confirm: [field("Ask the brewer", this.prompt)],
    };
    this.title = h("h3", {});
    this.el = h("li", { class: "step-card" },
      h("div", { class: "step-head" }, this.title,
        h("div", { class: "button-row" },
          button("↑", () => editor.move(this, -1), { class: "icon", "aria-label": "Move step up" }),
          button("↓", () => editor.move(this, 1), { class: "icon", "aria-label": "Move step down" }),
          button("Duplicate", () => editor.duplicate(this)),
          button("Remove", () => editor.remove(this), { class: "danger" }))),
      h("div", { class: "form-grid" },
        field("Step name", this.name),
        field("Target °C", this.target, "Empty: control off (free rise)."),
        field("Ramp", this.rampKind), this.rampTime.el, this.rateEl,
        this.hold.el,
        field("Reached within ± °C", this.tolerance),
        field("Then advance when", this.until),
        ...Object.values(this.conds).flat(),
        this.limit.el),
      this.holdNote);
    this.show();
  }

  show() {
    const ramp = this.rampKind.value;
    this.rampTime.el.hidden = ramp !== "duration";
    this.rateEl.hidden = ramp !== "rate";
    for (const [type, els] of Object.entries(this.conds)) for (const el of els) el.hidden = this.until.value !== type;
    this.limit.el.hidden = this.until.value === "time";
    this.editor.changed();
  }

  value() {
    const t = numberValue(this.target);
    const step = { name: this.name.value.trim(), temperature: t, hold_s: this.hold.seconds() ?? 0 };
    const tol = numberValue(this.tolerance);
    if (tol !== null && tol !== 0.5) step.tolerance = tol;
    if (this.rampKind.value === "duration" && this.rampTime.seconds()) step.ramp = { duration_s: this.rampTime.seconds() };
    const rate = numberValue(this.rate);
    if (this.rampKind.value === "rate" && rate) step.ramp = { rate_c_per_h: round(rate * RATE_UNITS[this.rateUnit.value]) };
    const type = this.until.value;
    if (type !== "time") {
      const until = { type };
      if (type === "gravity") until.gravity = numberValue(this.gravity);
      if (type === "attenuation") {
        until.percent = numberValue(this.percent);
        if (numberValue(this.og) !== null) until.original_gravity = numberValue(this.og);
      }
      if (type === "stable") Object.assign(until, { delta: numberValue(this.delta), hours: numberValue(this.hours) });
      if (type === "confirm") until.prompt = this.prompt.value.trim();
      if (this.limit.seconds()) until.limit_s = this.limit.seconds();
      step.until = until;
    }
    return step;
  }
}

export class StepEditor {
  constructor(el, ctx, profile, { loops, reload, isNew }) {
    this.el = el;
    this.ctx = ctx;
    this.profile = profile;
    this.isNew = isNew;
    this.reload = reload;
    this.loops = loops;
    this.cards = [];
    this.ready = false;
    this.idInput = textInput(profile.id, { required: true, readOnly: !isNew, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "e.g. lager" });
    this.nameInput = textInput(profile.name, { placeholder: "e.g. Lager" });
    this.kindSelect = select(KINDS, profile.kind ?? "", { onchange: () => this.refreshLoops() });
    this.list = h("ol", { class: "step-list", "aria-label": "Steps" });
    this.summary = h("p", { class: "curve-summary program-summary", "aria-live": "polite" });
    this.chartHost = h("div", { class: "chart-host" });
    this.loopSelect = select([], "");
    const form = h("form", { class: "profile-form", onsubmit: (e) => { e.preventDefault(); this.save(); } },
      h("div", { class: "form-grid" },
        field("Id", this.idInput, isNew ? "Lowercase letters, digits, - or _; used in topics and URLs." : "The id cannot change; duplicate to rename."),
        field("Name", this.nameInput), field("For", this.kindSelect)),
      this.list,
      h("div", { class: "button-row" },
        button("Add step", () => this.add(null, true)),
        h("button", { type: "submit", class: "primary" }, isNew ? "Create program" : "Save program"),
        isNew ? null : button("Duplicate", () => ctx.navigate(`#/profiles/copy-of-${encodeURIComponent(profile.id)}`)),
        isNew ? null : button("Export BeerJSON", () => this.exportBeerJson()),
        isNew ? null : button("Delete", () => this.removeProfile(), { class: "danger" })));
    const apply = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.start(); } },
      field("Loop", this.loopSelect), h("button", { type: "submit" }, "Start on loop"));
    fill(el,
      h("h2", {}, isNew ? "New program" : `Program ${profile.name || profile.id}`),
      form,
      section("Schedule", this.summary, this.chartHost),
      isNew ? null : section("Apply to a loop", apply));
    this.chart = null;
    for (const step of profile.steps ?? []) this.add(step, false);
    this.ready = true;
    this.refreshLoops();
    this.changed();
  }

  kind() {
    return this.kindSelect?.value ?? this.profile.kind ?? "";
  }

  refreshLoops() {
    const want = LOOP_KIND[this.kind()];
    const fitting = this.loops.filter((l) => !want || l.kind === want);
    const options = fitting.map((l) => ({ value: l.id, label: l.name || l.id }));
    const current = this.loopSelect.value;
    this.loopSelect.replaceChildren(...(options.length ? options : [{ value: "", label: "No loop of this kind" }])
      .map((o) => h("option", { value: o.value, selected: o.value === current }, o.label)));
  }

  add(step, focus) {
    const last = this.cards.at(-1)?.value();
    const card = new StepCard(this, step ?? { name: "", temperature: last?.temperature ?? 20, hold_s: 0 });
    this.cards.push(card);
    this.list.append(card.el);
    this.changed();
    if (focus) card.name.focus();
  }

  move(card, by) {
    const i = this.cards.indexOf(card);
    const j = i + by;
    if (j < 0 || j >= this.cards.length) return;
    [this.cards[i], this.cards[j]] = [this.cards[j], this.cards[i]];
    this.list.replaceChildren(...this.cards.map((c) => c.el));
    this.changed();
  }

  duplicate(card) {
    const copy = new StepCard(this, card.value());
    this.cards.splice(this.cards.indexOf(card) + 1, 0, copy);
    this.list.replaceChildren(...this.cards.map((c) => c.el));
    this.changed();
  }

  remove(card) {
    this.cards = this.cards.filter((c) => c !== card);
    card.el.remove();
    this.changed();
  }

  /** Renumber, and redraw the schedule as it would run if each target were reached at once. */
  changed() {
    if (!this.ready) return;
    this.cards.forEach((c, i) => { c.title.textContent = `Step ${i + 1}${c.name.value.trim() ? `: ${c.name.value.trim()}` : ""}`; });
    const steps = this.cards.map((c) => c.value());
    const xs = [];
    const ys = [];
    let t = 0;
    let previous = null;
    const waits = [];
    for (const s of steps) {
      let ramp = 0;
      if (s.ramp?.duration_s) ramp = s.ramp.duration_s;
      else if (s.ramp?.rate_c_per_h && previous !== null && s.temperature !== null) ramp = Math.abs(s.temperature - previous) / s.ramp.rate_c_per_h * 3600;
      xs.push(t / 3600); ys.push(ramp && previous !== null ? previous : s.temperature);
      t += ramp;
      xs.push(t / 3600); ys.push(s.temperature);
      t += s.hold_s;
      xs.push(t / 3600); ys.push(s.temperature);
      if (s.until) waits.push(s.until.type === "confirm" ? "a confirmation" : s.until.type);
      if (s.temperature !== null) previous = s.temperature;
    }
    const unit = t >= 2 * 86400 ? "days" : t >= 2 * 3600 ? "hours" : "min";
    if (!this.chart || this.chartUnit !== unit) {
      this.chart?.destroy();
      this.chartUnit = unit;
      this.chart = new Chart(this.chartHost, [{ label: "Setpoint", colour: COLOURS.profile }], {
        height: 220, time: false, xLabel: unit, label: "Preview of the program: the setpoint if each target were reached at once",
      });
    }
    const scale = TIME_UNITS[unit] / 3600;
    for (let i = 0; i < xs.length; i += 1) xs[i] /= scale;
    for (let i = 1; i < xs.length; i += 1) if (xs[i] <= xs[i - 1]) xs[i] = xs[i - 1] + 1e-9;
    this.chart.setData([xs, ys]);
    const temps = steps.map((s) => s.temperature).filter((x) => x !== null);
    this.summary.textContent = steps.length
      ? `${steps.length} step${steps.length > 1 ? "s" : ""}, expected ${duration(t)} (ramps + holds)` +
        (temps.length ? `, between ${temperature(Math.min(...temps))} and ${temperature(Math.max(...temps))}` : "") +
        (waits.length ? `; some steps wait for ${[...new Set(waits)].join(", ")}, so it may take longer.` : ".")
      : "Add a step to see the schedule.";
  }

  value() {
    const kind = this.kindSelect.value;
    return {
      id: this.idInput.value.trim(),
      name: this.nameInput.value.trim(),
      kind: kind || null,
      steps: this.cards.map((c) => c.value()),
      version: this.profile.version ?? 0,
    };
  }

  async save() {
    const body = this.value();
    if (!body.steps.length) return showError("Add a step first.");
    const { api } = this.ctx;
    const r = await attempt(this.isNew ? "Creating the program" : "Saving the program", () =>
      this.isNew ? api.profiles.create(body) : api.profiles.update(body.id, body));
    if (!r.ok) return;
    showInfo(`Program ${body.name || body.id} saved`);
    this.profile = r.value ?? body;
    await this.reload();
    if (this.isNew) this.ctx.navigate(`#/profiles/${encodeURIComponent(body.id)}`);
  }

  async start() {
    const loop = this.loopSelect.value;
    if (!loop) return showError("There is no loop of this kind; create one on the Loops tab.");
    const r = await attempt(`Starting ${this.profile.id} on ${loop}`, () =>
      loopCommand(this.ctx.api, loop, "profile", { action: "start", profile: this.profile.id }));
    if (r.ok) showInfo(`Program ${this.profile.name || this.profile.id} started on ${loop}`);
  }

  async exportBeerJson() {
    const r = await attempt("Exporting BeerJSON", () =>
      this.ctx.api.request("GET", `/api/profiles/${encodeURIComponent(this.profile.id)}/beerjson`));
    if (r.ok) download(`${this.profile.id}.beer.json`, JSON.stringify(r.value, null, 2), "application/json");
  }

  async removeProfile() {
    if (!confirm(`Delete the program ${this.profile.name || this.profile.id}?`)) return;
    const r = await attempt("Deleting the program", () => this.ctx.api.profiles.remove(this.profile.id));
    if (!r.ok) return;
    showInfo(`Program ${this.profile.id} deleted`);
    this.ctx.navigate("#/profiles");
  }

  destroy() {
    this.chart?.destroy();
  }
}
