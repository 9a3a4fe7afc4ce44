// How numbers, times and durations read on screen.
import { deltaToDisplay, toDisplay, unitLabel } from "./units.js";

/** A temperature in °C, shown in the brewer's unit: 18.5 → "18.5 °C" or "65.3 °F". */
export function temperature(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value)
    ? "—"
    : `${toDisplay(value).toFixed(digits)} ${unitLabel()}`;
}

/** A temperature difference in °C (a deviation, an offset), in the brewer's unit. */
export function temperatureDelta(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value)
    ? "—"
    : `${deltaToDisplay(value).toFixed(digits)} ${unitLabel()}`;
}

export function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value)} %`;
}

/** 93784 → "1 d 2 h", 3720 → "1 h 2 min", 42 → "42 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  if (d) return hr ? `${d} d ${hr} h` : `${d} d`;
  if (hr) return min ? `${hr} h ${min} min` : `${hr} h`;
  if (min) return `${min} min`;
  return `${s} s`;
}

/** Unix seconds → local date and time, short. */
export function dateTime(ts) {
  if (!ts) return "—";
  return new Date(ts * 1000).toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function clockTime(ts) {
  if (!ts) return "—";
  return new Date(ts * 1000).toLocaleTimeString(undefined, { hour12: false });
}

/** A payload as text for display: JSON values pretty, strings as they are. */
export function payloadText(payload, pretty = false) {
  if (typeof payload === "string") return payload;
  return JSON.stringify(payload, null, pretty ? 2 : 0);
}
