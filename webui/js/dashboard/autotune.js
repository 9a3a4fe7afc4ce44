// Dashboard: a loop's autotune (docs/control.md) — start a relay-feedback run, watch its
// cycles, see the plant it identified, and apply the PID it proposes (a configuration
// change: PATCH /api/loops/{id} with `pid`) or discard it. The controller runs the
// relay; this only sends the `autotune` command and shows the loop's state.
import { h, fill } from "../ui/dom.js";
import { attempt, showInfo } from "../ui/toast.js";

const PHASE_TEXT = {
  running: "running",
  done: "done: a proposal is ready",
  aborted: "aborted",
  discarded: "proposal discarded",
};

const g = (x, digits = 3) => (x === null || x === undefined ? "—" : Number(x).toPrecision(digits));

export class AutotunePanel {
  /** `send(command, body, confirmation)`: a loop command; `patchLoop(body)`: a PATCH. */
  constructor(send, patchLoop) {
    this.send = send;
    this.patchLoop = patchLoop;
    this.status = h("p", { class: "autotune-status", "aria-live": "polite" });
    this.plant = h("dl", { class: "autotune-plant" });
    this.proposal = h("p", { class: "autotune-proposal" });
    this.startBtn = h("button", { type: "button", onclick: () => this.send("autotune", { action: "start" }, "autotune started") }, "Start autotune");
    this.abortBtn = h("button", { type: "button", hidden: true, onclick: () => this.send("autotune", { action: "abort" }, "autotune aborted") }, "Abort autotune");
    this.applyBtn = h("button", { type: "button", class: "primary", hidden: true, onclick: () => this.apply() }, "Apply the proposed PID");
    this.discardBtn = h("button", { type: "button", hidden: true, onclick: () => this.send("autotune", { action: "discard" }, "proposal discarded") }, "Discard");
    this.el = h("section", { class: "autotune", "aria-label": "Autotune" },
      h("h3", {}, "Autotune"), this.status, this.plant, this.proposal,
      h("div", { class: "button-row" }, this.startBtn, this.abortBtn, this.applyBtn, this.discardBtn));
    this.update(null);
  }

  /** The `autotune` of a loop state (null: never run). */
  update(run) {
    this.run = run;
    const running = run?.phase === "running";
    this.startBtn.hidden = running;
    this.abortBtn.hidden = !running;
    const proposal = run?.proposal;
    this.applyBtn.hidden = !proposal || run.applied;
    this.discardBtn.hidden = !proposal || running;
    if (!run) {
      fill(this.status, "Never run: the loop holds its setpoint while a relay makes it oscillate a little around it.");
    } else {
      const cycles = running ? ` — cycle ${run.cycles_done} of ${run.cycles_needed} (${run.output})` : "";
      fill(this.status, h("strong", {}, `Autotune ${PHASE_TEXT[run.phase] ?? run.phase}`), cycles,
        run.reason ? `: ${run.reason}` : "", run.applied ? " — applied" : "");
    }
    const p = run?.plant;
    fill(this.plant, p ? [
      h("dt", {}, "Gain"), h("dd", {}, `${g(p.gain)} °C/s per %`),
      h("dt", {}, "Time constant"), h("dd", {}, `${g(p.time_constant_s)} s`),
      h("dt", {}, "Dead time"), h("dd", {}, `${g(p.dead_time_s)} s`),
      h("dt", {}, "Ultimate gain / period"), h("dd", {}, `${g(p.ultimate_gain)} %/°C, ${g(p.ultimate_period_s)} s`),
    ] : []);
    fill(this.proposal, proposal ? `Proposed (${proposal.rule}): kp ${g(proposal.kp)}, ki ${g(proposal.ki)}, kd ${g(proposal.kd)}` : "");
  }

  async apply() {
    const q = this.run?.proposal;
    if (!q) return;
    const r = await attempt("Applying the proposed PID", () => this.patchLoop({ pid: { kp: q.kp, ki: q.ki, kd: q.kd } }));
    if (r.ok) showInfo("The proposed PID is in force", "Applying the proposed PID");
  }
}
