// A loop's chart: what was measured (PV, SP, the chamber air beside the beer, outputs, a
// hydrometer's gravity on its own axis), from history and then live, and the running
// profile's plan ahead of now, dashed. Temperatures and gravity are drawn in the brewer's
// units.
import { Chart, COLOURS } from "../ui/chart.js";
import { loadColumns, loopSeries } from "../ui/history.js";
import { toDisplay } from "../ui/units.js";
import { gravityDigits, gravityLabel, gravityText, toGravityDisplay } from "../ui/gravity.js";
import { h } from "../ui/dom.js";

const TEMPS = new Set(["pv", "sp", "chamber", "plan"]);

export class LoopChart {
  /**
   * outputs: {heat, cool} — which the loop has; chamber, gravity: "device/sensor" or
   * null (gravity: the loop's hydrometer); now(): the loop's clock (a simulated one runs
   * ahead of the wall).
   */
  constructor(host, { id, outputs, chamber, gravity = null, now }) {
    this.id = id;
    this.chamber = chamber;
    this.gravity = gravity;
    this.now = now;
    this.keys = ["pv", "sp", ...(chamber ? ["chamber"] : []), "plan",
      ...(outputs.heat ? ["heat"] : []), ...(outputs.cool ? ["cool"] : []), ...(gravity ? ["gravity"] : [])];
    const spec = {
      pv: { label: "PV", colour: COLOURS.pv },
      sp: { label: "SP", colour: COLOURS.sp, dash: [6, 4], step: true },
      chamber: { label: "Chamber", colour: COLOURS.chamber },
      plan: { label: "Plan", colour: COLOURS.profile, dash: [3, 5], spanGaps: true },
      heat: { label: "Heat %", colour: COLOURS.heat, scale: "pct", step: true },
      cool: { label: "Cool %", colour: COLOURS.cool, scale: "pct", step: true },
      // An iSpindel reports every 15 minutes: its points are joined across the loop's.
      gravity: { label: `Gravity ${gravityLabel()}`, colour: COLOURS.gravity, scale: "gravity", spanGaps: true, digits: gravityDigits() },
    };
    const scales = gravity ? [{ scale: "gravity", label: gravityLabel(), digits: gravityDigits(), span: gravityLabel() === "SG" ? 0.004 : 1 }] : [];
    this.chart = new Chart(host, this.keys.map((k) => spec[k]), {
      height: 200, now, scales,
      label: `Chart of ${id}: temperature, setpoint${chamber ? ", chamber air" : ""}, plan and output${gravity ? ", gravity" : ""}`,
    });
    this.host = this.chart.host;
    // The latest gravity in words under the chart: what the right-hand axis is about.
    this.caption = gravity ? h("p", { class: "chart-gravity" }) : null;
    if (this.caption) host.append(this.caption);
    this.measured = [[], ...this.keys.filter((k) => k !== "plan").map(() => [])];
    this.plan = [];
    this.range = 6 * 3600;
  }

  get measuredKeys() {
    return this.keys.filter((k) => k !== "plan");
  }

  series() {
    const names = loopSeries(this.id); // pv, sp, heat, cool
    const byKey = { pv: names[0], sp: names[1], heat: names[2], cool: names[3] };
    if (this.chamber) byKey.chamber = `sensor/${this.chamber}`;
    if (this.gravity) byKey.gravity = `sensor/${this.gravity}`;
    return this.measuredKeys.map((k) => byKey[k]);
  }

  /** Replace the measured data with the history of the last `range` seconds. */
  async load(api, range) {
    this.range = range;
    const now = this.now();
    const columns = await loadColumns(api, this.series(), Math.floor(now - range), Math.ceil(now), 600);
    const [xs] = columns;
    const last = xs.length ? xs[xs.length - 1] : -Infinity;
    const shown = (key, col, unit) => {
      if (TEMPS.has(key)) return col.map((v) => (v == null ? v : toDisplay(v)));
      if (key === "gravity") return col.map((v) => (v == null ? v : toGravityDisplay(v, unit)));
      return col;
    };
    // History's values converted to the brewer's units; then the live points newer than
    // what the history has (in those units already).
    const before = this.measured;
    this.measured = columns.map((col, k) => (k === 0 ? col : shown(this.measuredKeys[k - 1], col, columns.units[k - 1])));
    before[0].forEach((x, i) => {
      if (x > last) this.measured.forEach((col, k) => col.push(before[k][i]));
    });
    this.render();
    this.host.dataset.range = String(range); // history for this range is in
  }

  /** One live point: values in °C / % by key (pv, sp, chamber, heat, cool), and gravity
   * in the brewer's unit (only when a new reading came: undefined is stepped over). */
  append(ts, values) {
    const xs = this.measured[0];
    if (xs.length && ts <= xs[xs.length - 1]) return;
    xs.push(ts);
    this.measuredKeys.forEach((k, i) => {
      const v = k === "gravity" ? values.gravity : values[k] ?? null;
      this.measured[i + 1].push(TEMPS.has(k) && v !== null ? toDisplay(v) : v);
    });
    const cutoff = ts - this.range;
    let drop = 0;
    while (drop < xs.length && xs[drop] < cutoff) drop += 1;
    if (drop) this.measured = this.measured.map((col) => col.slice(drop));
    this.render();
  }

  /** The plan ahead: [[x, °C], …] or null. */
  setPlan(points) {
    this.plan = (points ?? []).map(([x, v]) => [x, v === null ? null : toDisplay(v)]);
    this.render();
  }

  setMarkers(markers) {
    this.chart.setMarkers(markers);
  }

  render() {
    const [xs, ...cols] = this.measured;
    const last = xs.length ? xs[xs.length - 1] : -Infinity;
    const plan = this.plan.filter(([x]) => x > last);
    const data = [[...xs, ...plan.map(([x]) => x)]];
    const planAt = this.keys.indexOf("plan");
    let m = 0;
    this.keys.forEach((k) => {
      if (k === "plan") data.push([...xs.map(() => undefined), ...plan.map(([, v]) => v)]);
      else {
        data.push([...cols[m], ...plan.map(() => undefined)]);
        m += 1;
      }
    });
    // The plan starts where the measured setpoint is now, so it reads as its continuation.
    if (plan.length && xs.length) data[planAt + 1][xs.length - 1] = data[this.keys.indexOf("sp") + 1][xs.length - 1];
    this.chart.firstTs = xs.length ? xs[0] : null;
    // Show the plan's next part: half as far ahead as the measured part reaches back
    // (at least 10 minutes, at most a third of the range), so both stay readable.
    const now = this.now();
    const back = xs.length ? now - Math.max(xs[0], now - this.range) : this.range;
    const ahead = plan.length ? Math.min(this.range / 3, Math.max(back / 2, 600), plan.at(-1)[0] - now) : 0;
    this.chart.keep(this.range, Math.max(0, ahead));
    this.chart.setData(data);
    this.host.dataset.points = String(xs.length);
    this.host.dataset.plan = String(plan.length);
    if (this.gravity) {
      const g = cols[this.measuredKeys.indexOf("gravity")];
      const known = g.filter((v) => v != null);
      this.host.dataset.gravity = String(known.length);
      this.caption.textContent = known.length ? `Gravity ${gravityText(known.at(-1))}` : "Gravity: no reading in this range";
    }
  }

  destroy() {
    this.caption?.remove();
    this.chart.destroy();
  }
}
