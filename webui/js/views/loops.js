// Loops: create and edit control loops — sensor, heater, cooler, PID (defaults per kind),
// compressor protection, alarm thresholds and watchdogs (defaults per kind).
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, numberInput, numberValue, checkbox, button, deriveId } from "../ui/forms.js";
import { asList, MODES, PID_DEFAULTS, WATCHDOG_DEFAULTS } from "../ui/data.js";
import { temperature } from "../ui/format.js";
import { deltaFromDisplay, fromDisplay, inputValue, unitLabel } from "../ui/units.js";
import { attempt, showError, showInfo } from "../ui/toast.js";

const KINDS = [
  { value: "fermenter", label: "Fermenter (cooler and/or heater)" },
  { value: "kettle", label: "Kettle (element)" },
  { value: "other", label: "Other" },
];

const round = (x) => Math.round(x * 1e6) / 1e6;

function blankLoop(kind = "fermenter") {
  return {
    id: "", name: "", kind, sensor: null, heater: null, cooler: null, mode: "off",
    setpoint: kind === "kettle" ? 65 : 19, manual_output: 0, profile: null, pid: null,
    setpoint_min: -5, setpoint_max: kind === "kettle" ? 105 : 40, window_s: kind === "kettle" ? 5 : 10,
    compressor: { min_on_s: 180, min_off_s: 300, dead_time_s: 600 },
    alarms: { high: null, low: null, deviation: null, setpoint_timeout_s: null, stale_after_s: 30 },
    watchdogs: {},
    version: 0,
  };
}

export function mount(root, ctx, [selected]) {
  const { api, live } = ctx;
  let loops = [];
  let devices = [];
  let editor = null;
  const listEl = h("ul", { class: "item-list", "aria-label": "Loops" });
  const editorEl = h("div", { class: "editor" });
  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Loops"), button("New loop", () => ctx.navigate("#/loops/new"), { class: "primary" })),
    h("div", { class: "split" }, h("aside", { class: "side" }, listEl), editorEl));

  const renderList = () => fill(listEl, loops.length
    ? loops.map((l) => {
        const s = live.loops.get(l.id);
        return h("li", {}, h("a", { href: `#/loops/${encodeURIComponent(l.id)}`, "aria-current": l.id === selected ? "true" : undefined },
          l.name || l.id, h("small", {}, ` ${l.kind} · ${l.mode}${s ? ` · ${temperature(s.pv)}` : ""}`)));
      })
    : h("li", { class: "empty" }, "No loops yet."));

  (async () => {
    const r = await attempt("Loading loops and devices", () => Promise.all([api.loops.list(), api.devices.list()]));
    if (!r.ok) return;
    loops = asList(r.value[0], "loops");
    devices = asList(r.value[1], "devices");
    renderList();
    let loop = null;
    if (selected === "new") loop = blankLoop();
    else if (selected) {
      loop = loops.find((l) => l.id === selected) ?? null;
      if (!loop) showError(`There is no loop "${selected}".`);
    }
    if (loop) editor = new LoopEditor(editorEl, ctx, structuredClone(loop), devices, selected === "new");
    else fill(editorEl, h("p", { class: "empty" }, "Choose a loop to edit, or create a new one."));
  })();

  const stop = live.on("sensor", () => editor?.refreshReadings());
  ctx.guard(() => Boolean(editor?.isDirty()));
  return () => stop();
}

class LoopEditor {
  constructor(el, ctx, loop, devices, isNew) {
    this.ctx = ctx;
    this.loop = loop;
    this.devices = devices;
    this.isNew = isNew;
    const io = (kind, role) => devices.flatMap((d) => (d[kind] ?? [])
      .filter((x) => !role || !x.role || x.role === role || x.role === "other")
      .map((x) => ({ device: d.id, id: x.id, label: `${d.name || d.id} / ${x.name || x.id}` })));
    this.sensorOptions = io("sensors");
    const refValue = (ref) => (ref ? `${ref.device}/${ref.id}` : "");
    const ioSelect = (options, ref, allowNone) => select(
      [...(allowNone ? [{ value: "", label: "None" }] : [{ value: "", label: "Choose…" }]),
        ...options.map((o) => ({ value: `${o.device}/${o.id}`, label: o.label }))], refValue(ref));

    const t = (c) => inputValue(c); // °C → the brewer's unit, as typed
    const mins = (sec) => (sec === null || sec === undefined ? null : round(sec / 60));
    const hours = (sec) => (sec === null || sec === undefined ? null : round(sec / 3600));
    const w = loop.watchdogs ?? {};
    this.f = {
      id: textInput(loop.id, { required: true, readOnly: !isNew, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "e.g. fermenter-2" }),
      name: textInput(loop.name, { placeholder: "e.g. Fermenter 2" }),
      kind: select(KINDS, loop.kind, { onchange: () => this.kindChanged(true) }),
      mode: select(MODES, loop.mode),
      sensor: ioSelect(this.sensorOptions, loop.sensor, false),
      heater: ioSelect(io("actuators", "heater"), loop.heater, true),
      cooler: ioSelect(io("actuators", "cooler"), loop.cooler, true),
      gravity: ioSelect(this.sensorOptions, loop.gravity, true),
      setpoint: numberInput(t(loop.setpoint)),
      setpoint_min: numberInput(t(loop.setpoint_min)),
      setpoint_max: numberInput(t(loop.setpoint_max)),
      window_s: numberInput(loop.window_s),
      kp: numberInput(loop.pid?.kp),
      ki: numberInput(loop.pid?.ki),
      kd: numberInput(loop.pid?.kd),
      min_on: numberInput(mins(loop.compressor.min_on_s)),
      min_off: numberInput(mins(loop.compressor.min_off_s)),
      dead_time: numberInput(mins(loop.compressor.dead_time_s)),
      high: numberInput(t(loop.alarms.high)),
      low: numberInput(t(loop.alarms.low)),
      deviation: numberInput(inputValue(loop.alarms.deviation, { delta: true })),
      sp_timeout: numberInput(mins(loop.alarms.setpoint_timeout_s)),
      stale: numberInput(loop.alarms.stale_after_s),
      // Watchdogs: empty = the kind's default (shown as the placeholder); 0 = off.
      band_c: numberInput(inputValue(w.band_c, { delta: true })),
      band_s: numberInput(mins(w.band_s)),
      silent_reports: numberInput(w.silent_reports),
      silent_min_s: numberInput(mins(w.silent_min_s)),
      step_wait_s: numberInput(hours(w.step_wait_s)),
      step_reach_s: numberInput(hours(w.step_reach_s)),
    };
    const f = this.f;
    const u = unitLabel();
    this.useDefaults = checkbox("Use the defaults for this kind of loop", loop.pid === null, { onchange: () => this.kindChanged() });
    this.reading = h("p", { class: "hint live-reading", "aria-live": "polite" });
    f.sensor.addEventListener("change", () => this.refreshReadings());
    const form = h("form", { class: "loop-form", onsubmit: (e) => { e.preventDefault(); this.save(); } },
      h("fieldset", {}, h("legend", {}, "Loop"),
        h("div", { class: "form-grid" }, field("Id", f.id), field("Name", f.name), field("Kind", f.kind), field("Mode", f.mode))),
      h("fieldset", {}, h("legend", {}, "Input and outputs"),
        h("div", { class: "form-grid" }, field("Sensor", f.sensor), field("Heater", f.heater), field("Cooler", f.cooler),
          field("Hydrometer (gravity)", f.gravity, "For program steps that advance on gravity (docs/programs.md).")), this.reading),
      h("fieldset", {}, h("legend", {}, "Setpoint"),
        h("div", { class: "form-grid" }, field(`Setpoint ${u}`, f.setpoint), field(`Lowest allowed ${u}`, f.setpoint_min),
          field(`Highest allowed ${u}`, f.setpoint_max), field("Relay window (s)", f.window_s, "Time-proportioning period for relay outputs."))),
      h("fieldset", {}, h("legend", {}, "PID"), this.useDefaults,
        h("div", { class: "form-grid" }, field("Kp (% per °C)", f.kp), field("Ki (% per °C·s)", f.ki), field("Kd (% per °C/s)", f.kd))),
      (this.compressor = h("fieldset", {}, h("legend", {}, "Compressor protection (cooler)"),
        h("div", { class: "form-grid" }, field("Minimum on (min)", f.min_on), field("Minimum off (min)", f.min_off),
          field("Heat ↔ cool dead time (min)", f.dead_time)))),
      h("fieldset", {}, h("legend", {}, "Alarms"),
        h("div", { class: "form-grid" }, field(`High limit ${u}`, f.high, "Empty: no alarm."), field(`Low limit ${u}`, f.low),
          field(`Deviation from setpoint ${u}`, f.deviation), field("Setpoint not reached within (min)", f.sp_timeout),
          field("Sensor lost after (s)", f.stale))),
      (this.watchdogs = h("fieldset", { class: "watchdogs" }, h("legend", {}, "Watchdogs"),
        h("p", { class: "hint" }, "Alarms that tell you before it matters. Empty: the default for this kind of loop (shown greyed); 0: off."),
        h("div", { class: "form-grid" },
          field(`Band around the setpoint ± ${u}`, f.band_c, "Armed once the setpoint is reached, never during a ramp or heat-up."),
          field("Outside the band for (min)", f.band_s),
          field("Device silent after (missed reports)", f.silent_reports, "Its probe or hydrometer; the interval is learned from its readings."),
          field("…but not before (min)", f.silent_min_s),
          field("Program step waiting longer than (h)", f.step_wait_s, "For gravity, attenuation or your confirmation."),
          field("Step target not reached after its ramp (h)", f.step_reach_s)))),
      h("div", { class: "button-row" },
        h("button", { type: "submit", class: "primary" }, isNew ? "Create loop" : "Save loop"),
        isNew ? null : button("Delete", () => this.remove(), { class: "danger" })));
    f.cooler.addEventListener("change", () => { this.compressor.hidden = !f.cooler.value; });
    this.compressor.hidden = !f.cooler.value;
    fill(el, h("h2", {}, isNew ? "New loop" : `Loop ${loop.name || loop.id}`),
      this.sensorOptions.length ? null : h("p", { class: "notice" }, "No sensors configured yet: add a device on the IO tab first."),
      form);
    this.kindChanged();
    this.refreshReadings();
    this.markClean();
    if (isNew) deriveId(f.id, f.name);
  }

  /** PID fields show the kind's defaults (disabled) unless the brewer sets their own. */
  kindChanged(byBrewer = false) {
    const d = PID_DEFAULTS[this.f.kind.value] ?? PID_DEFAULTS.other;
    if (byBrewer && this.isNew) {
      // A new loop takes the kind's sensible setpoint, limits and relay window.
      const fresh = blankLoop(this.f.kind.value);
      for (const k of ["setpoint", "setpoint_min", "setpoint_max"]) this.f[k].value = inputValue(fresh[k]);
      this.f.window_s.value = String(fresh.window_s);
    }
    const wd = WATCHDOG_DEFAULTS[this.f.kind.value] ?? WATCHDOG_DEFAULTS.other;
    const shown = { band_c: inputValue(wd.band_c, { delta: true }), band_s: round(wd.band_s / 60),
      silent_reports: wd.silent_reports, silent_min_s: round(wd.silent_min_s / 60),
      step_wait_s: round(wd.step_wait_s / 3600), step_reach_s: round(wd.step_reach_s / 3600) };
    for (const [k, v] of Object.entries(shown)) this.f[k].placeholder = String(v);
    const useDefaults = this.useDefaults.input.checked;
    for (const k of ["kp", "ki", "kd"]) {
      this.f[k].disabled = useDefaults;
      this.f[k].placeholder = String(d[k]);
      if (useDefaults) this.f[k].value = String(d[k]);
    }
  }

  refreshReadings() {
    const key = this.f.sensor.value;
    if (!key) return fill(this.reading, "Choose the probe this loop controls.");
    const r = this.ctx.live.sensors.get(key);
    fill(this.reading, "Live reading: ", h("strong", {}, r ? (r.value === null ? `no value (${r.error ?? "unknown"})` : temperature(r.value, 2)) : "none yet"));
  }

  /** The loop as the form shows it, field by field, over `base`: only the fields the
   * brewer changed replace what `base` has, so a save on top of a newer configuration
   * (someone else's edit, a command) keeps both. */
  value(base = this.loop) {
    const f = this.f;
    const changed = (...inputs) => inputs.some((i) => this.dirty(i));
    const num = (input) => numberValue(input);
    const temp = (input) => fromDisplay(num(input));
    const ref = (sel) => { if (!sel.value) return null; const [device, id] = sel.value.split("/"); return { device, id }; };
    const mins = (input) => { const v = num(input); return v === null ? null : v * 60; };
    const out = structuredClone(base);
    const put = (input, apply) => { if (this.isNew || changed(input)) apply(); };
    out.id = f.id.value.trim();
    put(f.name, () => { out.name = f.name.value.trim(); });
    put(f.kind, () => { out.kind = f.kind.value; });
    put(f.mode, () => { out.mode = f.mode.value; });
    put(f.sensor, () => { out.sensor = ref(f.sensor); });
    put(f.heater, () => { out.heater = ref(f.heater); });
    put(f.cooler, () => { out.cooler = ref(f.cooler); });
    put(f.gravity, () => { out.gravity = ref(f.gravity); });
    put(f.setpoint, () => { out.setpoint = temp(f.setpoint); });
    put(f.setpoint_min, () => { out.setpoint_min = temp(f.setpoint_min); });
    put(f.setpoint_max, () => { out.setpoint_max = temp(f.setpoint_max); });
    put(f.window_s, () => { out.window_s = num(f.window_s); });
    if (this.isNew || changed(this.useDefaults.input, f.kp, f.ki, f.kd)) {
      out.pid = this.useDefaults.input.checked ? null : { kp: num(f.kp) ?? 0, ki: num(f.ki) ?? 0, kd: num(f.kd) ?? 0 };
    }
    out.compressor = { ...out.compressor };
    put(f.min_on, () => { out.compressor.min_on_s = mins(f.min_on) ?? 0; });
    put(f.min_off, () => { out.compressor.min_off_s = mins(f.min_off) ?? 0; });
    put(f.dead_time, () => { out.compressor.dead_time_s = mins(f.dead_time) ?? 0; });
    out.alarms = { ...out.alarms };
    put(f.high, () => { out.alarms.high = temp(f.high); });
    put(f.low, () => { out.alarms.low = temp(f.low); });
    put(f.deviation, () => { out.alarms.deviation = deltaFromDisplay(num(f.deviation)); });
    put(f.sp_timeout, () => { out.alarms.setpoint_timeout_s = mins(f.sp_timeout); });
    put(f.stale, () => { out.alarms.stale_after_s = num(f.stale) ?? 30; });
    out.watchdogs = { ...(out.watchdogs ?? {}) };
    const scaled = (input, factor) => { const v = num(input); return v === null ? null : round(v * factor); };
    put(f.band_c, () => { out.watchdogs.band_c = deltaFromDisplay(num(f.band_c)); });
    put(f.band_s, () => { out.watchdogs.band_s = scaled(f.band_s, 60); });
    put(f.silent_reports, () => { out.watchdogs.silent_reports = num(f.silent_reports); });
    put(f.silent_min_s, () => { out.watchdogs.silent_min_s = scaled(f.silent_min_s, 60); });
    put(f.step_wait_s, () => { out.watchdogs.step_wait_s = scaled(f.step_wait_s, 3600); });
    put(f.step_reach_s, () => { out.watchdogs.step_reach_s = scaled(f.step_reach_s, 3600); });
    return out;
  }

  /** Has the brewer changed this control since the form was filled? */
  dirty(input) {
    const now = input.type === "checkbox" ? String(input.checked) : input.value;
    return now !== input.dataset.initial;
  }

  /** Remember what each control shows now, as the baseline for dirty(). */
  markClean() {
    for (const input of [...Object.values(this.f), this.useDefaults.input]) {
      input.dataset.initial = input.type === "checkbox" ? String(input.checked) : input.value;
    }
  }

  isDirty() {
    return [...Object.values(this.f), this.useDefaults.input].some((i) => this.dirty(i));
  }

  async save() {
    const body = this.value();
    if (!body.sensor) return showError("Choose the sensor this loop reads.", "", { field: this.f.sensor });
    const { api } = this.ctx;
    const action = this.isNew ? "Creating the loop" : "Saving the loop";
    let r = await attempt(action, () => (this.isNew ? api.loops.create(body) : api.loops.update(body.id, body)),
      { quiet: (err) => !this.isNew && err.status === 409 });
    if (!r.ok && !this.isNew && r.error?.status === 409) {
      // Changed meanwhile (another screen, or a command on an older API): take the
      // current configuration, put the brewer's changes on it, and save that.
      const fresh = await attempt("Reloading the loop", () => api.loops.get(body.id));
      if (!fresh.ok) return;
      const merged = this.value(fresh.value);
      r = await attempt(action, () => api.loops.update(merged.id, merged));
    }
    if (!r.ok) return;
    let saved = r.value;
    if (!this.isNew) {
      // Mode and setpoint are the loop's target: the controller takes them as commands
      // (a configuration save leaves them as they are). Only the ones the brewer changed.
      for (const command of ["setpoint", "mode"]) {
        if (!this.dirty(this.f[command]) || body[command] === null) continue;
        const c = await attempt(`Setting the ${command}`, () => api.loops.command(body.id, command, { value: body[command] }));
        if (!c.ok) return;
        saved = c.value;
      }
    }
    showInfo(`Loop ${body.name || body.id} saved`, action);
    if (this.isNew) {
      this.markClean();
      this.ctx.navigate(`#/loops/${encodeURIComponent(body.id)}`);
    } else if (saved?.version) {
      this.loop = saved;
      this.markClean();
    }
  }

  async remove() {
    if (!confirm(`Delete the loop ${this.loop.name || this.loop.id}? Its outputs turn off.`)) return;
    const r = await attempt("Deleting the loop", () => this.ctx.api.loops.remove(this.loop.id));
    if (r.ok) {
      showInfo(`Loop ${this.loop.id} deleted`);
      this.ctx.navigate("#/loops");
    }
  }
}

