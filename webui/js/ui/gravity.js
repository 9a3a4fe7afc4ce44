// The brewer's gravity unit: specific gravity (1.048) or degrees Plato (11.9 °P). A
// hydrometer reports in either, as it is set up (an iSpindel's series has its unit);
// what a person reads is converted here and nowhere else. Kept in this browser, beside
// the temperature unit (Settings → This browser).

const KEY = "maelstrom.gravity";
export const GRAVITY_UNITS = [
  { value: "SG", label: "SG (specific gravity, 1.048)" },
  { value: "P", label: "°P (degrees Plato, 11.9)" },
];

/** "SG" or "P". */
export function gravityUnit() {
  return localStorage.getItem(KEY) === "P" ? "P" : "SG";
}

export function setGravityUnit(value) {
  if (value === "P") localStorage.setItem(KEY, "P");
  else localStorage.removeItem(KEY);
}

/** "SG" or "°P", for labels. */
export function gravityLabel() {
  return gravityUnit() === "P" ? "°P" : "SG";
}

export function gravityDigits() {
  return gravityUnit() === "P" ? 1 : 3;
}

/** A recorded unit ("SG", "°P", "P", "plato"; empty for SG) is Plato? */
function isPlato(recorded) {
  return /^(°\s?)?p(lato)?$/i.test(String(recorded ?? "").trim());
}

// The ASBC polynomial and its usual inverse: within 0.1 °P of the tables for beer.
const toPlato = (sg) => -616.868 + 1111.14 * sg - 630.272 * sg ** 2 + 135.997 * sg ** 3;
const toSg = (p) => 1 + p / (258.6 - (p / 258.2) * 227.1);

/** A gravity in the unit it was recorded in → the brewer's unit (null stays null). */
export function toGravityDisplay(value, recordedUnit = "SG") {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return value ?? null;
  const v = Number(value);
  const plato = isPlato(recordedUnit);
  if (gravityUnit() === "P") return plato ? v : toPlato(v);
  return plato ? toSg(v) : v;
}

/** "1.042 SG", "10.5 °P". */
export function gravityText(value) {
  if (value === null || value === undefined) return "—";
  return `${Number(value).toFixed(gravityDigits())} ${gravityLabel()}`;
}
