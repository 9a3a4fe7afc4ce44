// Debugger: watch any topics, publish anything, call the REST API, and test simulations
// (a test alarm, acknowledge all, sensor faults and board disconnects on simulated boards).
import { h, fill } from "../ui/dom.js";
import { field, select, textInput, checkbox, button, section, setOptions } from "../ui/forms.js";
import { asList } from "../ui/data.js";
import { clockTime, payloadText } from "../ui/format.js";
import { attempt, showError, showInfo } from "../ui/toast.js";
import { me } from "../ui/me.js";

const MAX_MESSAGES = 300;
const FAULTS = [
  { value: "85", label: "Reads 85.0 (power-on reset)" },
  { value: "-127", label: "Reads −127 (read error)" },
  { value: "missing", label: "Missing (probe gone)" },
  { value: "none", label: "None (healthy again)" },
];

/** A payload typed by a person: JSON when it parses, the text as it is otherwise. */
function parsePayload(text) {
  if (text.trim() === "") return "";
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function mount(root, ctx) {
  const { api, socket, topics } = ctx;
  const stops = [];

  // --- live view -------------------------------------------------------------------
  const filterInput = textInput(topics.everything, { "aria-describedby": "watch-hint" });
  const messages = h("ol", { class: "message-list", "aria-label": "Messages, newest first" });
  const counter = h("span", { class: "muted", "aria-live": "polite" });
  let count = 0;
  let paused = false;
  let unwatch = null;
  const pauseBtn = button("Pause", () => { paused = !paused; pauseBtn.textContent = paused ? "Resume" : "Pause"; pauseBtn.setAttribute("aria-pressed", String(paused)); });
  const watch = () => {
    unwatch?.();
    const filter = filterInput.value.trim();
    if (!filter) return showError("Type a topic filter, e.g. maelstrom/# or maelstrom/data/+.");
    messages.replaceChildren();
    count = 0;
    counter.textContent = `Watching ${filter}`;
    unwatch = socket.subscribe(filter, (m) => {
      if (paused) return;
      count += 1;
      counter.textContent = `Watching ${filter}: ${count} message${count > 1 ? "s" : ""}`;
      messages.prepend(h("li", { class: "message", "data-topic": m.topic },
        h("time", {}, clockTime(Date.now() / 1000)),
        h("code", { class: "topic" }, m.topic),
        m.retained ? h("span", { class: "chip" }, "retained") : null,
        h("pre", { class: "payload" }, payloadText(m.payload))));
      while (messages.children.length > MAX_MESSAGES) messages.lastChild.remove();
    });
    const mine = unwatch;
    messages.dataset.live = "false";
    Promise.resolve(unwatch.ready).then(() => { if (unwatch === mine) messages.dataset.live = "true"; }, () => {});
  };
  const watchForm = h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); watch(); } },
    field("Topic filter", filterInput), h("button", { type: "submit" }, "Watch"), pauseBtn,
    button("Clear", () => { messages.replaceChildren(); count = 0; }));

  // --- publish -----------------------------------------------------------------------
  const pubTopic = textInput(`${topics.prefix}/logs/ui`, { required: true });
  const pubPayload = h("textarea", { rows: 4, spellcheck: false, value: '{"level": "info", "message": "hello from the Debugger"}' });
  const pubRetain = checkbox("Retain", false);
  const pubVia = select([{ value: "socket", label: "Browser socket (/ws)" }, { value: "rest", label: "REST API (/api/publish)" }], "socket");
  const publish = async () => {
    const topic = pubTopic.value.trim();
    if (/[+#]/.test(topic)) return showError("A topic to publish to cannot contain + or #.");
    const payload = parsePayload(pubPayload.value);
    const retain = pubRetain.input.checked;
    if (pubVia.value === "socket") {
      const r = await attempt(`Publishing to ${topic}`, () => socket.publish(topic, payload, { retain }));
      if (r.ok) showInfo(`Published to ${topic}`);
      return;
    }
    const parts = topics.parts(topic);
    if (parts.length < 2) return showError(`Through the REST API the topic must be ${topics.prefix}/<channel>/<subtopic>.`);
    const r = await attempt(`Publishing to ${topic}`, () => api.publish(parts[0], parts.slice(1).join("/"), pubPayload.value, { retain }));
    if (r.ok) showInfo(`Published to ${r.value?.topic ?? topic}`);
  };
  const pubForm = h("form", { class: "stack-form", onsubmit: (e) => { e.preventDefault(); publish(); } },
    h("div", { class: "form-grid" }, field("Topic", pubTopic), field("Send through", pubVia), pubRetain),
    field("Payload (JSON, or plain text)", pubPayload), h("button", { type: "submit", class: "primary" }, "Publish"));

  // --- REST explorer -------------------------------------------------------------------
  const method = select(["GET", "POST", "PUT", "PATCH", "DELETE"], "GET");
  const path = textInput("/api/health", { required: true });
  const body = h("textarea", { rows: 4, spellcheck: false, placeholder: '{"value": 18.5}' });
  const response = h("pre", { class: "response", "aria-live": "polite", tabindex: "0" }, "The response appears here.");
  const responseStatus = h("p", { class: "response-status" });
  const send = async () => {
    const p = path.value.trim();
    if (!p.startsWith("/")) return showError("The path starts with /, e.g. /api/loops.");
    const text = body.value.trim();
    let payload;
    if (text) {
      try { payload = JSON.parse(text); } catch { payload = text; }
    }
    responseStatus.textContent = "Sending…";
    const [pathOnly, queryText] = p.split("?");
    const query = Object.fromEntries(new URLSearchParams(queryText ?? ""));
    try {
      const data = await api.request(method.value, pathOnly, { query, body: payload });
      responseStatus.textContent = "OK";
      responseStatus.dataset.ok = "true";
      response.textContent = data === null ? "(empty)" : typeof data === "string" ? data : JSON.stringify(data, null, 2);
    } catch (err) {
      // The API's refusal is the answer here: show it as it came, status and all.
      responseStatus.textContent = err.status ? `HTTP ${err.status} — ${err.error}` : `No response: ${err.message}`;
      responseStatus.dataset.ok = "false";
      response.textContent = JSON.stringify({ error: err.error ?? err.message, detail: err.detail ?? null }, null, 2);
    }
  };
  const restForm = h("form", { class: "stack-form", onsubmit: (e) => { e.preventDefault(); send(); } },
    h("div", { class: "form-grid" }, field("Method", method), field("Path", path)),
    field("Body (JSON)", body), h("button", { type: "submit", class: "primary" }, "Send"), responseStatus, response);

  // --- test simulations ------------------------------------------------------------------
  const generateAlarm = async () => {
    const id = `test-${Date.now()}`;
    const r = await attempt("Generating a test alarm", () =>
      socket.publish(topics.alarm(id), { message: "Test alarm from the Debugger", kind: "test", severity: "low" }, { retain: true }));
    if (r.ok) showInfo(`Test alarm ${id} raised`);
  };
  const ackAll = async () => {
    const r = await attempt("Acknowledging all alarms", () => api.alarms.ackAll(me()));
    if (r.ok) showInfo("All alarms acknowledged");
  };
  const simDevice = select([], "");
  const simSensor = select([], "");
  const simFault = select(FAULTS, "85");
  const simInput = select([], "");
  let simulated = [];
  const fillSensors = () => {
    const d = simulated.find((x) => x.id === simDevice.value);
    setOptions(simSensor, (d?.sensors ?? []).map((s) => ({ value: s.id, label: s.name || s.id })), simSensor.value);
    // The board's inputs as configured (their alarm text is what an active one raises).
    const inputs = (d?.inputs ?? []).filter((i) => i.channel !== null && i.channel !== undefined);
    setOptions(simInput, inputs.length
      ? inputs.map((i) => ({ value: String(i.channel), label: `${i.name || i.id} (input ${i.channel})${i.alarm_text ? ` → "${i.alarm_text}"` : ""}` }))
      : [{ value: "8", label: "Input 8 (not configured: no alarm)" }], simInput.value);
  };
  const setInput = (active) => {
    const d = simulated.find((x) => x.id === simDevice.value);
    const input = (d?.inputs ?? []).find((i) => String(i.channel) === simInput.value);
    const level = input?.active_high === false ? !active : active;
    simulate({ input: Number(simInput.value), level }, `Input ${simInput.value} ${active ? "active" : "inactive"}`);
  };
  simDevice.addEventListener("change", fillSensors);
  const simulate = async (payload, what) => {
    const device = simDevice.value;
    if (!device) return showError("There is no simulated board to act on.");
    const r = await attempt(what, () => socket.publish(topics.simulate(device), payload));
    if (r.ok) showInfo(`${what}: sent to ${device}`);
  };
  const simBox = h("div", {},
    h("div", { class: "form-grid" }, field("Simulated board", simDevice), field("Sensor", simSensor), field("Fault", simFault)),
    h("div", { class: "button-row" },
      button("Apply sensor fault", () => simulate({ sensor: simSensor.value, fault: simFault.value }, `Sensor ${simSensor.value}: ${simFault.selectedOptions[0]?.text}`)),
      button("Disconnect board", () => simulate({ board: "silent" }, "Board disconnect"), { class: "danger" }),
      button("Reconnect board", () => simulate({ board: "normal" }, "Board reconnect"))),
    h("div", { class: "form-grid" }, field("Digital input", simInput)),
    h("div", { class: "button-row" },
      button("Make input active", () => setInput(true)), button("Make input inactive", () => setInput(false))));
  (async () => {
    const r = await attempt("Loading devices", () => api.devices.list());
    if (!r.ok) return;
    simulated = asList(r.value, "devices").filter((d) => d.kind === "simulated");
    setOptions(simDevice, simulated.length ? simulated.map((d) => ({ value: d.id, label: d.name || d.id })) : [{ value: "", label: "No simulated board" }], simulated[0]?.id ?? "");
    fillSensors();
  })();

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Debugger")),
    section("Test simulations",
      h("div", { class: "button-row" }, button("Generate Alarm", generateAlarm, { class: "primary" }), button("Ack Alarms", ackAll)),
      simBox),
    section("Live messages", h("p", { class: "hint", id: "watch-hint" }, "An MQTT filter: + matches one level, # everything below."), watchForm, counter, messages),
    section("Publish", pubForm),
    section("REST explorer", restForm));
  watch();
  stops.push(() => unwatch?.());
  return () => stops.forEach((s) => s());
}
