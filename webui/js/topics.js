// Every MQTT topic the UI uses, built in one place (mirrors services/common/topics.py).

export function topics(prefix = "maelstrom") {
  const t = (...parts) => [prefix, ...parts].join("/");
  return {
    prefix,
    everything: t("#"),
    loopStates: t("data", "+"),
    loopState: (loop) => t("data", loop),
    sensorReadings: t("data", "sensors", "+", "+"),
    sensorReading: (device, sensor) => t("data", "sensors", device, sensor),
    alarms: t("alarms", "+"),
    alarm: (id) => t("alarms", id),
    alarmAck: (id) => t("alarms", id, "ack"),
    logs: t("logs", "#"),
    uiLog: t("logs", "ui"),
    status: t("status", "+"),
    config: (kind) => t("config", kind, "+"),
    loopEvents: (loop) => t("events", loop),
    loopCommand: (loop, command) => t("cmd", "loops", loop, command),
    simulate: (device) => t("cmd", "devices", device, "simulate"),
    /** The levels below the prefix, or [] when the topic is not ours. */
    parts(topic) {
      return topic.startsWith(`${prefix}/`) ? topic.slice(prefix.length + 1).split("/") : [];
    },
  };
}
