// IO configuration: boards and their sensors, actuators and inputs, with each probe's live
// reading beside it; add MQTT devices from presets (generic, Tasmota, iSpindel).
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, checkbox, button, section, deriveId } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { temperature } from "../ui/format.js";
import { deltaFromDisplay, deltaToDisplay, unitLabel } from "../ui/units.js";
import { attempt, showError, showInfo } from "../ui/toast.js";
import { rowTable } from "../ui/rows.js";

/** How often a device reports when nobody changed its settings: Tasmota's TelePeriod
 * defaults to 300 s, an iSpindel sleeps 900 s between readings. */
const REPORTS_EVERY_S = { tasmota: 300, ispindel: 900 };
const HOW_TO_REPORT_FASTER = {
  tasmota: "in the Tasmota console: TelePeriod 10",
  ispindel: "in the iSpindel's configuration portal: Interval",
};

/** The topics a preset reads and writes when a row names none (the controller's defaults). */
function defaultTopic(device, kind, row) {
  const name = device.mqtt?.name || device.id;
  const preset = device.mqtt?.preset ?? "generic";
  if (kind === "sensor") {
    if (preset === "tasmota") return `tele/${name}/SENSOR`;
    if (preset === "ispindel") return `ispindel/${name}/${row.id || "temperature"}`;
    return `${name}/${row.id || "temperature"}`;
  }
  if (preset === "tasmota") return `cmnd/${name}/POWER${row.channel ?? ""}`;
  return `${name}/${row.id || "relay"}/set`;
}

/** Loops that would call this device's probe lost between two of its reports. */
export function staleWarnings(device, loops) {
  const every = REPORTS_EVERY_S[device.mqtt?.preset];
  if (device.kind !== "mqtt" || !every) return [];
  return loops
    .filter((l) => l.sensor?.device === device.id && (l.alarms?.stale_after_s ?? 30) < every)
    .map((l) => `${device.mqtt.preset === "tasmota" ? "Tasmota" : "An iSpindel"} reports every ${every} s by default, ` +
      `but the loop ${l.name || l.id} calls its sensor lost after ${l.alarms?.stale_after_s ?? 30} s and turns its outputs off. ` +
      `Make the device report faster (${HOW_TO_REPORT_FASTER[device.mqtt.preset]}) or raise the loop's "Sensor lost after".`);
}

const PRESETS = {
  generic: {
    label: "Generic MQTT (JSON topics)",
    hint: "Readings from any topic (with a dotted JSON path); relays switched by publishing ON/OFF.",
    nameLabel: "Topic stem",
    build: (stem) => ({
      sensors: [{ id: "temperature", name: "Temperature", topic: `${stem}/temperature`, json_path: null }],
      actuators: [{ id: "relay", name: "Relay", role: "other", command_topic: `${stem}/relay/set`, payload_on: "ON", payload_off: "OFF", state_topic: `${stem}/relay` }],
    }),
  },
  tasmota: {
    label: "Tasmota (Sonoff TH, relays with DS18B20)",
    hint: "Reads tele/<topic>/SENSOR, switches cmnd/<topic>/POWER<n>. Tasmota reports every 300 s by default (TelePeriod): set TelePeriod 10 in its console for a loop's 30 s stale time.",
    nameLabel: "Tasmota topic",
    build: () => ({
      sensors: [{ id: "ds18b20", name: "DS18B20", json_path: "DS18B20.Temperature" }],
      actuators: [{ id: "power1", name: "Relay 1", role: "other", channel: 1 }],
    }),
  },
  ispindel: {
    label: "iSpindel (floating hydrometer)",
    hint: "Reads ispindel/<name>/temperature and …/gravity.",
    nameLabel: "iSpindel name",
    build: () => ({
      sensors: [{ id: "temperature", name: "Temperature", unit: "°C" }, { id: "gravity", name: "Gravity", unit: "SG" }],
      actuators: [],
    }),
  },
};

export function mount(root, ctx, [selected]) {
  const { api, socket, live } = ctx;
  let devices = [];
  let editor = null;
  const listEl = h("div", { class: "device-list" });
  const editorEl = h("div", { class: "editor" });
  const readings = new Map(); // "device/sensor" → element showing its live value

  const preset = select(Object.entries(PRESETS).map(([value, p]) => ({ value, label: p.label })), "tasmota", { onchange: () => presetChanged() });
  const newId = textInput("", { required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "e.g. fermfridge" });
  const newName = textInput("", { placeholder: "e.g. Fermentation fridge" });
  const linkName = textInput("", { placeholder: "e.g. fermfridge" });
  deriveId(newId, newName);
  const linkField = field("Tasmota topic", linkName);
  const presetHint = h("p", { class: "hint" });
  const presetChanged = () => {
    const p = PRESETS[preset.value];
    linkField.querySelector("label").textContent = p.nameLabel;
    presetHint.textContent = p.hint;
  };
  presetChanged();
  const addForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); addDevice(); } },
    field("Preset", preset), field("Id", newId), field("Name", newName), linkField, h("button", { type: "submit", class: "primary" }, "Add device"));

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "IO configuration")),
    listEl,
    editorEl,
    section("Add an MQTT device", presetHint, addForm));

  const readingCell = (deviceId, sensor) => {
    const el = h("span", { class: "reading", "data-sensor": `${deviceId}/${sensor.id}` });
    readings.set(`${deviceId}/${sensor.id}`, el);
    showReading(el, live.sensors.get(`${deviceId}/${sensor.id}`), sensor.unit);
    return el;
  };

  const renderList = () => {
    readings.clear();
    fill(listEl, devices.length ? devices.map((d) => h("article", { class: "card device", "data-device": d.id, "aria-label": `Device ${d.id}` },
      h("header", { class: "card-head" }, h("h2", {}, d.name || d.id), h("span", { class: "chip" }, describeKind(d)), d.enabled === false ? h("span", { class: "chip off" }, "disabled") : null),
      staleWarnings(d, loops).map((w) => h("p", { class: "notice stale-warning" }, w)),
      d.sensors?.length ? h("table", { class: "io-table" }, h("caption", {}, "Sensors"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Sensor"), h("th", { scope: "col" }, "Address / source"), h("th", { scope: "col" }, "Offset"), h("th", { scope: "col" }, "Live reading"))),
        h("tbody", {}, d.sensors.map((s) => h("tr", {}, h("th", { scope: "row" }, s.name || s.id, s.name ? h("small", {}, ` ${s.id}`) : null),
          h("td", {}, s.address || s.topic || s.json_path || "—"), h("td", {}, s.offset ? `${s.offset > 0 ? "+" : ""}${s.offset}` : "0"),
          h("td", {}, readingCell(d.id, s)))))) : h("p", { class: "empty" }, "No sensors."),
      d.actuators?.length ? h("table", { class: "io-table" }, h("caption", {}, "Actuators"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Actuator"), h("th", { scope: "col" }, "Role"), h("th", { scope: "col" }, "Channel"))),
        h("tbody", {}, d.actuators.map((a) => h("tr", {}, h("th", { scope: "row" }, a.name || a.id), h("td", {}, a.role),
          h("td", {}, a.channel ?? a.command_topic ?? "—", a.inverted ? " (inverted)" : "")))))
        : null,
      d.inputs?.length ? h("table", { class: "io-table" }, h("caption", {}, "Digital inputs"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Input"), h("th", { scope: "col" }, "Alarm when active"), h("th", { scope: "col" }, "Channel"))),
        h("tbody", {}, d.inputs.map((i) => h("tr", {}, h("th", { scope: "row" }, i.name || i.id), h("td", {}, i.alarm_text || "—"), h("td", {}, i.channel ?? i.topic ?? "—")))))
        : null,
      h("div", { class: "button-row" }, h("a", { class: "button", href: `#/io/${encodeURIComponent(d.id)}` }, `Edit ${d.name || d.id}`))))
      : h("p", { class: "empty" }, "No devices configured. Add an MQTT device below, or connect a board."));
  };

  let loops = [];
  async function reloadList() {
    const r = await attempt("Loading devices", () => Promise.all([api.devices.list(), api.loops.list()]));
    if (!r.ok) return false;
    devices = asList(r.value[0], "devices");
    loops = asList(r.value[1], "loops");
    renderList();
    return true;
  }

  async function reload() {
    if (!(await reloadList())) return;
    const d = selected && devices.find((x) => x.id === selected);
    if (d) editor = new DeviceEditor(editorEl, ctx, structuredClone(d), () => { ctx.navigate("#/io"); }, loops);
    else if (selected) showError(`There is no device "${selected}".`);
  }

  async function addDevice() {
    const p = PRESETS[preset.value];
    const id = newId.value.trim();
    const stem = linkName.value.trim() || id;
    const body = {
      id, name: newName.value.trim(), kind: "mqtt",
      mqtt: { preset: preset.value, name: stem },
      ...p.build(stem),
      inputs: [],
    };
    const r = await attempt(`Adding ${id}`, () => api.devices.create(body));
    if (!r.ok) return;
    showInfo(`Device ${id} added`);
    addForm.reset();
    presetChanged();
    ctx.navigate(`#/io/${encodeURIComponent(id)}`);
  }

  reload();
  // One reload for a burst of config messages (every retained device arrives on subscribe).
  let pending = null;
  const reloadSoon = () => { clearTimeout(pending); pending = setTimeout(reloadList, 250); };
  const stops = [
    live.on("sensor", ({ key, reading }) => {
      const el = readings.get(key);
      if (el) showReading(el, reading);
    }),
    socket.subscribe(ctx.topics.config("devices"), reloadSoon),
    () => clearTimeout(pending),
  ];
  ctx.guard(() => Boolean(editor?.dirty));
  return () => stops.forEach((s) => s());
}

function describeKind(d) {
  if (d.kind === "serial") return `Serial ${d.serial?.port ?? ""}`;
  if (d.kind === "mqtt") return `MQTT · ${d.mqtt?.preset ?? "generic"}${d.mqtt?.name ? ` · ${d.mqtt.name}` : ""}`;
  if (d.kind === "simulated") return `Simulated ${d.simulation ?? ""}`;
  return d.kind;
}

function showReading(el, reading, unit) {
  if (!reading) {
    el.textContent = "no reading yet";
    el.dataset.state = "none";
  } else if (reading.value === null || reading.value === undefined) {
    el.textContent = reading.error ? `no value: ${reading.error}` : "no value";
    el.dataset.state = "error";
  } else {
    const u = reading.unit ?? unit ?? "°C";
    el.textContent = u === "°C" ? temperature(reading.value, 2) : `${Number(reading.value).toFixed(3)} ${u}`;
    el.dataset.state = "ok";
  }
}

class DeviceEditor {
  constructor(el, ctx, device, done, loops = []) {
    const mqtt = device.kind === "mqtt";
    this.name = textInput(device.name);
    this.enabled = checkbox("Enabled", device.enabled !== false);
    const sensorCols = [
      { key: "id", label: "Id" }, { key: "name", label: "Name" },
      ...(mqtt ? [{ key: "topic", label: "Topic", blankIsNull: true, placeholder: (row) => defaultTopic(device, "sensor", row) },
        { key: "json_path", label: "JSON path", blankIsNull: true, placeholder: () => (device.mqtt?.preset === "tasmota" ? "DS18B20.Temperature" : "") }]
        : [{ key: "address", label: "Address" }]),
      { key: "offset", label: `Offset ${unitLabel()}`, type: "number", whenBlank: 0, show: (v) => String(Math.round(deltaToDisplay(v) * 1000) / 1000), read: deltaFromDisplay },
      { key: "unit", label: "Unit" },
    ];
    this.sensors = rowTable({
      caption: "Sensors", noun: "sensor", columns: sensorCols, rows: device.sensors ?? [],
      blank: () => ({ id: "", name: "", offset: 0, unit: "°C" }),
      extraLabel: "Live reading",
      extra: (s) => {
        const span = h("span", { class: "reading" });
        showReading(span, ctx.live.sensors.get(`${device.id}/${s.id}`), s.unit);
        return span;
      },
    });
    this.actuators = rowTable({
      caption: "Actuators", noun: "actuator", rows: device.actuators ?? [],
      columns: [{ key: "id", label: "Id" }, { key: "name", label: "Name" },
        { key: "role", label: "Role", type: "select", options: ["heater", "cooler", "pump", "other"] },
        // What it switches: loops driving it take the type's timings (docs/control.md, "Output types").
        { key: "type", label: "Type", type: "select", blankIsNull: true,
          options: [{ value: "", label: "—" }, "ssr", "relay", "compressor", "glycol_valve", "pump"] },
        { key: "channel", label: "Channel", type: "number" }, { key: "inverted", label: "Inverted", type: "checkbox" },
        ...(mqtt ? [{ key: "command_topic", label: "Command topic", blankIsNull: true, placeholder: (row) => defaultTopic(device, "actuator", row) }] : [])],
      blank: () => ({ id: "", name: "", role: "heater", type: null, channel: null, inverted: false }),
    });
    this.inputs = rowTable({
      caption: "Digital inputs", noun: "input", rows: device.inputs ?? [],
      columns: [{ key: "id", label: "Id" }, { key: "name", label: "Name" }, { key: "channel", label: "Channel", type: "number" },
        { key: "active_high", label: "Active high", type: "checkbox" }, { key: "alarm_text", label: "Alarm text" },
        { key: "severity", label: "Severity", type: "select", options: ["low", "medium", "high", "critical"] }],
      blank: () => ({ id: "", name: "", channel: null, active_high: true, alarm_text: "", severity: "high" }),
    });
    const save = async () => {
      const body = { ...device, name: this.name.value.trim(), enabled: this.enabled.input.checked,
        sensors: this.sensors.read(), actuators: this.actuators.read(), inputs: this.inputs.read() };
      const r = await attempt(`Saving ${device.id}`, () => ctx.api.devices.update(device.id, body));
      if (r.ok) { this.dirty = false; showInfo(`Device ${device.id} saved`, `Saving ${device.id}`); done(); }
    };
    const remove = async () => {
      if (!confirm(`Delete the device ${device.name || device.id}?`)) return;
      const r = await attempt(`Deleting ${device.id}`, () => ctx.api.devices.remove(device.id));
      if (r.ok) { showInfo(`Device ${device.id} deleted`); done(); }
    };
    const warnings = staleWarnings(device, loops);
    this.dirty = false;
    const mark = () => { this.dirty = true; };
    fill(el, section(`Edit ${device.name || device.id}`,
      warnings.map((w) => h("p", { class: "notice stale-warning" }, w)),
      h("form", { oninput: mark, onchange: mark, onsubmit: (e) => { e.preventDefault(); save(); } },
        h("div", { class: "form-grid" }, field("Name", this.name), this.enabled),
        this.sensors.el, this.actuators.el, this.inputs.el,
        h("div", { class: "button-row" }, h("button", { type: "submit", class: "primary" }, "Save device"),
          button("Cancel", () => { this.dirty = false; done(); }), button("Delete device", remove, { class: "danger" })))));
    el.scrollIntoView?.({ block: "start" });
  }
}
