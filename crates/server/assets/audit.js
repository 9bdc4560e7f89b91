// audit.js: the audit log panel: the latest commands with who sent them, what they
// asked, when, and the result.
//
// Rows come from GET /api/audit (the server's record, newest first) and, for this
// dashboard's own commands, straight from the WebSocket so they show at once; a
// provisional row is replaced by the server's record as soon as a refresh brings it.
// The log covers the main run and every what-if branch seen (`/api/audit?run=1,5,6`),
// and each row says which run its command went to.

import { getJSON } from './api.js';
import { h } from './dom.js';
import { clock, paramValue } from './format.js';
import { labelOf } from './controls.js';

const LIMIT = 50;

/** A command's value as sent: numbers and switches as usual, anything else as JSON. */
function shown(v) {
  return typeof v === 'number' || typeof v === 'boolean' ? paramValue(v) : JSON.stringify(v ?? null).slice(0, 40);
}

export class AuditLog {
  /**
   * `list`: the element rows go in; `isOwn(id)`: whether a command id is this tab's;
   * `describe(run)`: `{label, color}` of a run.
   */
  constructor(list, isOwn, describe) {
    this.list = list;
    this.isOwn = isOwn;
    this.describe = describe;
    this.runs = []; // the runs whose commands are shown (empty: the server's default)
    this.records = []; // from /api/audit, newest first
    this.local = new Map(); // id -> provisional row data
    this.refreshTimer = null;
    this.enabled = true; // false when the server keeps no record (--no-store)
    this.render();
  }

  clear() {
    this.records = [];
    this.local.clear();
    this.render();
  }

  /** The runs whose commands to show. */
  setRuns(runs) {
    const changed = runs.join(',') !== this.runs.join(',');
    this.runs = runs;
    if (changed) this.refreshSoon(100);
  }

  /** One of our commands just went out, to run `run_id`. */
  sent({ id, key, value, run_id }) {
    this.local.set(id, { id, key, value, run_id, received_at_ms: Date.now(), success: null });
    this.render();
  }

  /** Its answer came back over the socket. */
  answered(msg) {
    const row = this.local.get(msg.id);
    if (row) {
      Object.assign(row, { success: msg.success, applied_tick: msg.applied_tick, old: msg.old, new: msg.new, code: msg.code, error: msg.error });
      if (msg.run_id != null) row.run_id = msg.run_id;
      this.render();
    }
    this.awaitRecord(msg.id);
  }

  /**
   * The engine answers before the store's writer commits the record (it batches every
   * 100 ms), so one refresh may come too early: keep asking, backing off, until the
   * record is there (or a few seconds have passed and the regular poll takes over).
   */
  awaitRecord(id, delays = [300, 700, 1500, 3000]) {
    const [delay, ...later] = delays;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      await this.refresh();
      if (later.length && this.enabled && !this.records.some((r) => r.id === id)) this.awaitRecord(id, later);
    }, delay);
  }

  refreshSoon(delay = 300) {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), delay);
  }

  async refresh() {
    if (!this.enabled) return;
    try {
      const runs = this.runs.length ? `&run=${this.runs.join(',')}` : '';
      const { status, body } = await getJSON(`/api/audit?limit=${LIMIT}${runs}`);
      if (status !== 200 || !Array.isArray(body?.commands)) return;
      this.records = body.commands;
      for (const r of this.records) this.local.delete(r.id);
      this.render();
    } catch {
      // offline: the next refresh catches up
    }
  }

  render() {
    const local = [...this.local.values()].reverse();
    const rows = [...local, ...this.records].slice(0, LIMIT);
    if (!rows.length) {
      this.list.replaceChildren(h('p', { class: 'empty', text: 'No commands yet. Changes made with the controls appear here, with the run they went to.' }));
      return;
    }
    this.list.replaceChildren(...rows.map((r) => this.row(r)));
  }

  row(r) {
    const own = this.isOwn(r.id);
    let result;
    let kind;
    if (r.success == null) {
      kind = 'pending';
      result = 'pending…';
    } else if (r.success) {
      kind = 'ok';
      result = r.key === 'sim.step'
        ? `applied at tick ${r.applied_tick}`
        : `applied at tick ${r.applied_tick}: ${paramValue(r.old)} → ${paramValue(r.new)}`;
    } else {
      kind = 'error';
      result = `rejected (${(r.code ?? 'error').replace(/_/g, ' ')})`;
    }
    const source = r.seq == null ? 'live' : 'server'; // provisional (socket) or recorded (/api/audit)
    let run = null;
    if (r.run_id != null) {
      const { label, color } = this.describe(r.run_id);
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = color;
      run = h('span', { class: 'audit-run', 'data-testid': 'audit-run', title: `Sent to run #${r.run_id}` }, swatch, `run #${r.run_id} · ${label}`);
    }
    return h('div', { class: `audit-row ${kind}`, 'data-testid': 'audit-row', 'data-id': r.id, 'data-key': r.key, 'data-source': source, 'data-run': r.run_id },
      h('span', { class: 'audit-what' }, h('span', { class: 'audit-key', title: r.key, text: labelOf(r.key) }), ` = ${shown(r.value)}`),
      h('span', { class: 'audit-time', title: new Date(r.received_at_ms).toString(), text: clock(r.received_at_ms) }),
      h('span', { class: `audit-result ${kind}`, text: result }),
      h('span', { class: `audit-who${own ? ' own' : ''}`, title: `command id “${r.id}”${r.source ? ` from ${r.source}` : ''}`, text: own ? 'this dashboard' : (r.source || `client “${r.id}”`) }),
      run,
      r.error ? h('span', { class: 'audit-error', text: r.error.replace(/`/g, '') }) : null);
  }
}
