// format.js: how numbers read on the dashboard.
//
// Money arrives in genesis currency units (the server converts the ledger's cents once,
// so a redenomination moves nothing); large amounts are abbreviated (1.23M). Shares are
// shown as percentages, rates per tick as "% a year" or "% a tick" (units.js), and a
// difference of either in percentage points ("pp").

import { ratePeriod, units } from './units.js';

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumSignificantDigits: 3 });
const twoDecimals = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

const DASH = '–';

function finite(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Money in genesis currency units: "1,234.56" below 10,000, "12.3K", "4.56M" above. */
export function money(units) {
  if (!finite(units)) return DASH;
  return Math.abs(units) >= 10_000 ? compact.format(units) : twoDecimals.format(units);
}

/** A difference of shares or rates in percentage points: 0.0123 -> "+1.23 pp". */
export function points(x, digits = 2) {
  return finite(x) ? `${x > 0 ? '+' : ''}${(x * 100).toFixed(digits)} pp` : DASH;
}

/** A whole count with thousands separators. */
export function count(x) {
  return finite(x) ? grouped.format(x) : DASH;
}

/** A share as a percentage, e.g. 0.0534 -> "5.34 %". */
export function percent(x, digits = 2) {
  return finite(x) ? `${(x * 100).toFixed(digits)} %` : DASH;
}

/** A plain number with about three significant digits. */
export function number(x) {
  if (!finite(x)) return DASH;
  const a = Math.abs(x);
  if (a >= 10_000) return compact.format(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

/** A parameter value as the registry holds it (keeps every digit that matters). */
export function paramValue(x) {
  if (typeof x === 'boolean') return x ? 'on' : 'off';
  if (!finite(x)) return DASH;
  return String(Number(x.toPrecision(10)));
}

/** Local wall-clock time, e.g. "14:03:27". */
export function clock(ms) {
  if (!finite(ms)) return DASH;
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

/** Axis tick labels for uPlot: `fmt` applied to each split, with decimals that fit the step. */
/**
 * The fewest decimals (at most `max`) that write `step` exactly: 0.25 needs 2, not the 1
 * its order of magnitude suggests (which wrote axes as 0.0, 0.3, 0.5, 0.8).
 */
function decimals(step, max) {
  for (let d = 0; d < max; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return max;
}

export function axisValues(kind) {
  return (u, splits) => {
    const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
    return splits.map((v) => {
      if (v == null) return '';
      switch (kind) {
        case 'money': {
          const big = Math.max(...splits.map((x) => Math.abs(x ?? 0))) >= 10_000;
          if (big) return compact.format(v);
          const d = decimals(step || 1, 2);
          return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
        }
        case 'percent':
        case 'rate': {
          return `${(v * 100).toFixed(decimals(step * 100 || 1, 4))}%`;
        }
        case 'pp': {
          return `${(v * 100).toFixed(decimals(step * 100 || 1, 4))} pp`;
        }
        case 'time': {
          return units.years ? v.toFixed(decimals(step || 1, 2)) : count(v);
        }
        case 'int': return count(v);
        default: {
          return Math.abs(v) >= 10_000 ? compact.format(v) : v.toFixed(decimals(step || 1, 4));
        }
      }
    });
  };
}

/** Legend/hover value for one kind of series. */
export function valueOf(kind) {
  switch (kind) {
    case 'money': return money;
    case 'percent': return (x) => percent(x, 2);
    // A rate series' values are already shown (annualised or not) by the chart.
    case 'rate': return (x) => (finite(x) ? `${(x * 100).toFixed(2)} % ${ratePeriod()}` : DASH);
    case 'pp': return (x) => points(x, 2);
    case 'time': return (x) => (!finite(x) ? DASH : units.years ? `year ${x.toFixed(2)}` : count(x));
    case 'int': return count;
    default: return number;
  }
}

/** "income_tax_rate" -> "Income tax rate". */
export function humanize(name) {
  const words = name.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
