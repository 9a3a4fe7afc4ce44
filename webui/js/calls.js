// REST calls that the client library reaches through its generic request(): loop commands,
// BrewPi CSV, backup/restore and recorded logs. Each returns the library's promise.
const enc = encodeURIComponent;

/** POST /api/loops/{id}/{command}: the same payloads as maelstrom/cmd/loops/<id>/<command>. */
export function loopCommand(api, loop, command, body) {
  return api.request("POST", `/api/loops/${enc(loop)}/${enc(command)}`, { body });
}

export function exportProfileCsv(api, id) {
  return api.request("GET", `/api/profiles/${enc(id)}/csv`);
}

/** PUT /api/profiles/{id}/csv: create or replace (`version` of the one replaced). */
export function importProfileCsv(api, id, text, { name = "", version } = {}) {
  return api.request("PUT", `/api/profiles/${enc(id)}/csv`, { query: { name, version }, body: text });
}

/** POST /api/profiles/import: a BeerJSON (.json) or BeerXML (.xml) recipe's mash and
 *  fermentation as step profiles; answers {recipe, profiles}. */
export function importRecipe(api, filename, text) {
  const xml = /\.xml$/i.test(filename) || text.trimStart().startsWith("<");
  return api.request("POST", "/api/profiles/import", { body: text, contentType: xml ? "application/xml" : "application/json" });
}

export function getBackup(api) {
  return api.request("GET", "/api/backup");
}

export function restoreBackup(api, doc) {
  return api.request("POST", "/api/restore", { body: doc });
}

/** A brewer's notes on the timeline ({annotations: […]}), for a loop and the general ones. */
export function annotations(api, query = {}) {
  return api.request("GET", "/api/history/annotations", { query });
}

/** Add a note: {text, loop?, ts?}. */
export function addAnnotation(api, note) {
  return api.request("POST", "/api/history/annotations", { body: note });
}

/** Recorded log lines, newest first. */
export function recentLogs(api, query = {}) {
  return api.request("GET", "/api/logs", { query });
}

/** A loop's recorded mode / state / profile / step changes ({events: […]}), oldest first. */
export function loopEvents(api, query = {}) {
  return api.request("GET", "/api/history/events", { query });
}

/** /api/notifications: targets, rules, the delivery log (docs/notifications.md). */
export const notifications = {
  overview: (api) => api.request("GET", "/api/notifications"),
  putTarget: (api, id, body) => api.request("PUT", `/api/notifications/targets/${enc(id)}`, { body }),
  deleteTarget: (api, id) => api.request("DELETE", `/api/notifications/targets/${enc(id)}`),
  putRule: (api, id, body) => api.request("PUT", `/api/notifications/rules/${enc(id)}`, { body }),
  deleteRule: (api, id) => api.request("DELETE", `/api/notifications/rules/${enc(id)}`),
  deliveries: (api, query = {}) => api.request("GET", "/api/notifications/deliveries", { query }),
  test: (api, target) => api.request("POST", "/api/notifications/test", { body: { target } }),
};

/** /api/streams: readings to Brewfather, Brewer's Friend or a webhook (docs/streams.md). */
export const streams = {
  list: (api) => api.request("GET", "/api/streams"),
  put: (api, id, body) => api.request("PUT", `/api/streams/${enc(id)}`, { body }),
  remove: (api, id) => api.request("DELETE", `/api/streams/${enc(id)}`),
};
