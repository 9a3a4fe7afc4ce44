// The alarm banner under the header: every unacknowledged alarm with its own Acknowledge,
// and a line for alarms still active but already acknowledged.
import { h, fill } from "./dom.js";
import { attempt, showInfo } from "./toast.js";
import { me } from "./me.js";

export function alarmBanner(el, live, api) {
  const ack = async (alarm) => {
    const { ok } = await attempt(`Acknowledging "${alarm.message}"`, () => api.alarms.ack(alarm.id, me()));
    if (ok) showInfo(`Acknowledged: ${alarm.message}`);
  };
  const ackAll = async () => {
    const { ok } = await attempt("Acknowledging all alarms", () => api.alarms.ackAll(me()));
    if (ok) showInfo("All alarms acknowledged");
  };
  const render = () => {
    const alarms = live.sortedAlarms();
    const open = alarms.filter((a) => !a.acknowledged);
    const held = alarms.filter((a) => a.acknowledged && a.state !== "cleared");
    el.hidden = alarms.length === 0;
    const badge = document.getElementById("alarm-count");
    if (badge) {
      badge.hidden = open.length === 0;
      badge.textContent = String(open.length);
      badge.setAttribute("aria-label", `${open.length} unacknowledged`);
    }
    fill(
      el,
      open.length
        ? h("ul", { class: "banner-list" },
            open.map((a) =>
              h("li", { class: `banner-alarm severity-${a.severity ?? "medium"}`, "data-alarm": a.id },
                h("span", { class: "sev" }, a.severity ?? "medium"),
                h("span", { class: "banner-message" }, a.message ?? a.id,
                  a.state === "cleared" ? h("em", {}, " (cleared)") : null),
                h("button", { type: "button", class: "ack", onclick: () => ack(a),
                  "aria-label": `Acknowledge alarm: ${a.message ?? a.id}` }, "Acknowledge"))))
        : null,
      h("div", { class: "banner-foot" },
        held.length
          ? h("span", { class: "banner-held" },
              `${held.length} acknowledged alarm${held.length > 1 ? "s" : ""} still active`)
          : null,
        open.length > 1 ? h("button", { type: "button", onclick: ackAll }, "Acknowledge all") : null,
        h("a", { href: "#/alarms" }, "All alarms")),
    );
  };
  live.on("alarms", render);
  render();
}
