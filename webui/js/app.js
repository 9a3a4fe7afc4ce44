// Placeholder view until the Web UI lands: shows the connection and the live data channel.
import { connect } from "./maelstrom.js";

const status = document.getElementById("connection");
const list = document.getElementById("topics");
const socket = connect();
socket.on("state", ({ socket: link, broker }) => {
  const online = link === "open" && broker === "online";
  status.textContent = link === "open" ? `connected (broker ${broker})` : "disconnected";
  status.className = `connection ${online ? "online" : "offline"}`;
});
socket.subscribe("maelstrom/data/#", ({ topic, payload }) => {
  const item = document.createElement("li");
  item.textContent = `${topic}: ${JSON.stringify(payload)}`;
  list.prepend(item);
  while (list.children.length > 200) list.lastChild.remove();
});
