// sensitivity.js: a designed experiment's sensitivity indices, as the server serves them
// (GET /api/experiments/{id}/sensitivity, computed by the experiment crate, the numbers
// `watchtower sensitivity --json` prints): per indicator, horizontal bars of each
// parameter's first-order (S1) and total-order (ST) index with their 95% interval
// whiskers, parameters sorted by total order, on an axis of the share of the output's
// variance; a table of the same numbers; the notes in plain words. Morris: μ* with its
// interval, and σ. While the design runs, only its progress: indices over part of a
// design are not the design's. No statistics are computed here.

import { h } from './dom.js';
import { count, percent } from './format.js';
import { labelOf } from './controls.js';

const SVG = 'http://www.w3.org/2000/svg';
const ROW = 34;
const LEFT = 190;
const WIDTH = 620;
const RIGHT = 20;
const TOP = 8;
const AXIS = 40;
/** The farthest a Sobol chart's axis reaches above 1 (and below 0: CLIP − 1). */
const CLIP = 1.5;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

const fixed = (x, digits = 3) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(digits));

/** Nice ticks from `lo` to `hi`. */
function ticks(lo, hi) {
  const span = hi - lo || 1;
  const step = [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100].find((s) => span / s <= 6) ?? span / 5;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(Number(t.toFixed(6)));
  return out;
}

export class Sensitivity {
  /** Draws into `el`. */
  constructor(el) {
    this.el = el;
    this.answer = null;
  }

  /** Shows a served answer. */
  set(answer) {
    this.answer = answer;
    if (!answer.complete) {
      const p = answer.progress;
      const bar = h('progress', { 'data-testid': 'sens-progress', max: Math.max(1, p.runs), value: p.done });
      this.el.replaceChildren(h('div', { class: 'exp-progress' }, bar,
        h('span', { class: 'exp-progress-text', text: `${count(p.done)} of ${count(p.runs)} runs of the design (${percent(p.share, 0)})` })),
      h('p', { class: 'empty', 'data-testid': 'sens-waiting', text: answer.waiting ?? 'The indices come when the design is complete.' }));
      return;
    }
    const morris = answer.design === 'morris';
    this.el.replaceChildren(...answer.columns.map((column) => this.column(column, morris)));
  }

  /** Shows why there is no answer. */
  refuse(message) {
    this.answer = null;
    this.el.replaceChildren(h('p', { class: 'empty', 'data-testid': 'sens-refused', text: message }));
  }

  column(column, morris) {
    const indices = this.answer.indices[column] ?? {};
    const order = this.answer.order[column] ?? Object.keys(indices);
    const notes = this.answer.notes?.[column] ?? [];
    const seeds = this.answer.seeds > 1 ? ` (each point's output is its mean over ${this.answer.seeds} seeds)` : '';
    const bars = morris
      ? [{ key: 'mu_star', conf: 'mu_star_conf', label: 'μ* (mean |elementary effect|)', cls: 'st' }]
      : [{ key: 'S1', conf: 'S1_conf', label: 'S1 (first order)', cls: 's1' }, { key: 'ST', conf: 'ST_conf', label: 'ST (total order)', cls: 'st' }];
    const head = morris
      ? h('tr', {}, h('th', { text: 'Parameter' }), h('th', { text: 'μ* ± 95%' }), h('th', { text: 'μ' }), h('th', { text: 'σ' }))
      : h('tr', {}, h('th', { text: 'Parameter' }), h('th', { text: 'S1 ± 95%' }), h('th', { text: 'ST ± 95%' }));
    const rows = order.map((p) => {
      const ix = indices[p] ?? {};
      const cells = morris
        ? [h('td', { class: 'num', text: `${fixed(ix.mu_star, 4)} ± ${fixed(ix.mu_star_conf, 4)}` }), h('td', { class: 'num', text: fixed(ix.mu, 4) }), h('td', { class: 'num', text: fixed(ix.sigma, 4) })]
        : [h('td', { class: 'num', 'data-testid': 'sens-s1', text: `${fixed(ix.S1)} ± ${fixed(ix.S1_conf)}` }), h('td', { class: 'num', 'data-testid': 'sens-st', text: `${fixed(ix.ST)} ± ${fixed(ix.ST_conf)}` })];
      return h('tr', { 'data-parameter': p }, h('td', { title: p, text: labelOf(p) }), ...cells);
    });
    const sum = this.answer.sum_s1?.[column];
    const foot = morris
      ? 'μ*: how much the parameter moves the output; σ: how much its effect depends on where the others are (interactions, non-linearity); ± is a 95% bootstrap interval'
      : `sum of S1: ${fixed(sum)}; ± is a 95% bootstrap interval. S1: the share of the variance the parameter explains alone; ST: with its interactions`;
    return h('section', { class: 'sens-column', 'data-testid': 'sens-column', 'data-column': column },
      h('h4', { text: `${column}${seeds}` }),
      this.chart(column, order, indices, bars, morris),
      h('table', { class: 'exp-table sens-table', 'data-testid': 'sens-table' }, h('thead', {}, head), h('tbody', {}, ...rows)),
      h('p', { class: 'card-sub', text: foot }),
      notes.length ? h('ul', { class: 'sens-notes', 'data-testid': 'sens-notes' }, ...notes.map((n) => h('li', { text: `${n[0].toUpperCase()}${n.slice(1)}.` }))) : null);
  }

  /** Horizontal bars with whiskers, one group per parameter, largest total order on top. */
  chart(column, order, indices, bars, morris) {
    const values = order.flatMap((p) => bars.flatMap((b) => {
      const v = indices[p]?.[b.key];
      const c = indices[p]?.[b.conf] ?? 0;
      return Number.isFinite(v) ? [v - c, v + c] : [];
    }));
    // Indices are shares of the variance: the axis spans 0 to 1 and what the numbers
    // reach beyond it, but no further than CLIP (a whisker of a design with too few
    // samples can reach 10 and would flatten every bar); a whisker cut there ends in an
    // arrow, and the table and each bar's tooltip keep the numbers.
    const lo = morris ? 0 : Math.max(-CLIP + 1, Math.min(0, ...values));
    const hi = morris ? Math.max(...values, 1e-9) : Math.min(CLIP, Math.max(1, ...values));
    const plotW = WIDTH - LEFT - RIGHT;
    const x = (v) => LEFT + ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * plotW;
    const height = TOP + order.length * ROW + AXIS;
    const barH = (ROW - 10) / bars.length;
    const g = svg('svg', { class: 'sens-chart', 'data-testid': 'sens-chart', 'data-column': column, viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: 'img',
      'aria-label': `${column}: ${morris ? 'μ*' : 'S1 and ST'} of each parameter` });
    for (const t of ticks(lo, hi)) {
      g.append(svg('line', { x1: x(t), x2: x(t), y1: TOP, y2: TOP + order.length * ROW, class: 'sens-grid' }),
        svg('text', { x: x(t), y: TOP + order.length * ROW + 14, 'text-anchor': 'middle', class: 'sens-tick' }, document.createTextNode(String(t))));
    }
    g.append(svg('line', { x1: x(0), x2: x(0), y1: TOP, y2: TOP + order.length * ROW, class: 'sens-zero' }));
    order.forEach((p, i) => {
      const y0 = TOP + i * ROW + 5;
      g.append(svg('text', { x: LEFT - 8, y: y0 + (ROW - 10) / 2 + 4, 'text-anchor': 'end', class: 'sens-label' }, svg('title', {}, document.createTextNode(p)), document.createTextNode(labelOf(p))));
      bars.forEach((b, k) => {
        const v = indices[p]?.[b.key];
        const c = indices[p]?.[b.conf];
        if (!Number.isFinite(v)) return;
        const y = y0 + k * barH;
        const title = svg('title', {}, document.createTextNode(`${p}: ${b.label} ${fixed(v, 4)} ± ${fixed(c, 4)}`));
        g.append(svg('rect', { x: Math.min(x(0), x(v)), y, width: Math.abs(x(v) - x(0)), height: barH - 2, class: `sens-bar ${b.cls}`,
          'data-testid': 'sens-bar', 'data-parameter': p, 'data-index': b.key, 'data-value': v, 'data-conf': c ?? '' }, title));
        if (Number.isFinite(c)) {
          const ym = y + (barH - 2) / 2;
          const [a, z] = [x(v - c), x(v + c)];
          const left = v - c < lo ? `M${a + 5},${ym - 4}L${a},${ym}L${a + 5},${ym + 4}` : `M${a},${ym - 4}V${ym + 4}`;
          const right = v + c > hi ? `M${z - 5},${ym - 4}L${z},${ym}L${z - 5},${ym + 4}` : `M${z},${ym - 4}V${ym + 4}`;
          g.append(svg('path', { d: `M${a},${ym}H${z}${left}${right}`, class: 'sens-whisker',
            'data-testid': 'sens-whisker', 'data-parameter': p, 'data-index': b.key, 'data-cut': v - c < lo || v + c > hi ? 'true' : null }));
        }
      });
    });
    const axisLabel = morris ? 'mean absolute elementary effect (μ*), in the output\'s units' : 'share of the output\'s variance';
    g.append(svg('text', { x: LEFT + plotW / 2, y: height - 6, 'text-anchor': 'middle', class: 'sens-axis', 'data-testid': 'sens-axis' }, document.createTextNode(axisLabel)));
    const legend = h('p', { class: 'sens-legend' }, ...bars.map((b) => h('span', { class: `sens-key ${b.cls}`, text: b.label })), h('span', { text: 'whiskers: 95% interval (an arrow: it reaches beyond the axis)' }));
    return h('div', { class: 'sens-plot' }, legend, g);
  }
}

/** The card's subtitle for a design's layout (`{sobol: {...}}` or `{morris: {...}}`). */
export function designText(design, parameters) {
  if (design?.sobol) {
    const s = design.sobol;
    return `a Sobol design over ${parameters} parameters: ${count(s.samples)} base samples (seed ${s.seed})${s.second_order ? ', second order' : ''}; parameters sorted by total order`;
  }
  if (design?.morris) {
    const m = design.morris;
    return `a Morris design over ${parameters} parameters: ${count(m.trajectories)} trajectories, ${m.levels} levels (seed ${m.seed}); parameters sorted by μ*`;
  }
  return '';
}
