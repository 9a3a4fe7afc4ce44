// Small helpers for what the REST API and the socket hand back.

/** A list response as an array, whether it came bare or wrapped ({items: […]}). */
export function asList(response, key) {
  if (Array.isArray(response)) return response;
  if (!response || typeof response !== "object") return [];
  for (const k of [key, "items", "results", "data"]) {
    if (k && Array.isArray(response[k])) return response[k];
  }
  return [];
}

export function byId(list) {
  return new Map(list.map((item) => [item.id, item]));
}

/** Loop modes, in the order a brewer thinks of them. */
export const MODES = [
  { value: "off", label: "Off" },
  { value: "constant", label: "Hold setpoint" },
  { value: "profile", label: "Follow profile" },
  { value: "manual", label: "Manual output" },
];

export const STATE_TEXT = {
  heating: "Heating",
  cooling: "Cooling",
  idle: "Idle",
  waiting: "Waiting",
  off: "Off",
  fault: "Fault — outputs off",
};

/** PID defaults per kind of loop: a copy of services/common/schema/config.py PID_DEFAULTS,
 *  kept equal by tests/webui/test_pid_defaults.py. */
export const PID_DEFAULTS = {
  fermenter: { kp: 80, ki: 0.01, kd: 0 },
  kettle: { kp: 80, ki: 0.04, kd: 150 },
  other: { kp: 20, ki: 0.01, kd: 0 },
};

/** Watchdog defaults per kind of loop (seconds, ± °C): a copy of
 *  services/common/schema/watchdogs.py WATCHDOG_DEFAULTS, kept equal by
 *  tests/webui/test_pid_defaults.py. */
export const WATCHDOG_DEFAULTS = {
  fermenter: { band_c: 1, band_s: 1800, silent_reports: 3, silent_min_s: 600, step_wait_s: 172800, step_reach_s: 86400 },
  kettle: { band_c: 1.5, band_s: 600, silent_reports: 3, silent_min_s: 60, step_wait_s: 1800, step_reach_s: 5400 },
  other: { band_c: 2, band_s: 1800, silent_reports: 3, silent_min_s: 300, step_wait_s: 86400, step_reach_s: 86400 },
};

/** Profiles a loop of this kind can follow: a kettle mashes, a fermenter ferments.
 * A profile's own `kind` decides when it has one; else its temperatures do. */
export function profileFits(profile, loop) {
  if (!loop) return true;
  const temps = (profile.points ?? []).map((p) => p.temperature).filter((t) => t !== null && t !== undefined);
  if (temps.some((t) => t < (loop.setpoint_min ?? -Infinity) || t > (loop.setpoint_max ?? Infinity))) return false;
  const kind = profile.kind ?? (temps.length && Math.max(...temps) >= 40 ? "mash" : "fermentation");
  if (loop.kind === "kettle") return kind === "mash";
  if (loop.kind === "fermenter") return kind === "fermentation";
  return true;
}
