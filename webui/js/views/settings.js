// Settings: the app's key → JSON settings, and a backup of the whole configuration.
import { h, fill } from "../ui/dom.js";
import { field, textInput, button, section, download, select } from "../ui/forms.js";
import { UNITS, setUnit, unit } from "../ui/units.js";
import { GRAVITY_UNITS, gravityUnit, setGravityUnit } from "../ui/gravity.js";
import { myName, setMyName } from "../ui/me.js";
import { asList } from "../ui/data.js";
import { attempt, showError, showInfo } from "../ui/toast.js";
import { getBackup, restoreBackup } from "../calls.js";

/** Text typed by a brewer as a JSON value: `14`, `true`, `"x"`; bare words become strings. */
function parseValue(text) {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {
    return t;
  }
}

export function mount(root, ctx) {
  const { api } = ctx;
  const rows = h("tbody");
  const newKey = textInput("", { required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "e.g. history_raw_days" });
  const newValue = textInput("", { required: true, placeholder: "e.g. 14" });
  const restoreFile = h("input", { type: "file", accept: ".json,application/json" });
  const tokenInput = h("input", { type: "password", autocomplete: "off", value: localStorage.getItem("maelstrom.token") ?? "" });
  const saveToken = (e) => {
    e.preventDefault();
    const value = tokenInput.value.trim();
    if (value) localStorage.setItem("maelstrom.token", value);
    else localStorage.removeItem("maelstrom.token");
    location.reload(); // the socket and the API client take the token when they start
  };

  const unitSelect = select(UNITS, unit());
  const gravitySelect = select(GRAVITY_UNITS, gravityUnit());
  const nameInput = textInput(myName(), { maxLength: 100, placeholder: "e.g. Anna" });
  const savePersonal = (e) => {
    e.preventDefault();
    setMyName(nameInput.value);
    const changed = unitSelect.value !== unit() || gravitySelect.value !== gravityUnit();
    setUnit(unitSelect.value);
    setGravityUnit(gravitySelect.value);
    if (changed) location.reload(); // every view, chart and field shows the new unit
    else showInfo("Saved in this browser");
  };

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Settings")),
    section("This browser",
      h("p", { class: "hint" }, "Temperatures on every screen, field, chart and CSV export are in this unit. " +
        "The API, MQTT and Home Assistant always use °C (Home Assistant converts to its own unit). " +
        "Gravity on the charts is in the gravity unit, whichever a hydrometer reports."),
      h("form", { class: "inline-form", onsubmit: savePersonal },
        field("Temperature unit", unitSelect),
        field("Gravity unit", gravitySelect),
        field("Your name", nameInput, "Recorded when you acknowledge an alarm."),
        h("button", { type: "submit" }, "Save"))),
    section("App settings",
      h("p", { class: "hint" }, "Each value is JSON: a number (14), true/false, or text."),
      h("div", { class: "table-wrap" }, h("table", { class: "settings" },
        h("caption", { class: "sr-only" }, "App settings"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Setting"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
        rows)),
      h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); add(); } },
        field("New setting", newKey), field("Value", newValue), h("button", { type: "submit" }, "Add setting"))),
    section("Access token",
      h("p", { class: "hint" }, "Only when the server sets MAELSTROM_API_TOKEN. Kept in this browser; opening the UI once as http://…:8888/?token=… does the same."),
      h("form", { class: "inline-form", onsubmit: saveToken }, field("Token", tokenInput), h("button", { type: "submit" }, "Save token"))),
    section("Backup",
      h("p", { class: "hint" }, "The whole configuration — devices, profiles, loops and settings — as one JSON file."),
      h("div", { class: "button-row" }, button("Download backup", () => backup())),
      h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); restore(); } },
        field("Restore from a backup file", restoreFile), h("button", { type: "submit", class: "danger" }, "Restore"))));

  const row = (s) => {
    const input = textInput(JSON.stringify(s.value), { "aria-label": `Value of ${s.key}` });
    const save = async () => {
      const r = await attempt(`Saving ${s.key}`, () => api.settings.update(s.key, { key: s.key, value: parseValue(input.value), version: s.version }));
      if (r.ok) { showInfo(`${s.key} saved`); load(); }
    };
    const remove = async () => {
      if (!confirm(`Delete the setting ${s.key}?`)) return;
      const r = await attempt(`Deleting ${s.key}`, () => api.settings.remove(s.key));
      if (r.ok) { showInfo(`${s.key} deleted`); load(); }
    };
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
    return h("tr", { "data-setting": s.key }, h("th", { scope: "row" }, s.key), h("td", {}, input),
      h("td", { class: "actions" }, button("Save", save, { "aria-label": `Save ${s.key}` }), button("Delete", remove, { "aria-label": `Delete ${s.key}`, class: "danger" })));
  };

  async function load() {
    const r = await attempt("Loading settings", () => api.settings.list());
    if (!r.ok) return;
    const list = asList(r.value, "settings");
    fill(rows, list.length ? list.map(row) : h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No settings yet; the defaults apply.")));
  }

  async function add() {
    const key = newKey.value.trim();
    const r = await attempt(`Adding ${key}`, () => api.settings.create({ key, value: parseValue(newValue.value) }));
    if (r.ok) { showInfo(`${key} added`); newKey.value = ""; newValue.value = ""; load(); }
  }

  async function backup() {
    const r = await attempt("Downloading the backup", () => getBackup(api));
    if (r.ok) download(`maelstrom-backup-${new Date().toISOString().slice(0, 10)}.json`, JSON.stringify(r.value, null, 2), "application/json");
  }

  async function restore() {
    const f = restoreFile.files?.[0];
    if (!f) return showError("Choose a backup file first.");
    let doc;
    try {
      doc = JSON.parse(await f.text());
    } catch (err) {
      return showError(`${f.name} is not JSON: ${err.message}`);
    }
    if (!confirm("Replace the configuration with this backup?")) return;
    const r = await attempt("Restoring the backup", () => restoreBackup(api, doc));
    if (r.ok) { showInfo("Configuration restored"); load(); }
  }

  load();
  return () => {};
}
