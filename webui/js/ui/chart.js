// A thin wrapper around uPlot: responsive width, live appends, a window of time.
import uPlot from "/node_modules/uplot/dist/uPlot.esm.js";
import { h } from "./dom.js";
import { unitLabel } from "./units.js";

const COLOURS = {
  pv: "#1f77b4",
  sp: "#7f7f7f",
  heat: "#d62728",
  cool: "#17a2b8",
  profile: "#2a9d52",
  chamber: "#9467bd",
  gravity: "#a0700a",
};
export { COLOURS };

/** A range at least `span` tall around the data: small steps should not fill the chart. */
function spanRange(min, max, span) {
  if (min === null || max === null) return [0, 1];
  const mid = (min + max) / 2;
  const half = Math.max(((max - min) / 2) * 1.1, span / 2);
  return [mid - half, mid + half];
}

/**
 * series: [{label, colour, scale: "temp" | "pct" | one of `scales`, dash, digits}].
 * options.time: x in Unix seconds (true) or plain numbers (false, xLabel names them).
 * options.scales: more value axes, on the right: [{scale, label, span, digits}] (gravity).
 */
export class Chart {
  constructor(container, series, { height = 220, time = true, xLabel = "", label = "Chart", now, scales = [] } = {}) {
    this.container = container;
    this.time = time;
    this.windowS = null;
    this.aheadS = 0;
    this.firstTs = null; // when the data begins, if it begins inside the window
    this.now = now ?? (() => Date.now() / 1000);
    this.markers = [];
    this.data = [[], ...series.map(() => [])];
    this.host = h("div", { class: "chart", role: "img", "aria-label": label });
    container.append(this.host);
    const hasPct = series.some((s) => s.scale === "pct");
    const axes = [
      { label: xLabel || undefined, stroke: "#555", grid: { stroke: "#eee" } },
      { scale: "temp", label: unitLabel(), stroke: "#555", grid: { stroke: "#eee" }, size: 48 },
    ];
    if (hasPct) axes.push({ scale: "pct", side: 1, label: "%", stroke: "#555", grid: { show: false }, size: 40 });
    for (const extra of scales) {
      axes.push({ scale: extra.scale, side: 1, label: extra.label, stroke: "#555", grid: { show: false }, size: 56,
        values: (u, ticks) => ticks.map((t) => t.toFixed(extra.digits ?? 2)) });
    }
    this.plot = new uPlot(
      {
        width: this.width(),
        height,
        scales: {
          // A live chart shows its whole window, however little data it has yet.
          x: { time, range: (u, min, max) => this.xRange(min, max) },
          // At least 1 °C tall: a probe's 0.0625 °C steps should not fill the chart as a storm.
          temp: { auto: true, range: (u, min, max) => spanRange(min, max, 1) },
          ...(hasPct ? { pct: { auto: false, range: [0, 100] } } : {}),
          ...Object.fromEntries(scales.map((x) => [x.scale, { auto: true, range: (u, min, max) => spanRange(min, max, x.span ?? 1) }])),
        },
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.colour,
            width: 2,
            scale: s.scale ?? "temp",
            dash: s.dash,
            spanGaps: Boolean(s.spanGaps),
            paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
            value: (u, v) => (v === null || v === undefined ? "—" : v.toFixed(s.digits ?? (s.scale === "pct" ? 0 : 2))),
          })),
        ],
        axes,
        legend: { live: true },
        hooks: { draw: [(u) => this.drawMarkers(u)] },
        cursor: { drag: { x: false, y: false } },
      },
      this.data,
      this.host,
    );
    this.resizer = new ResizeObserver(() => this.plot.setSize({ width: this.width(), height }));
    this.resizer.observe(container);
  }

  xRange(min, max) {
    if (this.windowS && this.time) {
      const end = this.now();
      let start = end - this.windowS;
      // A new install's first minutes should fill the chart, not sit as a sliver at
      // its right edge: start where the data starts (with a little margin).
      if (this.firstTs !== null && this.firstTs > start) {
        start = Math.max(start, this.firstTs - Math.max(120, (end - this.firstTs) * 0.05));
      }
      return [start, end + this.aheadS];
    }
    if (min === null || max === null) return [0, 1];
    return min === max ? [min - 1, max + 1] : [min, max];
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth || 300));
  }

  /** Notes on the timeline: [{ts, text}], drawn as dashed vertical lines with their text. */
  setMarkers(markers) {
    this.markers = markers;
    this.host.dataset.markers = markers.map((m) => m.text).join(" | ");
    this.plot.redraw(false);
  }

  drawMarkers(u) {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const px = window.devicePixelRatio || 1;
    for (const m of this.markers) {
      const x = Math.round(u.valToPos(m.ts, "x", true));
      if (x < left || x > left + width) continue;
      ctx.save();
      ctx.strokeStyle = "#6a4c93";
      ctx.fillStyle = "#6a4c93";
      ctx.lineWidth = px;
      ctx.setLineDash([4 * px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.font = `${11 * px}px system-ui, sans-serif`;
      const text = m.text.length > 24 ? `${m.text.slice(0, 23)}…` : m.text;
      const w = ctx.measureText(text).width;
      ctx.fillText(text, x + 4 * px + w > left + width ? x - w - 4 * px : x + 4 * px, top + 12 * px);
      ctx.restore();
    }
  }

  /** Replace all data: [xs, ys1, ys2, …]. */
  setData(data) {
    this.data = data.map((col) => Array.from(col));
    this.redraw();
  }

  /** Keep only the last `seconds` of data when appending live; show `ahead` s of future. */
  keep(seconds, ahead = 0) {
    this.windowS = seconds;
    this.aheadS = ahead;
  }

  /** Add one point per series at x (ascending); values in series order. */
  append(x, values) {
    const xs = this.data[0];
    if (xs.length && x <= xs[xs.length - 1]) return;
    xs.push(x);
    values.forEach((v, i) => this.data[i + 1].push(v ?? null));
    if (this.windowS) {
      const cutoff = x - this.windowS;
      let drop = 0;
      while (drop < xs.length && xs[drop] < cutoff) drop += 1;
      if (drop) this.data = this.data.map((col) => col.slice(drop));
    }
    this.redraw();
  }

  redraw() {
    this.plot.setData(this.data);
    this.host.dataset.points = String(this.data[0].length);
  }

  destroy() {
    this.resizer.disconnect();
    this.plot.destroy();
    this.host.remove();
  }
}
