// Streams: a loop's readings to Brewfather, Brewer's Friend or a webhook; their status (last post,
// last error, readings buffered while the service was down).
import { h, fill } from "../ui/dom.js";
import { field, textInput, numberInput, numberValue, select, button, section } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { dateTime } from "../ui/format.js";
import { attempt, showInfo } from "../ui/toast.js";
import { streams as calls } from "../calls.js";

const KINDS = [
  { value: "brewfather", label: "Brewfather (Custom Stream)" },
  { value: "brewers_friend", label: "Brewer's Friend" },
  { value: "webhook", label: "Webhook" },
];
const SENSORS = [["aux_temp", "Chamber / fridge sensor"], ["ext_temp", "Room sensor"], ["gravity", "Gravity sensor"], ["battery", "Battery sensor"]];

/** "device/sensor" → {device, id}, or null. */
function ioRef(text) {
  const [device, id] = text.trim().split("/");
  return device && id ? { device, id } : null;
}

export function mount(root, ctx) {
  const { api } = ctx;
  const rows = h("tbody");
  const sId = textInput("", { required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,62}", placeholder: "fv1-brewfather" });
  const sKind = select(KINDS, "brewfather");
  const sUrl = textInput("", { required: true, placeholder: "http://log.brewfather.net/stream?id=…", class: "wide" });
  const sLoop = select([], "");
  const sBeer = textInput("", { placeholder: "Pale Ale" });
  const sInterval = numberInput(15, { min: 1, step: 1 });
  const sSensors = Object.fromEntries(SENSORS.map(([key]) => [key, textInput("", { placeholder: "device/sensor" })]));

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Streams"), button("Refresh", () => load())),
    section("Streams",
      h("p", { class: "hint" }, "One post per interval (Brewfather and Brewer's Friend take one every 15 minutes). While the service is down, readings wait here and go out oldest first."),
      h("div", { class: "table-wrap" }, h("table", { class: "streams" },
        h("caption", { class: "sr-only" }, "Streams"),
        h("thead", {}, h("tr", {}, ["Stream", "Loop", "Last post", "Buffered", "Last error", "Next", ""].map((t) => h("th", { scope: "col" }, t)))),
        rows))),
    section("Add a stream",
      h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); add(); } },
        field("Id", sId), field("Service", sKind), field("URL", sUrl, "the service's URL holds its key; it is shown masked"),
        field("Loop", sLoop), field("Beer", sBeer), field("Every (min)", sInterval),
        SENSORS.map(([key, label]) => field(label, sSensors[key])),
        h("button", { type: "submit" }, "Save stream"))));

  const remove = async (s) => {
    if (!confirm(`Delete the stream ${s.id} and its waiting readings?`)) return;
    const r = await attempt(`Deleting ${s.id}`, () => calls.remove(api, s.id));
    if (r.ok) load();
  };
  const row = (s) => h("tr", { "data-stream": s.id },
    h("th", { scope: "row" }, s.name || s.id, h("div", { class: "muted mono" }, `${s.kind} · ${s.url}`)),
    h("td", {}, s.loop),
    h("td", {}, s.status.last_success_at ? dateTime(s.status.last_success_at) : "never",
      s.status.last_post ? h("div", { class: "muted mono" }, JSON.stringify(s.status.last_post)) : null),
    h("td", { class: "buffered" }, String(s.status.buffered)),
    h("td", {}, s.status.last_error ? `${s.status.last_error} (${dateTime(s.status.last_error_at)})` : "—"),
    h("td", {}, s.status.next_post_at ? dateTime(s.status.next_post_at) : "—"),
    h("td", { class: "actions" }, button("Delete", () => remove(s), { class: "danger", "aria-label": `Delete stream ${s.id}` })));

  async function load() {
    const [list, loops] = await Promise.all([
      attempt("Loading streams", () => calls.list(api)),
      attempt("Loading loops", () => api.loops.list()),
    ]);
    if (loops.ok) {
      const current = sLoop.value;
      fill(sLoop, asList(loops.value, "loops").map((l) => h("option", { value: l.id, selected: l.id === current }, l.name || l.id)));
    }
    if (!list.ok) return;
    const items = asList(list.value, "streams");
    fill(rows, items.length ? items.map(row) : h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No streams yet.")));
  }

  async function add() {
    const id = sId.value.trim();
    const body = { kind: sKind.value, url: sUrl.value.trim(), loop: sLoop.value, beer: sBeer.value.trim(), interval_min: numberValue(sInterval) ?? 15 };
    for (const [key] of SENSORS) {
      const ref = ioRef(sSensors[key].value);
      if (ref) body[key] = ref;
    }
    const r = await attempt(`Saving stream ${id}`, () => calls.put(api, id, body));
    if (r.ok) { showInfo(`Stream ${id} saved`); sUrl.value = ""; load(); }
  }

  load();
  const timer = setInterval(load, 30000);
  return () => clearInterval(timer);
}
