// The shell: one client, the shared live picture, the header indicators, and a hash router
// that mounts one view module at a time (#/dashboard, #/profiles/ale, …).
import { connect, createApi } from "./maelstrom.js";
import { Live } from "./live.js";
import { topics as makeTopics } from "./topics.js";
import { connectionState, showConnection, showServices } from "./ui/connection.js";
import { alarmBanner } from "./ui/alarm-banner.js";
import { showError } from "./ui/toast.js";
import { accessBanner, readOnly, signIn, userMenu } from "./ui/access.js";

/** MAELSTROM_API_TOKEN as the brewer gave it: once as ?token=… in the address (then kept
 * in this browser, and taken out of the address bar), or on the Settings tab. */
function accessToken() {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    localStorage.setItem("maelstrom.token", params.get("token"));
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
  }
  return localStorage.getItem("maelstrom.token") || null;
}

const VIEWS = {
  dashboard: { title: "Dashboard", load: () => import("./views/dashboard.js") },
  profiles: { title: "Profiles", load: () => import("./views/profiles.js") },
  loops: { title: "Loops", load: () => import("./views/loops.js") },
  io: { title: "IO", load: () => import("./views/io.js") },
  alarms: { title: "Alarms", load: () => import("./views/alarms.js") },
  notifications: { title: "Notifications", load: () => import("./views/notifications.js") },
  streams: { title: "Streams", load: () => import("./views/streams.js") },
  logs: { title: "Logs", load: () => import("./views/logs.js") },
  settings: { title: "Settings", load: () => import("./views/settings.js") },
  debugger: { title: "Debugger", load: () => import("./views/debugger.js") },
  access: { title: "Users and tokens", load: () => import("./views/access.js"), admin: true },
};

// The topic prefix (MAELSTROM_TOPIC_PREFIX) as the page was told, else the default.
const prefix = document.querySelector('meta[name="maelstrom-prefix"]')?.content || "maelstrom";
const token = accessToken();
// Who we are (and the session's CSRF token) before anything connects: a browser that is
// not logged in gets the login page, or the setup page on a fresh install.
let auth = { auth: "on", user: null, csrf: null, setup_required: false };
const api = createApi({ token, csrf: () => auth.csrf });
const viewEl = document.getElementById("view");
try {
  auth = await api.auth.status();
} catch (err) {
  showError(err, "Asking the server who you are");
}
if (auth.auth === "on" && (auth.setup_required || !auth.user)) {
  document.querySelector("nav.tabs").hidden = true;
  signIn(viewEl, api, auth);
  await new Promise(() => {}); // nothing else starts: logging in reloads the page
}
const role = auth.user?.role ?? "admin";
document.body.dataset.role = role;
userMenu(document.getElementById("user-menu"), api, auth);
accessBanner(document.getElementById("access-banner"), auth);
if (role === "viewer") readOnly([viewEl, document.getElementById("alarm-banner")]);
if (role === "admin") document.querySelector('[data-tab="access"]').parentElement.hidden = false;
const socket = connect({ token });
const topics = makeTopics(prefix);
const live = new Live(socket, topics);
// A view with a form says whether it holds unsaved changes; leaving asks first.
let unsaved = () => false;
const ctx = {
  socket, api, live, topics,
  navigate: (hash) => { location.hash = hash; },
  guard: (isDirty) => { unsaved = isDirty; },
};
window.addEventListener("beforeunload", (e) => {
  if (unsaved()) e.preventDefault();
});

let everOpen = false;
let access = "unknown"; // "denied" once the API said 401: the socket is refused the same way
let lastState = socket.state;
const servicesEl = document.getElementById("services");
const showState = (state) => {
  lastState = state;
  everOpen ||= state.socket === "open";
  if (state.socket === "open") access = "ok";
  const status = { ...state, everOpen, auth: access };
  showConnection(document.getElementById("connection"), status);
  showServices(servicesEl, live.services, connectionState(status));
};
// A browser cannot see why a WebSocket was refused; the REST API can say 401.
let checking = false;
const checkAccess = async () => {
  if (checking || access === "denied") return;
  checking = true;
  try {
    await api.request("GET", "/api/settings");
  } catch (err) {
    if (err.status === 401) {
      access = "denied";
      showState(lastState);
    }
  } finally {
    checking = false;
  }
};
socket.on("state", (state) => {
  showState(state);
  if (state.socket !== "open") checkAccess();
});
showState(socket.state);
checkAccess();
socket.on("error", (frame) => showError(frame, "The server refused"));
live.on("services", () => showState(lastState));
alarmBanner(document.getElementById("alarm-banner"), live, api);

let unmount = null;
let routing = 0;
let here = location.hash;

async function route() {
  if (location.hash !== here && unsaved() && !confirm("You have unsaved changes. Leave without saving?")) {
    history.replaceState(null, "", here || "#/dashboard"); // stay, with the edits
    return;
  }
  here = location.hash;
  unsaved = () => false;
  const token = (routing += 1);
  const [name, ...args] = location.hash.replace(/^#\/?/, "").split("/");
  const tab = VIEWS[name] && (!VIEWS[name].admin || role === "admin") ? name : "dashboard";
  let module;
  try {
    module = await VIEWS[tab].load();
  } catch (err) {
    showError(err, `Loading the ${VIEWS[tab].title} tab`);
    return;
  }
  if (token !== routing) return; // a later navigation won
  try {
    unmount?.();
  } catch (err) {
    console.warn("unmount", err);
  }
  unmount = null;
  viewEl.replaceChildren();
  viewEl.dataset.view = tab;
  document.title = `${VIEWS[tab].title} · Maelstrom`;
  for (const link of document.querySelectorAll("nav.tabs a")) {
    if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    unmount = module.mount(viewEl, ctx, args.map(decodeURIComponent)) ?? null;
  } catch (err) {
    showError(err, `Showing the ${VIEWS[tab].title} tab`);
  }
}

window.addEventListener("hashchange", route);
route();
