// The planned curve of a running profile, from now to its end: what the chart draws
// dashed ahead of the measured line (BrewPi, Fermentrack and Brewblox all show it).

/** The setpoint a point profile gives at `t` seconds into it (linear or held steps). */
export function valueAt(points, t, interpolation = "linear") {
  if (!points.length) return null;
  if (t <= points[0].t) return points[0].v;
  for (let i = 1; i < points.length; i += 1) {
    const a = points[i - 1];
    const b = points[i];
    if (t < b.t) {
      if (interpolation === "step" || a.v === null || b.v === null) return a.v;
      return a.v + ((b.v - a.v) * (t - a.t)) / (b.t - a.t);
    }
  }
  return points.at(-1).v;
}

/**
 * [[x (Unix s), °C], …] from `now` to the profile's last point, for a profile and the
 * loop's live progress (`elapsed_s` into it at `now`). A paused run is drawn as if it
 * resumed now, which is what it will do. null when there is nothing ahead.
 */
export function plannedCurve(profile, progress, now) {
  if (!profile?.points?.length || !progress || progress.finished) return null;
  const absolute = profile.points.some((p) => p.at);
  // Every point on one time line: seconds into the profile.
  const base = absolute ? Date.parse(profile.points[0].at) / 1000 : 0;
  const points = profile.points.map((p) => ({
    t: absolute ? Date.parse(p.at) / 1000 - base : p.offset,
    v: p.temperature,
  }));
  const into = absolute ? now - base : progress.elapsed_s ?? 0;
  const toX = (t) => now + (t - into);
  const step = profile.interpolation === "step";
  const out = [[now, valueAt(points, into, profile.interpolation)]];
  let previous = out[0][1];
  for (const p of points) {
    if (p.t <= into) continue;
    if (step) out.push([toX(p.t) - 0.001, previous]); // held until the next point
    out.push([toX(p.t), p.v]);
    previous = p.v;
  }
  return out.length > 1 ? out : null;
}
