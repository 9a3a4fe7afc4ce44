// MQTT topic filters, matched as Mosquitto matches them (the bridge does the same).

/**
 * Is `filter` a valid subscription filter? `+` and `#` must fill a whole level, `#` only the last.
 * @param {string} filter
 * @returns {boolean}
 */
export function isValidFilter(filter) {
  if (typeof filter !== "string" || filter.length === 0 || filter.includes("\0")) return false;
  const levels = filter.split("/");
  return levels.every((level, i) => {
    if (level.includes("#")) return level === "#" && i === levels.length - 1;
    if (level.includes("+")) return level === "+";
    return true;
  });
}

/**
 * Does `topic` match `filter`? `+` is one level, `#` the rest (including the parent:
 * `a/#` matches `a`), and neither matches a topic starting with `$` at the first level.
 * @param {string} filter
 * @param {string} topic
 * @returns {boolean}
 */
export function topicMatches(filter, topic) {
  if (filter === topic) return true;
  const levels = filter.split("/");
  if (topic.startsWith("$") && (levels[0] === "+" || levels[0] === "#")) return false;
  const parts = topic.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level === "#") return true;
    if (i >= parts.length || (level !== "+" && level !== parts[i])) return false;
  }
  return parts.length === levels.length;
}
