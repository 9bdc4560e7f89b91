// branches.js: the live runs (the main run, the baseline, and its what-if branches) and
// the run bar that lists them.
//
// A run continued after a crash or an interruption (`serve --resume`) says so: the runs
// message carries the ticks it was resumed at, and its chip reads "resumed at tick T",
// because the ticks before T were run by another process and a gap or a jump in the
// charts there is the resume, not the economy.
//
// The server says which runs are live in `runs` messages: first thing on the socket, and
// again whenever a branch is forked, dropped or fails. Each branch keeps one of four
// colours for as long as it lives, and a label: its name, or else its changes
// ("Income tax rate = 0.3"). The run bar shows each live run as a chip: picking one makes
// the controls steer it; a branch's ✕ drops it (DELETE /api/runs/{id}, with the token;
// its rows stay in the database). The "difference" switch plots each branch as
// branch − baseline.

import { h, setText } from './dom.js';
import { count, paramValue } from './format.js';
import { labelOf } from './controls.js';

/** One colour per branch slot (up to four branches live at once). */
export const BRANCH_COLORS = ['#d6336c', '#0ca678', '#f59f00', '#4263eb'];
const MAIN_COLOR = '#3b4656';

/** `[120]` -> "resumed at tick 120"; `[120, 340]` -> "resumed at ticks 120, 340"; `[]` -> "". */
export function resumedText(ticks) {
  if (!Array.isArray(ticks) || !ticks.length) return '';
  return `resumed at tick${ticks.length === 1 ? '' : 's'} ${ticks.map((t) => count(t)).join(', ')}`;
}

/** `{"government.income_tax_rate": 0.3}` -> "Income tax rate = 0.3". */
export function describeChanges(changes) {
  const entries = Object.entries(changes ?? {});
  if (!entries.length) return 'no change';
  return entries.map(([k, v]) => `${labelOf(k)} = ${typeof v === 'number' || typeof v === 'boolean' ? paramValue(v) : JSON.stringify(v)}`).join(', ');
}

export class RunSet {
  constructor() {
    this.main = null;
    this.live = new Map(); // run id -> info, main first
    this.seen = new Map(); // every branch seen since the page loaded (dropped ones too)
    this.version = null;
  }

  /** A new main run (the server restarted): nothing is known about branches. */
  reset(main) {
    this.main = main;
    this.live.clear();
    this.seen.clear();
    this.version = null;
  }

  /** A `runs` message; returns the branch ids that appeared and those that went. */
  update(msg) {
    if (msg.main != null) this.main = msg.main;
    this.version = msg.version;
    const before = new Set(this.live.keys());
    const used = new Set([...this.live.values()].map((r) => r.slot));
    const next = new Map();
    for (const r of msg.runs ?? []) {
      const old = this.live.get(r.run_id);
      let slot = old?.slot;
      if (!r.main && slot == null) {
        slot = [0, 1, 2, 3].find((s) => !used.has(s)) ?? (r.run_id % BRANCH_COLORS.length);
        used.add(slot);
      }
      const info = {
        id: r.run_id,
        main: !!r.main,
        parent: r.parent,
        forkTick: r.fork_tick,
        name: r.name,
        changes: r.changes ?? {},
        resumedAt: Array.isArray(r.resumed_at) ? r.resumed_at : [],
        slot,
        color: r.main ? MAIN_COLOR : BRANCH_COLORS[slot],
        label: r.main ? 'baseline' : (r.name || describeChanges(r.changes)),
      };
      next.set(r.run_id, info);
      if (!r.main) this.seen.set(r.run_id, info);
    }
    this.live = next;
    const added = [...next.keys()].filter((id) => !before.has(id) && !next.get(id).main);
    const removed = [...before].filter((id) => !next.has(id));
    return { added, removed };
  }

  /** The live branches, oldest first. */
  branches() {
    return [...this.live.values()].filter((r) => !r.main).sort((a, b) => a.id - b.id);
  }

  info(id) {
    return this.live.get(id) ?? this.seen.get(id) ?? null;
  }

  /** "baseline" for the main run, a branch's name or changes, else "run #ID". */
  label(id) {
    if (id === this.main) return 'baseline';
    return this.info(id)?.label ?? `run #${id}`;
  }

  color(id) {
    if (id === this.main) return MAIN_COLOR;
    return this.info(id)?.color ?? '#8a95a1';
  }

  /** The runs whose commands the audit log shows: the main run and every branch seen. */
  auditRuns() {
    const branches = [...this.seen.keys()].sort((a, b) => b - a).slice(0, 15);
    return this.main == null ? branches : [this.main, ...branches];
  }
}

export class RunBar {
  /**
   * `els`: {bar, list, diff, hint}; `onSelect(id)`, `onDrop(id)`, `onDiff(on)` are
   * called when the person picks a run, drops a branch, flips the difference switch.
   */
  constructor(els, { onSelect, onDrop, onDiff }) {
    this.els = els;
    this.onSelect = onSelect;
    this.onDrop = onDrop;
    els.diff.addEventListener('change', () => onDiff(els.diff.checked));
  }

  /** Redraws the chips: `selected` is the steered run; `writable` shows the drop buttons. */
  render(runs, selected, writable, busy = new Set()) {
    const chips = [...runs.live.values()].sort((a, b) => (a.main ? -1 : b.main ? 1 : a.id - b.id)).map((r) => {
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = r.color;
      const resumed = resumedText(r.resumedAt);
      const title = (r.main
        ? `Run #${r.id}, the main run: the baseline every branch is drawn against`
        : `Run #${r.id}, forked from run #${r.parent} at tick ${count(r.forkTick)}: ${describeChanges(r.changes)}`)
        + (resumed ? `; ${resumed} (after a crash or an interruption)` : '');
      const sub = [r.main ? '' : `from tick ${count(r.forkTick)}`, resumed].filter(Boolean).join(' · ');
      const pick = h('button', {
        type: 'button', class: 'run-pick', 'aria-pressed': String(r.id === selected), title: `${title}. Click to steer it with the controls.`,
        'data-testid': `run-select-${r.id}`, onclick: () => this.onSelect(r.id),
      }, swatch, h('span', { class: 'run-id', text: `#${r.id}` }), h('span', { class: 'run-label', text: r.label }),
      sub ? h('span', { class: 'run-sub', 'data-testid': `run-sub-${r.id}`, text: sub }) : null);
      const drop = r.main || !writable ? null : h('button', {
        type: 'button', class: 'run-drop', 'aria-label': `Drop branch #${r.id}`, title: 'Drop this branch: it stops; its rows stay in the database',
        'data-testid': `run-drop-${r.id}`, disabled: busy.has(r.id), onclick: () => this.onDrop(r.id), text: '✕',
      });
      return h('div', { class: `run-chip${r.id === selected ? ' selected' : ''}${r.main ? ' main' : ''}`, 'data-testid': `run-chip-${r.id}`, 'data-run': r.id }, pick, drop);
    });
    this.els.list.replaceChildren(...chips);
    const branches = runs.branches().length;
    this.els.diff.disabled = branches === 0;
    setText(this.els.hint, branches === 0
      ? (writable ? 'No what-if branch: “What if…” in the policy panel starts one.' : 'No what-if branch.')
      : `${branches} of 4 branches · the controls steer the run picked`);
  }
}
