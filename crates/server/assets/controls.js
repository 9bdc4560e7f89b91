// controls.js: the parameter controls, built from GET /api/registry, and the
// simulation toolbar (play / pause, step one tick, speed).
//
// Every change is a command over the WebSocket. A control shows "pending" until the
// server answers, then "Applied at tick T" or the server's reason in plain words, and
// snaps back to the registry's value when a change is refused. Without the access token
// (or while offline) every control is read-only and says why. Parameters that can only
// be set at start-up (live: false) are shown disabled with a note.
//
// The controls steer one run at a time (`setTarget`): the main run or a what-if branch,
// named above the sliders; a command for a branch carries its `run`. The toolbar's
// simulation controls pace every run and always go to the main run. While a what-if is
// drafted (`startDraft`), moving a slider changes nothing live: the value is held as a
// draft for the branch (`drafts()`), and `endDraft()` puts every slider back.

import { h, setText } from './dom.js';
import { count, humanize, paramValue } from './format.js';

const AREA_ORDER = ['government', 'bank', 'firms', 'households', 'economy'];
const AREA_TITLES = {
  government: 'Government', bank: 'Central bank', firms: 'Firms', households: 'Households',
  economy: 'Economy', boltzmann: 'Boltzmann model', sim: 'Simulation',
};
const OPEN_AREAS = new Set(['government']);
const ANSWER_TIMEOUT_MS = 10_000;
const SPEEDS = [1, 2, 5, 10, 20, 50, 100, 500, 0];

/** "government.income_tax_rate" -> "Income tax rate". */
export function labelOf(key) {
  return humanize(key.slice(key.indexOf('.') + 1));
}

/** A slider step near range/200, rounded to 1, 2 or 5 times a power of ten. */
function niceStep(range) {
  const raw = range / 200;
  if (!(raw > 0)) return 'any';
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/** The server's error sentence, made a little plainer. */
function plain(msg) {
  const text = (msg.error ?? 'the server refused the change').replace(/`/g, '');
  return msg.code === 'unauthorized' ? `Not allowed: ${text}` : `Rejected: ${text}`;
}

export class Controls {
  /**
   * `els`: {panel, note, noteText, tokenForm, steer, pause, step, speed, simStatus};
   * `send(message)` returns false when offline; `onSent({id, key, value, run})` lets the
   * audit log show it at once; `onDraft()` says the drafted what-if changed.
   */
  constructor(els, { send, onSent, idPrefix, onDraft }) {
    this.els = els;
    this.sendMessage = send;
    this.onSent = onSent;
    this.onDraft = onDraft ?? (() => {});
    this.idPrefix = idPrefix;
    this.target = null; // the run the sliders steer: null = the main run
    this.simRegistry = null; // the main run's registry, for the toolbar
    this.drafting = false;
    this.sequence = 0;
    this.params = new Map(); // key -> control
    this.pending = new Map(); // command id -> {onResult, onFail, timer}
    this.authorized = false;
    this.online = false;
    this.reason = 'Connecting…';
    this.registry = null;
    this.quiet = false;
    this.buildToolbar();
  }

  // ---- commands -------------------------------------------------------------------

  /**
   * Sends `key = value` to `run` (null: the main run); `handlers.onResult(msg)` or
   * `handlers.onFail(text)` follows.
   */
  command(key, value, handlers, run = null) {
    if (!this.authorized || !this.online) {
      handlers.onFail(this.reason);
      return;
    }
    const id = `${this.idPrefix}-${++this.sequence}`;
    const message = { type: 'command', id, key, value };
    if (run != null) message.run = run;
    if (!this.sendMessage(message)) {
      handlers.onFail('Not sent: the dashboard is offline.');
      return;
    }
    const timer = setTimeout(() => {
      this.pending.delete(id);
      handlers.onFail('No answer from the server within 10 s; showing the last known value.');
    }, ANSWER_TIMEOUT_MS);
    this.pending.set(id, { ...handlers, timer });
    this.onSent({ id, key, value, run });
  }

  /** A command_result from the socket; true if it answered one of ours. */
  result(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return false;
    clearTimeout(p.timer);
    this.pending.delete(msg.id);
    if (msg.success) p.onResult(msg);
    else p.onFail(plain(msg));
    return true;
  }

  /** The socket dropped: nothing pending will be answered. */
  connectionLost() {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.onFail('No answer: the connection dropped. The current value shows once the dashboard reconnects.');
      this.pending.delete(id);
    }
  }

  /** Whether the controls may send: needs the token and a connection. */
  setAvailability({ authorized, online, reason }) {
    this.authorized = authorized;
    this.online = online;
    this.reason = reason;
    const writable = authorized && online;
    this.els.note.hidden = writable;
    setText(this.els.noteText, reason);
    this.els.tokenForm.hidden = authorized || !online;
    for (const c of this.params.values()) this.enable(c, writable);
    this.els.pause.disabled = !writable;
    this.els.speed.disabled = !writable;
    this.els.step.disabled = !writable || !this.value('sim.paused');
    this.els.panel.classList.toggle('readonly', !writable);
  }

  /** A new run: earlier confirmations and errors no longer apply. */
  reset() {
    this.endDraft();
    for (const c of this.params.values()) this.status(c, '', '');
    this.quiet = true; // the next registry is the new run's: not "changed elsewhere"
    this.els.simStatus.className = 'sim-status';
    setText(this.els.simStatus, '');
  }

  /**
   * Steers run `run` (null: the main run), named `label` in `color` above the sliders.
   * The sliders take that run's values when its registry arrives (`setRegistry`).
   */
  setTarget(run, label, color) {
    const changed = run !== this.target;
    this.target = run;
    const swatch = h('span', { class: 'swatch' });
    swatch.style.background = color;
    this.els.steer.replaceChildren(h('span', { class: 'steer-label', text: 'Steering' }), swatch, h('strong', { text: label }));
    this.els.steer.dataset.run = run ?? 'main';
    if (!changed) return;
    this.endDraft();
    for (const c of this.params.values()) this.status(c, '', '');
    this.quiet = true;
  }

  value(key) {
    const registry = this.simRegistry ?? this.registry;
    return registry?.params.find((p) => p.key === key)?.value;
  }

  /** The main run's registry: the toolbar's pause and speed follow it. */
  setSimRegistry(registry) {
    this.simRegistry = registry;
    this.syncToolbar();
    this.setAvailability({ authorized: this.authorized, online: this.online, reason: this.reason });
  }

  // ---- what-if drafts -------------------------------------------------------------

  /** From now on a slider's change is held as a draft for a branch, not sent. */
  startDraft() {
    this.drafting = true;
    this.els.panel.classList.add('drafting');
    this.onDraft();
  }

  /** The drafted changes, key to value. */
  drafts() {
    const set = {};
    for (const c of this.params.values()) if (c.draft !== undefined) set[c.info.key] = c.draft;
    return set;
  }

  /** Stops drafting and puts every drafted slider back to its run's value. */
  endDraft() {
    for (const c of this.params.values()) {
      if (c.draft === undefined) continue;
      delete c.draft;
      c.row.classList.remove('is-draft');
      this.show(c, c.info.value);
      this.status(c, '', '');
    }
    const was = this.drafting;
    this.drafting = false;
    this.els.panel.classList.remove('drafting');
    if (was) this.onDraft();
  }

  draft(c, value) {
    if (value === c.info.value) {
      delete c.draft;
      c.row.classList.remove('is-draft');
      this.status(c, '', '');
    } else {
      c.draft = value;
      c.row.classList.add('is-draft');
      this.status(c, 'draft', `What if: ${paramValue(c.info.value)} → ${paramValue(value)} (in the branch only)`);
    }
    this.show(c, value);
    this.onDraft();
  }

  // ---- registry -------------------------------------------------------------------

  /** Builds the controls from the first registry, then keeps their values in sync. */
  setRegistry(registry) {
    this.registry = registry;
    const areas = new Map();
    for (const info of registry.params) {
      if (info.area === 'sim') continue; // the toolbar drives these
      const control = this.params.get(info.key);
      if (control) {
        this.sync(control, info);
        continue;
      }
      if (!areas.has(info.area)) areas.set(info.area, []);
      areas.get(info.area).push(info);
    }
    if (areas.size) this.build(areas);
    this.quiet = false;
    this.syncToolbar();
    this.setAvailability({ authorized: this.authorized, online: this.online, reason: this.reason });
  }

  build(areas) {
    const order = [...AREA_ORDER, ...[...areas.keys()].filter((a) => !AREA_ORDER.includes(a)).sort()];
    for (const area of order) {
      const infos = areas.get(area);
      if (!infos) continue;
      const group = h('details', { class: 'param-group', 'data-area': area, 'data-testid': `group-${area}`, open: OPEN_AREAS.has(area) },
        h('summary', {}, h('span', { text: AREA_TITLES[area] ?? labelOf(`x.${area}`) }), h('span', { class: 'count', text: String(infos.length) })));
      for (const info of infos) group.append(this.row(info));
      this.els.panel.append(group);
    }
  }

  /** One parameter's row: label, unit, slider + number (or a switch), status line. */
  row(info) {
    const id = `param-${info.key.replace(/\./g, '-')}`;
    const tip = [info.description, info.source && `Source: ${info.source}`,
      info.min != null && `Range ${paramValue(info.min)} to ${paramValue(info.max)}; default ${paramValue(info.default)}`]
      .filter(Boolean).join('\n');
    const c = { info, shown: info.value, busy: false };
    c.status = h('div', { class: 'param-status', 'data-testid': `status-${info.key}`, 'aria-live': 'polite' });
    c.reset = h('button', { type: 'button', class: 'link', title: `Back to the default, ${paramValue(info.default)}`, text: 'reset', onclick: () => this.change(c, c.info.default) });
    const head = h('div', { class: 'param-head' },
      h('label', { for: id, title: tip }, labelOf(info.key), info.symbol ? h('span', { class: 'sym', text: ` ${info.symbol}` }) : null),
      h('span', { class: 'info', title: tip, 'aria-label': info.description, text: 'i' }),
      h('span', { class: 'unit', text: info.unit }));
    let body;
    if (info.kind === 'bool') {
      c.toggle = h('input', { type: 'checkbox', id, role: 'switch', 'data-testid': `input-${info.key}` });
      c.toggle.checked = !!info.value;
      c.toggle.addEventListener('change', () => this.change(c, c.toggle.checked));
      body = h('div', { class: 'param-body' }, h('label', { class: 'switch' }, c.toggle, h('span', { class: 'slider-track' })), c.reset);
    } else {
      const step = info.kind === 'int' ? 1 : niceStep(info.max - info.min);
      c.range = h('input', { type: 'range', id, min: info.min, max: info.max, step, 'aria-label': labelOf(info.key), 'data-testid': `slider-${info.key}` });
      c.number = h('input', { type: 'number', step: 'any', inputmode: 'decimal', class: 'num', 'aria-label': `${labelOf(info.key)} value`, 'data-testid': `input-${info.key}` });
      c.range.addEventListener('input', () => { c.busy = true; c.number.value = c.range.value; });
      c.range.addEventListener('change', () => this.change(c, Number(c.range.value)));
      c.number.addEventListener('focus', () => { c.busy = true; });
      c.number.addEventListener('blur', () => { c.busy = false; });
      c.number.addEventListener('change', () => {
        const v = c.number.value.trim() === '' ? NaN : Number(c.number.value);
        if (!Number.isFinite(v)) {
          this.status(c, 'error', 'Enter a number.');
          this.show(c, c.draft ?? c.info.value);
          return;
        }
        this.change(c, v);
      });
      body = h('div', { class: 'param-body' }, c.range, c.number);
    }
    const limits = info.min != null
      ? h('div', { class: 'param-limits' }, h('span', { text: paramValue(info.min) }), c.reset, h('span', { text: paramValue(info.max) }))
      : null;
    c.row = h('div', { class: `param${info.live ? '' : ' not-live'}`, 'data-key': info.key, 'data-testid': `param-${info.key}` },
      head, body, limits, info.live ? null : h('div', { class: 'param-note', text: 'Set at start-up only: --set or --config.' }), c.status);
    this.show(c, info.value);
    this.params.set(info.key, c);
    return c.row;
  }

  enable(c, writable) {
    const on = writable && c.info.live;
    for (const el of [c.range, c.number, c.toggle, c.reset]) if (el) el.disabled = !on;
  }

  /** Puts `value` in the control's inputs. */
  show(c, value) {
    c.shown = value;
    if (c.toggle) c.toggle.checked = !!value;
    if (c.range) c.range.value = String(value);
    if (c.number) c.number.value = paramValue(value);
    c.reset.hidden = value === c.info.default;
  }

  /** The registry moved: follow it unless the person is editing or waiting. */
  sync(c, info) {
    const before = c.info.value;
    c.info = info;
    if (c.pendingId || c.busy || c.draft !== undefined) return;
    if (!this.quiet && info.value !== before && info.value !== c.shown) {
      this.status(c, 'note', `Changed elsewhere: ${paramValue(before)} → ${paramValue(info.value)}`);
    }
    this.show(c, info.value);
  }

  change(c, value) {
    c.busy = false;
    if (this.drafting) {
      this.draft(c, value);
      return;
    }
    if (value === c.info.value) {
      this.show(c, value);
      return;
    }
    this.status(c, 'pending', `Pending: ${paramValue(value)} sent…`);
    c.row.classList.add('is-pending');
    const settle = () => { c.pendingId = null; c.row.classList.remove('is-pending'); };
    c.pendingId = true;
    this.command(c.info.key, value, {
      onResult: (msg) => {
        settle();
        c.info = { ...c.info, value: msg.new };
        this.show(c, msg.new);
        this.status(c, 'ok', `Applied at tick ${msg.applied_tick}: ${paramValue(msg.old)} → ${paramValue(msg.new)}`);
      },
      onFail: (text) => {
        settle();
        this.show(c, c.info.value);
        this.status(c, 'error', text);
      },
    }, this.target);
  }

  status(c, kind, text) {
    c.status.className = `param-status ${kind}`;
    setText(c.status, text);
  }

  // ---- simulation toolbar ---------------------------------------------------------

  buildToolbar() {
    const { pause, step, speed } = this.els;
    for (const hz of SPEEDS) speed.append(h('option', { value: hz, text: hz === 0 ? 'max' : `${hz} /s` }));
    pause.addEventListener('click', () => {
      const paused = !this.value('sim.paused');
      this.simCommand('sim.paused', paused, (msg) => {
        // Paused: the last tick run is the header's (`settled`), not the tick the command
        // is recorded at (the next one).
        this.pausedAfter = paused;
        return paused ? this.pauseText(msg.applied_tick - 1) : `Resumed at tick ${count(msg.applied_tick)}`;
      });
    });
    step.addEventListener('click', () => {
      this.simCommand('sim.step', 1, (msg) => `Stepped one tick (requested at tick ${msg.applied_tick})`);
    });
    speed.addEventListener('change', () => {
      const hz = Number(speed.value);
      this.simCommand('sim.tick_rate', hz, (msg) => `Speed ${hz === 0 ? 'max' : `${hz} ticks/s`} from tick ${msg.applied_tick}`);
    });
  }

  /** The last tick settled, as the header shows it: a pause's status names the same one. */
  settled(tick) {
    this.lastTick = tick;
    if (this.pausedAfter) setText(this.els.simStatus, this.pauseText(tick));
  }

  pauseText(fallback) {
    return `Paused after tick ${count(this.lastTick ?? fallback)}`;
  }

  simCommand(key, value, describe) {
    this.pausedAfter = false;
    const { simStatus } = this.els;
    simStatus.className = 'sim-status pending';
    setText(simStatus, 'Pending…');
    this.command(key, value, {
      onResult: (msg) => {
        const p = (this.simRegistry ?? this.registry)?.params.find((x) => x.key === key);
        if (p && key !== 'sim.step') p.value = msg.new;
        simStatus.className = 'sim-status ok';
        setText(simStatus, describe(msg));
        this.syncToolbar();
      },
      onFail: (text) => {
        simStatus.className = 'sim-status error';
        setText(simStatus, text);
        this.syncToolbar();
      },
    });
  }

  syncToolbar() {
    const { pause, step, speed } = this.els;
    const paused = !!this.value('sim.paused');
    setText(pause.querySelector('.label'), paused ? 'Resume' : 'Pause');
    pause.classList.toggle('is-paused', paused);
    pause.setAttribute('aria-pressed', String(paused));
    step.disabled = !paused || !(this.authorized && this.online);
    document.body.classList.toggle('sim-paused', paused);
    const hz = this.value('sim.tick_rate');
    if (hz != null && document.activeElement !== speed) {
      if (![...speed.options].some((o) => Number(o.value) === hz)) {
        speed.append(h('option', { value: hz, text: `${paramValue(hz)} /s` }));
      }
      speed.value = [...speed.options].find((o) => Number(o.value) === hz).value;
    }
  }
}
