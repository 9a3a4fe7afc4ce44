// Alarms: active first, by severity; acknowledge one or all; recent history.
import { h, fill } from "../ui/dom.js";
import { button, section } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { dateTime } from "../ui/format.js";
import { attempt, showInfo } from "../ui/toast.js";
import { me } from "../ui/me.js";
import { changesSection } from "../ui/changes.js";

/** Alarms that nobody's condition holds: a test, or raised by hand or by another system.
 * Their raiser clears them; the UI may stand in for it. */
const CLEARABLE = new Set(["test", "external"]);

export function mount(root, ctx) {
  const { api, live, socket, topics } = ctx;
  const activeEl = h("ul", { class: "alarm-list", "aria-label": "Current alarms" });
  const historyEl = h("tbody");
  const changes = changesSection(api); // who changed what, beside the alarms
  const ackAllBtn = button("Acknowledge all", async () => {
    const r = await attempt("Acknowledging all alarms", () => api.alarms.ackAll(me()));
    if (r.ok) showInfo("All alarms acknowledged");
  });
  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Alarms"), ackAllBtn),
    section("Current", activeEl),
    section("History",
      h("div", { class: "table-wrap" }, h("table", { class: "history" },
        h("caption", { class: "sr-only" }, "Every alarm no longer current, newest first, as it ended"),
        h("thead", {}, h("tr", {}, ["Raised", "Severity", "Alarm", "Ended", "Cleared", "Acknowledged"].map((t) => h("th", { scope: "col" }, t)))),
        historyEl)),
      button("Refresh history", () => loadHistory())),
    section("Who changed what", changes.el));

  const ack = async (a) => {
    const r = await attempt(`Acknowledging "${a.message}"`, () => api.alarms.ack(a.id, me()));
    if (r.ok) showInfo(`Acknowledged: ${a.message}`);
  };
  // As its raiser would: the controller completes the record and keeps the lifecycle.
  const clear = async (a) => {
    const r = await attempt(`Clearing "${a.message}"`, () =>
      socket.publish(topics.alarm(a.id), { message: a.message, state: "cleared" }));
    if (r.ok) showInfo(`Cleared: ${a.message}`);
  };

  const render = (alarms) => {
    ackAllBtn.disabled = !alarms.some((a) => !a.acknowledged);
    fill(activeEl, alarms.length ? alarms.map((a) =>
      h("li", { class: `alarm-item severity-${a.severity ?? "medium"}`, "data-alarm": a.id, "data-acknowledged": String(Boolean(a.acknowledged)) },
        h("div", { class: "alarm-main" },
          h("span", { class: "sev" }, a.severity ?? "medium"),
          h("strong", { class: "alarm-message" }, a.message ?? a.id),
          a.source ? h("span", { class: "muted" }, ` · ${a.source}`) : null),
        h("div", { class: "alarm-meta" },
          h("span", { class: "alarm-state" }, a.state === "cleared" ? "Cleared" : "Active"), " · ",
          a.acknowledged
            ? h("span", { class: "ack-state acknowledged" }, `Acknowledged${a.acknowledged_by ? ` by ${a.acknowledged_by}` : ""}${a.acknowledged_at ? ` at ${dateTime(a.acknowledged_at)}` : ""}`)
            : h("span", { class: "ack-state unacknowledged" }, "Unacknowledged"),
          a.raised_at ? ` · raised ${dateTime(a.raised_at)}` : "",
          a.kind ? ` · ${a.kind}` : ""),
        h("div", { class: "button-row" },
          a.acknowledged ? null : button("Acknowledge", () => ack(a), { "aria-label": `Acknowledge alarm: ${a.message ?? a.id}` }),
          a.state !== "cleared" && CLEARABLE.has(a.kind)
            ? button("Clear", () => clear(a), { "aria-label": `Clear alarm: ${a.message ?? a.id}` })
            : null)))
      : h("li", { class: "empty" }, "No alarms. All is well."));
  };

  let loading = 0;
  async function loadHistory() {
    const mine = (loading += 1);
    changes.load();
    const r = await attempt("Loading alarm history", () => api.alarms.list());
    if (!r.ok || mine !== loading) return;
    // Newest raised first, each occurrence as it ended (the API reads the history).
    const recent = asList(r.value?.recent ?? [], "recent");
    fill(historyEl, recent.length ? recent.map((a) => h("tr", { "data-alarm": a.id, "data-raised": String(a.raised_at) },
      h("td", {}, dateTime(a.raised_at || a.ts)), h("td", {}, a.severity), h("td", {}, a.message),
      h("td", { class: "final-state" }, a.state === "cleared" ? "Cleared" : "Active"),
      h("td", {}, a.cleared_at ? dateTime(a.cleared_at) : "—"),
      h("td", { class: "acked" }, a.acknowledged ? `${a.acknowledged_by ?? "someone"}, ${dateTime(a.acknowledged_at)}` : "Not acknowledged")))
      : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "Nothing yet.")));
  }

  // The history is written in batches: look again a moment after a change.
  let later = null;
  const loadSoon = () => { loadHistory(); clearTimeout(later); later = setTimeout(loadHistory, 1500); };

  render(live.sortedAlarms());
  loadHistory();
  const stop = live.on("alarms", (alarms) => {
    render(alarms);
    loadSoon(); // an alarm that left the channel is now history
  });
  // A command anywhere moves a loop's target: its author shows here a moment later.
  let changed = null;
  const stopTargets = socket.subscribe(`${topics.prefix}/target/+`, () => {
    clearTimeout(changed);
    changed = setTimeout(changes.load, 400);
  });
  return () => { stop(); stopTargets(); clearTimeout(later); clearTimeout(changed); };
}
