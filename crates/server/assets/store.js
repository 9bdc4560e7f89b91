// store.js: the dashboard's client-side time series, bounded so a long session cannot
// leak memory.
//
// Columns are plain arrays indexed alongside `ticks` (strictly increasing). At most
// `cap` ticks are kept; older ones are dropped in chunks. `view()` returns the last N
// ticks in uPlot's column layout, reduced to at most `maxPoints` by a min/max envelope so
// drawing "all" stays cheap and still shows every spike.

export const CAP = 20_000;

export class SeriesStore {
  /** `fields`: the column names kept (indicator names plus client-side ones like `tps`). */
  constructor(fields, cap = CAP) {
    this.fields = fields;
    this.cap = cap;
    this.clear();
  }

  clear() {
    this.ticks = [];
    this.cols = Object.fromEntries(this.fields.map((f) => [f, []]));
    this.version = 0; // bumps on every change, so views can be cached
  }

  get length() { return this.ticks.length; }
  get firstTick() { return this.ticks.length ? this.ticks[0] : null; }
  get lastTick() { return this.ticks.length ? this.ticks[this.ticks.length - 1] : null; }

  /** Appends one tick; an old or repeated tick goes through `merge` instead. */
  push(tick, row) {
    const last = this.lastTick;
    if (last !== null && tick <= last) {
      this.merge([{ tick, ...row }]);
      return;
    }
    this.ticks.push(tick);
    for (const f of this.fields) this.cols[f].push(row[f] ?? null);
    this.version++;
    this.trim();
  }

  /**
   * Merges rows sorted by tick (e.g. from /api/history) into the store. Where a tick
   * is already held the held values win, except that nulls are filled in.
   */
  merge(rows) {
    if (!rows.length) return;
    const ticks = [];
    const cols = Object.fromEntries(this.fields.map((f) => [f, []]));
    let i = 0;
    let j = 0;
    const take = (src, k) => {
      ticks.push(src === 'old' ? this.ticks[k] : rows[k].tick);
      for (const f of this.fields) cols[f].push(src === 'old' ? this.cols[f][k] : rows[k][f] ?? null);
    };
    while (i < this.ticks.length || j < rows.length) {
      const a = i < this.ticks.length ? this.ticks[i] : Infinity;
      const b = j < rows.length ? rows[j].tick : Infinity;
      if (a < b) take('old', i++);
      else if (b < a) {
        if (ticks.length === 0 || ticks[ticks.length - 1] < b) take('new', j);
        j++;
      } else {
        take('old', i);
        const last = ticks.length - 1;
        for (const f of this.fields) if (cols[f][last] == null) cols[f][last] = rows[j][f] ?? null;
        i++;
        j++;
      }
    }
    this.ticks = ticks;
    this.cols = cols;
    this.version++;
    this.trim();
  }

  /** Drops the oldest ticks once the store holds 10 % more than `cap`. */
  trim() {
    const excess = this.ticks.length - this.cap;
    if (excess <= this.cap / 10) return;
    this.ticks.splice(0, excess);
    for (const f of this.fields) this.cols[f].splice(0, excess);
  }

  /** Index of the first tick >= `tick`. */
  lowerBound(tick) {
    let lo = 0;
    let hi = this.ticks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ticks[mid] < tick) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The last `window` ticks (Infinity = all held) of `fields`, as uPlot data
   * `[ticks, col1, col2, …]`, with at most `maxPoints` points.
   */
  view(fields, window, maxPoints = 2_000) {
    const [xs, ...ys] = this.raw(fields, window);
    return xs.length > maxPoints ? envelope(xs, ys, maxPoints) : [xs, ...ys];
  }

  /** The last `window` ticks of `fields`, every tick held (no reduction). */
  raw(fields, window) {
    const last = this.lastTick;
    const start = last === null || !Number.isFinite(window) ? 0 : this.lowerBound(last - window + 1);
    return [this.ticks.slice(start), ...fields.map((f) => this.cols[f].slice(start))];
  }

  /**
   * `fields` at the ticks `xs` (sorted), null where this store holds no such tick: a
   * what-if branch's columns lined up with its baseline's ticks.
   */
  alignTo(xs, fields) {
    const out = fields.map(() => new Array(xs.length).fill(null));
    let j = this.lowerBound(xs.length ? xs[0] : 0);
    for (let i = 0; i < xs.length && j < this.ticks.length; i++) {
      while (j < this.ticks.length && this.ticks[j] < xs[i]) j++;
      if (j < this.ticks.length && this.ticks[j] === xs[i]) fields.forEach((f, k) => { out[k][i] = this.cols[f][j]; });
    }
    return out;
  }
}

/**
 * Reduces columns to about `maxPoints` points: each bucket becomes its first and last
 * tick, carrying each series' minimum and maximum in the order they occurred.
 */
export function envelope(xs, ys, maxPoints) {
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const size = Math.ceil(xs.length / buckets);
  const outX = [];
  const outY = ys.map(() => []);
  for (let b = 0; b < xs.length; b += size) {
    const e = Math.min(xs.length, b + size) - 1;
    outX.push(xs[b]);
    if (e > b) outX.push(xs[e]);
    ys.forEach((col, s) => {
      let iMin = -1;
      let iMax = -1;
      for (let k = b; k <= e; k++) {
        const v = col[k];
        if (v == null) continue;
        if (iMin < 0 || v < col[iMin]) iMin = k;
        if (iMax < 0 || v > col[iMax]) iMax = k;
      }
      if (iMin < 0) {
        outY[s].push(null);
        if (e > b) outY[s].push(null);
      } else if (e > b) {
        outY[s].push(col[Math.min(iMin, iMax)], col[Math.max(iMin, iMax)]);
      } else {
        outY[s].push(col[iMin]);
      }
    });
  }
  return [outX, ...outY];
}
