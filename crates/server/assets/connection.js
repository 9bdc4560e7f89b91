// connection.js: the dashboard's WebSocket to /ws, kept alive by itself.
//
// States: 'offline' (no socket; reconnecting with exponential backoff), 'initializing'
// (socket open, the engine has not finished its first tick), 'online' (telemetry
// flowing), 'viewer' (socket open to a read-only viewer of a data directory: no engine,
// no telemetry, ever). Every message is parsed once and handed to the callbacks; a dropped socket
// schedules a reconnect after 0.5 s, 1 s, 2 s … up to 5 s (with jitter).

import { state } from './state.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5_000;

export class Connection {
  /**
   * `handlers`: onState(state, detail), onHello(msg), onRuns(msg), onTelemetry(msg),
   * onResult(msg), onError(msg). The session's token (or none) is the page state's at
   * connect time.
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.state = 'offline';
    this.attempt = 0;
    this.retryAt = 0;
    this.retryTimer = null;
    this.countdown = null;
  }

  /** Opens the socket (closing any current one). */
  connect() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdown);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
    }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const { token } = state;
    const query = token ? `?token=${encodeURIComponent(token)}` : '';
    this.setState('offline', this.attempt ? `reconnecting (attempt ${this.attempt + 1})…` : 'connecting…');
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/ws${query}`);
    } catch (e) {
      this.scheduleRetry(String(e));
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.setState('initializing', 'waiting for the engine');
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const why = event.code === 1001 ? 'server shut down' : 'connection lost';
      this.scheduleRetry(why);
    };
  }

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    switch (msg.type) {
      case 'hello':
        this.handlers.onHello(msg);
        break;
      case 'status':
        // A read-only viewer (`watchtower view`) has no engine: it says so once, instead
        // of telemetry, and stays in that state.
        if (msg.state === 'viewer') this.setState('viewer', `read-only viewer of ${msg.dir}`);
        else this.setState(msg.state === 'initializing' ? 'initializing' : this.state, 'engine starting');
        break;
      case 'telemetry':
        this.attempt = 0;
        if (this.state !== 'online') this.setState('online', '');
        this.handlers.onTelemetry(msg);
        break;
      case 'runs':
        this.handlers.onRuns?.(msg);
        break;
      case 'command_result':
        this.handlers.onResult(msg);
        break;
      case 'error':
        this.handlers.onError(msg);
        break;
      default:
        break;
    }
  }

  scheduleRetry(why) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt++;
    this.retryAt = Date.now() + delay;
    const tell = () => {
      const s = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      this.setState('offline', `${why}; reconnecting in ${s} s`);
    };
    tell();
    clearInterval(this.countdown);
    this.countdown = setInterval(tell, 500);
    this.retryTimer = setTimeout(() => {
      clearInterval(this.countdown);
      this.connect();
    }, delay);
  }

  /** Sends `message` as JSON; false if the socket is not open. */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  get open() {
    return !!this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  setState(state, detail) {
    const changed = state !== this.state || detail !== this.detail;
    this.state = state;
    this.detail = detail;
    if (changed) this.handlers.onState(state, detail);
  }
}
