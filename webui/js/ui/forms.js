// Labelled form controls: every control gets a <label> tied to it.
import { h, uid } from "./dom.js";
import { parseNumber } from "./units.js";

/** A label, the control, and an optional hint, stacked. */
export function field(label, control, hint = "") {
  if (!control.id) control.id = uid("field");
  const hintEl = hint ? h("small", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** A checkbox with its label beside it. */
export function checkbox(label, checked, attrs = {}) {
  const box = h("input", { type: "checkbox", checked, id: uid("check"), ...attrs });
  const wrap = h("div", { class: "field field-check" }, box, h("label", { for: box.id }, label));
  wrap.input = box;
  return wrap;
}

export function textInput(value = "", attrs = {}) {
  return h("input", { type: "text", value: value ?? "", autocomplete: "off", ...attrs });
}

/** A number field that takes a decimal comma ("18,5") as well as a point: a text input
 * with a decimal keyboard, since type=number drops "18,5" in a browser set to English. */
export function numberInput(value, attrs = {}) {
  const { min, max, step, ...rest } = attrs; // a text input has no range; validation checks it
  return h("input", {
    type: "text",
    inputMode: "decimal",
    autocomplete: "off",
    pattern: NUMBER_PATTERN,
    value: value === null || value === undefined ? "" : String(value),
    "data-min": min,
    "data-max": max,
    ...rest,
  });
}

export const NUMBER_PATTERN = "\\s*[+\\-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)\\s*";

/** options: ["a", "b"] or [{value, label}]. */
export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  setOptions(el, options, value);
  return el;
}

export function setOptions(el, options, value) {
  el.replaceChildren(
    ...options.map((o) => {
      const opt = typeof o === "object" ? o : { value: o, label: o };
      return h("option", { value: opt.value, selected: String(opt.value) === String(value) }, opt.label);
    }),
  );
  const values = options.map((o) => String(typeof o === "object" ? o.value : o));
  if (value !== undefined && value !== null && values.includes(String(value))) el.value = String(value);
}

/** A number input's value, or null when empty; NaN stays NaN so validation can say so. */
export function numberValue(input) {
  return parseNumber(input.value);
}

export function button(label, onclick, attrs = {}) {
  return h("button", { type: "button", onclick, ...attrs }, label);
}

/** A titled section of a view. */
export function section(title, ...children) {
  const id = uid("section");
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** Offer text as a file download. */
export function download(filename, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A new object's id follows its name until the brewer types an id of their own. */
export function deriveId(idInput, nameInput) {
  let own = Boolean(idInput.value);
  idInput.addEventListener("input", () => { own = idInput.value !== ""; });
  nameInput.addEventListener("input", () => { if (!own) idInput.value = slug(nameInput.value); });
}

export function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
}
