// Dashboard: the running step of a program (a step profile) on a loop card — its name and
// target, the time left in its hold (counting down between state messages), what it waits
// for, and a Confirm button when it waits for the brewer. dashboard.js calls it.
import { h, fill } from "../ui/dom.js";
import { temperature } from "../ui/format.js";

/** 3725 → "1:02:05", 125 → "2:05": a countdown a brewer reads at a glance. */
export function countdown(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  if (d) return `${d} d ${hr} h ${String(min).padStart(2, "0")} min`;
  return hr ? `${hr}:${String(min).padStart(2, "0")}:${sec}` : `${min}:${sec}`;
}

export class ProgramStatus {
  /** `send(body, confirmation)`: a profile command for this loop. */
  constructor(send) {
    this.send = send;
    this.step = h("p", { class: "program-step" });
    this.hold = h("p", { class: "program-hold", "aria-live": "off" });
    this.waiting = h("p", { class: "program-waiting", "aria-live": "polite" });
    this.confirmBtn = h("button", { type: "button", class: "primary confirm", hidden: true,
      onclick: () => this.send({ action: "confirm" }, "confirmed") }, "Confirm");
    this.el = h("div", { class: "program-status", hidden: true }, this.step, this.hold, this.waiting, this.confirmBtn);
    this.timer = setInterval(() => this.tick(), 1000);
  }

  /** The `profile` of a loop state (null: nothing runs). */
  update(progress) {
    const p = progress && progress.step_name !== undefined && (progress.step_name !== null || progress.finished) ? progress : null;
    this.progress = p;
    this.receivedAt = Date.now();
    this.el.hidden = !p;
    if (!p) return;
    if (p.finished) {
      fill(this.step, "Program finished.");
      fill(this.waiting);
      this.confirmBtn.hidden = true;
      this.tick();
      return;
    }
    fill(this.step, h("strong", {}, `Step ${p.step + 1} of ${p.steps}: ${p.step_name}`),
      ` — ${p.target === null || p.target === undefined ? "control off" : temperature(p.target)}`);
    fill(this.waiting, p.waiting_for ? `Waiting for: ${p.waiting_for}` : "");
    this.confirmBtn.hidden = !p.confirm;
    this.confirmBtn.title = p.confirm ?? "";
    this.confirmBtn.textContent = p.confirm ? `Confirm: ${p.confirm}` : "Confirm";
    this.tick();
  }

  tick() {
    const p = this.progress;
    if (!p || p.finished || p.hold_remaining_s === null || p.hold_remaining_s === undefined) {
      fill(this.hold, p && !p.finished ? "Hold starts when the target is reached." : "");
      return;
    }
    const gone = p.paused ? 0 : (Date.now() - this.receivedAt) / 1000;
    fill(this.hold, "Hold: ", h("span", { class: "countdown" }, countdown(p.hold_remaining_s - gone)),
      p.paused ? " left (paused)" : " left");
  }

  destroy() {
    clearInterval(this.timer);
  }
}
