// Logging in: the first-run setup page, the login page, the user menu, the read-only state
// of a viewer, and the warning when authentication is off (docs/security.md).
import { h, fill, uid } from "./dom.js";
import { describeError } from "./toast.js";

function field(label, attrs) {
  const id = uid("auth");
  return h("p", { class: "auth-field" }, h("label", { for: id }, label), h("input", { id, ...attrs }));
}

/** The setup page (no owner yet) or the login page, in `root`; reloads once logged in. */
export function signIn(root, api, status) {
  const setup = status.setup_required;
  const code = new URLSearchParams(location.search).get("code");
  const error = h("p", { class: "auth-error", role: "alert" });
  const form = h(
    "form",
    { class: "auth-form", "aria-label": setup ? "Create the owner" : "Log in" },
    h("h1", {}, setup ? "Welcome to Maelstrom" : "Log in"),
    setup
      ? h("p", {}, "Create the owner: an admin who can add brewers and viewers later.")
      : null,
    field("Name", { name: "name", autocomplete: "username", required: true }),
    field("Password", {
      name: "password",
      type: "password",
      autocomplete: setup ? "new-password" : "current-password",
      required: true,
      minLength: setup ? 8 : 1,
    }),
    setup && !status.setup_from_here
      ? field("Setup code (printed in the API's log)", { name: "code", value: code ?? "", required: true })
      : null,
    error,
    h("button", { type: "submit", class: "primary" }, setup ? "Create owner" : "Log in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      if (setup) await api.auth.setup(data);
      else await api.auth.login(data.name, data.password);
      location.reload();
    } catch (err) {
      error.textContent = describeError(err);
    }
  });
  document.body.dataset.auth = setup ? "setup" : "login";
  fill(root, form);
  form.querySelector("input")?.focus();
}

/** Who is logged in, and Log out, in the header. */
export function userMenu(el, api, status) {
  const user = status.user;
  if (status.auth === "off" || !user || user.kind !== "user") {
    fill(el, user ? h("span", { class: "user-name" }, user.name) : null);
    return;
  }
  const logout = h("button", { type: "button", class: "logout", "data-keep": "" }, "Log out");
  logout.addEventListener("click", async () => {
    try {
      await api.auth.logout();
    } finally {
      location.hash = "";
      location.reload();
    }
  });
  const change = h("button", { type: "button", class: "logout", "data-keep": "" }, "Password");
  change.addEventListener("click", () => passwordDialog(api));
  fill(el, h("span", { class: "user-name" }, `${user.name} · ${user.role}`), change, logout);
}

/** Change my own password (my other sessions end). */
function passwordDialog(api) {
  const error = h("p", { class: "auth-error", role: "alert" });
  const form = h("form", { class: "auth-form", method: "dialog", "aria-label": "Change password" },
    h("h2", {}, "Change password"),
    field("Current password", { name: "current", type: "password", autocomplete: "current-password", required: true }),
    field("New password", { name: "new", type: "password", autocomplete: "new-password", minLength: 8, required: true }),
    error,
    h("button", { type: "submit", class: "primary" }, "Change"),
    h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"));
  const dialog = h("dialog", { "data-keep": "" }, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await api.auth.password(data.current, data.new);
      location.reload(); // the server gave this browser a new session
    } catch (err) {
      error.textContent = describeError(err);
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

/** A loud banner: MAELSTROM_AUTH=off, or this user may only look. */
export function accessBanner(el, status) {
  if (status.auth === "off") {
    el.dataset.kind = "danger";
    // The variable's name is the fix: a phone shows the short form on one line.
    fill(el, h("strong", {}, "Authentication is OFF"), h("span", { class: "wide-only" }, " (MAELSTROM_AUTH=off)"),
      ": anyone on this network can change everything.");
    el.hidden = false;
  } else if (status.user?.role === "viewer") {
    el.dataset.kind = "info";
    fill(el, "You are viewing read-only: a viewer can watch, not change anything.");
    el.hidden = false;
  }
}

/** A viewer gets every control in `roots` disabled, also those views add later. */
export function readOnly(roots) {
  const disable = (root) => {
    for (const el of root.querySelectorAll("button, input, select, textarea")) {
      if (el.closest("[data-keep]") || el.disabled) continue;
      el.disabled = true;
      el.title = "read-only: a viewer cannot change this";
    }
  };
  for (const root of roots) {
    disable(root);
    const watch = { childList: true, subtree: true, attributes: true, attributeFilter: ["disabled"] };
    new MutationObserver(() => disable(root)).observe(root, watch);
  }
}
