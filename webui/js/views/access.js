// Users and API tokens (admins): who may log in with which role; tokens for Home Assistant
// and scripts, shown once when issued. See docs/security.md.
import { h, fill } from "../ui/dom.js";
import { attempt, showError } from "../ui/toast.js";

const ROLES = ["viewer", "brewer", "admin"];
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "never");

function roleSelect(value, attrs = {}) {
  return h("select", attrs, ROLES.map((r) => h("option", { value: r, selected: r === value }, r)));
}

export function mount(root, ctx) {
  const { api } = ctx;
  const users = h("tbody");
  const tokens = h("tbody");
  const issued = h("p", { class: "token-issued", role: "status" });

  async function load() {
    try {
      const [us, ts] = await Promise.all([api.users.list(), api.tokens.list()]);
      fill(users, us.map((u) => {
        const role = roleSelect(u.role, { "aria-label": `Role of ${u.name}` });
        role.addEventListener("change", () =>
          attempt("Changing the role", () => api.users.patch(u.id, { role: role.value })).finally(load));
        const toggle = h("button", { type: "button" }, u.disabled ? "Enable" : "Disable");
        toggle.addEventListener("click", () =>
          attempt("Changing the user", () => api.users.patch(u.id, { disabled: !u.disabled })).finally(load));
        return h("tr", { "data-user": u.name }, h("td", {}, u.name), h("td", {}, role),
          h("td", {}, u.disabled ? "disabled" : "active"), h("td", {}, toggle));
      }));
      fill(tokens, ts.map((t) => {
        const revoke = h("button", { type: "button", class: "danger" }, "Revoke");
        revoke.addEventListener("click", () =>
          attempt("Revoking the token", () => api.tokens.remove(t.id)).finally(load));
        return h("tr", { "data-token": t.name }, h("td", {}, t.name), h("td", {}, t.role),
          h("td", {}, t.created_by), h("td", {}, when(t.last_used_at)), h("td", {}, revoke));
      }));
    } catch (err) {
      showError(err, "Loading users and tokens");
    }
  }

  const userForm = h("form", { class: "inline-form", "aria-label": "Add a user" },
    h("input", { name: "name", placeholder: "name", required: true, "aria-label": "Name" }),
    h("input", { name: "password", type: "password", placeholder: "password (8+)", minLength: 8, required: true, autocomplete: "new-password", "aria-label": "Password" }),
    roleSelect("brewer", { name: "role", "aria-label": "Role" }),
    h("button", { type: "submit" }, "Add user"));
  userForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = Object.fromEntries(new FormData(userForm));
    attempt("Adding the user", () => api.users.create(body)).then((r) => r.ok && userForm.reset()).finally(load);
  });

  const tokenForm = h("form", { class: "inline-form", "aria-label": "Issue a token" },
    h("input", { name: "name", placeholder: "e.g. home-assistant", required: true, "aria-label": "Token name" }),
    roleSelect("brewer", { name: "role", "aria-label": "Token role" }),
    h("button", { type: "submit" }, "Issue token"));
  tokenForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const made = await api.tokens.create(Object.fromEntries(new FormData(tokenForm)));
      fill(issued, "Copy it now, it is shown only once: ", h("code", {}, made.token));
      tokenForm.reset();
    } catch (err) {
      showError(err, "Issuing the token");
    }
    load();
  });

  fill(root,
    h("div", { class: "view-head" }, h("h1", {}, "Users and tokens")),
    h("section", { "aria-label": "Users" }, h("h2", {}, "Users"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Role", "State", ""].map((c) => h("th", { scope: "col" }, c)))), users),
      userForm),
    h("section", { "aria-label": "API tokens" }, h("h2", {}, "API tokens"),
      h("p", { class: "hint" }, "For Home Assistant, scripts and curl: Authorization: Bearer <token>."),
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Role", "Issued by", "Last used", ""].map((c) => h("th", { scope: "col" }, c)))), tokens),
      tokenForm, issued));
  load();
  return () => {};
}
