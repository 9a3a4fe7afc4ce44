// Who is at this screen, for acknowledgements and notes ("acknowledged by Anna"). Kept
// in this browser until users exist (Settings → Your name).

const KEY = "maelstrom.person";

/** The name the brewer gave, or "web UI" (the API then records that). */
export function me() {
  return localStorage.getItem(KEY)?.trim() || "web UI";
}

export function myName() {
  return localStorage.getItem(KEY) ?? "";
}

export function setMyName(name) {
  const n = String(name ?? "").trim().slice(0, 100);
  if (n) localStorage.setItem(KEY, n);
  else localStorage.removeItem(KEY);
}
