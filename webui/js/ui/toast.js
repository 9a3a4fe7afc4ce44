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
    return `${capitalise(title)}: it was changed meanwhile. Reload to see the latest, then make your change again.`;
  }
  return text;
}

function describeDetail(detail) {
  if (detail === null || detail === undefined || detail === "") return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map(describeDetail).filter(Boolean).join("; ");
  if (typeof detail === "object") {
    if (detail.field && detail.message) return `${fieldPath(detail.field)}: ${detail.message}`;
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

/** Readable field paths: "points.3.offset" → "points[3].offset" (the API's loc, joined). */
export function fieldPath(field) {
  return String(field).replace(/\.(\d+)(?=\.|$)/g, "[$1]");
}

function show(kind, text, timeout, context = "") {
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const toast = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast-text" }, text), close);
  if (context) toast.dataset.context = context;
  const remove = () => toast.remove();
  close.addEventListener("click", remove);
  // The same error again replaces the old one instead of stacking up.
  for (const old of region()?.querySelectorAll(".toast") ?? []) {
    if (old.querySelector(".toast-text")?.textContent === text) old.remove();
  }
  region()?.append(toast);
  // Confirmations are brief news: the newest two are enough, the page stays in place.
  const infos = [...(region()?.querySelectorAll(".toast-info") ?? [])];
  infos.slice(0, -2).forEach((old) => old.remove());
  if (timeout) setTimeout(remove, timeout);
  return toast;
}

/** Errors of `context` are settled: a later success of the same action. */
export function supersede(context) {
  if (!context) return;
  for (const t of region()?.querySelectorAll(".toast-error") ?? []) {
    if (t.dataset.context === context) t.remove();
  }
}

/** Mark the form control a validation error is about, until it is edited. */
function markField(control, text) {
  if (!control) return;
  control.setAttribute("aria-invalid", "true");
  control.title = text;
  control.addEventListener("input", () => { control.removeAttribute("aria-invalid"); control.title = ""; }, { once: true });
  control.addEventListener("change", () => { control.removeAttribute("aria-invalid"); control.title = ""; }, { once: true });
  control.focus?.();
}

/**
 * Show an error until dismissed or superseded by a success of the same action (errors
 * matter; they do not vanish on their own). `fieldFor(path)` maps an API field path
 * ("points[3].offset") to the control to mark; `field` marks one directly.
 */
export function showError(err, context = "", { field, fieldFor } = {}) {
  const text = describeError(err);
  console.warn(context || "error", err);
  const paths = errorFields(err);
  markField(field ?? paths.map((p) => fieldFor?.(p)).find(Boolean), text);
  return show("error", context ? `${context}: ${text}` : text, 0, context);
}

/** The field paths an API error names, readable ("points[3].offset"). */
export function errorFields(err) {
  const detail = err?.detail;
  const list = Array.isArray(detail) ? detail : detail && typeof detail === "object" ? [detail] : [];
  return list.filter((d) => d && typeof d === "object" && d.field).map((d) => fieldPath(d.field));
}

/** A confirmation; with `context`, it also settles that action's earlier errors. */
export function showInfo(text, context = "") {
  supersede(context);
  return show("info", text, 4000);
}

/**
 * Run an async action; report its failure in words instead of losing it. → {ok, value}
 * options.quiet(err): true when the caller handles this failure itself.
 */
export async function attempt(context, action, { quiet, fieldFor } = {}) {
  try {
    const value = await action();
    supersede(context);
    return { ok: true, value };
  } catch (err) {
    if (!quiet?.(err)) showError(err, context, { fieldFor });
    return { ok: false, error: err };
  }
}
