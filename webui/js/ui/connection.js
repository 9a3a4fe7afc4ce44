// The connection indicator: browser socket AND broker, always visible in the header.

const TEXT = {
  online: "Connected",
  "broker-offline": "Broker offline — reconnecting…",
  disconnected: "Disconnected — reconnecting…",
  unauthorised: "Not authorised — enter the access token on the Settings tab",
  connecting: "Connecting…",
};

/** status: {socket: "open"|"connecting"|"closed", broker: "online"|"offline"|"unknown"}. */
export function connectionState(status) {
  if (status.auth === "denied" && status.socket !== "open") return "unauthorised";
  if (status.socket !== "open") return status.socket === "connecting" && !status.everOpen ? "connecting" : "disconnected";
  return status.broker === "offline" ? "broker-offline" : "online";
}

/** Services that said goodbye (or whose last will the broker published): no control without them. */
export function showServices(el, services, connection = "online") {
  // With the broker (or our socket) down, nobody's status is news: the header blames
  // the broker, not the services behind it.
  const down = connection !== "online" ? [] : [...services].filter(([, state]) => state === "offline").map(([name]) => name);
  el.hidden = down.length === 0;
  el.textContent = down.length ? `${down.map((n) => n[0].toUpperCase() + n.slice(1)).join(", ")} offline` : "";
  el.title = down.includes("controller") ? "The controller is not running: loops are not being controlled." : "";
}

export function showConnection(el, status) {
  const state = connectionState(status);
  el.dataset.state = state;
  el.querySelector(".connection-text").textContent = TEXT[state];
  el.title = `Server socket: ${status.socket}; MQTT broker: ${status.broker}`;
  document.body.classList.toggle("offline", state !== "online");
}
