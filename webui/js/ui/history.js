// Loads recorded series from /api/history into the columns a Chart takes.

/** Series names the recorder uses for a loop. */
export function loopSeries(loop) {
  return ["pv", "sp", "heat", "cool"].map((q) => `loop/${loop}/${q}`);
}

/** One series' samples as [[ts seconds, value], …], whatever shape the response took. */
function samples(entry) {
  if (!entry) return [];
  const pts = Array.isArray(entry) ? entry : (entry.points ?? entry.data ?? entry.samples ?? []);
  const values = entry.avg ?? entry.v ?? entry.values;
  if (entry.t && values) return entry.t.map((t, i) => [normTs(t), values[i]]);
  return pts.map((p) =>
    Array.isArray(p)
      ? [normTs(p[0]), p.length > 2 ? p[2] ?? p[1] : p[1]]
      : [normTs(p.ts ?? p.t ?? p.time), p.avg ?? p.value ?? p.v ?? null],
  );
}

/** Milliseconds or seconds → seconds. */
function normTs(t) {
  const n = typeof t === "string" ? Date.parse(t) / 1000 : Number(t);
  return n > 1e11 ? n / 1000 : n;
}

function findSeries(response, name) {
  const series = response?.series ?? response;
  if (Array.isArray(series)) return series.find((s) => s.name === name || s.series === name);
  if (series && typeof series === "object") return series[name];
  return undefined;
}

/**
 * Columns [xs, ys…] for `names` between `from` and `to` (Unix seconds), at most `points`
 * per series. A time one series has and another lacks gets `undefined` there, which the
 * chart steps over; a recorded null (no usable reading) stays a gap. The columns'
 * `units` holds each series' recorded unit ("°C", "%", "SG", "°P"…).
 */
export async function loadColumns(api, names, from, to, points = 600) {
  const response = await api.history({
    series: names.join(","),
    from: String(from),
    to: String(to),
    points: String(points),
  });
  const perSeries = names.map((name) => new Map(samples(findSeries(response, name))));
  const xs = [...new Set(perSeries.flatMap((m) => [...m.keys()]))].filter(Number.isFinite).sort((a, b) => a - b);
  const columns = [xs, ...perSeries.map((m) => xs.map((x) => (m.has(x) ? m.get(x) : undefined)))];
  columns.units = names.map((name) => findSeries(response, name)?.unit ?? "");
  return columns;
}

