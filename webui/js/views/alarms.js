// Alarms: active first, by severity; acknowledge one or all; recent history.
import { h, fill } from "../ui/dom.js";
import { button, section } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { dateTime } from "../ui/format.js";
import { attempt, showInfo } from "../ui/toast.js";
import { alarmOrder } from "../live.js";

export function mount(root, ctx) {
  const { api, live } = ctx;
  const activeEl = h("ul", { class: "alarm-list", "aria-label": "Current alarms" });
  const historyEl = h("tbody");
  const ackAllBtn = button("Acknowledge all", async () => {
    const r = await attempt("Acknowledging all alarms", () => api.alarms.ackAll());
    if (r.ok) showInfo("All alarms acknowledged");
  });
  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Alarms"), ackAllBtn),
    section("Current", activeEl),
    section("History",
      h("div", { class: "table-wrap" }, h("table", { class: "history" },
        h("caption", { class: "sr-only" }, "Alarms no longer current, newest first"),
        h("thead", {}, h("tr", {}, ["Raised", "Severity", "Alarm", "Cleared", "Acknowledged"].map((t) => h("th", { scope: "col" }, t)))),
        historyEl)),
      button("Refresh history", () => loadHistory())));

  const ack = async (a) => {
    const r = await attempt(`Acknowledging "${a.message}"`, () => api.alarms.ack(a.id));
    if (r.ok) showInfo(`Acknowledged: ${a.message}`);
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
        a.acknowledged ? null : button("Acknowledge", () => ack(a), { "aria-label": `Acknowledge alarm: ${a.message ?? a.id}` })))
      : h("li", { class: "empty" }, "No alarms. All is well."));
  };

  async function loadHistory() {
    const r = await attempt("Loading alarm history", () => api.alarms.list());
    if (!r.ok) return;
    const recent = asList(r.value?.recent ?? [], "recent").sort(alarmOrder);
    fill(historyEl, recent.length ? recent.map((a) => h("tr", {},
      h("td", {}, dateTime(a.raised_at || a.ts)), h("td", {}, a.severity), h("td", {}, a.message),
      h("td", {}, a.cleared_at ? dateTime(a.cleared_at) : "—"),
      h("td", {}, a.acknowledged ? `${a.acknowledged_by ?? ""} ${dateTime(a.acknowledged_at)}` : "—")))
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "Nothing yet.")));
  }

  render(live.sortedAlarms());
  loadHistory();
  const stop = live.on("alarms", (alarms) => {
    render(alarms);
    loadHistory(); // an alarm that left the channel is now history
  });
  return () => stop();
}
