// Placeholder view until the Web UI lands: shows the connection and the live data channel.
const status = document.getElementById("connection");
const list = document.getElementById("topics");
const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
socket.onopen = () => {
  status.textContent = "connected";
  status.className = "connection online";
  socket.send(JSON.stringify({ op: "subscribe", topic: "maelstrom/data/#" }));
};
socket.onclose = () => { status.textContent = "disconnected"; status.className = "connection offline"; };
socket.onmessage = (event) => {
  const frame = JSON.parse(event.data);
  if (frame.op !== "message") return;
  const item = document.createElement("li");
  item.textContent = `${frame.topic}: ${JSON.stringify(frame.payload)}`;
  list.prepend(item);
};
