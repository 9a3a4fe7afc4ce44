// Who changed what, beside the alarms (GET /api/history/changes): "setpoint 18.0 °C →
// 12.0 °C by anna". On a loop's chart (markers and a list under it) and on the Alarms tab.
import { h, fill } from "./dom.js";
import { asList } from "./data.js";
import { dateTime, temperature } from "./format.js";

/** Commands and configuration changes, oldest first: [{ts, loop, who, what, kind, field, from, to}]. */
export async function loadChanges(api, query = {}) {
  return asList(await api.request("GET", "/api/history/changes", { query }), "changes");
}

/** In words, temperatures in the brewer's unit. */
export function describeChange(c) {
  const what = c.field === "setpoint" && typeof c.from === "number" && typeof c.to === "number"
    ? `setpoint ${temperature(c.from)} → ${temperature(c.to)}`
    : c.what;
  return `${what} by ${c.who}`;
}

function item(c, withLoop) {
  return h("li", { class: `change change-${c.kind}`, "data-who": c.who, "data-field": c.field ?? "" },
    h("time", {}, dateTime(c.ts)), " ", withLoop && c.loop ? `${c.loop}: ` : "", describeChange(c));
}

/** A loop's changes: its own list element, chart markers, and a reload when its target moves. */
export class LoopChanges {
  /** ctx: the app's (api, socket, topics); onChange(): the markers changed. */
  constructor(ctx, loop, onChange) {
    this.ctx = ctx;
    this.loop = loop;
    this.onChange = onChange;
    this.changes = [];
    this.range = null;
    this.el = h("ul", { class: "changes", "aria-label": "Who changed what on this loop" });
    // A command's effect reaches the API and this page at about the same time: ask a moment later.
    this.stop = ctx.socket.subscribe(`${ctx.topics.prefix}/target/${loop}`, () => this.reloadSoon());
  }

  async load(from, to) {
    this.range = { from, to };
    const mine = (this.loads = (this.loads ?? 0) + 1);
    let list;
    try {
      // Up to now at least: a command's time is the controller's, which may run ahead of the chart.
      const until = Math.ceil(Math.max(to, Date.now() / 1000)) + 60;
      list = await loadChanges(this.ctx.api, { from: String(from), to: String(until), loop: this.loop });
    } catch {
      return; // the chart and notes say so already; changes are an addition
    }
    if (mine !== this.loads) return;
    this.changes = list;
    fill(this.el, this.changes.slice(-20).reverse().map((c) => item(c, false)));
    this.onChange();
  }

  reloadSoon() {
    if (!this.range) return;
    clearTimeout(this.later);
    this.later = setTimeout(() => this.load(this.range.from, this.range.to), 400);
  }

  markers() {
    return this.changes.map((c) => ({ ts: c.ts, text: describeChange(c) }));
  }

  destroy() {
    clearTimeout(this.later);
    this.stop();
  }
}

/** The Alarms tab's section: the last week's changes, newest first. */
export function changesSection(api) {
  const list = h("ul", { class: "changes", "aria-label": "Who changed what" });
  const load = async () => {
    let changes;
    try {
      changes = await loadChanges(api, { from: String(Date.now() / 1000 - 7 * 86400), limit: "200" });
    } catch {
      return;
    }
    fill(list, changes.length ? changes.slice().reverse().map((c) => item(c, true))
      : h("li", { class: "empty" }, "No changes this week."));
  };
  return { el: list, load };
}
