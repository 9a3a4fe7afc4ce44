// Maelstrom's browser client: the live socket and the REST API, for every view.
//
//   import { connect, createApi } from "/js/maelstrom.js";
//   const socket = connect();                       // reconnects and re-subscribes on its own
//   socket.on("state", ({ socket, broker }) => …);   // "open"/"closed", "online"/"offline"
//   const off = socket.subscribe("maelstrom/data/+", ({ topic, payload, retained }) => …);
//   socket.publish("maelstrom/cmd/loops/fermenter/setpoint", "20.5");
//   const api = createApi();
//   const loops = await api.loops.list();
//
// See docs/websocket.md.

import { MaelstromSocket } from "./lib/socket.js";

export { ApiError, createApi } from "./lib/rest.js";
export { defaultSocketUrl, MaelstromSocket } from "./lib/socket.js";
export { isValidFilter, topicMatches } from "./lib/topics.js";

/** A connected socket (see MaelstromSocket for the options). */
export function connect(options = {}) {
  return new MaelstromSocket(options).connect();
}
