// Notifications: where alarms go (Apprise targets, with a Test button), which alarms go there
// (rules: severity, loops, quiet hours, escalation), and the delivery log.
import { h, fill } from "../ui/dom.js";
import { field, textInput, numberInput, numberValue, checkbox, button, section } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { dateTime } from "../ui/format.js";
import { attempt, showError, showInfo } from "../ui/toast.js";
import { notifications as calls } from "../calls.js";

const SEVERITIES = ["low", "medium", "high", "critical"];
const words = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

export function mount(root, ctx) {
  const { api } = ctx;
  const targetRows = h("tbody");
  const ruleRows = h("tbody");
  const logRows = h("tbody");

  const tId = textInput("", { required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "phone" });
  const tName = textInput("", { placeholder: "My phone (ntfy)" });
  const tUrl = textInput("", { required: true, placeholder: "ntfy://ntfy.sh/my-brewery-topic", class: "wide" });
  const tLimit = numberInput(20, { min: 1, max: 3600, step: 1 });

  const rId = textInput("", { required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "urgent" });
  const rTargets = textInput("", { required: true, placeholder: "phone" });
  const rSev = SEVERITIES.map((s) => checkbox(s, s === "high" || s === "critical"));
  const rLoops = textInput("", { placeholder: "all loops" });
  const rQuietStart = h("input", { type: "time" });
  const rQuietEnd = h("input", { type: "time" });
  const rRepeat = numberInput(null, { min: 1, placeholder: "off" });
  const rEscAfter = numberInput(null, { min: 1, placeholder: "off" });
  const rEscTo = textInput("", { placeholder: "partner" });

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Notifications"), button("Refresh", () => load())),
    section("Targets",
      h("p", { class: "hint" }, "Each target is an Apprise URL: ntfy://, tgram://, mailto://, json://, … (docs/notifications.md). The URL is shown masked."),
      h("div", { class: "table-wrap" }, h("table", { class: "targets" },
        h("caption", { class: "sr-only" }, "Notification targets"),
        h("thead", {}, h("tr", {}, ["Target", "URL", "Status", "Last error", ""].map((t) => h("th", { scope: "col" }, t)))),
        targetRows)),
      h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); addTarget(); } },
        field("Id", tId), field("Name", tName), field("Apprise URL", tUrl), field("Max per hour", tLimit),
        h("button", { type: "submit" }, "Save target"))),
    section("Rules",
      h("div", { class: "table-wrap" }, h("table", { class: "rules" },
        h("caption", { class: "sr-only" }, "Notification rules"),
        h("thead", {}, h("tr", {}, ["Rule", "Alarms", "To", "Quiet hours", "Repeat / escalate", ""].map((t) => h("th", { scope: "col" }, t)))),
        ruleRows)),
      h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); addRule(); } },
        field("Id", rId), field("Targets", rTargets, "ids, separated by commas"),
        h("fieldset", { class: "field" }, h("legend", {}, "Severities"), rSev),
        field("Loops", rLoops, "empty: every loop"),
        field("Quiet from", rQuietStart), field("until", rQuietEnd, "high and critical are never held"),
        field("Repeat every (min)", rRepeat), field("Escalate after (min)", rEscAfter), field("Escalate to", rEscTo),
        h("button", { type: "submit" }, "Save rule"))),
    section("Delivery log",
      h("div", { class: "table-wrap" }, h("table", { class: "deliveries" },
        h("caption", { class: "sr-only" }, "Deliveries, newest first"),
        h("thead", {}, h("tr", {}, ["When", "Target", "Event", "Message", "State", "Attempts", "Error"].map((t) => h("th", { scope: "col" }, t)))),
        logRows))));

  const testTarget = async (t) => {
    const r = await attempt(`Testing ${t.id}`, () => calls.test(api, t.id));
    if (!r.ok) return;
    if (r.value.ok) showInfo(`Test sent to ${t.name || t.id} (${r.value.elapsed_s} s)`);
    else showError(r.value.error || "delivery failed", `Test to ${t.name || t.id}`);
    load();
  };
  const removeTarget = async (t) => {
    if (!confirm(`Delete the target ${t.id}?`)) return;
    const r = await attempt(`Deleting ${t.id}`, () => calls.deleteTarget(api, t.id));
    if (r.ok) load();
  };
  const targetRow = (t) => h("tr", { "data-target": t.id },
    h("th", { scope: "row" }, t.name || t.id, t.enabled ? "" : " (disabled)"),
    h("td", { class: "mono" }, t.url),
    h("td", { class: `target-state state-${t.status.state}` }, t.status.state,
      t.status.last_success_at ? ` · last sent ${dateTime(t.status.last_success_at)}` : ""),
    h("td", {}, t.status.failures ? `${t.status.last_error ?? ""} (${t.status.failures}×)` : "—"),
    h("td", { class: "actions" },
      button("Test", () => testTarget(t), { "aria-label": `Send a test to ${t.name || t.id}` }),
      button("Delete", () => removeTarget(t), { class: "danger", "aria-label": `Delete ${t.id}` })));

  const removeRule = async (rule) => {
    if (!confirm(`Delete the rule ${rule.id}?`)) return;
    const r = await attempt(`Deleting ${rule.id}`, () => calls.deleteRule(api, rule.id));
    if (r.ok) load();
  };
  const ruleRow = (rule) => h("tr", { "data-rule": rule.id },
    h("th", { scope: "row" }, rule.name || rule.id),
    h("td", {}, rule.severities.length ? rule.severities.join(", ") : "all", rule.loops.length ? ` · ${rule.loops.join(", ")}` : ""),
    h("td", {}, rule.targets.join(", ")),
    h("td", {}, rule.quiet_hours ? `${rule.quiet_hours.start.slice(0, 5)}–${rule.quiet_hours.end.slice(0, 5)}` : "—"),
    h("td", {}, rule.repeat_every_min ? `every ${rule.repeat_every_min} min` : "once",
      rule.escalate_after_min ? ` · after ${rule.escalate_after_min} min to ${rule.escalate_to.join(", ")}` : ""),
    h("td", { class: "actions" }, button("Delete", () => removeRule(rule), { class: "danger", "aria-label": `Delete rule ${rule.id}` })));

  const logRow = (d) => h("tr", { class: `delivery-${d.state}` },
    h("td", {}, dateTime(d.sent_at || d.created_at)), h("td", {}, d.target), h("td", {}, d.event),
    h("td", {}, d.title), h("td", {}, d.merged_into ? `sent in #${d.merged_into}` : d.state),
    h("td", {}, String(d.attempts)), h("td", {}, d.last_error ?? ""));

  async function load() {
    const r = await attempt("Loading notifications", () => calls.overview(api));
    if (!r.ok) return;
    const { targets = [], rules = [], deliveries = [] } = r.value ?? {};
    fill(targetRows, targets.length ? targets.map(targetRow) : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No targets yet.")));
    fill(ruleRows, rules.length ? rules.map(ruleRow) : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No rules yet: alarms stay in the browser.")));
    fill(logRows, asList(deliveries).length ? deliveries.map(logRow) : h("tr", {}, h("td", { colspan: 7, class: "empty" }, "Nothing sent yet.")));
  }

  async function addTarget() {
    const id = tId.value.trim();
    const body = { name: tName.value.trim(), url: tUrl.value.trim(), max_per_hour: numberValue(tLimit) ?? 20 };
    const r = await attempt(`Saving target ${id}`, () => calls.putTarget(api, id, body));
    if (r.ok) { showInfo(`Target ${id} saved`); tUrl.value = ""; load(); }
  }

  async function addRule() {
    const id = rId.value.trim();
    const body = {
      targets: words(rTargets.value),
      severities: SEVERITIES.filter((_, i) => rSev[i].input.checked),
      loops: words(rLoops.value),
    };
    if (rQuietStart.value && rQuietEnd.value) body.quiet_hours = { start: rQuietStart.value, end: rQuietEnd.value };
    if (numberValue(rRepeat)) body.repeat_every_min = numberValue(rRepeat);
    if (numberValue(rEscAfter)) { body.escalate_after_min = numberValue(rEscAfter); body.escalate_to = words(rEscTo.value); }
    const r = await attempt(`Saving rule ${id}`, () => calls.putRule(api, id, body));
    if (r.ok) { showInfo(`Rule ${id} saved`); load(); }
  }

  load();
  const timer = setInterval(load, 15000); // the delivery log moves on its own
  return () => clearInterval(timer);
}
