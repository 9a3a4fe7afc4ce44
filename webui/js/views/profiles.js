// Profiles: a table editor with a live preview of the interpolated curve, BrewPi CSV in
// and out, duplicate, and apply to a loop (now, or part-way at a chosen point). Programs
// (step profiles) open in the step editor (steps.js); recipes import as programs.
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, numberInput, numberValue, setOptions, button, section, download, deriveId, slug } from "../ui/forms.js";
import { asList, profileFits } from "../ui/data.js";
import { temperature, duration } from "../ui/format.js";
import { fromDisplay, inputValue, unitLabel } from "../ui/units.js";
import { attempt, describeError, showError, showInfo } from "../ui/toast.js";
import { Chart, COLOURS } from "../ui/chart.js";
import { exportProfileCsv, importProfileCsv, importRecipe, loopCommand } from "../calls.js";
import { StepEditor, starterProgram } from "./steps.js";

const UNITS = { minutes: 60, hours: 3600, days: 86400 };

/** A blank profile a brewer can start from: a 10-day ale. */
function starter() {
  return {
    id: "",
    name: "",
    interpolation: "linear",
    points: [
      { offset: 0, temperature: 18 },
      { offset: 3 * 86400, temperature: 18 },
      { offset: 4 * 86400, temperature: 21 },
      { offset: 7 * 86400, temperature: 21 },
      { offset: 7.5 * 86400, temperature: 2 },
    ],
    version: 0,
  };
}

export function mount(root, ctx, [selected]) {
  const { api, socket, topics } = ctx;
  let profiles = [];
  let loops = [];
  const listEl = h("ul", { class: "item-list", "aria-label": "Profiles" });
  const editorEl = h("div", { class: "editor" });
  const fileInput = h("input", { type: "file", accept: ".csv,text/csv", id: "profile-csv-file" });
  const importId = textInput("", { placeholder: "e.g. lager", pattern: "[a-z0-9][a-z0-9_\\-]{0,62}" });

  const importForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); importCsv(); } },
    field("BrewPi CSV file", fileInput), field("Save as id", importId), h("button", { type: "submit" }, "Import"));
  fileInput.addEventListener("change", () => {
    const f = fileInput.files?.[0];
    if (f && !importId.value) importId.value = slug(f.name.replace(/\.csv$/i, ""));
  });

  const recipeInput = h("input", { type: "file", accept: ".json,.xml,application/json,text/xml", id: "recipe-file" });
  const recipeForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); importRecipeFile(); } },
    field("BeerJSON or BeerXML recipe", recipeInput), h("button", { type: "submit" }, "Import recipe"));

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Profiles"),
      h("div", { class: "button-row" },
        button("New program", () => ctx.navigate("#/profiles/new-program"), { class: "primary" }),
        button("New point profile", () => ctx.navigate("#/profiles/new")))),
    h("div", { class: "split" },
      h("aside", { class: "side" }, listEl, section("Import a recipe", recipeForm), section("Import BrewPi CSV", importForm)),
      editorEl));

  async function importRecipeFile() {
    const f = recipeInput.files?.[0];
    if (!f) return showError("Choose a BeerJSON or BeerXML file first.");
    const r = await attempt(`Importing ${f.name}`, async () => importRecipe(api, f.name, await f.text()));
    if (!r.ok) return;
    const made = r.value?.profiles ?? [];
    showInfo(`Imported ${r.value?.recipe ?? f.name}: ${made.map((p) => p.name || p.id).join(", ")}`);
    recipeForm.reset();
    await reload();
    if (made[0]) ctx.navigate(`#/profiles/${encodeURIComponent(made[0].id)}`);
  }

  const renderList = () => {
    fill(listEl, profiles.length
      ? profiles.map((p) => h("li", {}, h("a", { href: `#/profiles/${encodeURIComponent(p.id)}`,
          "aria-current": p.id === selected ? "true" : undefined }, p.name || p.id,
          h("small", {}, p.steps ? ` ${p.steps.length} steps${p.kind ? `, ${p.kind}` : ""}` : ` ${p.points.length} points`))))
      : h("li", { class: "empty" }, "No profiles yet."));
  };

  async function reload() {
    const r = await attempt("Loading profiles", () => Promise.all([api.profiles.list(), api.loops.list()]));
    if (!r.ok) return;
    profiles = asList(r.value[0], "profiles");
    loops = asList(r.value[1], "loops");
    renderList();
  }

  async function importCsv() {
    const f = fileInput.files?.[0];
    const id = importId.value.trim();
    if (!f) return showError("Choose a CSV file first.");
    if (!id) return showError("Give the imported profile an id.");
    const text = await f.text();
    const existing = profiles.find((p) => p.id === id);
    const r = await attempt(`Importing ${f.name}`, () =>
      importProfileCsv(api, id, text, { name: f.name.replace(/\.csv$/i, ""), version: existing?.version }));
    if (!r.ok) return;
    showInfo(`Imported ${f.name} as ${id}`);
    importForm.reset();
    await reload();
    ctx.navigate(`#/profiles/${encodeURIComponent(id)}`);
  }

  let editor = null;
  (async () => {
    await reload();
    let profile = null;
    if (selected === "new-program") profile = starterProgram();
    else if (selected === "new" || !selected) profile = selected === "new" ? starter() : null;
    else if (selected.startsWith("copy-of-")) {
      const source = profiles.find((p) => p.id === selected.slice(8));
      if (source) profile = { ...structuredClone(source), id: `${source.id}-copy`, name: `Copy of ${source.name || source.id}`, version: 0 };
    } else {
      profile = profiles.find((p) => p.id === selected) ?? null;
      if (!profile) showError(`There is no profile "${selected}".`);
    }
    if (profile?.steps) editor = new StepEditor(editorEl, ctx, profile, { loops, reload, isNew: !profile.version });
    else if (profile) editor = new ProfileEditor(editorEl, ctx, profile, { loops, reload, isNew: !profile.version });
    else fill(editorEl, h("p", { class: "empty" }, "Choose a profile, or create a new one."));
  })();

  // One reload for a burst of config messages (every retained profile arrives on subscribe).
  let pending = null;
  const reloadSoon = () => { clearTimeout(pending); pending = setTimeout(reload, 250); };
  const stop = socket.subscribe(topics.config("profiles"), reloadSoon);
  ctx.guard(() => Boolean(editor?.dirty));
  return () => {
    stop();
    clearTimeout(pending);
    editor?.destroy();
  };
}

class ProfileEditor {
  constructor(el, ctx, profile, { loops, reload, isNew }) {
    this.el = el;
    this.ctx = ctx;
    this.profile = profile;
    this.isNew = isNew;
    this.reload = reload;
    this.absolute = profile.points.some((p) => p.at);
    const span = this.absolute ? 0 : (profile.points.at(-1)?.offset ?? 0);
    this.unit = span >= 2 * 86400 ? "days" : span >= 2 * 3600 ? "hours" : "minutes";

    this.idInput = textInput(profile.id, { required: true, readOnly: !isNew, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "e.g. ale-10-days" });
    this.nameInput = textInput(profile.name, { placeholder: "e.g. Ale, 10 days" });
    if (isNew) deriveId(this.idInput, this.nameInput);
    this.interp = select([{ value: "linear", label: "Linear ramps (BrewPi)" }, { value: "step", label: "Steps (hold each)" }], profile.interpolation,
      { onchange: () => this.preview() });
    this.timesSelect = select([{ value: "relative", label: "From the start" }, { value: "absolute", label: "Calendar dates" }],
      this.absolute ? "absolute" : "relative", { onchange: () => this.switchTimes() });
    this.unitSelect = select(Object.keys(UNITS), this.unit, { onchange: () => this.switchUnit() });
    this.unitField = field("Time unit", this.unitSelect);
    this.unitField.hidden = this.absolute;
    this.rows = h("tbody");
    this.timeHead = h("th", { scope: "col" });
    this.table = h("table", { class: "points" },
      h("caption", {}, "Points: the temperature to reach at each time. Leave the temperature empty to turn control off for that segment."),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), this.timeHead, h("th", { scope: "col" }, `Temperature ${unitLabel()}`), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")))),
      this.rows);
    this.summary = h("p", { class: "curve-summary", "aria-live": "polite" });
    this.chartHost = h("div", { class: "chart-host" });

    // Only the loops this profile suits (a mash schedule is not offered to a fermenter).
    const fitting = loops.filter((l) => profileFits(profile, l));
    this.loopSelect = select(fitting.length ? fitting.map((l) => ({ value: l.id, label: l.name || l.id })) : [{ value: "", label: "No loop suits this profile" }], fitting[0]?.id ?? "");
    this.startAt = numberInput(0, { min: 0, step: "any" });
    this.startPoint = select([], "", { onchange: () => { if (this.startPoint.value !== "") this.startAt.value = this.startPoint.value; } });
    this.startAtLabel = h("span");

    this.dirty = false;
    const mark = () => { this.dirty = true; };
    const form = h("form", { class: "profile-form", oninput: mark, onchange: mark, onsubmit: (e) => { e.preventDefault(); this.save(); } },
      h("div", { class: "form-grid" },
        field("Name", this.nameInput),
        field("Id", this.idInput, isNew ? "Made from the name; change it if you like (lowercase letters, digits, - or _)." : "The id cannot change; duplicate to rename."), field("Interpolation", this.interp), field("Times", this.timesSelect), this.unitField),
      h("div", { class: "table-wrap" }, this.table),
      h("div", { class: "button-row" },
        button("Add point", () => this.addRow()),
        h("button", { type: "submit", class: "primary" }, isNew ? "Create profile" : "Save profile"),
        isNew ? null : button("Duplicate", () => ctx.navigate(`#/profiles/copy-of-${encodeURIComponent(profile.id)}`)),
        isNew ? null : button("Export BrewPi CSV", () => this.exportCsv()),
        isNew ? null : button("Delete", () => this.remove(), { class: "danger" })));

    const apply = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); this.apply(); } },
      field("Loop", this.loopSelect), field("Start from point", this.startPoint),
      field(h("span", {}, "Start at ", this.startAtLabel), this.startAt, "0 starts at the beginning; later starts part-way."),
      h("button", { type: "submit" }, "Start on loop"));

    fill(el,
      h("h2", {}, isNew ? "New profile" : `Profile ${profile.name || profile.id}`),
      form,
      section("Curve", this.summary, this.chartHost),
      isNew ? null : section("Apply to a loop", apply));
    for (const p of profile.points) this.addRow(p, false);
    this.renderHeads();
    this.chart = this.makeChart();
    this.preview();
  }

  makeChart() {
    this.chart?.destroy();
    this.chart = null;
    return new Chart(this.chartHost, [{ label: "Setpoint", colour: COLOURS.profile }], {
      height: 220, time: this.absolute, xLabel: this.absolute ? "" : this.unit, label: "Preview of the profile's temperature curve",
    });
  }

  renderHeads() {
    this.timeHead.textContent = this.absolute ? "Date and time" : `Time (${this.unit})`;
    this.startAtLabel.textContent = this.absolute ? "(not for calendar profiles)" : `(${this.unit} into the profile)`;
    this.startAt.disabled = this.absolute;
    [...this.rows.rows].forEach((row, i) => {
      row.cells[0].textContent = String(i + 1);
      row.time.setAttribute("aria-label", `Point ${i + 1} ${this.absolute ? "date and time" : `time in ${this.unit}`}`);
      row.temp.setAttribute("aria-label", `Point ${i + 1} temperature ${unitLabel()}`);
      row.removeBtn.setAttribute("aria-label", `Remove point ${i + 1}`);
    });
  }

  timeInput(point) {
    if (this.absolute) {
      const at = point?.at ? toLocalInput(new Date(point.at)) : "";
      return h("input", { type: "datetime-local", value: at, required: true, oninput: () => this.preview() });
    }
    const value = point?.offset !== undefined && point?.offset !== null ? round(point.offset / UNITS[this.unit]) : "";
    return numberInput(value, { min: 0, required: true, oninput: () => this.preview() });
  }

  addRow(point, focus = true) {
    if (!point) {
      const last = this.readPoints().at(-1);
      point = this.absolute
        ? { at: new Date((last?.at ? Date.parse(last.at) : Date.now()) + 86400e3).toISOString(), temperature: last?.temperature ?? 20 }
        : { offset: (last?.offset ?? -UNITS[this.unit]) + UNITS[this.unit], temperature: last?.temperature ?? 20 };
    }
    const time = this.timeInput(point);
    const temp = numberInput(inputValue(point.temperature), { oninput: () => this.preview() });
    const row = h("tr", {}, h("td", {}), h("td", {}, time), h("td", {}, temp));
    const removeBtn = button("✕", () => { row.remove(); this.renderHeads(); this.preview(); }, { class: "icon" });
    row.append(h("td", {}, removeBtn));
    Object.assign(row, { time, temp, removeBtn });
    this.rows.append(row);
    this.renderHeads();
    this.preview();
    if (focus) time.focus();
  }

  /** The points as the API wants them (offsets in seconds, or ISO dates). */
  readPoints() {
    return [...this.rows.rows].map((row) => {
      const t = numberValue(row.temp);
      const temperature = t === null ? null : fromDisplay(t);
      if (this.absolute) {
        const d = row.time.value ? new Date(row.time.value) : null;
        return { at: d && !Number.isNaN(d.getTime()) ? d.toISOString() : null, temperature };
      }
      const v = numberValue(row.time);
      return { offset: v === null ? null : round(v * UNITS[this.unit]), temperature };
    });
  }

  switchUnit() {
    const points = this.readPoints();
    this.unit = this.unitSelect.value;
    this.rebuildRows(points);
  }

  switchTimes() {
    const points = this.readPoints();
    const toAbsolute = this.timesSelect.value === "absolute";
    const base = Date.now();
    const first = points.find((p) => p.at)?.at;
    const converted = points.map((p) => toAbsolute
      ? { at: new Date(base + (p.offset ?? 0) * 1000).toISOString(), temperature: p.temperature }
      : { offset: p.at && first ? (Date.parse(p.at) - Date.parse(first)) / 1000 : 0, temperature: p.temperature });
    this.absolute = toAbsolute;
    this.unitField.hidden = toAbsolute;
    this.rebuildRows(converted);
  }

  rebuildRows(points) {
    this.rows.replaceChildren();
    for (const p of points) this.addRow(p, false);
    this.renderHeads();
    this.chart = this.makeChart();
    this.preview();
  }

  /** Redraw the curve as the controller will follow it. */
  preview() {
    if (!this.chart) return;
    const points = this.readPoints().filter((p) => (this.absolute ? p.at : p.offset !== null));
    const xs = points.map((p) => (this.absolute ? Date.parse(p.at) / 1000 : p.offset / UNITS[this.unit]));
    const ys = points.map((p) => p.temperature);
    const shown = ys.map((y) => (y === null ? null : inputValue(y) === "" ? null : Number(inputValue(y))));
    const step = this.interp.value === "step";
    const cx = [];
    const cy = [];
    xs.forEach((x, i) => {
      if (step && i > 0) { cx.push(x); cy.push(shown[i - 1]); } // hold until the next point
      cx.push(x);
      cy.push(shown[i]);
    });
    const ascending = xs.every((x, i) => i === 0 || x > xs[i - 1]);
    const order = ascending ? null : "Times must go up from one point to the next.";
    // uPlot wants ascending x: nudge equal x of step corners apart by nothing visible.
    for (let i = 1; i < cx.length; i += 1) if (cx[i] <= cx[i - 1]) cx[i] = cx[i - 1] + 1e-9;
    this.chart.setData([cx, cy]);
    const temps = ys.filter((t) => t !== null);
    const spanS = this.absolute ? (xs.at(-1) - xs[0]) || 0 : (points.at(-1)?.offset ?? 0);
    this.summary.textContent = order ?? (points.length
      ? `${points.length} point${points.length > 1 ? "s" : ""} over ${duration(spanS)}: from ${temperature(temps[0])} ` +
        `to ${temperature(temps.at(-1))}, between ${temperature(Math.min(...temps))} and ${temperature(Math.max(...temps))}.`
      : "Add a point to see the curve.");
    this.summary.classList.toggle("invalid", Boolean(order));
    setOptions(this.startPoint, [{ value: "", label: "—" }, ...points.map((p, i) => ({
      value: this.absolute ? "" : round(p.offset / UNITS[this.unit]),
      label: `${i + 1}: ${temperature(p.temperature)}${this.absolute ? "" : ` at ${round(p.offset / UNITS[this.unit])} ${this.unit}`}`,
    }))], "");
  }

  value() {
    return {
      id: this.idInput.value.trim(),
      name: this.nameInput.value.trim(),
      interpolation: this.interp.value,
      points: this.readPoints(),
      version: this.profile.version ?? 0,
    };
  }

  async save() {
    const body = this.value();
    const { api } = this.ctx;
    const action = this.isNew ? "Creating the profile" : "Saving the profile";
    const r = await attempt(action, () =>
      this.isNew ? api.profiles.create(body) : api.profiles.update(body.id, body), { fieldFor: (path) => this.control(path) });
    if (!r.ok) {
      // A rule about the whole list names its row in the message: "points[3].offset …".
      const row = /points\[(\d+)\]/.exec(describeError(r.error));
      if (row) this.control(`points[${row[1]}].offset`)?.setAttribute("aria-invalid", "true");
      return;
    }
    this.dirty = false;
    showInfo(`Profile ${body.name || body.id} saved`, action);
    this.profile = r.value ?? body;
    await this.reload();
    if (this.isNew) this.ctx.navigate(`#/profiles/${encodeURIComponent(body.id)}`);
  }

  /** The control for an API field path: "points[3].temperature" → row 4's temperature. */
  control(path) {
    const m = /^points\[(\d+)\](?:\.(\w+))?/.exec(path);
    if (m) {
      const row = this.rows.rows[Number(m[1])];
      return row && (m[2] === "temperature" ? row.temp : row.time);
    }
    return { id: this.idInput, name: this.nameInput }[path] ?? null;
  }

  async remove() {
    if (!confirm(`Delete the profile ${this.profile.name || this.profile.id}?`)) return;
    const r = await attempt("Deleting the profile", () => this.ctx.api.profiles.remove(this.profile.id));
    if (!r.ok) return;
    showInfo(`Profile ${this.profile.id} deleted`);
    this.ctx.navigate("#/profiles");
  }

  async exportCsv() {
    const r = await attempt("Exporting CSV", () => exportProfileCsv(this.ctx.api, this.profile.id));
    if (r.ok) download(`${this.profile.id}.csv`, r.value, "text/csv");
  }

  async apply() {
    const loop = this.loopSelect.value;
    if (!loop) return showError("Create a loop first, on the Loops tab.");
    const at = this.absolute ? 0 : numberValue(this.startAt) ?? 0;
    const offset = round(at * UNITS[this.unit]);
    const r = await attempt(`Starting ${this.profile.id} on ${loop}`, () =>
      loopCommand(this.ctx.api, loop, "profile", { action: "start", profile: this.profile.id, offset }));
    if (r.ok) showInfo(`Profile ${this.profile.name || this.profile.id} started on ${loop}${offset ? ` at ${duration(offset)}` : ""}`);
  }

  destroy() {
    this.chart?.destroy();
  }
}

function round(x) {
  return Math.round(x * 1e6) / 1e6;
}

function toLocalInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
