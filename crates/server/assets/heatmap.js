// heatmap.js: an experiment's heat map, drawn in a <canvas>: one summary column over
// two of the experiment's axes (one axis: a single row), each cell the mean over its
// runs (its seeds, and the values of any further axes), coloured on the viridis scale,
// with the Mark-0 phase most of its runs ended in written in it and white lines between
// cells of different phases, as `watchtower experiment --plot` draws it. Hovering a cell
// shows its mean ± the 95% interval's half-width, its summaries and each of its runs
// (seed, phase, value) in a tooltip built from text nodes; clicking it selects it
// (`onPick`). The numbers are the server's (GET /api/experiments/{id}/cells, computed by
// the runner as the CLI and the PNG compute them): this file draws them and computes no
// statistics of its own; it only sorts the table's rows into their cells to list them.

import { h } from './dom.js';
import { labelOf } from './controls.js';

const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];
const STATS = ['mean', 'sd', 'min', 'max', 'p5', 'p50', 'p95'];
const MARGIN = { left: 70, right: 78, top: 10, bottom: 46 };

/** A colour of the viridis scale at `t` in [0, 1]. */
export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]].map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(',')})`;
}

/** A number with up to four significant digits. */
export function short(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

/** Axis indices of grid point `point`: the axes in written order, the last fastest. */
export function pointIndices(point, axes) {
  const out = new Array(axes.length);
  let rest = point;
  for (let k = axes.length - 1; k >= 0; k--) {
    const n = axes[k].values.length;
    out[k] = rest % n;
    rest = Math.floor(rest / n);
  }
  return out;
}

export class HeatMap {
  /** `container`: the element the canvas goes in; `onPick(cell)` on a click. */
  constructor(container, onPick) {
    this.container = container;
    this.onPick = onPick;
    this.canvas = h('canvas', { class: 'heat-canvas', 'data-testid': 'exp-heatmap', role: 'img' });
    this.tooltip = h('div', { class: 'map-tooltip heat-tooltip', 'data-testid': 'heat-tooltip', hidden: true });
    this.wrap = h('div', { class: 'heat-wrap' }, this.canvas, this.tooltip);
    // What the colours and the phase codes are, as the server says them.
    this.legend = h('div', { class: 'heat-legend', 'data-testid': 'heat-legend' });
    container.replaceChildren(this.wrap, this.legend);
    this.cells = [];
    this.geometry = null;
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    this.canvas.addEventListener('click', (e) => {
      const cell = this.cellAt(e.offsetX, e.offsetY);
      if (cell) this.onPick(cell);
    });
    this.resizer = new ResizeObserver(() => {
      if (this.input && Math.floor(this.wrap.clientWidth) !== this.drawnWidth) this.draw();
    });
    this.resizer.observe(this.wrap);
  }

  destroy() {
    this.resizer.disconnect();
  }

  /**
   * Draws `column` over axes `ix` and `iy` (`iy` null: one row) of `layout` (its `axes`
   * and `seeds`): each cell's numbers from `served` (the /cells answer; null: none, the
   * cells are grey), its runs from `rows`.
   */
  set(input) {
    this.input = input;
    this.compute();
    this.draw();
  }

  compute() {
    const { layout, rows, column, ix, iy, served } = this.input;
    const axes = layout.axes;
    const seeds = Array.isArray(layout.seeds) ? layout.seeds.length : Number(layout.seeds) || 1;
    const nx = axes[ix].values.length;
    const ny = iy == null ? 1 : axes[iy].values.length;
    const indicator = STATS.map((s) => `_${s}`).find((suffix) => column.endsWith(suffix)) ? column.replace(/_(mean|sd|min|max|p5|p50|p95)$/, '') : null;
    const numbers = new Map((served?.cells ?? []).map((s) => [`${s.x},${s.y}`, s]));
    const cells = [];
    for (let x = 0; x < nx; x++) for (let y = 0; y < ny; y++) cells.push({ x, y, runs: [] });
    for (const row of rows) {
      const idx = pointIndices(Math.floor(row.run / seeds), axes);
      cells[idx[ix] * ny + (iy == null ? 0 : idx[iy])].runs.push(row);
    }
    for (const c of cells) {
      const s = numbers.get(`${c.x},${c.y}`);
      c.mean = s?.mean ?? NaN;
      c.half = s?.half ?? NaN;
      c.n = s?.n ?? 0;
      c.phase = s?.phase ?? null;
      const phases = {};
      for (const r of c.runs) if (r.phase && !r.error) phases[r.phase] = (phases[r.phase] ?? 0) + 1;
      c.phases = phases;
      c.summaries = indicator ? STATS.map((k) => [k, s?.summaries?.[k]]).filter(([, v]) => Number.isFinite(v)) : [];
      c.axes = [[axes[ix].key, axes[ix].values[c.x]], ...(iy == null ? [] : [[axes[iy].key, axes[iy].values[c.y]]])];
    }
    // The colour scale and its round ticks are the server's (the PNG's).
    const { lo, hi, ticks } = served?.scale ?? { lo: 0, hi: 1, ticks: [] };
    Object.assign(this, { cells, nx, ny, lo, hi, ticks, indicator });
    this.showLegend(served);
  }

  /** The colour bar's title (the column and its unit) and the phases' codes, names and rules. */
  showLegend(served) {
    const parts = [h('div', { 'data-testid': 'heat-legend-colour' }, 'Colour: ', h('strong', { text: served?.column ?? this.input.column }), served?.unit ? ` · ${served.unit}` : '')];
    const legend = served?.phases;
    if (legend) {
      parts.push(h('div', { class: 'heat-phases' }, 'Phases written in the cells: ',
        ...legend.phases.map((p, i) => h('span', { class: 'heat-phase', 'data-testid': `heat-phase-${p.code}` },
          h('strong', { text: p.code }), ` ${p.name}: ${p.rule}${i + 1 < legend.phases.length ? ' · ' : ''}`))));
      parts.push(h('div', { class: 'tip-sub', text: legend.symbols }));
      this.phaseInfo = new Map(legend.phases.map((p) => [p.code, p]));
    }
    this.legend.replaceChildren(...parts);
  }

  draw() {
    const { layout, column, ix, iy } = this.input;
    const width = Math.max(280, Math.floor(this.wrap.clientWidth || 600));
    this.drawnWidth = Math.floor(this.wrap.clientWidth);
    const { nx, ny, lo, hi } = this;
    const plotW = width - MARGIN.left - MARGIN.right;
    const cellH = Math.max(18, Math.min(ny === 1 ? 56 : 90, Math.floor(380 / ny)));
    const plotH = cellH * ny;
    const height = plotH + MARGIN.top + MARGIN.bottom;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.canvas.setAttribute('aria-label', `Heat map of ${column} over ${layout.axes[ix].key}${iy == null ? '' : ` and ${layout.axes[iy].key}`}`);
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const cw = plotW / nx;
    const rect = (x, y) => {
      const x0 = MARGIN.left + Math.round(x * cw);
      const x1 = MARGIN.left + Math.round((x + 1) * cw);
      const y1 = MARGIN.top + plotH - y * cellH;
      return [x0, y1 - cellH, x1, y1];
    };
    this.geometry = { rect, nx, ny };
    const font = '11px system-ui, sans-serif';
    for (const c of this.cells) {
      const [x0, y0, x1, y1] = rect(c.x, c.y);
      const t = (c.mean - lo) / (hi - lo);
      ctx.fillStyle = Number.isFinite(c.mean) ? viridis(t) : '#dde1e6';
      ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
      if (c.phase && cw >= 22 && cellH >= 14) {
        ctx.fillStyle = !Number.isFinite(c.mean) || t > 0.6 ? '#111' : '#fff';
        ctx.font = `${Math.max(9, Math.min(14, Math.round(cellH * 0.42)))}px system-ui, sans-serif`;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        ctx.fillText(c.phase, (x0 + x1) / 2, (y0 + y1) / 2);
      }
    }
    // Borders between phases.
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 3;
    const at = (x, y) => this.cells[x * ny + y];
    for (const c of this.cells) {
      const [x0, y0, x1] = rect(c.x, c.y);
      ctx.beginPath();
      if (c.x + 1 < nx && at(c.x + 1, c.y).phase !== c.phase) {
        ctx.moveTo(x1, y0);
        ctx.lineTo(x1, y0 + cellH);
      }
      if (c.y + 1 < ny && at(c.x, c.y + 1).phase !== c.phase) {
        ctx.moveTo(x0, y0);
        ctx.lineTo(x1, y0);
      }
      ctx.stroke();
    }
    // Axes: values at cell centres, thinned to fit; the keys as titles.
    ctx.fillStyle = '#5b6673';
    ctx.font = font;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const everyX = Math.max(1, Math.ceil(nx / Math.max(1, Math.floor(plotW / 44))));
    for (let x = 0; x < nx; x += everyX) {
      const [x0, , x1] = rect(x, 0);
      ctx.fillText(short(Number(layout.axes[ix].values[x])), (x0 + x1) / 2, MARGIN.top + plotH + 4);
    }
    ctx.fillStyle = '#1b2430';
    ctx.fillText(labelOf(layout.axes[ix].key), MARGIN.left + plotW / 2, MARGIN.top + plotH + 22);
    ctx.fillStyle = '#5b6673';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    if (iy != null) {
      const everyY = Math.max(1, Math.ceil(14 / cellH));
      for (let y = 0; y < ny; y += everyY) {
        const [, y0] = rect(0, y);
        ctx.fillText(short(Number(layout.axes[iy].values[y])), MARGIN.left - 6, y0 + cellH / 2);
      }
      ctx.save();
      ctx.translate(14, MARGIN.top + plotH / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'center';
      ctx.fillStyle = '#1b2430';
      ctx.fillText(labelOf(layout.axes[iy].key), 0, 0);
      ctx.restore();
    }
    // The colour scale.
    const bx = width - MARGIN.right + 14;
    const steps = 40;
    for (let k = 0; k < steps; k++) {
      ctx.fillStyle = viridis(k / (steps - 1));
      const y = MARGIN.top + plotH - ((k + 1) * plotH) / steps;
      ctx.fillRect(bx, Math.floor(y), 14, Math.ceil(plotH / steps) + 1);
    }
    ctx.fillStyle = '#5b6673';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.strokeStyle = '#5b6673';
    for (const t of this.ticks) {
      const y = MARGIN.top + plotH - ((t - lo) / (hi - lo)) * plotH;
      ctx.beginPath();
      ctx.moveTo(bx + 14, y);
      ctx.lineTo(bx + 18, y);
      ctx.stroke();
      ctx.fillText(short(t), bx + 20, y);
    }
  }

  /** The cell under the point (`x`, `y`) in CSS pixels of the canvas, if any. */
  cellAt(x, y) {
    if (!this.geometry) return null;
    const { rect } = this.geometry;
    return this.cells.find((c) => {
      const [x0, y0, x1, y1] = rect(c.x, c.y);
      return x >= x0 && x < x1 && y >= y0 && y < y1;
    }) ?? null;
  }

  /** The centre of cell (`x`, `y`) in CSS pixels of the canvas (for the end-to-end test). */
  cellCenter(x, y) {
    const [x0, y0, x1, y1] = this.geometry.rect(x, y);
    return { x: (x0 + x1) / 2, y: (y0 + y1) / 2 };
  }

  hover(e) {
    const cell = this.cellAt(e.offsetX, e.offsetY);
    if (!cell) {
      this.tooltip.hidden = true;
      return;
    }
    if (this.tooltip.cell !== cell) {
      this.tooltip.cell = cell;
      this.tooltip.replaceChildren(...this.describe(cell));
    }
    this.tooltip.hidden = false;
    const wrapW = this.wrap.clientWidth;
    const tipW = this.tooltip.offsetWidth;
    const left = e.offsetX + 14 + tipW > wrapW ? Math.max(0, e.offsetX - 14 - tipW) : e.offsetX + 14;
    this.tooltip.style.left = `${left}px`;
    this.tooltip.style.top = `${Math.max(0, e.offsetY - 10)}px`;
  }

  /** The tooltip's lines for `cell`: where it is, its value, its summaries, its runs. */
  describe(cell) {
    const { column } = this.input;
    const where = cell.axes.map(([k, v]) => `${labelOf(k)} = ${short(Number(v))}`).join(' · ');
    const lines = [h('div', { class: 'tip-title', text: where })];
    const ci = Number.isFinite(cell.half) ? ` ± ${short(cell.half)} (95% CI)` : '';
    lines.push(h('div', { 'data-testid': 'heat-tooltip-value', 'data-value': String(cell.mean), 'data-half': String(cell.half) },
      `${column}: `, h('strong', { text: short(cell.mean) }), `${ci} over ${cell.n} run${cell.n === 1 ? '' : 's'}`));
    const phases = Object.entries(cell.phases);
    const named = (p) => {
      const info = this.phaseInfo?.get(p);
      return info ? `${p} (${info.name}: ${info.rule})` : p;
    };
    if (phases.length) lines.push(h('div', { 'data-testid': 'heat-tooltip-phase', text: `phase: ${phases.map(([p, n]) => (phases.length > 1 ? `${named(p)} ${n} run${n === 1 ? '' : 's'}` : named(p))).join(', ')}` }));
    if (cell.summaries.length) {
      lines.push(h('div', { class: 'tip-sub', 'data-testid': 'heat-tooltip-summaries', text: `${this.indicator}: ${cell.summaries.map(([s, v]) => `${s} ${short(v)}`).join(' · ')}` }));
    }
    const shown = cell.runs.slice(0, 12);
    for (const r of shown) {
      lines.push(h('div', { class: 'tip-run', 'data-testid': 'heat-tooltip-seed', 'data-run': r.run, 'data-seed': r.seed, 'data-value': String(r[column]) },
        `seed ${r.seed} (run ${r.run})${r.phase ? ` · ${r.phase}` : ''}: ${short(r[column])}${r.error ? ' · failed' : ''}`));
    }
    if (cell.runs.length > shown.length) lines.push(h('div', { class: 'tip-sub', text: `… and ${cell.runs.length - shown.length} more runs` }));
    if (!cell.runs.length) lines.push(h('div', { class: 'tip-sub', text: 'no run finished here yet' }));
    else lines.push(h('div', { class: 'tip-sub', text: 'click to list its runs' }));
    return lines;
  }
}
