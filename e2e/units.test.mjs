// units.test.mjs: the dashboard reads rates per year, time in years and differences of
// rates in percentage points, and marks the ledger's redenominations (headless Chromium).
//
// Starts `watchtower serve` on an economy that redenominates every few hundred ticks (the
// 2015 full-employment phase, prices rising about 1% a tick), as fast as it goes, with a
// year of 12 ticks. Checks: the inflation card and the rate charts say "% a year" and show
// (1 + π)^12 − 1 of what /api/history serves; the toggle shows "% a tick" and π itself; the
// x axis reads years; each redenomination /api/history shows is marked on the charts by a
// line with a tooltip, and the money stock does not jump there; a branch's difference of
// unemployment reads in "pp". No console error, nothing off loopback. Bounded at 90 s.
//
// Run: node e2e/units.test.mjs  (after `cargo build -p watchtower`)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkClean, SHOTS, api, check, freePort, harness, launch, log, prepare, sleep, startServer, waiters, watch,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-units-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

async function main() {
  prepare(dataDir);
  const port = await freePort();
  const server = await startServer(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--preset', 'mark0-2015',
    '--households', '2000', '--firms', '200', '--seed', '5', '--set', 'firms.bankruptcy_threshold=3',
    '--set', 'economy.ticks_per_year=12', '--set', 'sim.tick_rate=400', '--embedding-sample', '0']);
  const base = `http://127.0.0.1:${port}/`;
  const token = new URL(server.url).searchParams.get('token');
  context = await launch(tmp);
  page = context.pages()[0] ?? (await context.newPage());
  const noMap = (url, status) => status === 404 && url.includes('/api/admin/embedding-map'); // --embedding-sample 0
  const { problems, offsite } = watch(page, noMap);
  const { waitFor, waitText } = waiters(page);
  const text = (id) => page.textContent(`[data-testid=${id}]`);
  const sub = (chart) => page.textContent(`[data-testid=chart-${chart}] .card-sub`);

  await page.goto(server.url, { timeout: 10_000 });
  await waitText('[data-testid=conn-status]', /^Online$/, 10_000, 'the badge to say Online');
  await waitText('[data-testid=ticks-per-year]', /^1 year = 12 ticks$/, 5_000, 'the time mapping from the registry');
  check(true, `the toolbar says "${await text('ticks-per-year')}"`);

  // 1. Rates per year by default.
  await waitText('#kpi-inflation-label', /^Inflation, % a year$/, 5_000, 'the inflation card in % a year');
  check(true, 'the inflation card is titled "Inflation, % a year"');
  check(/% a year/.test(await sub('inflation')) && /% a year/.test(await sub('rates')), 'the inflation and rate charts say "% a year"');

  // Let it pass two redenominations (one every ~250 ticks here), then pause to compare.
  await waitFor(() => Number(document.querySelector('[data-testid=tick]').textContent.replace(/[^0-9]/g, '')) > 900, null, 30_000, 'tick 900');
  await page.click('[data-testid=btn-pause]');
  await waitText('[data-testid=sim-status]', /^Paused after tick [\d,]+/, 5_000, 'the pause');
  await sleep(500);
  const tick = Number((await text('tick')).replace(/[^0-9]/g, ''));
  const row = (await api(base, `/api/history?from=${tick}&to=${tick}`)).body.ticks[0];
  const annual = ((1 + row.inflation) ** 12 - 1) * 100;
  const shown = await page.textContent('#kpi-inflation');
  check(shown === `${annual.toFixed(2)} %`, `the card shows (1 + π)^12 − 1 = "${shown}" for π = ${row.inflation} at tick ${tick}`);

  // 2. Per tick on the toggle.
  await page.click('[data-testid=rates-tick]');
  await waitText('#kpi-inflation-label', /^Inflation, % a tick$/, 3_000, 'the card in % a tick');
  check(await page.textContent('#kpi-inflation') === `${(row.inflation * 100).toFixed(2)} %`, `per tick: "${await page.textContent('#kpi-inflation')}"`);
  check(/% a tick/.test(await sub('rates')), `the rate chart says "${await sub('rates')}"`);
  const drawn = await page.evaluate((t) => {
    const u = window.watchtower?.charts?.plot('inflation');
    if (!u) return null;
    const i = u.data[0].indexOf(t);
    return i < 0 ? null : u.data[1][i];
  }, tick);
  if (drawn != null) check(Math.abs(drawn - row.inflation) < 1e-12, 'the inflation chart draws π per tick as served');
  await page.click('[data-testid=rates-annual]');
  await waitText('#kpi-inflation-label', /% a year$/, 3_000, 'the card back in % a year');

  // 3. Redenominations: marked where /api/history shows the count change; no jump.
  await page.click('[data-testid=window-all]');
  const history = (await api(base, `/api/history?from=0&to=${tick}&limit=100000`)).body.ticks;
  const changes = history.filter((r, i) => i > 0 && r.redenominations !== history[i - 1].redenominations).map((r) => r.tick);
  check(changes.length >= 2, `the run redenominated at ticks ${changes.join(', ')}`);
  for (const t of changes) {
    const i = history.findIndex((r) => r.tick === t);
    const ratio = history[i].money_stock / history[i - 1].money_stock;
    check(ratio > 0.9 && ratio < 1.1, `money stock ×${ratio.toFixed(4)} across the redenomination at tick ${t} (genesis units)`);
  }
  // Each is marked at the first tick the page holds from it on (frames skip ticks at speed).
  const expected = () => page.evaluate((ts) => {
    const held = window.watchtower.store.ticks;
    return ts.map((t) => held.find((x) => x >= t));
  }, changes);
  await waitFor((n) => document.querySelectorAll('[data-testid=chart-money] [data-testid=redenomination-mark]').length >= n, changes.length, 10_000, 'the marks');
  const marks = await page.$$eval('[data-testid=chart-money] [data-testid=redenomination-mark]', (els) => els.map((e) => ({ tick: Number(e.dataset.tick), title: e.title })));
  const want = await expected();
  check(want.every((t) => marks.some((m) => m.tick === t)), `every redenomination is marked on the money chart, at the first tick held from it (${marks.map((m) => m.tick).join(', ')} for ${changes.join(', ')})`);
  check(marks.every((m) => /^Redenomination (at|between) tick/.test(m.title) && /genesis currency units/.test(m.title)), `each mark has its tooltip: "${marks[0].title}"`);

  // 4. Time in years.
  await page.click('[data-testid=time-years]');
  await waitFor(() => document.querySelector('[data-testid=chart-unemployment] .u-legend .u-label')?.textContent === 'Year', null, 3_000, 'the x axis in years');
  const lastX = await page.evaluate(() => { const u = window.watchtower?.charts?.plot('unemployment'); return u ? u.data[0][u.data[0].length - 1] : null; });
  if (lastX != null) check(Math.abs(lastX - tick / 12) < 1e-9, `the last point sits at year ${lastX.toFixed(2)} = tick ${tick} / 12`);
  check(true, 'the x axis reads in years');
  await page.screenshot({ path: path.join(SHOTS, 'units.png') });
  await page.click('[data-testid=time-ticks]');

  // 5. A branch: its difference of unemployment reads in percentage points.
  const fork = await fetch(new URL('/api/runs/1/fork', base), {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ set: { 'firms.bankruptcy_threshold': 2 }, name: 'theta 2' }), signal: AbortSignal.timeout(35_000),
  });
  check(fork.status === 201, `a branch is forked (${fork.status})`);
  await waitFor(() => !document.querySelector('[data-testid=diff-toggle]').disabled, null, 10_000, 'the difference toggle');
  await page.click('[data-testid=btn-pause]'); // resume, so the branch has ticks
  await waitText('[data-testid=sim-status]', /^Resumed at tick \d+/, 5_000, 'the resume');
  await sleep(1_000);
  await page.check('[data-testid=diff-toggle]');
  const deltas = () => page.$$eval('[data-testid=chart-unemployment] .u-legend .u-series', (rows) => rows
    .map((r) => [r.querySelector('.u-label')?.textContent ?? '', r.querySelector('.u-value')?.textContent ?? ''])
    .filter(([label]) => label.startsWith('Δ ')));
  await waitFor(() => [...document.querySelectorAll('[data-testid=chart-unemployment] .u-legend .u-value')].some((e) => / pp$/.test(e.textContent)), null, 5_000, 'a difference in pp');
  const values = await deltas();
  check(values.length > 0 && values.every(([, v]) => / pp$/.test(v)), `the unemployment difference reads in pp: ${values.map((x) => x.join(' ')).join(' | ')}`);
  // uPlot draws its axes on a canvas: ask the chart for the labels it draws.
  const axis = await page.evaluate(() => {
    const u = window.watchtower.charts.plot('unemployment');
    return u.axes[1].values(u, [-0.01, 0, 0.01], 1, 0.01);
  });
  check(axis.every((label) => / pp$/.test(label)), `its axis reads in pp: ${axis.join(', ')}`);

  checkClean(offsite, problems);
}

await harness('units', 90_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
log('done');
