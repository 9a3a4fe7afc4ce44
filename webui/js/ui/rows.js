// An editable table of objects (a device's sensors, actuators, inputs): one row per
// object, one labelled control per field, add and remove rows.
import { h } from "./dom.js";
import { button, setOptions } from "./forms.js";
import { parseNumber } from "./units.js";

/**
 * columns: [{key, label, type: "text"|"number"|"checkbox"|"select", options, width, blankIsNull,
 *   placeholder: (row object) → text (e.g. the default topic), show/read: value ↔ shown number}]
 * extra: optional (row object, tr) → node appended as a read-only last cell (e.g. a live reading).
 */
export function rowTable({ caption, noun, columns, rows, blank, extra, extraLabel }) {
  const tbody = h("tbody");
  const table = h("table", { class: "rows" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)),
      extra ? h("th", { scope: "col" }, extraLabel) : null,
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")))),
    tbody);

  const add = (obj) => {
    const tr = h("tr");
    const inputs = {};
    for (const c of columns) {
      let input;
      const value = obj[c.key];
      if (c.type === "checkbox") input = h("input", { type: "checkbox", checked: Boolean(value) });
      else if (c.type === "select") { input = h("select"); setOptions(input, c.options, value ?? c.options[0]); }
      else {
        const shown = c.type === "number" && c.show && value !== null && value !== undefined ? c.show(value) : value;
        input = h("input", { type: "text", inputMode: c.type === "number" ? "decimal" : undefined, value: shown ?? "", autocomplete: "off" });
      }
      if (c.placeholder) input.placeholder = c.placeholder(obj) ?? "";
      inputs[c.key] = input;
      tr.append(h("td", { "data-label": c.label }, input));
    }
    if (extra) tr.append(h("td", { class: "extra", "data-label": extraLabel }, extra(obj, tr)));
    const removeBtn = button("✕", () => { tr.remove(); relabel(); }, { class: "icon" });
    tr.append(h("td", {}, removeBtn));
    Object.assign(tr, { inputs, removeBtn, original: obj });
    tbody.append(tr);
    relabel();
    return tr;
  };

  function relabel() {
    [...tbody.rows].forEach((tr, i) => {
      for (const c of columns) tr.inputs[c.key].setAttribute("aria-label", `${noun} ${i + 1} ${c.label}`);
      tr.removeBtn.setAttribute("aria-label", `Remove ${noun} ${i + 1}`);
    });
  }

  for (const r of rows) add(r);
  const addBtn = button(`Add ${noun}`, () => add(blank()).inputs[columns[0].key].focus());

  return {
    el: h("div", { class: "table-wrap" }, table, addBtn),
    tbody,
    read() {
      return [...tbody.rows].map((tr) => {
        const out = { ...tr.original };
        for (const c of columns) {
          const input = tr.inputs[c.key];
          if (c.type === "checkbox") out[c.key] = input.checked;
          else if (c.type === "number") {
            const n = parseNumber(input.value);
            out[c.key] = n === null ? (c.whenBlank ?? null) : c.read ? c.read(n) : n;
          }
          else if (c.blankIsNull) out[c.key] = input.value.trim() || null;
          else out[c.key] = input.value.trim();
        }
        return out;
      });
    },
  };
}
