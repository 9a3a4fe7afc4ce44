// Loops: create and edit control loops — sensor, heater, cooler, PID (defaults per kind),
// compressor protection and alarm thresholds.
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, numberInput, numberValue, checkbox, button } from "../ui/forms.js";
import { asList, MODES, PID_DEFAULTS } from "../ui/data.js";
import { temperature } from "../ui/format.js";
import { attempt, showError, showInfo } from "../ui/toast.js";

const KINDS = [
  { value: "fermenter", label: "Fermenter (cooler and/or heater)" },
  { value: "kettle", label: "Kettle (element)" },
  { value: "other", label: "Other" },
];

function blankLoop(kind = "fermenter") {
  return {
    id: "", name: "", kind, sensor: null, heater: null, cooler: null, mode: "off",
    setpoint: kind === "kettle" ? 65 : 19, manual_output: 0, profile: null, pid: null,
    setpoint_min: -5, setpoint_max: kind === "kettle" ? 105 : 40, window_s: kind === "kettle" ? 5 : 10,
    compressor: { min_on_s: 180, min_off_s: 300, dead_time_s: 600 },
    alarms: { high: null, low: null, deviation: null, setpoint_timeout_s: null, stale_after_s: 30 },
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

    this.f = {
      id: textInput(loop.id, { required: true, readOnly: !isNew, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "e.g. fermenter-2" }),
      name: textInput(loop.name, { placeholder: "e.g. Fermenter 2" }),
      kind: select(KINDS, loop.kind, { onchange: () => this.kindChanged(true) }),
      mode: select(MODES, loop.mode),
      sensor: ioSelect(this.sensorOptions, loop.sensor, false),
      heater: ioSelect(io("actuators", "heater"), loop.heater, true),
      cooler: ioSelect(io("actuators", "cooler"), loop.cooler, true),
      setpoint: numberInput(loop.setpoint, { step: "0.1" }),
      setpoint_min: numberInput(loop.setpoint_min, { step: "0.1" }),
      setpoint_max: numberInput(loop.setpoint_max, { step: "0.1" }),
      window_s: numberInput(loop.window_s, { min: 0.1 }),
      kp: numberInput(loop.pid?.kp, { min: 0 }),
      ki: numberInput(loop.pid?.ki, { min: 0 }),
      kd: numberInput(loop.pid?.kd, { min: 0 }),
      min_on: numberInput(loop.compressor.min_on_s / 60, { min: 0 }),
      min_off: numberInput(loop.compressor.min_off_s / 60, { min: 0 }),
      dead_time: numberInput(loop.compressor.dead_time_s / 60, { min: 0 }),
      high: numberInput(loop.alarms.high, { step: "0.1" }),
      low: numberInput(loop.alarms.low, { step: "0.1" }),
      deviation: numberInput(loop.alarms.deviation, { step: "0.1", min: 0 }),
      sp_timeout: numberInput(loop.alarms.setpoint_timeout_s === null ? null : loop.alarms.setpoint_timeout_s / 60, { min: 0 }),
      stale: numberInput(loop.alarms.stale_after_s, { min: 1 }),
    };
    const f = this.f;
    this.useDefaults = checkbox("Use the defaults for this kind of loop", loop.pid === null, { onchange: () => this.kindChanged() });
    this.reading = h("p", { class: "hint live-reading", "aria-live": "polite" });
    f.sensor.addEventListener("change", () => this.refreshReadings());
    const form = h("form", { class: "loop-form", onsubmit: (e) => { e.preventDefault(); this.save(); } },
      h("fieldset", {}, h("legend", {}, "Loop"),
        h("div", { class: "form-grid" }, field("Id", f.id), field("Name", f.name), field("Kind", f.kind), field("Mode", f.mode))),
      h("fieldset", {}, h("legend", {}, "Input and outputs"),
        h("div", { class: "form-grid" }, field("Sensor", f.sensor), field("Heater", f.heater), field("Cooler", f.cooler)), this.reading),
      h("fieldset", {}, h("legend", {}, "Setpoint"),
        h("div", { class: "form-grid" }, field("Setpoint °C", f.setpoint), field("Lowest allowed °C", f.setpoint_min),
          field("Highest allowed °C", f.setpoint_max), field("Relay window (s)", f.window_s, "Time-proportioning period for relay outputs."))),
      h("fieldset", {}, h("legend", {}, "PID"), this.useDefaults,
        h("div", { class: "form-grid" }, field("Kp (% per °C)", f.kp), field("Ki (% per °C·s)", f.ki), field("Kd (% per °C/s)", f.kd))),
      (this.compressor = h("fieldset", {}, h("legend", {}, "Compressor protection (cooler)"),
        h("div", { class: "form-grid" }, field("Minimum on (min)", f.min_on), field("Minimum off (min)", f.min_off),
          field("Heat ↔ cool dead time (min)", f.dead_time)))),
      h("fieldset", {}, h("legend", {}, "Alarms"),
        h("div", { class: "form-grid" }, field("High limit °C", f.high, "Empty: no alarm."), field("Low limit °C", f.low),
          field("Deviation from setpoint °C", f.deviation), field("Setpoint not reached within (min)", f.sp_timeout),
          field("Sensor lost after (s)", f.stale))),
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
  }

  /** PID fields show the kind's defaults (disabled) unless the brewer sets their own. */
  kindChanged(byBrewer = false) {
    const d = PID_DEFAULTS[this.f.kind.value] ?? PID_DEFAULTS.other;
    if (byBrewer && this.isNew) {
      // A new loop takes the kind's sensible setpoint, limits and relay window.
      const fresh = blankLoop(this.f.kind.value);
      for (const k of ["setpoint", "setpoint_min", "setpoint_max", "window_s"]) this.f[k].value = String(fresh[k]);
    }
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

  value() {
    const f = this.f;
    const num = (input) => numberValue(input);
    const ref = (sel) => { if (!sel.value) return null; const [device, id] = sel.value.split("/"); return { device, id }; };
    const mins = (input) => { const v = num(input); return v === null ? null : v * 60; };
    const pid = this.useDefaults.input.checked ? null : { kp: num(f.kp) ?? 0, ki: num(f.ki) ?? 0, kd: num(f.kd) ?? 0 };
    return {
      ...this.loop,
      id: f.id.value.trim(), name: f.name.value.trim(), kind: f.kind.value, mode: f.mode.value,
      sensor: ref(f.sensor), heater: ref(f.heater), cooler: ref(f.cooler),
      setpoint: num(f.setpoint), setpoint_min: num(f.setpoint_min), setpoint_max: num(f.setpoint_max), window_s: num(f.window_s),
      pid,
      compressor: { min_on_s: mins(f.min_on) ?? 0, min_off_s: mins(f.min_off) ?? 0, dead_time_s: mins(f.dead_time) ?? 0 },
      alarms: { high: num(f.high), low: num(f.low), deviation: num(f.deviation), setpoint_timeout_s: mins(f.sp_timeout), stale_after_s: num(f.stale) ?? 30 },
    };
  }

  async save() {
    const body = this.value();
    if (!body.sensor) return showError("Choose the sensor this loop reads.");
    const { api } = this.ctx;
    const r = await attempt(this.isNew ? "Creating the loop" : "Saving the loop", () =>
      this.isNew ? api.loops.create(body) : api.loops.update(body.id, body));
    if (!r.ok) return;
    let saved = r.value;
    if (!this.isNew) {
      // Mode and setpoint are the loop's target: the controller takes them as commands
      // (a configuration save leaves them as they are).
      for (const command of ["setpoint", "mode"]) {
        if (body[command] === null || body[command] === this.loop[command]) continue;
        const c = await attempt(`Setting the ${command}`, () => api.loops.command(body.id, command, { value: body[command] }));
        if (!c.ok) return;
        saved = c.value;
      }
    }
    showInfo(`Loop ${body.name || body.id} saved`);
    if (this.isNew) this.ctx.navigate(`#/loops/${encodeURIComponent(body.id)}`);
    else if (saved?.version) this.loop = saved;
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

