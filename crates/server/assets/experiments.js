// experiments.js: the Experiments view (#experiments, #experiments/ID).
//
// The list comes from GET /api/experiments; an experiment's spec, progress and summary
// table from GET /api/experiments/{id} (paged by `from`; `kept` names the runs whose
// ticks were recorded). While one is running, its progress is read from the store every
// second (backing off to 10 s while nothing changes or the server does not answer) and
// its table is read again as runs finish. A grid is drawn as a heat map of a summary
// column (heatmap.js) with each cell's numbers from GET /api/experiments/{id}/cells; an
// ensemble (no axes) as a fan chart (fan.js) from GET /api/experiments/{id}/fan; a Sobol or
// Morris design (layout.design), whose points form no grid, as its sensitivity indices
// (sensitivity.js) from GET /api/experiments/{id}/sensitivity, the design's progress
// while it runs; a calibration (layout.kind) as its progress, least loss and estimates
// (calibration.js) from GET /api/experiments/{id}/calibration. A grid point's runs are listed with a link to each one's charts
// (`/?run=ID`) when its ticks were kept.

import { getJSON } from './api.js';
import { h, setText } from './dom.js';
import { count, percent } from './format.js';
import { labelOf } from './controls.js';
import { FanChart } from './fan.js';
import { HeatMap, pointIndices, short } from './heatmap.js';
import { Sensitivity, designText } from './sensitivity.js';
import { Calibration } from './calibration.js';

const POLL_MS = 1_000;
const POLL_MAX_MS = 10_000;
const LIST_MS = 5_000;
const PAGE = 10_000;
const MAX_ROWS = 100_000;
const TABLE_REFRESH_MS = 3_000;
const NOT_SUMMARY = new Set(['run', 'seed', 'phase', 'branch_phase', 'error']);

function badge(status) {
  const kind = { finished: 'ok', running: 'running', failed: 'error', interrupted: 'warn' }[status] ?? 'neutral';
  return h('span', { class: `badge ${kind}`, 'data-testid': 'exp-status', text: status });
}

function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString('en-GB', { hour12: false });
}

function option(value, text, selected) {
  const o = h('option', { value, text });
  o.selected = selected;
  return o;
}

export class Experiments {
  constructor(listEl, detailEl) {
    this.listEl = listEl;
    this.detailEl = detailEl;
    this.visible = false;
    this.list = null;
    this.id = null;
    this.exp = null; // {detail, progress, columns, rows, kept}
    this.pollTimer = null;
    this.listTimer = null;
    this.delay = POLL_MS;
    this.generation = 0;
    this.heatmap = null;
    this.fanChart = null;
    this.sensitivity = null;
    this.calibration = null;
    this.picked = null;
    this.lastTable = 0;
    this.heatAsked = 0;
    this.render();
  }

  /** The view is shown, for `hash` (#experiments or #experiments/ID). */
  async show(hash) {
    this.visible = true;
    const wanted = Number(/^#experiments\/(\d+)/.exec(hash)?.[1]) || null;
    await this.loadList();
    const id = wanted ?? this.list?.[0]?.id ?? null;
    if (id != null && id !== this.id) this.select(id);
    else if (id != null && this.exp) this.resumePolling();
    clearInterval(this.listTimer);
    this.listTimer = setInterval(() => { if (this.visible) this.loadList(); }, LIST_MS);
  }

  hide() {
    this.visible = false;
    clearInterval(this.listTimer);
    clearTimeout(this.pollTimer);
  }

  async loadList() {
    try {
      const { status, body } = await getJSON('/api/experiments');
      if (status === 200 && Array.isArray(body?.experiments)) this.list = body.experiments;
      else if (status === 404) this.list = [];
    } catch {
      // offline: the next refresh tries again
    }
    this.render();
  }

  render() {
    if (this.list == null) {
      this.listEl.replaceChildren(h('p', { class: 'empty', text: 'Loading…' }));
      return;
    }
    if (!this.list.length) {
      this.listEl.replaceChildren(h('p', { class: 'empty', text: 'No experiment in this data directory. Run one with watchtower experiment SPEC.yaml (stop the server first: the directory has one user at a time).' }));
      return;
    }
    this.listEl.replaceChildren(...this.list.map((e) => {
      const bar = h('progress', { max: Math.max(1, e.runs), value: e.done });
      return h('a', {
        class: `exp-item${e.id === this.id ? ' selected' : ''}`, href: `#experiments/${e.id}`, 'data-testid': `exp-item-${e.id}`,
        'aria-current': e.id === this.id ? 'true' : null,
      },
      h('span', { class: 'exp-item-head' }, h('strong', { text: e.name }), badge(e.status)),
      h('span', { class: 'exp-item-sub', text: e.layout?.kind === 'calibration'
        ? `#${e.id} · calibration · ${count(e.done)} of ${count(e.runs)} simulations`
        : `#${e.id} · ${count(e.done)} of ${count(e.runs)} runs · ${count(e.points)} grid point${e.points === 1 ? '' : 's'}` }),
      bar);
    }));
  }

  // ---- one experiment --------------------------------------------------------------

  async select(id) {
    this.id = id;
    this.exp = null;
    this.picked = null;
    this.generation++;
    clearTimeout(this.pollTimer);
    this.render();
    this.detailEl.replaceChildren(h('p', { class: 'empty', text: `Loading experiment #${id}…` }));
    await this.loadTable(this.generation);
    this.resumePolling();
  }

  resumePolling() {
    clearTimeout(this.pollTimer);
    this.delay = POLL_MS;
    if (this.exp?.progress.status === 'running') this.pollTimer = setTimeout(() => this.poll(this.generation), this.delay);
  }

  /** Reads the experiment and its whole table (page by page) and redraws. */
  async loadTable(generation) {
    const id = this.id;
    let first = null;
    const rows = [];
    const kept = [];
    try {
      let from = 0;
      for (let page = 0; page < MAX_ROWS / PAGE; page++) {
        const { status, body } = await getJSON(`/api/experiments/${id}?from=${from}&limit=${PAGE}`, { timeout: 20_000 });
        if (generation !== this.generation) return;
        if (status !== 200 || !body) {
          this.detailEl.replaceChildren(h('p', { class: 'empty', text: status === 404 ? `No experiment #${id}.` : `Experiment #${id} could not be read (${status}).` }));
          return;
        }
        first ??= body;
        rows.push(...body.rows);
        kept.push(...(body.kept ?? []));
        if (body.rows.length < PAGE) break;
        from = body.rows[body.rows.length - 1].run + 1;
      }
    } catch {
      if (!this.exp) this.detailEl.replaceChildren(h('p', { class: 'empty', text: 'The server did not answer; retrying…' }));
      return;
    }
    this.lastTable = performance.now();
    const fresh = !this.exp;
    this.exp = { detail: first.experiment, progress: first.progress, columns: first.columns ?? [], rows, kept: new Map(kept.map((k) => [k.run, k.run_id])) };
    if (fresh) this.build();
    else this.update();
  }

  /** Reads the progress; the table again when runs finished. Backs off while nothing moves. */
  async poll(generation) {
    if (!this.visible || generation !== this.generation) return;
    let moved = false;
    try {
      const { status, body } = await getJSON(`/api/experiments/${this.id}?limit=1`);
      if (generation !== this.generation) return;
      if (status === 200 && body?.progress) {
        const before = this.exp.progress;
        moved = body.progress.done !== before.done || body.progress.status !== before.status;
        this.exp.progress = body.progress;
        this.exp.detail = body.experiment;
        this.showProgress();
        const finished = body.progress.status !== 'running';
        if (moved && (finished || performance.now() - this.lastTable > (this.exp.rows.length > 2_000 ? TABLE_REFRESH_MS : 0))) {
          await this.loadTable(generation);
        }
        if (finished) {
          this.loadList();
          return;
        }
        this.delay = moved ? POLL_MS : Math.min(POLL_MAX_MS, this.delay * 1.5);
      } else {
        this.delay = Math.min(POLL_MAX_MS, this.delay * 2);
      }
    } catch {
      this.delay = Math.min(POLL_MAX_MS, this.delay * 2);
    }
    if (generation === this.generation && this.visible) this.pollTimer = setTimeout(() => this.poll(generation), this.delay);
  }

  get layout() {
    return this.exp.detail.layout ?? {};
  }

  /** Builds the detail panel for a newly selected experiment. */
  build() {
    const e = this.exp.detail;
    const layout = this.layout;
    const axes = layout.axes ?? [];
    this.heatmap?.destroy();
    this.fanChart?.destroy();
    this.heatmap = null;
    this.fanChart = null;
    this.sensitivity = null;
    this.calibration = null;
    this.els = {};
    if (layout.kind === 'calibration') {
      this.buildCalibration();
      return;
    }
    const head = h('div', { class: 'exp-head' },
      h('div', {}, h('h2', { 'data-testid': 'exp-name', text: e.name }),
        h('p', { class: 'panel-sub', text: `#${e.id} · ${e.source} · started ${when(e.started_at)}${e.ended_at ? ` · ended ${when(e.ended_at)}` : ''}` })),
      this.els.status = h('span', {}));
    this.els.bar = h('progress', { 'data-testid': 'exp-progress', max: 1, value: 0 });
    this.els.progress = h('span', { class: 'exp-progress-text', 'data-testid': 'exp-progress-text' });
    const seeds = Array.isArray(layout.seeds) ? layout.seeds : [];
    const spec = h('dl', { class: 'exp-spec' },
      h('dt', { text: 'Economy' }), h('dd', { text: `${layout.model ?? 'mark0'}, ${count(layout.ticks)} ticks, summarised after tick ${count(layout.warmup ?? 0)}` }),
      h('dt', { text: 'Seeds' }), h('dd', { text: seeds.length > 8 ? `${seeds.length} (${seeds.slice(0, 6).join(', ')}, …)` : seeds.join(', ') || '–' }),
      ...axes.flatMap((a) => [h('dt', { title: a.key, text: labelOf(a.key) }), h('dd', { text: a.values.map((v) => short(Number(v))).join(', ') })]),
      layout.fork ? [h('dt', { text: 'Fork' }), h('dd', { text: `at tick ${count(layout.fork.tick)}: ${Object.entries(layout.fork.set).map(([k, v]) => `${labelOf(k)} = ${v}`).join(', ')}` })] : null,
      h('dt', { text: 'Indicators' }), h('dd', { text: (layout.indicators ?? []).join(', ') }));
    const parts = [head, h('div', { class: 'exp-progress' }, this.els.bar, this.els.progress), spec];
    if (e.error) parts.push(h('p', { class: 'exp-error', text: e.error }));

    if (layout.design) {
      const plot = h('div', { class: 'sens-plots', 'data-testid': 'exp-sensitivity' });
      parts.push(h('section', { class: 'card exp-card', 'data-testid': 'exp-sensitivity-card' },
        h('div', { class: 'card-head' }, h('div', {}, h('h3', { text: 'Sensitivity' }),
          h('p', { class: 'card-sub', text: designText(layout.design, axes.length) }))),
        plot));
      this.sensitivity = new Sensitivity(plot);
    } else if (axes.length) {
      const summaries = this.exp.columns.filter((c) => !NOT_SUMMARY.has(c) && !axes.some((a) => a.key === c));
      const first = `${(layout.indicators ?? [])[0]}_mean`;
      this.els.column = h('select', { 'data-testid': 'heat-column', 'aria-label': 'Summary column' },
        summaries.map((c) => option(c, c, c === first)));
      this.els.xAxis = h('select', { 'data-testid': 'heat-x', 'aria-label': 'Horizontal axis' }, axes.map((a, i) => option(i, labelOf(a.key), i === 0)));
      this.els.yAxis = h('select', { 'data-testid': 'heat-y', 'aria-label': 'Vertical axis' }, axes.map((a, i) => option(i, labelOf(a.key), i === 1)));
      const pickers = [h('label', {}, 'Colour: ', this.els.column)];
      if (axes.length > 2) pickers.push(h('label', {}, 'x: ', this.els.xAxis), h('label', {}, 'y: ', this.els.yAxis));
      for (const el of [this.els.column, this.els.xAxis, this.els.yAxis]) el.addEventListener('change', () => this.drawHeat());
      const plot = h('div', { class: 'heat-plot' });
      const sub = axes.length > 2 ? 'each cell: the mean over its seeds and the further axes' : `each cell: the mean over its seed${seeds.length === 1 ? '' : 's'}`;
      parts.push(h('section', { class: 'card exp-card', 'data-testid': 'exp-heat-card' },
        h('div', { class: 'card-head' }, h('div', {}, h('h3', { text: 'Heat map' }),
          h('p', { class: 'card-sub', text: `${sub}; phases written in and outlined in white; hover a cell for its summaries and seeds, click it for its runs` })),
        h('div', { class: 'map-tools' }, ...pickers)),
        plot));
      this.heatmap = new HeatMap(plot, (cell) => this.pick(cell));
    } else {
      this.els.indicator = h('select', { 'data-testid': 'fan-indicator', 'aria-label': 'Indicator' },
        (layout.indicators ?? []).map((ind, i) => option(ind, ind, i === 0)));
      this.els.indicator.addEventListener('change', () => this.loadFan());
      const plot = h('div', { class: 'fan-plot', 'data-testid': 'exp-fan' });
      parts.push(h('section', { class: 'card exp-card', 'data-testid': 'exp-fan-card' },
        h('div', { class: 'card-head' }, h('div', {}, h('h3', { text: 'Fan chart' }),
          h('p', { class: 'card-sub', text: `the mean across the seeds and its 95% band, by block of ${count(Math.max(1, Math.ceil((layout.ticks ?? 1) / 200)))} tick(s)${layout.fork ? '; the branch from its fork' : ''}` })),
        h('div', { class: 'map-tools' }, h('label', {}, 'Indicator: ', this.els.indicator))),
        plot,
        this.els.effects = h('div', { class: 'exp-effects', 'data-testid': 'exp-effects', hidden: true })));
      this.fanChart = new FanChart(plot);
    }
    this.els.runs = h('div', { class: 'exp-runs', 'data-testid': 'exp-runs' });
    this.els.runsTitle = h('h3', { text: axes.length && !layout.design ? 'Grid point' : 'Runs' });
    this.els.runsSub = h('p', { class: 'card-sub' });
    parts.push(h('section', { class: 'card exp-card' }, h('div', { class: 'card-head' }, h('div', {}, this.els.runsTitle, this.els.runsSub)), this.els.runs));
    this.detailEl.replaceChildren(...parts);
    this.update();
  }

  /** The detail panel of a calibration: its spec and what calibration.js draws. */
  buildCalibration() {
    const e = this.exp.detail;
    const layout = this.layout;
    const head = h('div', { class: 'exp-head' },
      h('div', {}, h('h2', { 'data-testid': 'exp-name', text: e.name }),
        h('p', { class: 'panel-sub', text: `#${e.id} · calibration · ${e.source} · started ${when(e.started_at)}${e.ended_at ? ` · ended ${when(e.ended_at)}` : ''}` })),
      this.els.status = h('span', {}));
    this.els.bar = h('progress', { 'data-testid': 'exp-progress', max: 1, value: 0 });
    this.els.progress = h('span', { class: 'exp-progress-text', 'data-testid': 'exp-progress-text' });
    const spec = h('dl', { class: 'exp-spec' },
      h('dt', { text: 'Economy' }), h('dd', { text: `${layout.model ?? 'mark0'}, ${count(layout.ticks)} ticks, moments after tick ${count(layout.warmup ?? 0)}` }),
      h('dt', { text: 'Free' }), h('dd', { text: (layout.free ?? []).map((f) => labelOf(f.key)).join(', ') }),
      h('dt', { text: 'Moments' }), h('dd', { text: (layout.moments ?? []).join(', ') }));
    const plot = h('div', { class: 'cal-view', 'data-testid': 'exp-calibration' });
    const parts = [head, h('div', { class: 'exp-progress' }, this.els.bar, this.els.progress), spec];
    if (e.error) parts.push(h('p', { class: 'exp-error', text: e.error }));
    parts.push(h('section', { class: 'card exp-card', 'data-testid': 'exp-calibration-card' },
      h('div', { class: 'card-head' }, h('div', {}, h('h3', { text: 'Calibration' }),
        h('p', { class: 'card-sub', text: 'the method of simulated moments (watchtower calibrate): the search so far, then the estimates with their uncertainty' }))),
      plot));
    this.calibration = new Calibration(plot);
    this.detailEl.replaceChildren(...parts);
    this.update();
  }

  /** Reads the calibration's progress or result and draws it. */
  async loadCalibration() {
    const generation = this.generation;
    try {
      const { status, body } = await getJSON(`/api/experiments/${this.id}/calibration`, { timeout: 20_000 });
      if (generation !== this.generation || !this.calibration) return;
      if (status === 200 && body) this.calibration.set(body);
      else if (status === 400) this.calibration.refuse(body?.error ?? 'Not a calibration.');
    } catch {
      // the next update tries again
    }
  }

  /** Redraws what depends on the table and the progress. */
  update() {
    this.showProgress();
    if (this.calibration) {
      this.loadCalibration();
      return;
    }
    if (this.heatmap) this.drawHeat();
    if (this.fanChart) this.loadFan();
    if (this.sensitivity) this.loadSensitivity();
    this.showRuns();
  }

  showProgress() {
    const p = this.exp.progress;
    this.els.status.replaceChildren(badge(p.status));
    this.els.bar.max = Math.max(1, p.runs);
    this.els.bar.value = p.done;
    const unit = this.calibration ? 'simulations' : 'runs';
    setText(this.els.progress, `${count(p.done)} of ${count(p.runs)} ${unit} (${percent(p.share, 0)})${p.status === 'running' ? ' · running: read from the store every second' : ` · ${p.status}`}`);
  }

  /** Reads the cells' numbers (GET …/cells) for the chosen column and axes, then draws. */
  async drawHeat() {
    const axes = this.layout.axes;
    let ix = Number(this.els.xAxis.value);
    let iy = axes.length > 1 ? Number(this.els.yAxis.value) : null;
    if (iy === ix) iy = axes.length > 1 ? (ix === 0 ? 1 : 0) : null;
    const column = this.els.column.value;
    const asked = ++this.heatAsked;
    const generation = this.generation;
    let served = null;
    try {
      const query = `column=${encodeURIComponent(column)}&x=${ix}${iy == null ? '' : `&y=${iy}`}`;
      const { status, body } = await getJSON(`/api/experiments/${this.id}/cells?${query}`, { timeout: 20_000 });
      if (status === 200 && Array.isArray(body?.cells)) served = body;
    } catch {
      // the next update tries again
    }
    // A later question (another column, new rows) or another experiment supersedes this one.
    if (asked !== this.heatAsked || generation !== this.generation || !this.heatmap) return;
    if (!served && this.heatmap.input) return; // keep what is drawn until the server answers
    this.heatmap.set({ layout: this.layout, rows: this.exp.rows, column, ix, iy, served });
    if (this.picked) this.picked = this.heatmap.cells.find((c) => c.x === this.picked.x && c.y === this.picked.y) ?? null;
    this.showRuns();
  }

  async loadFan() {
    const generation = this.generation;
    const indicator = this.els.indicator.value;
    try {
      const { status, body } = await getJSON(`/api/experiments/${this.id}/fan?indicator=${encodeURIComponent(indicator)}`, { timeout: 20_000 });
      if (generation !== this.generation || indicator !== this.els.indicator.value) return;
      if (status === 200 && body) {
        this.fanChart.set(body);
        this.showEffects(body.effects ?? []);
      }
    } catch {
      // the next update tries again
    }
  }

  /** A fork's effect table, as the server computed it (every summarised indicator). */
  showEffects(effects) {
    if (!this.els.effects) return;
    this.els.effects.hidden = !effects.length;
    if (!effects.length) return;
    const fmt = (x, sign) => {
      if (x == null) return '–';
      const text = Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : Number(x.toPrecision(4)).toString();
      return sign && x > 0 ? `+${text}` : text;
    };
    const head = h('tr', {}, ...['Indicator', 'Effect', '95% interval', 'Unit', 'Runs', 'Baseline level'].map((t) => h('th', { text: t })));
    const rows = effects.map((e) => h('tr', { 'data-indicator': e.indicator },
      h('td', { text: e.label }),
      h('td', { class: 'num', text: fmt(e.effect, true) }),
      h('td', { class: 'num', text: `[${fmt(e.lo, true)}, ${fmt(e.hi, true)}]` }),
      h('td', { text: e.unit }),
      h('td', { class: 'num', text: count(e.runs) }),
      h('td', { class: 'num', text: `${fmt(e.baseline, false)} ${e.level_unit}` })));
    this.els.effects.replaceChildren(
      h('h4', { text: 'Effect of the fork (branch − baseline), mean across the seeds with its 95% interval' }),
      h('table', { class: 'exp-table', 'data-testid': 'exp-effects-table' }, h('thead', {}, head), h('tbody', {}, ...rows)));
  }

  /** Reads the indices (or the design's progress) and draws them. */
  async loadSensitivity() {
    const generation = this.generation;
    try {
      const { status, body } = await getJSON(`/api/experiments/${this.id}/sensitivity`, { timeout: 20_000 });
      if (generation !== this.generation || !this.sensitivity) return;
      if (status === 200 && body) this.sensitivity.set(body);
      else if (status === 400) this.sensitivity.refuse(body?.error ?? 'No sensitivity indices for this experiment.');
    } catch {
      // the next update tries again
    }
  }

  pick(cell) {
    this.picked = cell;
    this.showRuns();
  }

  /** The runs of the picked grid point (or of the whole ensemble), with their links. */
  showRuns() {
    const axes = this.layout.axes ?? [];
    let runs;
    if (!axes.length || this.layout.design) {
      runs = this.exp.rows;
      setText(this.els.runsSub, `${count(runs.length)} finished; a run's charts open when its ticks were kept (--keep-ticks)`);
    } else if (this.picked) {
      runs = this.picked.runs;
      setText(this.els.runsTitle, `Grid point: ${this.picked.axes.map(([k, v]) => `${labelOf(k)} = ${short(Number(v))}`).join(' · ')}`);
      setText(this.els.runsSub, `${count(runs.length)} run${runs.length === 1 ? '' : 's'}; a run's charts open when its ticks were kept (--keep-ticks)`);
    } else {
      this.els.runs.replaceChildren(h('p', { class: 'empty', text: 'Click a cell of the heat map to list its runs.' }));
      return;
    }
    const column = this.els.column?.value ?? `${(this.layout.indicators ?? [])[0]}_mean`;
    const designed = Boolean(this.layout.design);
    const extra = designed ? [] : axes.filter((a, k) => !this.heatmap || (k !== Number(this.els.xAxis.value) && k !== Number(this.els.yAxis.value)));
    const seeds = Array.isArray(this.layout.seeds) ? this.layout.seeds.length : 1;
    const head = h('tr', {}, h('th', { text: 'Run' }), h('th', { text: 'Seed' }), ...extra.map((a) => h('th', { title: a.key, text: labelOf(a.key) })),
      h('th', { text: 'Phase' }), h('th', { text: column }), h('th', { text: 'Charts' }));
    const body = runs.slice(0, 500).map((r) => {
      const kept = this.exp.kept.get(r.run);
      const idx = designed ? [] : pointIndices(Math.floor(r.run / seeds), axes);
      return h('tr', { 'data-testid': `exp-run-${r.run}` },
        h('td', { text: String(r.run) }), h('td', { text: String(r.seed) }),
        ...extra.map((a) => h('td', { text: short(Number(a.values[idx[axes.indexOf(a)]])) })),
        h('td', { text: r.error ? 'failed' : (r.phase ?? '–') }), h('td', { class: 'num', text: short(r[column]) }),
        h('td', {}, kept == null ? h('span', { class: 'muted', title: 'Its ticks were not kept: run the experiment with --keep-ticks', text: 'not kept' })
          : h('a', { href: `/?run=${kept}`, 'data-testid': `run-link-${r.run}`, text: `run #${kept} →` })));
    });
    const more = runs.length > 500 ? [h('p', { class: 'empty', text: `… and ${count(runs.length - 500)} more` })] : [];
    this.els.runs.replaceChildren(h('table', { class: 'exp-table' }, h('thead', {}, head), h('tbody', {}, ...body)), ...more);
  }
}
