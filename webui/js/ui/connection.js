// The connection indicator: browser socket AND broker, always visible in the header.

const TEXT = {
  online: "Connected",
  "broker-offline": "Broker offline — reconnecting…",
  disconnected: "Disconnected — reconnecting…",
  connecting: "Connecting…",
};

/** status: {socket: "open"|"connecting"|"closed", broker: "online"|"offline"|"unknown"}. */
export function connectionState(status) {
  if (status.socket !== "open") return status.socket === "connecting" && !status.everOpen ? "connecting" : "disconnected";
  return status.broker === "offline" ? "broker-offline" : "online";
}

export function showConnection(el, status) {
  const state = connectionState(status);
  el.dataset.state = state;
  el.querySelector(".connection-text").textContent = TEXT[state];
  el.title = `Server socket: ${status.socket}; MQTT broker: ${status.broker}`;
  document.body.classList.toggle("offline", state !== "online");
}
