// The browser side of `/ws`: one socket per page, reconnecting on its own, that any view
// can subscribe through. See docs/websocket.md for the frames.

import { isValidFilter, topicMatches } from "./topics.js";

const MAX_QUEUED_PUBLISHES = 100;

/** The default `/ws` URL for the page's own server. */
export function defaultSocketUrl(loc = globalThis.location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}

/**
 * @typedef {{topic: string, payload: any, retained: boolean}} Message
 * @typedef {(message: Message) => void} Handler
 * @typedef {{socket: "connecting"|"open"|"closed", broker: "online"|"offline"|"unknown"}} State
 */

/**
 * A WebSocket to the bridge with automatic reconnect and re-subscribe.
 *
 * Events (an EventTarget; `on(type, fn)` returns a function that removes the listener):
 * - `state`   detail {socket, broker}: either changed (show it in the UI);
 * - `message` detail Message: every message received, before handlers run;
 * - `subscribed` detail {topic}: the bridge confirmed a subscription (retained messages in);
 * - `error`   detail: the bridge's error frame `{code, error, topic?}` (e.g. a refused publish).
 */
export class MaelstromSocket extends EventTarget {
  /**
   * @param {object} [options]
   * @param {string} [options.url] defaults to `/ws` on the page's own server
   * @param {string|null} [options.token] sent as `?token=` when the server requires one
   * @param {number} [options.minDelay] first reconnect delay, ms (doubles up to maxDelay)
   * @param {number} [options.maxDelay] longest reconnect delay, ms
   * @param {typeof WebSocket} [options.WebSocket] for tests or other runtimes
   */
  constructor({ url, token = null, minDelay = 500, maxDelay = 10000, WebSocket: Impl } = {}) {
    super();
    this.url = url ?? defaultSocketUrl();
    this.token = token;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this._Impl = Impl ?? globalThis.WebSocket;
    /** @type {State} */
    this.state = { socket: "closed", broker: "unknown" };
    /** @type {Map<string, {entries: Set<any>, replaying: boolean}>} */
    this._subs = new Map();
    this._queue = [];
    this._ws = null;
    this._wanted = false;
    this._delay = minDelay;
    this._retryTimer = null;
    this._watchdog = null;
    this._lastFrameAt = 0;
    this._heartbeat = 20;
  }

  /** Open the socket (and keep it open until `close()`). */
  connect() {
    this._wanted = true;
    if (!this._ws) this._open();
    return this;
  }

  /** Close for good: no more reconnects. Subscriptions are kept for a later `connect()`. */
  close() {
    this._wanted = false;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this._ws) this._ws.close(1000, "closed by the page");
  }

  /** Listen to an event; returns a function that stops listening. */
  on(type, fn) {
    const listener = (event) => fn(event.detail, event);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /**
   * Call `handler(message)` for every message on topics matching `filter` (MQTT wildcards
   * `+` and `#`), starting with the retained ones. Returns the function that unsubscribes;
   * its `ready` promise resolves once the bridge confirmed the subscription, and rejects if
   * the bridge refused it.
   * @param {string} filter
   * @param {Handler} handler
   */
  subscribe(filter, handler) {
    if (!isValidFilter(filter)) throw new TypeError(`invalid topic filter: ${JSON.stringify(filter)}`);
    if (typeof handler !== "function") throw new TypeError("subscribe needs a handler function");
    const entry = { handler, pending: true };
    entry.ready = new Promise((resolve, reject) => Object.assign(entry, { resolve, reject }));
    entry.ready.catch(() => {}); // a refusal is also reported as an `error` event
    let sub = this._subs.get(filter);
    if (!sub) {
      sub = { entries: new Set(), replaying: false };
      this._subs.set(filter, sub);
    } else if (this._isOpen()) {
      // Already subscribed: ask again, so the bridge re-sends the retained messages
      // (to this handler only: the others have them).
      sub.replaying = true;
    }
    sub.entries.add(entry);
    if (this._isOpen()) this._send({ op: "subscribe", topic: filter });
    const unsubscribe = () => this._remove(filter, entry);
    unsubscribe.ready = entry.ready;
    return unsubscribe;
  }

  /**
   * Publish `payload` on `topic` (strings go as plain text, anything else as JSON).
   * While disconnected, publishes wait (the last 100) and go out on reconnect.
   * The bridge refuses topics outside its ACL with an `error` event.
   */
  publish(topic, payload, { retain = false } = {}) {
    const op = { op: "publish", topic, payload: payload ?? null, retain: Boolean(retain) };
    if (this._isOpen()) {
      this._send(op);
    } else {
      this._queue.push(op);
      if (this._queue.length > MAX_QUEUED_PUBLISHES) this._queue.shift();
    }
  }

  // internals ------------------------------------------------------------------------------
  _isOpen() {
    return this._ws !== null && this._ws.readyState === 1;
  }

  _send(op) {
    this._ws.send(JSON.stringify(op));
  }

  _setState(change) {
    const next = { ...this.state, ...change };
    if (next.socket === this.state.socket && next.broker === this.state.broker) return;
    this.state = next;
    this._emit("state", { ...next });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _open() {
    let url = this.url;
    if (this.token) url += `${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(this.token)}`;
    const ws = new this._Impl(url);
    this._ws = ws;
    this._setState({ socket: "connecting" });
    ws.onopen = () => {
      this._lastFrameAt = Date.now();
      this._setState({ socket: "open" });
      for (const [filter, sub] of this._subs) {
        sub.replaying = false;
        for (const entry of sub.entries) entry.pending = true;
        this._send({ op: "subscribe", topic: filter });
      }
      for (const op of this._queue.splice(0)) this._send(op);
      this._startWatchdog();
    };
    ws.onmessage = (event) => this._receive(event.data);
    ws.onclose = (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._stopWatchdog();
      this._setState({ socket: "closed", broker: "unknown" });
      this._emit("close", { code: event.code, reason: event.reason });
      if (this._wanted) this._scheduleReconnect();
    };
  }

  _scheduleReconnect() {
    clearTimeout(this._retryTimer);
    const delay = this._delay * (0.75 + Math.random() * 0.5); // jitter: not all pages at once
    this._delay = Math.min(this._delay * 2, this.maxDelay);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this._wanted && !this._ws) this._open();
    }, delay);
  }

  // The bridge sends at least a `status` frame every `heartbeat` seconds; silence for much
  // longer means a dead connection the browser has not noticed (Wi-Fi gone, laptop slept).
  _startWatchdog() {
    this._stopWatchdog();
    this._watchdog = setInterval(() => {
      if (Date.now() - this._lastFrameAt > this._heartbeat * 2500 && this._ws) {
        this._ws.close(4000, "no heartbeat from the server");
        this._ws.onclose({ code: 4000, reason: "no heartbeat from the server" });
      }
    }, 1000);
  }

  _stopWatchdog() {
    clearInterval(this._watchdog);
    this._watchdog = null;
  }

  _receive(text) {
    this._lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      console.warn("maelstrom: unreadable frame from the server", text);
      return;
    }
    switch (frame.op) {
      case "message":
        this._dispatch(frame);
        break;
      case "batch":
        for (const message of frame.messages) this._dispatch(message);
        break;
      case "status":
        if (typeof frame.heartbeat === "number") this._heartbeat = frame.heartbeat;
        this._delay = this.minDelay; // a working connection: reconnect quickly next time
        this._setState({ broker: frame.broker === "online" ? "online" : "offline" });
        break;
      case "subscribed":
        this._confirm(frame.topic);
        break;
      case "error":
        this._refused(frame);
        this._emit("error", frame);
        break;
      default:
        break; // unsubscribed, and ops a newer server may add
    }
  }

  _dispatch(frame) {
    const message = { topic: frame.topic, payload: frame.payload, retained: frame.retained };
    this._emit("message", message);
    for (const [filter, sub] of this._subs) {
      if (!topicMatches(filter, message.topic)) continue;
      for (const entry of sub.entries) {
        if (message.retained && sub.replaying && !entry.pending) continue;
        try {
          entry.handler(message);
        } catch (error) {
          console.error(`maelstrom: handler for ${filter} failed`, error);
        }
      }
    }
  }

  _confirm(filter) {
    const sub = this._subs.get(filter);
    if (!sub) return;
    sub.replaying = false;
    for (const entry of sub.entries) {
      if (entry.pending) {
        entry.pending = false;
        entry.resolve();
      }
    }
    this._emit("subscribed", { topic: filter });
  }

  _refused(frame) {
    const refusals = ["invalid_filter", "too_many_subscriptions", "subscription_refused"];
    if (!refusals.includes(frame.code) || !this._subs.has(frame.topic)) return;
    const sub = this._subs.get(frame.topic);
    this._subs.delete(frame.topic);
    for (const entry of sub.entries) entry.reject(Object.assign(new Error(frame.error), { frame }));
  }

  _remove(filter, entry) {
    const sub = this._subs.get(filter);
    if (!sub || !sub.entries.delete(entry)) return;
    if (sub.entries.size === 0) {
      this._subs.delete(filter);
      if (this._isOpen()) this._send({ op: "unsubscribe", topic: filter });
    }
  }
}
