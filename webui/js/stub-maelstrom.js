// TEMPORARY stand-in for the bridge branch's client library; deleted once it lands on main.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.error = body?.error;
    this.detail = body?.detail;
    this.body = body;
  }
}

async function request(method, path, body, { raw = false, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (typeof body === "string") {
      init.body = body;
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch { /* text */ }
  if (raw) return { status: resp.status, ok: resp.ok, body: data, headers: resp.headers };
  if (!resp.ok) throw new ApiError(resp.status, typeof data === "object" ? data : { error: String(data) });
  return data;
}

function resource(name) {
  const base = `/api/${name}`;
  return {
    list: () => request("GET", base),
    get: (id) => request("GET", `${base}/${encodeURIComponent(id)}`),
    create: (obj) => request("POST", base, obj),
    update: (id, obj) => request("PUT", `${base}/${encodeURIComponent(id)}`, obj),
    remove: (id) => request("DELETE", `${base}/${encodeURIComponent(id)}`),
  };
}

export class Maelstrom {
  constructor({ prefix = "maelstrom" } = {}) {
    this.prefix = prefix;
    this.handlers = new Map();
    this.statusHandlers = new Set();
    this.errorHandlers = new Set();
    this.status = { socket: "connecting", broker: "unknown" };
    this.request = (method, path, body) => request(method, path, body, { raw: true });
    this.settings = resource("settings");
    this.devices = resource("devices");
    this.profiles = {
      ...resource("profiles"),
      exportCsv: (id) => request("GET", `/api/profiles/${id}/csv`),
      importCsv: (id, text, { name = "", version } = {}) =>
        request("PUT", `/api/profiles/${id}/csv?${new URLSearchParams({ name, ...(version ? { version } : {}) })}`, text, { headers: { "Content-Type": "text/csv" } }),
    };
    this.loops = { ...resource("loops"), command: (id, command, value) => request("POST", `/api/loops/${id}/${command}`, value) };
    this.alarms = {
      list: () => request("GET", "/api/alarms"),
      ack: (id, by = "brewer") => request("POST", `/api/alarms/${encodeURIComponent(id)}/ack`, { by }),
      ackAll: (by = "brewer") => request("POST", "/api/alarms/ack", { by }),
    };
    this.backup = { get: () => request("GET", "/api/backup"), restore: (doc) => request("POST", "/api/restore", doc) };
    this.logs = { list: (params = {}) => request("GET", `/api/logs?${new URLSearchParams(params)}`) };
    this.history = {
      query: (params) => request("GET", `/api/history?${new URLSearchParams(params)}`),
    };
    this.publishTo = (channel, subtopic, body, { retain = false } = {}) =>
      request("POST", `/api/publish/${channel}/${subtopic}${retain ? "?retain=1" : ""}`, body);
  }

  connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.setStatus({ socket: "connecting" });
    ws.onopen = () => {
      this.setStatus({ socket: "open", broker: "online" });
      for (const filter of this.handlers.keys()) ws.send(JSON.stringify({ op: "subscribe", topic: filter }));
    };
    ws.onclose = () => {
      this.setStatus({ socket: "closed" });
      setTimeout(() => this.connect(), 1000);
    };
    ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      const frames = frame.op === "batch" ? frame.messages : [frame];
      for (const f of frames) {
        if (f.op === "message") this.dispatch(f);
        else if (f.op === "status") this.setStatus({ broker: f.broker });
        else if (f.op === "error") this.errorHandlers.forEach((h) => h(f));
      }
    };
  }

  dispatch(msg) {
    for (const [filter, set] of this.handlers) {
      if (matches(filter, msg.topic)) set.forEach((h) => h(msg));
    }
  }

  setStatus(change) {
    this.status = { ...this.status, ...change };
    this.statusHandlers.forEach((h) => h(this.status));
  }

  onStatus(handler) {
    this.statusHandlers.add(handler);
    handler(this.status);
    return () => this.statusHandlers.delete(handler);
  }

  onError(handler) {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  subscribe(filter, handler) {
    let set = this.handlers.get(filter);
    if (!set) {
      set = new Set();
      this.handlers.set(filter, set);
      if (this.ws?.readyState === 1) this.ws.send(JSON.stringify({ op: "subscribe", topic: filter }));
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (!set.size) {
        this.handlers.delete(filter);
        if (this.ws?.readyState === 1) this.ws.send(JSON.stringify({ op: "unsubscribe", topic: filter }));
      }
    };
  }

  publish(topic, payload, { retain = false } = {}) {
    if (this.ws?.readyState !== 1) throw new Error("not connected");
    this.ws.send(JSON.stringify({ op: "publish", topic, payload, retain }));
  }
}

function matches(filter, topic) {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i += 1) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
