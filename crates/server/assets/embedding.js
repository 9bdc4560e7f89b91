// embedding.js: the agent map, a t-SNE embedding of households and firms computed by
// the server in the background (GET /api/admin/embedding-map).
//
// Polls every 2 s while the server answers 202 ("computing…", with progress) and draws
// the map once it answers 200: a uPlot scatter, one series per colour class, coloured by
// employment status or by wealth quintile. Hovering finds the nearest agent and shows
// its features. A refresh (POST …/refresh, needs the token) recomputes the map.

import { getJSON } from './api.js';
import { fitWidth, h, setText } from './dom.js';
import { count, money, number } from './format.js';
import { state } from './state.js';

const uPlot = window.uPlot;
const POLL_MS = 2_000;
const HEIGHT = 340;
const HOVER_PX = 12;

const STATUS_CLASSES = [
  { key: 'household:employed', label: 'Household, employed', color: '#2563eb', size: 4 },
  { key: 'household:unemployed', label: 'Household, unemployed', color: '#ea7a1e', size: 4 },
  { key: 'firm:solvent', label: 'Firm, solvent', color: '#15803d', size: 6 },
  { key: 'firm:indebted', label: 'Firm, indebted', color: '#c0262d', size: 6 },
];
const WEALTH_COLORS = ['#c6dbef', '#8fbde0', '#4f93c9', '#2166ac', '#0b3d78'];
const WEALTH_LABELS = ['Bottom 20 %', '20–40 %', '40–60 %', '60–80 %', 'Top 20 %'];

/** Money an agent holds: deposits for a household, cash for a firm (cents). */
function holdings(p) {
  return p.kind === 'firm' ? p.cash ?? 0 : p.wealth ?? 0;
}

export class EmbeddingMap {
  /** `els`: {plot, status, legend, refresh, color}; the session token is the page state's. */
  constructor(els, toast) {
    this.els = els;
    this.toast = toast;
    this.map = null;
    this.mode = 'status';
    this.timer = null;
    this.generation = 0;
    this.u = null;
    this.tooltip = h('div', { class: 'map-tooltip', 'data-testid': 'embedding-tooltip', hidden: true });
    els.color.addEventListener('change', () => {
      this.mode = els.color.value;
      this.draw();
    });
    els.refresh.addEventListener('click', () => this.refresh());
    this.resizer = new ResizeObserver(() => fitWidth(this.u, els.plot, HEIGHT));
    this.resizer.observe(els.plot);
  }

  /** Starts (or restarts, e.g. for a new run) polling for the map. */
  start() {
    this.generation++;
    clearTimeout(this.timer);
    this.poll(this.generation);
  }

  async poll(generation) {
    if (generation !== this.generation) return;
    let answer;
    try {
      answer = await getJSON('/api/admin/embedding-map', { timeout: 15_000 });
    } catch {
      this.status('Waiting for the server…', 'neutral');
      this.timer = setTimeout(() => this.poll(generation), POLL_MS);
      return;
    }
    if (generation !== this.generation) return;
    const { status, body } = answer;
    if (status === 202) {
      const pct = Math.round(100 * (body?.progress ?? 0));
      this.status(`Computing… ${pct} %`, 'pending');
      this.timer = setTimeout(() => this.poll(generation), POLL_MS);
    } else if (status === 200 && body && Array.isArray(body.points)) {
      this.map = body;
      this.status(`${body.points.length.toLocaleString('en-US')} agents at tick ${body.tick} drawn (a sample, not the whole population) · computed in ${(body.took_ms / 1000).toFixed(1)} s`, 'ok');
      this.draw();
    } else if (status === 404) {
      this.status('Not available: this server runs without the embedding map.', 'neutral');
    } else if (status === 500) {
      this.status(`The computation failed: ${body?.error ?? 'unknown error'}`, 'error');
    } else {
      this.status(`Unexpected answer (HTTP ${status}); retrying…`, 'error');
      this.timer = setTimeout(() => this.poll(generation), POLL_MS * 5);
    }
  }

  async refresh() {
    const { token } = state;
    if (!token) {
      this.toast('Recomputing the map needs the access token.', 'error');
      return;
    }
    try {
      const { status, body } = await getJSON('/api/admin/embedding-map/refresh', { method: 'POST', token });
      if (status === 202) this.start();
      else this.toast(`Map refresh refused: ${body?.error ?? `HTTP ${status}`}`, 'error');
    } catch (e) {
      this.toast(`Map refresh failed: ${e.message}`, 'error');
    }
  }

  status(text, kind) {
    setText(this.els.status, text);
    this.els.status.className = `map-status ${kind}`;
  }

  /** Splits the points into colour classes for the current mode. */
  classes() {
    const points = this.map.points;
    if (this.mode === 'wealth') {
      const sorted = points.map(holdings).sort((a, b) => a - b);
      const cuts = [0.2, 0.4, 0.6, 0.8].map((q) => sorted[Math.floor(q * (sorted.length - 1))]);
      const classOf = (p) => cuts.filter((c) => holdings(p) > c).length;
      return WEALTH_COLORS.map((color, i) => ({ label: WEALTH_LABELS[i], color, size: 4, test: (p) => classOf(p) === i }));
    }
    const known = STATUS_CLASSES.map((c) => ({ ...c, test: (p) => `${p.kind}:${p.label}` === c.key }));
    const other = { label: 'Other', color: '#9aa3ad', size: 4, test: (p) => !known.some((c) => c.test(p)) };
    return points.some(other.test) ? [...known, other] : known;
  }

  draw() {
    if (!this.map) return;
    const points = [...this.map.points].sort((a, b) => a.x - b.x);
    const classes = this.classes();
    const columns = classes.map((c) => points.map((p) => (c.test(p) ? p.y : null)));
    const data = [points.map((p) => p.x), ...columns];
    this.points = points;
    this.legend(classes, columns);
    if (this.u) this.u.destroy();
    const pad = (u, min, max) => {
      const d = (max - min) * 0.04 || 1;
      return [min - d, max + d];
    };
    this.u = new uPlot({
      width: Math.max(240, this.els.plot.clientWidth || 600),
      height: HEIGHT,
      legend: { show: false },
      cursor: { x: false, y: false, points: { show: false }, drag: { x: false, y: false } },
      scales: { x: { time: false, range: pad }, y: { range: pad } },
      axes: [{ show: false }, { show: false }],
      series: [{}, ...classes.map((c) => ({
        label: c.label, stroke: c.color, paths: () => null,
        points: { show: true, size: c.size, width: 0, fill: `${c.color}cc`, stroke: c.color },
      }))],
      hooks: { setCursor: [(u) => this.hover(u)] },
    }, data, this.els.plot);
    this.u.over.append(this.tooltip);
  }

  legend(classes, columns) {
    // Each class counts the points drawn in it (the map's sample), never the population.
    const xs = this.points.map((p) => p.x);
    const drawn = (col) => col.filter((v, j) => v != null && Number.isFinite(v) && Number.isFinite(xs[j])).length;
    const items = classes.map((c, i) => h('span', { class: 'legend-item', 'data-testid': `map-legend-${i}` },
      h('span', { class: `swatch swatch-${i}`, 'data-color': c.color }),
      `${c.label}: ${drawn(columns[i]).toLocaleString('en-US')} drawn`));
    this.els.legend.replaceChildren(...items);
    // Swatch colours through CSSOM (the page's CSP forbids inline style attributes).
    this.els.legend.querySelectorAll('.swatch').forEach((s) => { s.style.background = s.dataset.color; });
  }

  /** Shows the agent nearest the cursor, if one is within HOVER_PX. */
  hover(u) {
    const { left, top } = u.cursor;
    if (!(left >= 0) || !this.points) {
      this.tooltip.hidden = true;
      return;
    }
    let best = null;
    let bestD = HOVER_PX * HOVER_PX;
    for (const p of this.points) {
      const dx = u.valToPos(p.x, 'x') - left;
      const dy = u.valToPos(p.y, 'y') - top;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = p; }
    }
    if (!best) {
      this.tooltip.hidden = true;
      return;
    }
    const lines = best.kind === 'firm'
      ? [`Firm #${best.id} · ${best.label}`, `cash ${money(best.cash / 100)} (current unit) · ${count(best.firm_size)} employees`, `price ${number(best.price)} · wage ${number(best.wage)}`]
      : [`Household #${best.id} · ${best.label}`, `wealth ${money(best.wealth / 100)}`, `income ${money(best.income / 100)} (current unit)`];
    this.tooltip.replaceChildren(...lines.map((l) => h('div', { text: l })));
    this.tooltip.hidden = false;
    const x = Math.min(left + 12, u.over.clientWidth - 200);
    this.tooltip.style.left = `${Math.max(0, x)}px`;
    this.tooltip.style.top = `${Math.max(0, top - 10)}px`;
  }
}
