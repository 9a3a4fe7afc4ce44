// The live picture every view shares: loop states, sensor readings, alarms, service status.
// One subscription each for the life of the page, so a view opened later still has the
// retained state without re-subscribing.

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };

/** How long a service that was online must stay `offline` before the page says so. Status
 * is per process instance (services/common/mqtt.py): when a second instance dies, the
 * broker publishes its last will `offline`, and the instance that still runs answers
 * `online` within milliseconds. The page waits that answer out instead of flashing
 * "Api offline" while the API runs; a service that really stopped shows after this. */
export const OFFLINE_GRACE_MS = 3000;

/** Active before cleared, unacknowledged first, then by severity, newest first. */
export function alarmOrder(a, b) {
  const key = (x) => [
    x.state === "cleared" ? 1 : 0,
    x.acknowledged ? 1 : 0,
    SEVERITY_RANK[x.severity] ?? 2,
    -(x.raised_at || x.ts || 0),
  ];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i += 1) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return 0;
}

export class Live extends EventTarget {
  constructor(socket, topics) {
    super();
    this.topics = topics;
    this.loops = new Map(); // loop id → LoopState
    this.sensors = new Map(); // "device/sensor" → SensorReading
    this.alarms = new Map(); // alarm id → Alarm
    this.services = new Map(); // service → "online" | "offline"
    this.goingOffline = new Map(); // service → timer: an offline not yet believed
    socket.subscribe(topics.loopStates, (m) => this.onLoop(m));
    socket.subscribe(topics.sensorReadings, (m) => this.onSensor(m));
    socket.subscribe(topics.alarms, (m) => this.onAlarm(m));
    socket.subscribe(topics.status, (m) => this.onStatus(m));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Listen; returns the function that stops listening. */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  onLoop({ topic, payload }) {
    const [, loop] = this.topics.parts(topic);
    if (!payload || typeof payload !== "object") {
      this.loops.delete(loop);
      this.emit("loop", { loop, state: null });
      return;
    }
    this.loops.set(loop, payload);
    this.emit("loop", { loop, state: payload });
  }

  onSensor({ topic, payload }) {
    const [, , device, sensor] = this.topics.parts(topic);
    const key = `${device}/${sensor}`;
    if (!payload || typeof payload !== "object") this.sensors.delete(key);
    else this.sensors.set(key, payload);
    this.emit("sensor", { key, device, sensor, reading: this.sensors.get(key) ?? null });
  }

  onAlarm({ topic, payload }) {
    const [, id] = this.topics.parts(topic);
    if (!payload || typeof payload !== "object") this.alarms.delete(id);
    else this.alarms.set(id, { ...payload, id });
    this.emit("alarms", this.sortedAlarms());
  }

  onStatus({ topic, payload }) {
    const [, service] = this.topics.parts(topic);
    const state = String(payload);
    clearTimeout(this.goingOffline.get(service));
    this.goingOffline.delete(service);
    if (state === "offline" && this.services.get(service) === "online") {
      this.goingOffline.set(service, setTimeout(() => {
        this.goingOffline.delete(service);
        this.services.set(service, state);
        this.emit("services", this.services);
      }, OFFLINE_GRACE_MS));
      return;
    }
    this.services.set(service, state);
    this.emit("services", this.services);
  }

  sortedAlarms() {
    return [...this.alarms.values()].sort(alarmOrder);
  }

  unacknowledged() {
    return this.sortedAlarms().filter((a) => !a.acknowledged);
  }
}
