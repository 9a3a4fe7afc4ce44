// TEMPORARY stand-in with the surface of the bridge branch's webui/js/maelstrom.js
// (connect, createApi, ApiError); deleted once that library is on main.
export class ApiError extends Error {
  constructor({ status, error, detail = null, method, url }) {
    super(error);
    Object.assign(this, { name: "ApiError", status, error, detail, method, url });
  }
}

export function createApi() {
  async function request(method, path, { query, body } = {}) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) params.append(k, String(v));
    const url = [...params].length ? `${path}?${params}` : path;
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = typeof body === "string" ? "text/plain" : "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (cause) {
      throw new ApiError({ status: 0, error: "network error", detail: String(cause), method, url });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = text; }
    }
    if (!response.ok) {
      const isShape = data && typeof data === "object" && "error" in data;
      throw new ApiError({ status: response.status, error: isShape ? data.error : response.statusText,
        detail: isShape ? data.detail ?? null : null, method, url });
    }
    return data;
  }
  const enc = encodeURIComponent;
  const resource = (name) => ({
    list: (query) => request("GET", `/api/${name}`, { query }),
    get: (id) => request("GET", `/api/${name}/${enc(id)}`),
    create: (body) => request("POST", `/api/${name}`, { body }),
    update: (id, body) => request("PUT", `/api/${name}/${enc(id)}`, { body }),
    patch: (id, body) => request("PATCH", `/api/${name}/${enc(id)}`, { body }),
    remove: (id) => request("DELETE", `/api/${name}/${enc(id)}`),
  });
  return {
    request, resource,
    settings: resource("settings"), devices: resource("devices"), profiles: resource("profiles"), loops: resource("loops"),
    publish: (channel, subtopic, body, { retain = false } = {}) =>
      request("POST", `/api/publish/${enc(channel)}/${subtopic}`, { body, query: retain ? { retain: "1" } : undefined }),
    alarms: {
      list: (query) => request("GET", "/api/alarms", { query }),
      ack: (id, by) => request("POST", `/api/alarms/${enc(id)}/ack`, { body: by ? { by } : {} }),
      ackAll: (by) => request("POST", "/api/alarms/ack", { body: by ? { by } : {} }),
    },
    history: ({ series, from, to, points } = {}) => request("GET", "/api/history", { query: { series, from, to, points } }),
  };
}

function topicMatches(filter, topic) {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i += 1) {
    if (f[i] === "#") return true;
    if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

class StubSocket extends EventTarget {
  constructor() {
    super();
    this.state = { socket: "closed", broker: "unknown" };
    this.subs = new Map();
  }
  on(type, fn) {
    const l = (e) => fn(e.detail);
    this.addEventListener(type, l);
    return () => this.removeEventListener(type, l);
  }
  setState(change) {
    this.state = { ...this.state, ...change };
    this.dispatchEvent(new CustomEvent("state", { detail: { ...this.state } }));
  }
  connect() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    this.ws = ws;
    this.setState({ socket: "connecting" });
    ws.onopen = () => {
      this.setState({ socket: "open", broker: "online" });
      for (const filter of this.subs.keys()) ws.send(JSON.stringify({ op: "subscribe", topic: filter }));
    };
    ws.onclose = () => {
      this.setState({ socket: "closed", broker: "unknown" });
      setTimeout(() => this.connect(), 1000);
    };
    ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      for (const f of frame.op === "batch" ? frame.messages : [frame]) {
        if (f.op === "message") {
          for (const [filter, set] of this.subs) if (topicMatches(filter, f.topic)) set.forEach((h) => h(f));
        } else if (f.op === "status") this.setState({ broker: f.broker });
        else if (f.op === "error") this.dispatchEvent(new CustomEvent("error", { detail: f }));
      }
    };
    return this;
  }
  subscribe(filter, handler) {
    let set = this.subs.get(filter);
    if (!set) {
      set = new Set();
      this.subs.set(filter, set);
    }
    set.add(handler);
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify({ op: "subscribe", topic: filter }));
    return () => {
      set.delete(handler);
      if (!set.size) {
        this.subs.delete(filter);
        if (this.ws?.readyState === 1) this.ws.send(JSON.stringify({ op: "unsubscribe", topic: filter }));
      }
    };
  }
  publish(topic, payload, { retain = false } = {}) {
    this.ws?.send(JSON.stringify({ op: "publish", topic, payload: payload ?? null, retain }));
  }
}

export function connect() {
  return new StubSocket().connect();
}
