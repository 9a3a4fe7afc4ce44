// The brewer's temperature unit. The API, MQTT and Home Assistant always speak °C (the
// contract); only what a person reads and types is converted, here and nowhere else.
//
// The choice is kept in this browser (per person until users exist): Settings → Units.

const KEY = "maelstrom.unit";
export const UNITS = [
  { value: "C", label: "°C (Celsius)" },
  { value: "F", label: "°F (Fahrenheit)" },
];

/** "C" or "F". */
export function unit() {
  return localStorage.getItem(KEY) === "F" ? "F" : "C";
}

export function setUnit(value) {
  if (value === "F") localStorage.setItem(KEY, "F");
  else localStorage.removeItem(KEY);
}

/** "°C" or "°F", for labels. */
export function unitLabel() {
  return unit() === "F" ? "°F" : "°C";
}

const isNum = (v) => v !== null && v !== undefined && Number.isFinite(Number(v));

/** A temperature in °C → the brewer's unit (null stays null). */
export function toDisplay(celsius) {
  if (!isNum(celsius)) return celsius ?? null;
  return unit() === "F" ? Number(celsius) * 1.8 + 32 : Number(celsius);
}

/** A temperature in the brewer's unit → °C, to 0.01 °C (a probe resolves 0.0625 °C). */
export function fromDisplay(value) {
  if (!isNum(value)) return value ?? null;
  const c = unit() === "F" ? (Number(value) - 32) / 1.8 : Number(value);
  return Math.round(c * 100) / 100;
}

/** A temperature difference (a deviation, a calibration offset): no 32 °F shift. */
export function deltaToDisplay(celsius) {
  if (!isNum(celsius)) return celsius ?? null;
  return unit() === "F" ? Number(celsius) * 1.8 : Number(celsius);
}

export function deltaFromDisplay(value) {
  if (!isNum(value)) return value ?? null;
  const c = unit() === "F" ? Number(value) / 1.8 : Number(value);
  return Math.round(c * 1000) / 1000;
}

/** A value for an input field: converted and without float noise (66.67 °C → "152";
 * 0.1 °F is finer than a probe resolves, so °F fields show one decimal). */
export function inputValue(celsius, { delta = false, digits = unit() === "F" ? 1 : 2 } = {}) {
  const v = delta ? deltaToDisplay(celsius) : toDisplay(celsius);
  if (!isNum(v)) return "";
  return String(Math.round(Number(v) * 10 ** digits) / 10 ** digits);
}

/**
 * A number as a person typed it: "18.5", "18,5" (a decimal comma), " 66 ". → number,
 * null when empty, NaN when it is not a number (so validation can say so).
 */
export function parseNumber(text) {
  const t = String(text ?? "").trim().replace(/\s/g, "");
  if (t === "") return null;
  // One comma and no point is a decimal comma; "1,234.5" keeps its thousands comma out.
  const normal = /^[+-]?\d*,\d+$/.test(t) ? t.replace(",", ".") : t.replace(/,/g, "");
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(normal) ? Number(normal) : NaN;
}
