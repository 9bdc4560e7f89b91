// charts.js: the live macro charts, drawn with uPlot (vendor/uPlot.iife.min.js).
//
// Each chart is declared once in CHARTS: its title, unit and series (indicator name,
// label, colour, value kind, axis). `Charts.render(window)` redraws every chart from the
// SeriesStore; the caller throttles it to the telemetry rate. Cursors are synchronised,
// so hovering one chart shows the same tick's values in all of them.
//
// Live what-if branches (`setBranches`) are drawn over the baseline on every chart: one
// more series per baseline series, in the branch's colour (a shade of it per baseline
// series, each with its own dash), named after the branch in the legend, whose markers
// show each series' colour and dash; a dotted line in the branch's colour marks the tick
// it was forked at. In difference mode the baseline series are hidden and each branch
// series shows branch − baseline at each tick, over a dotted zero line.
//
// Units (units.js): money is in genesis currency units, so a redenomination (a change of
// the ledger's unit) moves no line; each one is marked by a thin vertical line with a
// tooltip. Rates per tick (`kind: 'rate'`) read as annual rates by default, compounded
// over the scenario's ticks per year, or per tick; a difference of rates or shares reads
// in percentage points. The x axis reads in ticks or years.

import { fitWidth, h } from './dom.js';
import { axisValues, count, valueOf } from './format.js';
import { envelope } from './store.js';
import { ratePeriod, shownRate, shownTime, timeLabel, units } from './units.js';

const uPlot = window.uPlot;

export const COLORS = {
  blue: '#2563eb',
  orange: '#ea7a1e',
  green: '#15803d',
  red: '#c2410c',
  purple: '#7c3aed',
  teal: '#0f8a8a',
  gray: '#6b7280',
  pink: '#db2777',
};

/** The charts, in display order. `axis: 'y2'` puts a series on the right-hand axis. */
export const CHARTS = [
  {
    id: 'output', title: 'Output & GDP', unit: 'nominal GDP per tick, genesis currency units · real output in full-time workers',
    series: [
      { field: 'gdp', label: 'Nominal GDP', color: COLORS.blue, kind: 'money' },
      { field: 'output_real', label: 'Real output', color: COLORS.orange, kind: 'number', axis: 'y2' },
    ],
  },
  {
    id: 'unemployment', title: 'Unemployment rate', unit: 'share of households without an employer',
    series: [{ field: 'unemployment_rate', label: 'Unemployment', color: COLORS.red, kind: 'percent' }],
  },
  {
    id: 'inflation', title: 'Inflation & price level', unit: () => `inflation, % ${ratePeriod()} · price index log₁₀ (genesis = 0)`,
    series: [
      { field: 'inflation', label: 'Inflation', color: COLORS.purple, kind: 'rate' },
      { field: 'expected_inflation', label: 'Expected', color: COLORS.pink, kind: 'rate', dash: [4, 3] },
      { field: 'price_index_log10', label: 'Price index (log₁₀)', color: COLORS.gray, kind: 'number', axis: 'y2' },
    ],
  },
  {
    id: 'wages', title: 'Wages', unit: 'average wage per employed household, per tick',
    series: [{ field: 'average_wage', label: 'Average wage', color: COLORS.teal, kind: 'money' }],
  },
  {
    id: 'gini', title: 'Inequality (Gini coefficient)', unit: '0 = equal, 1 = one holds all',
    series: [
      { field: 'gini_wealth', label: 'Wealth', color: COLORS.purple, kind: 'number' },
      { field: 'gini_income', label: 'Income', color: COLORS.orange, kind: 'number' },
    ],
  },
  {
    id: 'government', title: 'Government balance & debt', unit: 'balance per tick (left) · debt outstanding (right)',
    series: [
      { field: 'government_balance', label: 'Balance', color: COLORS.green, kind: 'money' },
      { field: 'government_debt', label: 'Debt', color: COLORS.red, kind: 'money', axis: 'y2' },
    ],
  },
  {
    id: 'fiscal', title: 'Tax revenue vs welfare paid', unit: 'per tick',
    series: [
      { field: 'tax_revenue', label: 'Tax revenue', color: COLORS.blue, kind: 'money' },
      { field: 'welfare_paid', label: 'Welfare paid', color: COLORS.orange, kind: 'money' },
    ],
  },
  {
    id: 'money', title: 'Money stock', unit: 'deposits of households and firms', badge: 'money-drift',
    series: [{ field: 'money_stock', label: 'Money stock', color: COLORS.teal, kind: 'money' }],
  },
  {
    id: 'rates', title: 'Interest rates', unit: () => `% ${ratePeriod()}: central bank, loans to firms, deposits`,
    series: [
      { field: 'policy_rate', label: 'Policy', color: COLORS.gray, kind: 'rate' },
      { field: 'loan_rate', label: 'Loans', color: COLORS.red, kind: 'rate' },
      { field: 'deposit_rate', label: 'Deposits', color: COLORS.blue, kind: 'rate' },
    ],
  },
  {
    id: 'tps', title: 'Simulation speed', unit: 'ticks per second, measured in this browser', noBranches: true,
    series: [{ field: 'tps', label: 'Ticks/s', color: COLORS.gray, kind: 'number' }],
  },
];

/** Every store field the charts read (and the redenominations they mark). */
export const CHART_FIELDS = [...new Set([...CHARTS.flatMap((c) => c.series.map((s) => s.field)), 'redenominations'])];

/** A chart's subtitle: its unit, which may depend on how rates read. */
function unitText(spec) {
  return typeof spec.unit === 'function' ? spec.unit() : spec.unit;
}

/** The kind a series' values and axis read in: differences of shares and rates in pp. */
function shownKind(kind, overlay) {
  return overlay && (kind === 'percent' || kind === 'rate') ? 'pp' : kind;
}

/** The tooltip of a redenomination mark. */
function markTitle(m) {
  // The page may not hold every tick (frames skip ticks at speed): say where it happened.
  const when = m.tick - m.prev > 1 ? `between ticks ${count(m.prev)} and ${count(m.tick)}` : `at tick ${count(m.tick)}`;
  return `Redenomination ${when} (${m.to > m.from ? 'one new cent = ten old' : 'one old cent = ten new'}; ` +
    `${count(m.to)} in all): the ledger changed its unit of account. Money is shown in genesis currency units, so no series jumps.`;
}

const HEIGHT = 170;
const AXIS = { stroke: '#5b6673', grid: { stroke: '#edf0f3', width: 1 }, ticks: { stroke: '#dfe3e8', width: 1, size: 4 }, font: '11px system-ui, sans-serif' };

/** Dashes of a branch's series, by the baseline series they follow. */
const BRANCH_DASHES = [[7, 3], [2, 3], [10, 3, 2, 3]];

/** A branch's colour for its `k`-th series: the colour itself, then lighter, then darker. */
function shade(hex, k) {
  const mix = [null, [255, 0.4], [0, 0.3]][k % 3];
  if (!mix) return hex;
  const [to, f] = mix;
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgb(${rgb.map((c) => Math.round(c + (to - c) * f)).join(', ')})`;
}

/** A legend marker's border: the series' dash, as CSS can draw it. */
function markerDash(u, i) {
  const dash = u.series[i].dash;
  if (!dash?.length) return 'solid';
  return dash[0] <= 2 ? 'dotted' : 'dashed';
}

/** Most points a chart draws (longer windows are reduced by a min/max envelope). */
const MAX_POINTS = 2_000;

function options(spec, width, branches, diff) {
  const hasY2 = spec.series.some((s) => s.axis === 'y2');
  const first = spec.series.find((s) => s.axis !== 'y2');
  const second = spec.series.find((s) => s.axis === 'y2');
  const overlay = diff && branches.length > 0;
  const axes = [
    { ...AXIS, values: axisValues('time'), size: 28 },
    { ...AXIS, scale: 'y', values: axisValues(shownKind(first.kind, overlay)), size: 58 },
  ];
  if (hasY2) axes.push({ ...AXIS, scale: 'y2', side: 1, grid: { show: false }, values: axisValues(shownKind(second.kind, overlay)), size: 58 });
  return {
    width,
    height: HEIGHT,
    pxAlign: 0,
    scales: { x: { time: false }, y: {}, y2: {} },
    legend: { live: true, markers: { width: 2, dash: markerDash } },
    cursor: { sync: { key: 'watchtower' }, drag: { x: false, y: false }, points: { size: 6 } },
    series: [
      { label: timeLabel(), value: (u, v) => valueOf('time')(v) },
      ...spec.series.map((s) => ({
        label: branches.length ? `${s.label} (baseline)` : s.label,
        stroke: s.color,
        width: 1.5,
        dash: s.dash,
        scale: s.axis === 'y2' ? 'y2' : 'y',
        value: (u, v) => valueOf(s.kind)(v),
        points: { show: false },
        spanGaps: s.field !== 'tps',
        show: !overlay,
      })),
      ...branches.flatMap((b) => spec.series.map((s, k) => ({
        label: `${overlay ? 'Δ ' : ''}${b.label} · ${s.label}`,
        stroke: shade(b.color, k),
        width: 1.75,
        dash: BRANCH_DASHES[k % BRANCH_DASHES.length],
        scale: s.axis === 'y2' ? 'y2' : 'y',
        value: (u, v) => valueOf(shownKind(s.kind, overlay))(v),
        points: { show: false },
        spanGaps: true,
      }))),
    ],
    axes,
    hooks: { draw: [...(overlay ? [zeroLine] : []), marks, (u) => forkLines(u, branches)] },
  };
}

/** A dotted vertical line in each branch's colour at the tick it was forked at. */
function forkLines(u, branches) {
  const { ctx, bbox } = u;
  for (const b of branches) {
    if (b.forkTick == null) continue;
    const x = u.valToPos(shownTime(b.forkTick), 'x', true);
    if (!(x >= bbox.left && x <= bbox.left + bbox.width)) continue;
    ctx.save();
    ctx.strokeStyle = b.color;
    ctx.lineWidth = 1;
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.restore();
  }
}

/**
 * The redenominations in view (`u.redenominations`, set by `Charts.render`) as thin
 * vertical lines over the plot, each with its tooltip: DOM elements in uPlot's overlay,
 * so the browser shows the tooltip and a test can find them.
 */
function marks(u) {
  let layer = u.over.querySelector('.redenom-layer');
  if (!layer) {
    layer = h('div', { class: 'redenom-layer' });
    u.over.append(layer);
  }
  layer.replaceChildren();
  for (const m of u.redenominations ?? []) {
    const x = u.valToPos(shownTime(m.tick), 'x');
    if (!(x >= 0 && x <= u.over.clientWidth)) continue;
    const mark = h('div', { class: 'redenom-mark', 'data-testid': 'redenomination-mark', 'data-tick': String(m.tick), title: markTitle(m) });
    mark.style.left = `${x}px`;
    layer.append(mark);
  }
}

/** The dotted zero line of difference mode (left axis). */
function zeroLine(u) {
  const { ctx, bbox } = u;
  const y = u.valToPos(0, 'y', true);
  if (!(y >= bbox.top && y <= bbox.top + bbox.height)) return;
  ctx.save();
  ctx.strokeStyle = '#8a95a1';
  ctx.lineWidth = 1;
  ctx.setLineDash([3, 3]);
  ctx.beginPath();
  ctx.moveTo(bbox.left, y);
  ctx.lineTo(bbox.left + bbox.width, y);
  ctx.stroke();
  ctx.restore();
}

export class Charts {
  /** Builds one card per chart inside `container`; `store` is the baseline's SeriesStore. */
  constructor(container, store) {
    this.store = store;
    this.charts = [];
    this.badges = {};
    this.branches = []; // [{id, label, color, store}]
    this.diff = false;
    for (const spec of CHARTS) {
      const plot = h('div', { class: 'chart-plot' });
      const sub = h('p', { class: 'card-sub', text: unitText(spec) });
      const head = h('div', { class: 'card-head' }, h('div', {}, h('h3', { text: spec.title }), sub));
      if (spec.badge) {
        const badge = h('span', { class: 'badge neutral', 'data-testid': spec.badge, id: spec.badge, text: '…' });
        this.badges[spec.badge] = badge;
        head.append(badge);
      }
      const card = h('section', { class: 'card chart-card', id: `chart-${spec.id}`, 'data-testid': `chart-${spec.id}` }, head, plot);
      container.append(card);
      const width = Math.max(200, plot.clientWidth || 400);
      const c = { spec, plot, sub, fields: spec.series.map((s) => s.field), width, u: null, branches: [] };
      this.build(c);
      this.charts.push(c);
    }
    this.resizer = new ResizeObserver(() => this.resize());
    for (const c of this.charts) this.resizer.observe(c.plot);
  }

  /** (Re)creates chart `c`'s uPlot for the current branches and mode. */
  build(c) {
    const width = c.u ? c.u.width : c.width;
    c.u?.destroy();
    c.branches = c.spec.noBranches ? [] : this.branches;
    const opts = options(c.spec, width, c.branches, this.diff);
    c.u = new uPlot(opts, [[], ...opts.series.slice(1).map(() => [])], c.plot);
    c.sub.textContent = unitText(c.spec);
    c.plot.closest('.chart-card').classList.toggle('diff', this.diff && c.branches.length > 0);
  }

  /**
   * The live branches to overlay (`[{id, label, color, store}]`) and whether to plot them
   * as branch − baseline; the charts are rebuilt only when that changes.
   */
  setBranches(branches, diff) {
    const key = (list, d) => JSON.stringify([d && list.length > 0, list.map((b) => [b.id, b.label, b.color, b.forkTick])]);
    const changed = key(branches, diff) !== key(this.branches, this.diff);
    this.branches = branches;
    this.diff = diff;
    if (changed) for (const c of this.charts) this.build(c);
  }

  /** Rebuilds every chart after the way rates or time read changed (units.js). */
  unitsChanged() {
    for (const c of this.charts) this.build(c);
  }

  resize() {
    for (const c of this.charts) fitWidth(c.u, c.plot, HEIGHT);
  }

  /** uPlot data of chart `c`: the baseline's last `window` ticks, then each branch's. */
  data(c, window) {
    const [xs, ...raw] = this.store.raw(c.fields, window);
    const rates = c.spec.series.map((s) => s.kind === 'rate');
    // Rates as shown (annual or per tick) before any difference: a difference of annual rates.
    const shown = (cols) => cols.map((col, k) => (rates[k] ? col.map(shownRate) : col));
    const base = shown(raw);
    const cols = [...base];
    for (const b of c.branches) {
      const aligned = shown(b.store.alignTo(xs, c.fields));
      if (this.diff) {
        aligned.forEach((col, k) => {
          for (let i = 0; i < col.length; i++) col[i] = col[i] == null || base[k][i] == null ? null : col[i] - base[k][i];
        });
      }
      cols.push(...aligned);
    }
    const time = units.years ? xs.map(shownTime) : xs;
    return xs.length > MAX_POINTS ? envelope(time, cols, MAX_POINTS) : [time, ...cols];
  }

  /** The baseline's redenominations among its last `window` ticks: [{tick, prev, from, to}]. */
  redenominations(window) {
    const [xs, counts] = this.store.raw(['redenominations'], window);
    const out = [];
    for (let i = 1; i < xs.length; i++) {
      if (counts[i] != null && counts[i - 1] != null && counts[i] !== counts[i - 1]) out.push({ tick: xs[i], prev: xs[i - 1], from: counts[i - 1], to: counts[i] });
    }
    return out;
  }

  /** Redraws every chart with the last `window` ticks (Infinity = all held). */
  render(window) {
    const marks = this.redenominations(window);
    for (const c of this.charts) {
      c.u.redenominations = marks;
      const data = this.data(c, window);
      c.u.setData(data, true);
      // Not hovered: let the legend show the latest values rather than blanks.
      if (!(c.u.cursor.left >= 0) && data[0].length) c.u.setLegend({ idx: data[0].length - 1 });
    }
  }

  /** Chart `id`'s uPlot (for the browser console and the end-to-end test). */
  plot(id) {
    return this.charts.find((c) => c.spec.id === id)?.u ?? null;
  }

  badge(name) {
    return this.badges[name];
  }
}
