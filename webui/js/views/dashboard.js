// Dashboard: every loop as a compact row at a glance, each expanding to its full card
// (dashboard/loop-card.js), the chart range (kept in this browser) and a CSV export of
// what the charts show.
import { h, fill } from "../ui/dom.js";
import { field, select, download } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { unit } from "../ui/units.js";
import { attempt, showInfo } from "../ui/toast.js";
import { loopSeries } from "../ui/history.js";
import { LoopCard } from "../dashboard/loop-card.js";

const RANGES = [
  { value: 3600, label: "1 hour" },
  { value: 6 * 3600, label: "6 hours" },
  { value: 24 * 3600, label: "24 hours" },
  { value: 3 * 86400, label: "3 days" },
  { value: 7 * 86400, label: "7 days" },
];
const RANGE_KEY = "maelstrom.range";

/** The fermentation chamber's air beside the beer: another temperature probe on the
 * board that carries the loop's own probe, when the board has one. */
export function chamberProbe(loop, devices) {
  const device = devices.find((d) => d.id === loop?.sensor?.device);
  const other = (device?.sensors ?? []).find((s) => s.id !== loop.sensor.id && (s.unit ?? "°C") === "°C");
  return other ? `${device.id}/${other.id}` : null;
}

export function mount(root, ctx) {
  const { api, socket, live, topics } = ctx;
  const cards = new Map();
  // Profiles by id, from the REST list and from the config topic, whichever is newer:
  // the list may answer after the topic has already told of a change.
  const profileMap = new Map();
  const gone = new Set();
  const goneLoops = new Set();
  let devices = [];
  const keepProfile = (p) => {
    const known = profileMap.get(p.id);
    if (!gone.has(p.id) && (!known || (known.version ?? 0) <= (p.version ?? 0))) profileMap.set(p.id, p);
  };
  const profiles = () => [...profileMap.values()].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  const saved = Number(localStorage.getItem(RANGE_KEY));
  let range = RANGES.some((r) => r.value === saved) ? saved : 6 * 3600;
  const stops = [];

  const rangeSelect = select(RANGES, range, {
    onchange: () => {
      range = Number(rangeSelect.value);
      localStorage.setItem(RANGE_KEY, String(range)); // every new tab opens on it
      for (const card of cards.values()) card.setRange(range);
    },
  });
  const exportBtn = h("button", { type: "button", onclick: () => exportCsv() }, "Export CSV");
  const grid = h("div", { class: "cards" });
  const empty = h("p", { class: "empty" }, "No loops yet. ", h("a", { href: "#/loops" }, "Create a loop"), " to see it here.");
  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Dashboard"),
      h("div", { class: "inline range-bar" }, field("Chart range", rangeSelect), exportBtn)),
    grid);

  const chamberOf = (loop) => chamberProbe(loop, devices);
  const chamberReading = (id) => {
    const key = cards.get(id)?.config && chamberOf(cards.get(id).config);
    return key ? live.sensors.get(key)?.value ?? null : null;
  };

  const cardFor = (id) => {
    let card = cards.get(id);
    if (!card) {
      card = new LoopCard(id, ctx, { profiles, chamberOf, range });
      cards.set(id, card);
      empty.remove();
      grid.append(card.el);
      // The latest state first: its time is "now" for the history query (under a
      // simulated clock the controller's time runs ahead of the wall clock).
      const state = live.loops.get(id);
      if (state) card.setState(state);
    }
    return card;
  };

  const removeCard = (id) => {
    cards.get(id)?.destroy();
    cards.delete(id);
    if (!cards.size) grid.append(empty);
  };

  (async () => {
    const loaded = await attempt("Loading loops", () => Promise.all([api.loops.list(), api.profiles.list(), api.devices.list()]));
    if (!loaded.ok) return;
    const [loops, profileList, deviceList] = loaded.value;
    devices = asList(deviceList, "devices");
    asList(profileList, "profiles").forEach(keepProfile);
    for (const loop of asList(loops, "loops")) {
      if (goneLoops.has(loop.id)) continue;
      const card = cardFor(loop.id);
      card.setConfig(loop);
      grid.append(card.el); // in the API's order, whichever arrived first
    }
    for (const [id, state] of live.loops) if (!goneLoops.has(id)) cardFor(id).setState(state, chamberReading(id));
    if (!cards.size) grid.append(empty);
    for (const card of cards.values()) card.rewire(); // the chamber probes are known now
  })();

  stops.push(live.on("loop", ({ loop, state }) => {
    if (state && !goneLoops.has(loop)) cardFor(loop).setState(state, chamberReading(loop));
  }));
  // Configuration as the API publishes it: another screen, HA or mosquitto_pub changed it.
  const onConfig = ({ topic, payload }) => {
    const id = topics.parts(topic)[2];
    if (!payload || typeof payload !== "object") {
      goneLoops.add(id);
      removeCard(id);
    } else {
      goneLoops.delete(id);
      cardFor(id).setConfig(payload);
    }
  };
  stops.push(socket.subscribe(topics.config("loops"), onConfig));
  const onProfile = ({ topic, payload }) => {
    const id = topics.parts(topic)[2];
    if (payload && typeof payload === "object") {
      gone.delete(id);
      keepProfile(payload);
    } else {
      profileMap.delete(id);
      gone.add(id);
    }
    for (const card of cards.values()) card.refreshProfiles();
  };
  stops.push(socket.subscribe(topics.config("profiles"), onProfile));

  // A card whose loop has gone quiet says so, rather than showing old numbers as live.
  const staleTimer = setInterval(() => { for (const card of cards.values()) card.checkStale(); }, 2000);
  stops.push(() => clearInterval(staleTimer));

  /** What the charts show, one row per time and a column per series, in the brewer's unit. */
  async function exportCsv() {
    const series = [...cards.values()].flatMap((card) => {
      const chamber = card.config && chamberOf(card.config);
      return [...loopSeries(card.id), ...(chamber ? [`sensor/${chamber}`] : [])];
    });
    const now = Math.max(Date.now() / 1000, ...[...cards.values()].map((c) => c.state?.ts ?? 0));
    const from = Math.floor(now - range);
    const r = await attempt("Exporting CSV", () => api.request("GET", "/api/history/export.csv", {
      query: { series: series.join(","), from, to: Math.ceil(now), format: "wide", unit: unit() },
    }));
    if (!r.ok) return;
    const stamp = new Date(from * 1000).toISOString().slice(0, 16).replace(/[:T]/g, "");
    download(`maelstrom-${stamp}.csv`, r.value ?? "", "text/csv");
    showInfo("CSV exported", "Exporting CSV");
  }

  return () => {
    stops.forEach((stop) => stop());
    for (const card of cards.values()) card.destroy();
  };
}
