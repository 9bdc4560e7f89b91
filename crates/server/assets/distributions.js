// distributions.js: live histograms of the agent populations (household wealth and
// income, firm size, firm cash) from the `distributions` of each telemetry frame.
//
// One uPlot bar chart per distribution, created when its name first appears. Counts use
// an asinh scale (log-like, but 0 stays 0) so a heavy tail is visible next to a crowded
// first bin. Redrawn at most twice a second; hovering a bar reads out its range and count.

import { fitWidth, h, setText } from './dom.js';
import { axisValues, count, humanize, money, number } from './format.js';

const uPlot = window.uPlot;
const REDRAW_MS = 500;
const HEIGHT = 150;

const TITLES = {
  household_wealth: ['Household wealth', 'deposits per household'],
  household_income: ['Household income', 'gross income per household, this tick'],
  firm_size: ['Firm size', 'employees per firm'],
  firm_cash: ['Firm cash', 'deposits net of loans, per firm'],
};
const COLORS = ['#2563eb', '#ea7a1e', '#15803d', '#7c3aed', '#0f8a8a'];

/** Count-axis ticks at 0, 1, 10, 100, … up to the scale's top. */
function decades(u) {
  const max = u.scales.y.max ?? 1;
  const splits = [0];
  for (let v = 1; v <= max; v *= 10) splits.push(v);
  return splits;
}

function titleOf(name) {
  return TITLES[name] ?? [humanize(name), ''];
}

export class Distributions {
  constructor(container) {
    this.container = container;
    this.cards = new Map();
    this.lastDraw = 0;
    this.resizer = new ResizeObserver(() => this.resize());
  }

  /** Called with each frame's distributions; redraws at most every REDRAW_MS. */
  update(distributions, tick) {
    const now = performance.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    for (const d of distributions ?? []) this.draw(this.card(d), d, tick);
  }

  card(d) {
    let card = this.cards.get(d.name);
    if (card) return card;
    const [title, sub] = titleOf(d.name);
    const color = COLORS[this.cards.size % COLORS.length];
    const plot = h('div', { class: 'chart-plot' });
    const stats = h('p', { class: 'dist-stats', 'data-testid': `dist-stats-${d.name}` });
    const el = h('section', { class: 'card dist-card', 'data-testid': `dist-${d.name}` },
      h('div', { class: 'card-head' }, h('div', {}, h('h3', { text: title }), h('p', { class: 'card-sub', text: sub ? `${sub} · counts on a log scale` : 'counts on a log scale' }))),
      plot, stats);
    this.container.append(el);
    const isMoney = d.unit === 'genesis currency units';
    card = { el, plot, stats, d, fmt: isMoney ? money : number, lo: 0, hi: 1, binWidth: 1, hover: null };
    const opts = {
      width: Math.max(200, plot.clientWidth || 300),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false }, y: false },
      scales: {
        x: { time: false, range: () => [card.lo, card.hi] },
        y: { distr: 4, asinh: 1, range: (u, min, max) => [0, Math.max(1, max) * 1.15] },
      },
      axes: [
        { stroke: '#5b6673', grid: { show: false }, ticks: { size: 3 }, font: '11px system-ui, sans-serif', values: axisValues(isMoney ? 'money' : 'number'), size: 26 },
        { stroke: '#5b6673', grid: { stroke: '#edf0f3' }, ticks: { size: 3 }, font: '11px system-ui, sans-serif', splits: decades, values: (u, s) => s.map((v) => (v == null ? '' : count(v))), size: 44 },
      ],
      series: [
        {},
        { label: 'count', stroke: color, fill: `${color}55`, width: 1, paths: uPlot.paths.bars({ size: [1, Infinity], align: 0, gap: 1 }), points: { show: false } },
      ],
      hooks: { setCursor: [(u) => { card.hover = u.cursor.idx; this.readout(card); }] },
    };
    card.u = new uPlot(opts, [[], []], plot);
    this.cards.set(d.name, card);
    this.resizer.observe(plot);
    return card;
  }

  draw(card, d, tick) {
    const counts = d.histogram?.counts ?? [];
    let { lo, hi } = d.histogram ?? { lo: 0, hi: 1 };
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    const width = (hi - lo) / Math.max(1, counts.length);
    card.lo = lo;
    card.hi = hi;
    card.binWidth = width;
    card.d = d;
    card.tick = tick;
    card.u.setData([counts.map((_, i) => lo + width * (i + 0.5)), counts], true);
    this.readout(card);
  }

  /** The stats line: the hovered bin, or the distribution's summary. */
  readout(card) {
    const { d, fmt } = card;
    if (card.hover != null && d.histogram?.counts?.[card.hover] != null) {
      const a = card.lo + card.binWidth * card.hover;
      setText(card.stats, `${fmt(a)} to ${fmt(a + card.binWidth)}: ${count(d.histogram.counts[card.hover])} of ${count(d.count)}`);
      return;
    }
    setText(card.stats, `median ${fmt(d.p50)} · p10 ${fmt(d.p10)} · p90 ${fmt(d.p90)} · mean ${fmt(d.mean)} · max ${fmt(d.max)} · n ${count(d.count)}`);
  }

  resize() {
    for (const card of this.cards.values()) fitWidth(card.u, card.plot, HEIGHT);
  }
}
