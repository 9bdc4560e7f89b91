// units.js: how time and rates read on the page.
//
// A tick has a calendar length only through the scenario's `economy.ticks_per_year`
// (docs/MODEL.md): the page takes it from the run's registry (or a recorded run's
// parameters) and reads, by default, every rate per tick as the annual rate it compounds
// to, (1 + r)^ticks_per_year − 1, "% a year"; a toggle shows the rates per tick as the
// engine holds them. A difference of two rates or shares is in percentage points ("pp").
// The time axis reads in ticks or in years (tick / ticks_per_year). Money arrives in
// genesis currency units (the server converts; nothing is converted here).

/** What the page shows: `annual` rates (else per tick), the x axis in `years` (else ticks). */
export const units = { ticksPerYear: 12, annual: true, years: false };

/** Takes the time mapping from a registry (`/api/registry`) or a run's parameters. */
export function takeTicksPerYear(params) {
  const p = Array.isArray(params) ? params.find((x) => x.key === 'economy.ticks_per_year')?.value : params?.['economy.ticks_per_year'];
  if (typeof p === 'number' && Number.isFinite(p) && p > 0 && p !== units.ticksPerYear) {
    units.ticksPerYear = p;
    return true;
  }
  return false;
}

/** A rate per tick as shown: compounded to a year when `annual`, else as it is. */
export function shownRate(r) {
  if (r == null || !Number.isFinite(r)) return r;
  return units.annual ? Math.pow(1 + r, units.ticksPerYear) - 1 : r;
}

/** "% a year" or "% a tick". */
export function ratePeriod() {
  return units.annual ? 'a year' : 'a tick';
}

/** A tick as the x axis reads it: the tick, or years since genesis. */
export function shownTime(tick) {
  return units.years ? tick / units.ticksPerYear : tick;
}

/** The x axis's name. */
export function timeLabel() {
  return units.years ? 'Year' : 'Tick';
}
