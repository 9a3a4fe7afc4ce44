// Logs: a live tail of the logs channel, with a level filter, a source filter and pause.
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, button } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { clockTime } from "../ui/format.js";
import { attempt } from "../ui/toast.js";
import { recentLogs } from "../calls.js";

const LEVELS = ["debug", "info", "warning", "error", "critical"];
const RANK = Object.fromEntries(LEVELS.map((l, i) => [l, i]));
const MAX_LINES = 1000;

function normalise(record, topic, topics) {
  const r = record && typeof record === "object" ? record : { message: String(record ?? "") };
  const level = String(r.level ?? "info").toLowerCase().replace(/^warn$/, "warning");
  return {
    level: RANK[level] === undefined ? "info" : level,
    message: r.message ?? JSON.stringify(r),
    source: r.source || (topic ? topics.parts(topic).slice(1).join("/") : ""),
    ts: r.ts ?? Date.now() / 1000,
  };
}

export function mount(root, ctx) {
  const { api, socket, topics } = ctx;
  const lines = [];
  let paused = false;
  let held = 0;
  const level = select(LEVELS.map((l) => ({ value: l, label: `${l} and above` })), sessionStorage.getItem("maelstrom.loglevel") ?? "info",
    { onchange: () => { sessionStorage.setItem("maelstrom.loglevel", level.value); render(); } });
  const source = textInput("", { placeholder: "e.g. controller", oninput: () => render(), type: "search" });
  const pauseBtn = button("Pause", () => { paused = !paused; if (!paused) { held = 0; render(); } updatePause(); }, { "aria-pressed": "false" });
  const heldEl = h("span", { class: "muted", "aria-live": "polite" });
  const list = h("ol", { class: "log-list", "aria-label": "Log lines, newest first" });

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Logs")),
    h("div", { class: "toolbar" }, field("Level", level), field("Source", source), pauseBtn, button("Clear", () => { lines.length = 0; render(); }), heldEl),
    list);

  const updatePause = () => {
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    heldEl.textContent = paused ? `Paused${held ? `: ${held} new line${held > 1 ? "s" : ""} waiting` : ""}` : "";
  };

  const visible = (l) => RANK[l.level] >= RANK[level.value] && (!source.value || l.source.includes(source.value.trim()));
  const lineEl = (l) => h("li", { class: `log level-${l.level}`, "data-level": l.level },
    h("time", {}, clockTime(l.ts)), h("span", { class: "lvl" }, l.level), h("span", { class: "src" }, l.source), h("span", { class: "msg" }, l.message));

  function render() {
    fill(list, lines.filter(visible).slice(-300).reverse().map(lineEl));
    if (!list.children.length) list.append(h("li", { class: "empty" }, "No log lines at this level yet."));
  }

  function add(l) {
    lines.push(l);
    if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
    if (paused) { held += 1; updatePause(); return; }
    if (!visible(l)) return;
    list.querySelector(".empty")?.remove();
    list.prepend(lineEl(l));
    while (list.children.length > 300) list.lastChild.remove();
  }

  (async () => {
    const r = await attempt("Loading recent logs", () => recentLogs(api, { limit: 200 }));
    if (r.ok) {
      const older = asList(r.value, "logs").map((x) => normalise(x, null, topics)).sort((a, b) => a.ts - b.ts);
      lines.unshift(...older.filter((o) => !lines.some((l) => l.ts === o.ts && l.message === o.message)));
      render();
    }
  })();
  render();
  const stop = socket.subscribe(topics.logs, ({ topic, payload }) => add(normalise(payload, topic, topics)));
  // Live once the server confirms the subscription: from then on no line is missed.
  Promise.resolve(stop.ready).then(() => { list.dataset.live = "true"; }, () => {});
  return () => stop();
}
