// What a loop's chart marks on its timeline besides the brewer's notes: profile starts
// and ends, and step changes. The recorded events (/api/history/events, kinds `profile`
// and `step`) give any past range; the loop's live state adds what happens while the
// page is open, with the same text, so a reload draws the same marks.
//
// A program's (step profile's) step changes are already on the timeline as the notes its
// events became ("Mash out started (…); target 78 °C", docs/programs.md): only point
// profiles' steps, which have no such note, are marked here.

/** A recorded `step` event's value → the mark's text, or null for a program step (it has a
 * name: its own note marks it) and for "no profile" (the profile's end marks that). */
export function stepMark(value) {
  const m = /^(\d+)(?: (.+))?$/.exec(value ?? "");
  return m && !m[2] ? `step ${m[1]}` : null;
}

export class Timeline {
  /** named(id): a profile's name for its id. */
  constructor(named) {
    this.named = named;
    this.marks = [];
    this.lastProfile = undefined;
    this.lastStep = undefined;
  }

  profileMark(id) {
    return id ? `▶ ${this.named(id)}` : "■ profile ended";
  }

  /** The marks of a range, from the recorded `profile` and `step` events, asked for at
   * `asked` (the loop's clock): live marks since then stay, the answer may predate them. */
  fromHistory(profileEvents, stepEvents, asked = Infinity) {
    // A profile's first step begins with the profile: its start marks both.
    const starts = new Set(profileEvents.map((e) => Math.round(e.ts)));
    const recent = this.marks.filter((m) => m.live && m.ts >= asked - 2);
    this.marks = [
      ...profileEvents.map((e) => ({ ts: e.ts, text: this.profileMark(e.value) })),
      ...stepEvents
        .filter((e) => !starts.has(Math.round(e.ts)))
        .map((e) => ({ ts: e.ts, text: stepMark(e.value) }))
        .filter((m) => m.text),
    ];
    const same = (a, b) => a.text === b.text && Math.abs(a.ts - b.ts) < 5;
    this.marks.push(...recent.filter((m) => !this.marks.some((r) => same(r, m))));
  }

  /** The live profile progress at `ts`; true when it added a mark. */
  live(progress, ts) {
    const running = progress && !progress.finished ? progress : null;
    const profile = running?.profile ?? null;
    const step = running && !running.step_name ? `${profile}/${running.step}` : null;
    const before = this.marks.length;
    if (this.lastProfile !== undefined && profile !== this.lastProfile) {
      this.marks.push({ ts, text: this.profileMark(profile), live: true });
    } else if (this.lastStep !== undefined && step && step !== this.lastStep) {
      this.marks.push({ ts, text: `step ${running.step + 1}`, live: true });
    }
    this.lastProfile = profile;
    this.lastStep = step;
    return this.marks.length > before;
  }

  /** A program's event, live (the recorder makes the same text a note on the chart). */
  programEvent(event) {
    if (!event || typeof event !== "object" || typeof event.text !== "string") return false;
    this.marks.push({ ts: Number(event.ts) || Date.now() / 1000, text: event.text, live: true });
    return true;
  }
}
