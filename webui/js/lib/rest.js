// Promise-based wrappers of the REST API (docs/api.md). Every call resolves with the
// response's JSON (or null for an empty reply) and rejects with an ApiError.

/** A failed API call: `status` (0 when the server was not reached), and the API's
 * `{"error", "detail"}` so the UI can say what went wrong in words. */
export class ApiError extends Error {
  constructor({ status, error, detail = null, method, url }) {
    super(detail == null ? error : `${error}: ${describe(detail)}`);
    this.name = "ApiError";
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.method = method;
    this.url = url;
  }
}

function describe(detail) {
  if (typeof detail === "string") return detail;
  try {
    return JSON.stringify(detail);
  } catch {
    return String(detail);
  }
}

const enc = encodeURIComponent;

/**
 * @param {object} [options]
 * @param {string} [options.base] the API's origin; default: the page's own server
 * @param {string|null} [options.token] sent as `Authorization: Bearer` when set
 * @param {number} [options.timeout] ms before a call gives up (rejects with status 0)
 * @param {typeof fetch} [options.fetch]
 * @param {() => (string|null)} [options.csrf] the session's CSRF token, sent as
 *   `X-CSRF-Token` on every change (a logged-in browser's cookie alone is not enough)
 */
export function createApi({
  base = "",
  token = null,
  timeout = 15000,
  fetch: fetchImpl,
  csrf = () => null,
} = {}) {
  const doFetch = fetchImpl ?? globalThis.fetch.bind(globalThis);

  /** Any call: `request("GET", "/api/loops", {query, body})`; `contentType` for a string
   *  body that is not plain text (a BeerXML recipe). */
  async function request(method, path, { query, body, contentType } = {}) {
    let url = base + path;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      params.append(key, value instanceof Date ? value.toISOString() : String(value));
    }
    if ([...params].length) url += `?${params}`;
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const csrfToken = method === "GET" ? null : csrf();
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      // A string goes as plain text (`20.5`, `constant`), anything else as JSON.
      headers["Content-Type"] = contentType ?? (typeof body === "string" ? "text/plain" : "application/json");
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeout);
    init.signal = abort.signal;
    let response;
    try {
      response = await doFetch(url, init);
    } catch (cause) {
      const error = abort.signal.aborted ? "timed out" : "network error";
      throw new ApiError({ status: 0, error, detail: String(cause?.message ?? cause), method, url });
    } finally {
      clearTimeout(timer);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!response.ok) {
      const isShape = data && typeof data === "object" && "error" in data;
      throw new ApiError({
        status: response.status,
        error: isShape ? data.error : response.statusText || `HTTP ${response.status}`,
        detail: isShape ? data.detail ?? null : typeof data === "string" ? data : null,
        method,
        url,
      });
    }
    return data;
  }

  /** list/get/create/update/patch/remove for `/api/{name}[/{id}]`. */
  function resource(name) {
    const root = `/api/${name}`;
    return {
      list: (query) => request("GET", root, { query }),
      get: (id) => request("GET", `${root}/${enc(id)}`),
      create: (body) => request("POST", root, { body }),
      update: (id, body) => request("PUT", `${root}/${enc(id)}`, { body }),
      patch: (id, body) => request("PATCH", `${root}/${enc(id)}`, { body }),
      remove: (id) => request("DELETE", `${root}/${enc(id)}`),
    };
  }

  return {
    request,
    resource,
    settings: resource("settings"),
    devices: resource("devices"),
    profiles: resource("profiles"),
    loops: {
      ...resource("loops"),
      /** POST /api/loops/{id}/{setpoint|mode|output|profile|target}: the controller answers. */
      command: (id, command, body) => request("POST", `/api/loops/${enc(id)}/${enc(command)}`, { body }),
    },
    /** POST /api/publish/{channel}/{subtopic…}: publish `body` on a channel. */
    publish(channel, subtopic, body, { retain = false } = {}) {
      const tail = subtopic ? `/${String(subtopic).split("/").map(enc).join("/")}` : "";
      const query = retain ? { retain: "true" } : undefined;
      return request("POST", `/api/publish/${enc(channel)}${tail}`, { body, query });
    },
    alarms: {
      list: (query) => request("GET", "/api/alarms", { query }),
      get: (id) => request("GET", `/api/alarms/${enc(id)}`),
      ack: (id, by) => request("POST", `/api/alarms/${enc(id)}/ack`, { body: by ? { by } : {} }),
      ackAll: (by) => request("POST", "/api/alarms/ack", { body: by ? { by } : {} }),
    },
    /** GET /api/history?series=&from=&to=&points= (Dates go as ISO 8601). */
    history: ({ series, from, to, points } = {}) =>
      request("GET", "/api/history", { query: { series, from, to, points } }),
    users: resource("users"),
    tokens: resource("tokens"),
    /** /api/auth/…: status (who am I, CSRF token), setup, login, logout, password. */
    auth: {
      status: () => request("GET", "/api/auth/status"),
      setup: (body) => request("POST", "/api/auth/setup", { body }),
      login: (name, password) => request("POST", "/api/auth/login", { body: { name, password } }),
      logout: () => request("POST", "/api/auth/logout"),
      password: (current, next) =>
        request("POST", "/api/auth/password", { body: { current, new: next } }),
    },
    health: () => request("GET", "/api/health"),
    openapi: () => request("GET", "/api/openapi.json"),
  };
}
