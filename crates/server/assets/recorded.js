// recorded.js: a recorded run read back from the store, for `/?run=ID` of a run that is
// not live (a finished run, a dropped branch, an experiment's kept run).
//
// Its ticks come from /api/history a page at a time, the newest CAP ticks at most (the
// page's SeriesStore keeps no more), so a long run opens at once and never holds the
// whole table in the browser. What /api/runs says of the run (a branch's origin, its
// resumes, its drop) is said beside it, because a recorded line alone does not show
// where another process took over or where a branch stopped.

import { getJSON, history } from './api.js';
import { resumedText } from './branches.js';
import { count } from './format.js';
import { CAP } from './store.js';

const PAGE = 5_000;

/**
 * Merges run `id`'s newest CAP ticks into `store`, calling `onPage()` after each page.
 * Resolves to `{row}` (the last tick's row), `{empty: true}` or `{status}` (not readable).
 */
export async function loadRecorded(id, store, onPage) {
  const newest = await getJSON(`/api/history?run=${id}&limit=1`);
  const lastTick = newest.body?.ticks?.[0]?.tick;
  if (newest.status !== 200) return { status: newest.status };
  if (lastTick == null) return { empty: true };
  let from = Math.max(0, lastTick - CAP + 1);
  let row = newest.body.ticks[0];
  for (let page = 0; page < Math.ceil(CAP / PAGE) + 1 && from <= lastTick; page++) {
    const answer = await history(from, Math.min(lastTick, from + PAGE - 1), id);
    if (!answer.ticks.length) break;
    store.merge(answer.ticks);
    row = answer.ticks[answer.ticks.length - 1];
    from = row.tick + 1;
    onPage();
  }
  return { row };
}

/**
 * What retention thinned of a run (`thinned` of /api/runs): `{before: 95200, every: 200}`
 * -> "ticks 0–95,199 kept 1 in 200 (--keep-ticks)"; nothing thinned -> "".
 */
export function thinnedText(thinned) {
  if (!thinned || !(thinned.before > 0)) return '';
  return `ticks 0–${count(thinned.before - 1)} kept 1 in ${count(thinned.every)} (--keep-ticks)`;
}

/**
 * What /api/runs says of run `id`: `{notes: ["branch of run #1 from tick 40", "resumed at
 * tick 96", "dropped at tick 120", "interrupted"], resumed: "resumed at tick 96",
 * thinned: "ticks 0–95,199 kept 1 in 200 (--keep-ticks)"}`, or null if it does not know
 * the run.
 */
export async function describeRun(id) {
  // The listing comes in pages, newest first; the page after run id + 1 starts at run id.
  const { status, body } = await getJSON(`/api/runs?after=${id + 1}&limit=1`);
  const r = status === 200 ? body?.runs?.find((x) => x.id === id) : null;
  if (!r) return null;
  const resumed = resumedText(r.resumed_at);
  const thinned = thinnedText(r.thinned);
  const notes = [
    r.parent_run_id != null ? `branch of run #${r.parent_run_id} from tick ${count(r.fork_tick)}` : '',
    resumed,
    r.dropped_tick != null ? `dropped at tick ${count(r.dropped_tick)}` : '',
    r.status && r.status !== 'finished' ? r.status : '',
  ].filter(Boolean);
  return { notes, resumed, thinned, parameters: r.parameters };
}
