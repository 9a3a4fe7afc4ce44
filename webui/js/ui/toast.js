// Messages to the brewer: errors in words (never swallowed), and short confirmations.
import { h } from "./dom.js";

const region = () => document.getElementById("toasts");

/** An API error ({error, detail}), a socket error frame or a plain Error, in words. */
export function describeError(err) {
  if (!err) return "Something went wrong.";
  if (typeof err === "string") return err;
  const body = err.body && typeof err.body === "object" ? err.body : err;
  const title = body.error ?? err.message ?? String(err);
  const detail = describeDetail(body.detail);
  const status = err.status ? ` (HTTP ${err.status})` : "";
  const text = detail ? `${capitalise(title)}${status}: ${detail}` : `${capitalise(title)}${status}`;
  if (err.status === 401) return `${text}. Your session has ended: reload the page to log in again.`;
  if (err.status === 409 && /version|changed|stale/i.test(text)) {
    return `${text}. Someone changed it since you opened it: reload to see the latest, then make your change again.`;
  }
  return text;
}

function describeDetail(detail) {
  if (detail === null || detail === undefined || detail === "") return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map(describeDetail).filter(Boolean).join("; ");
  if (typeof detail === "object") {
    if (detail.field && detail.message) return `${detail.field}: ${detail.message}`;
    if (detail.message) return detail.message;
    return Object.entries(detail)
      .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
      .join("; ");
  }
  return String(detail);
}

function capitalise(text) {
  const s = String(text);
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function show(kind, text, timeout) {
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const toast = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text" }, text), close);
  const remove = () => toast.remove();
  close.addEventListener("click", remove);
  region()?.append(toast);
  if (timeout) setTimeout(remove, timeout);
  return toast;
}

/** Show an error until dismissed (errors matter; they do not vanish on their own). */
export function showError(err, context = "") {
  const text = describeError(err);
  console.warn(context || "error", err);
  return show("error", context ? `${context}: ${text}` : text, 0);
}

export function showInfo(text) {
  return show("info", text, 4000);
}

/** Run an async action; report its failure in words instead of losing it. → {ok, value} */
export async function attempt(context, action) {
  try {
    return { ok: true, value: await action() };
  } catch (err) {
    showError(err, context);
    return { ok: false, error: err };
  }
}
