// experiments.test.mjs: end-to-end test of the dashboard's Experiments view in headless
// Chromium (issue 14).
//
// Runs two tiny experiments into a fresh data directory first (the directory's lock lets
// one process at a time use it): a 2 × 2 grid × 2 seeds with --keep-ticks, and a
// 3-seed ensemble with a fork. Then starts `watchtower serve` on that directory and
// checks: #experiments lists both; the ensemble draws its fan chart with the numbers of
// /api/experiments/2/fan; the grid draws its heat map on a canvas (non-blank pixels);
// hovering a cell shows its mean and each seed's value as /api/experiments/1 has them,
// and its 95% interval as /api/experiments/1/cells serves it;
// clicking a cell lists its runs, and a run's link opens its recorded charts
// (`/?run=ID`), equal to its /api/history. Then, serve stopped, a real experiment runs
// in the background (24 runs, one at a time, for seconds) while `watchtower view` (the
// read-only viewer, which takes no lock) serves the same directory: the page says it is
// a viewer of it, follows the running experiment's progress from the database as the
// writer commits it, part-way and on to "finished", refuses a command, and still shows
// a recorded run. Last, a tiny Sobol design (N = 8 over two parameters, 32 short runs)
// runs in the background under the same viewer: while it runs the page shows the
// design's progress and that the indices come when it is complete; once finished, per
// indicator, S1 and ST bars with their whiskers, parameters sorted by total order, and a
// table, with the numbers /api/experiments/4/sensitivity serves (those of
// `watchtower sensitivity --json`), and the notes. No console errors, no request off
// localhost. Every process is stopped
// by its PID. Screenshots go to e2e/screenshots/ (experiments.png, the heat map with a
// cell's tooltip, is committed). Bounded at 150 s.
//
// Run: node e2e/experiments.test.mjs  (or e2e/run.sh, which builds first)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ROOT,
  checkClean, SHOTS, api, check, exited, freePort, harness, launch, log, prepare, run, sleep, startBackground, startServer, startViewer,
  stopServer, servers, waiters, watch,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-experiments-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

const GRID = `name: e2e-grid
model: mark0
preset: mark0-2015
firms: 100
households: 1000
ticks: 200
warmup: 100
seeds: 2
axes:
  firms.hiring_firing_ratio: [0.5, 2.5]
  firms.bankruptcy_threshold: [1, 4]
`;
const ENSEMBLE = `name: e2e-ensemble
model: mark0
firms: 100
households: 1000
ticks: 200
warmup: 50
seeds: 3
fork: {tick: 100, set: {government.income_tax_rate: 0.3}}
`;

/** Long enough to watch: 24 runs of a tiny economy, 3,000 ticks each, run one at a time. */
const SLOW = `name: e2e-watched
model: mark0
preset: mark0-2015
firms: 20
households: 200
ticks: 3000
warmup: 100
seeds: 2
axes:
  firms.hiring_firing_ratio: [0.5, 1.5, 2.5, 3]
  firms.bankruptcy_threshold: [1, 2, 4]
`;

/** A tiny Sobol design: 8 base samples × (2 + 2) points, one seed, a small economy. */
const SOBOL = `name: e2e-sobol
model: mark0
firms: 20
households: 200
ticks: 800
warmup: 100
seeds: 1
indicators: [unemployment_rate, inflation]
design: {sobol: {samples: 8, seed: 7}}
axes:
  firms.hiring_firing_ratio: {from: 1, to: 3}
  firms.price_adjustment: {from: 0.02, to: 0.2}
`;

async function main() {
  prepare(tmp);
  fs.writeFileSync(path.join(tmp, 'sobol.yaml'), SOBOL);
  fs.writeFileSync(path.join(tmp, 'grid.yaml'), GRID);
  fs.writeFileSync(path.join(tmp, 'ensemble.yaml'), ENSEMBLE);
  fs.writeFileSync(path.join(tmp, 'slow.yaml'), SLOW);
  await run(['experiment', path.join(tmp, 'grid.yaml'), '--data-dir', dataDir, '--keep-ticks', '--jobs', '2']);
  await run(['experiment', path.join(tmp, 'ensemble.yaml'), '--data-dir', dataDir, '--jobs', '2']);
  check(true, 'ran a 2 × 2 × 2-seed grid (--keep-ticks) and a 3-seed ensemble with a fork, 200 ticks each');

  const port = await freePort();
  const server = await startServer(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--households', '1000', '--firms', '100', '--embedding-sample', '0']);
  const base = `http://127.0.0.1:${port}/`;
  context = await launch(tmp);
  page = context.pages()[0] ?? (await context.newPage());
  const { problems, offsite } = watch(page, (url, status) => status === 404 && url.includes('/api/admin/embedding-map'));
  const { waitFor, waitText } = waiters(page);

  // 1. The list, newest first; the ensemble's fan chart.
  await page.goto(`${server.url}#experiments`, { timeout: 10_000 });
  await page.locator('[data-testid=exp-item-1]').waitFor({ timeout: 10_000 });
  const items = await page.$$eval('[data-testid^=exp-item-]', (els) => els.map((e) => e.dataset.testid));
  check(JSON.stringify(items) === '["exp-item-2","exp-item-1"]', `#experiments lists both experiments, newest first: ${items.join(', ')}`);
  check(/e2e-grid/.test(await page.textContent('[data-testid=exp-item-1]')) && /finished/.test(await page.textContent('[data-testid=exp-item-1]')), 'the grid is listed as finished');
  await waitText('[data-testid=exp-name]', /^e2e-ensemble$/, 5_000, 'the newest experiment to open');
  await waitFor(() => window.watchtower.experiments.fanChart?.u?.data?.[0]?.length > 0, null, 5_000, 'the fan chart');
  const fan = (await api(base, '/api/experiments/2/fan?indicator=unemployment_rate')).body;
  const drawn = await page.evaluate(() => {
    const u = window.watchtower.experiments.fanChart.u;
    return { xs: u.data[0], mean: u.data[1], hi: u.data[2], lo: u.data[3], branch: u.data[4], series: u.series.map((s) => s.label) };
  });
  const same = fan.arms[0].points.every((p, i) => drawn.xs[i] === p.tick && drawn.mean[i] === p.mean && drawn.hi[i] === p.hi && drawn.lo[i] === p.lo);
  check(same && drawn.xs.length === 200, `the fan chart draws /api/experiments/2/fan: 200 ticks, mean and 95% band of ${fan.arms[0].runs} runs`);
  check(drawn.branch.filter((v) => v != null).length === fan.arms[1].points.length && drawn.branch[99] == null && drawn.branch[100] === fan.arms[1].points[0].mean,
    `and the branch from its fork at tick ${fan.fork_tick}`);
  // The ensemble's effect table: every summarised indicator's effect with its interval,
  // as the server computed it (issue 24, item 3).
  await waitFor(() => document.querySelectorAll('[data-testid=exp-effects-table] tbody tr').length > 0, null, 5_000, 'the effect table');
  const effectRows = await page.evaluate(() => [...document.querySelectorAll('[data-testid=exp-effects-table] tbody tr')]
    .map((tr) => ({ indicator: tr.dataset.indicator, cells: [...tr.children].map((td) => td.textContent) })));
  const readNumber = (text) => Number(text.replace(/[+,]/g, ''));
  const near = (shown, x) => Math.abs(shown - x) <= 1e-3 * Math.max(1, Math.abs(x));
  check(effectRows.length === fan.effects.length && fan.effects.every((e) => {
    const row = effectRows.find((r) => r.indicator === e.indicator);
    const [lo, hi] = row.cells[2].replace(/[[\]]/g, '').split(', ').map(readNumber);
    return near(readNumber(row.cells[1]), e.effect) && near(lo, e.lo) && near(hi, e.hi) && row.cells[3] === e.unit && Number(row.cells[4]) === e.runs;
  }), `the effect table lists /api/experiments/2/fan's effects: ${effectRows.map((r) => `${r.indicator} ${r.cells[1]} ${r.cells[2]} ${r.cells[3]}`).join('; ')}`);
  await page.screenshot({ path: path.join(SHOTS, 'experiments-fan-1280x800.png') });

  // 2. The grid.
  await page.click('[data-testid=exp-item-1]');
  await waitText('[data-testid=exp-name]', /^e2e-grid$/, 5_000, 'the grid to open');
  await waitText('[data-testid=exp-progress-text]', /^8 of 8 runs \(100 %\) · finished/, 5_000, 'the grid\'s progress');

  // 3. The heat map: a canvas with pixels; a cell's tooltip matches the API.
  await waitFor(() => window.watchtower.experiments.heatmap?.cells?.length === 4, null, 5_000, 'the heat map');
  const pixels = await page.$eval('[data-testid=exp-heatmap]', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let painted = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) {
        painted++;
        colours.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
      }
    }
    return { painted, colours: colours.size, total: d.length / 4 };
  });
  check(pixels.painted > pixels.total / 4 && pixels.colours > 20, `the heat map is drawn: ${pixels.painted} of ${pixels.total} pixels painted, ${pixels.colours} colours`);
  const table = (await api(base, '/api/experiments/1')).body;
  const box = await page.locator('[data-testid=exp-heatmap]').boundingBox();
  const centre = await page.evaluate(() => window.watchtower.experiments.heatmap.cellCenter(1, 0));
  await page.mouse.move(box.x + centre.x, box.y + centre.y);
  await waitFor(() => !document.querySelector('[data-testid=heat-tooltip]').hidden, null, 3_000, 'the tooltip');
  const tip = await page.evaluate(() => {
    const t = document.querySelector('[data-testid=heat-tooltip]');
    return {
      text: t.textContent,
      value: Number(t.querySelector('[data-testid=heat-tooltip-value]').dataset.value),
      half: Number(t.querySelector('[data-testid=heat-tooltip-value]').dataset.half),
      seeds: [...t.querySelectorAll('[data-testid=heat-tooltip-seed]')].map((e) => ({ run: Number(e.dataset.run), seed: Number(e.dataset.seed), value: Number(e.dataset.value) })),
    };
  });
  // Cell (1, 0): R = 2.5, Θ = 1, grid point 1 × 2 + 0 = 2, runs 4 and 5.
  const rows = table.rows.filter((r) => Math.floor(r.run / 2) === 2);
  const mean = rows.reduce((a, r) => a + r.unemployment_rate_mean, 0) / rows.length;
  check(rows.length === 2 && rows.every((r) => r['firms.hiring_firing_ratio'] === 2.5 && r['firms.bankruptcy_threshold'] === 1), 'the API has runs 4 and 5 at R = 2.5, Θ = 1');
  check(tip.value === mean, `the tooltip's unemployment_rate_mean ${tip.value} is the mean of the API's ${rows.map((r) => r.unemployment_rate_mean).join(' and ')}`);
  const cells = (await api(base, '/api/experiments/1/cells?column=unemployment_rate_mean&x=0&y=1')).body;
  const served = cells.cells.find((c) => c.x === 1 && c.y === 0);
  check(served.n === 2 && served.mean === tip.value && served.half > 0 && tip.half === served.half && tip.text.includes(' (95% CI) over 2 runs'),
    `its mean ± 95% half-width is the server's (/api/experiments/1/cells): ${served.mean} ± ${served.half} over ${served.n} runs`);
  check(JSON.stringify(tip.seeds) === JSON.stringify(rows.map((r) => ({ run: r.run, seed: r.seed, value: r.unemployment_rate_mean }))),
    `it lists each seed's value: ${tip.seeds.map((s) => `seed ${s.seed} (run ${s.run}) ${s.value}`).join(', ')}`);
  check(/Hiring firing ratio = 2\.5/.test(tip.text) && /phase: /.test(tip.text) && /sd /.test(tip.text), `it names the cell, its phase and its summaries: "${tip.text.slice(0, 140)}…"`);
  // What things are (issue 24, item 4): the colour bar's column and unit, the phases'
  // names and rules as the server gives them, in the legend and in the tooltip.
  const legendText = await page.textContent('[data-testid=heat-legend]');
  check(cells.unit === 'fraction (0.1 = 10%)' && legendText.includes(`Colour: unemployment_rate_mean · ${cells.unit}`), `the colour bar is titled with its column and unit: "${legendText.split('Phases')[0]}"`);
  check(cells.phases.phases.length === 4 && cells.phases.phases.every((p) => legendText.includes(`${p.code} ${p.name}: ${p.rule}`)) && legendText.includes('Full unemployment'.toLowerCase()) && /⟨u⟩ > 0\.9/.test(legendText),
    `the legend spells out every phase with its rule: ${cells.phases.phases.map((p) => `${p.code} ${p.name}: ${p.rule}`).join(' · ')}`);
  check(cells.scale.ticks.length >= 2 && cells.scale.ticks.every((t) => Number(t.toPrecision(2)) === t), `the colour bar's ticks are round: ${cells.scale.ticks.join(', ')}`);
  check(/phase: (FU|RU|EC|FE) \((full unemployment|residual unemployment|endogenous crises|full employment): /.test(tip.text), 'the tooltip names the phase and its rule');
  await page.screenshot({ path: path.join(SHOTS, 'experiments.png') });
  await page.mouse.move(0, 0);
  await waitFor(() => document.querySelector('[data-testid=heat-tooltip]').hidden, null, 3_000, 'the tooltip to hide');
  await page.locator('[data-testid=exp-heat-card]').screenshot({ path: path.join(ROOT, 'docs', 'images', 'heatmap-phases.png') });

  // 4. A grid point's runs, and a run's link to its recorded charts.
  await page.mouse.click(box.x + centre.x, box.y + centre.y);
  await page.locator('[data-testid=run-link-4]').waitFor({ timeout: 3_000 });
  const kept = table.kept.find((k) => k.run === 4).run_id;
  check(await page.getAttribute('[data-testid=run-link-4]', 'href') === `/?run=${kept}`, `clicking the cell lists its runs; run 4 links to its charts, /?run=${kept}`);
  await page.click('[data-testid=run-link-4]');
  await waitText('[data-testid=recorded-status]', /ticks 0–199 from the store/, 10_000, 'the recorded run\'s ticks');
  check(/recorded run #\d+/.test(await page.textContent('[data-testid=run]')), `the page shows "${await page.textContent('[data-testid=run]')}"`);
  const history = (await api(base, `/api/history?run=${kept}&limit=1000`)).body.ticks;
  await waitFor(() => window.watchtower.charts.plot('unemployment').data[0].length === 200, null, 5_000, 'the charts to draw 200 ticks');
  const plotted = await page.evaluate(() => window.watchtower.charts.plot('unemployment').data[1]);
  check(plotted.length === history.length && plotted.every((v, i) => v === history[i].unemployment_rate),
    `its charts draw its 200 recorded ticks, as /api/history?run=${kept} has them`);
  await page.screenshot({ path: path.join(SHOTS, 'experiments-run-1280x800.png') });

  check(await stopServer(server.proc) === 0, 'the server exits 0 on SIGTERM');

  // 5. A real experiment running beside a read-only viewer of its data directory.
  const experiment = startBackground(['experiment', path.join(tmp, 'slow.yaml'), '--data-dir', dataDir, '--jobs', '1']);
  const viewPort = await freePort();
  const viewer = await startViewer(['--bind', `127.0.0.1:${viewPort}`, '--data-dir', dataDir]);
  const viewBase = `http://127.0.0.1:${viewPort}/`;
  // The experiment's row appears once it has planned its runs.
  for (let i = 0; (await api(viewBase, '/api/experiments/3')).status !== 200; i++) {
    if (i > 200) throw new Error(`experiment 3 never appeared:\n${experiment.output.join('\n')}`);
    await sleep(25);
  }
  await page.goto(`${viewer.url}#experiments/3`, { timeout: 10_000 });
  await waitText('[data-testid=conn-status]', /^Viewer$/, 5_000, 'the viewer badge');
  check((await page.textContent('[data-testid=conn-detail]')) === `read-only viewer of ${dataDir}` && (await page.textContent('[data-testid=run]')) === `viewer of ${dataDir}`,
    `the page says it is a read-only viewer of ${dataDir}`);
  await waitText('[data-testid=exp-name]', /^e2e-watched$/, 5_000, 'the running experiment to open');
  const progress = () => page.textContent('[data-testid=exp-progress-text]');
  await waitText('[data-testid=exp-progress-text]', /^([1-9]|1\d|2[0-3]) of 24 runs .*· running/, 20_000, 'the experiment part-way');
  const partWay = await progress();
  check(true, `the viewer shows the running experiment part-way: "${partWay}"`);
  await waitFor((before) => document.querySelector('[data-testid=exp-progress-text]').textContent !== before, partWay, 20_000, 'the progress to move');
  check(true, `and follows it as the writer commits: "${await progress()}"`);
  await page.screenshot({ path: path.join(SHOTS, 'experiments-viewer-1280x800.png') });
  await waitText('[data-testid=exp-progress-text]', /^24 of 24 runs \(100 %\) · finished/, 40_000, 'the experiment to finish');
  check(true, `to its end: "${await progress()}"`);
  check(await exited(experiment, 10_000) === 0, 'the experiment exits 0 (it held the lock; the viewer took none)');
  const refused = await api(viewBase, '/api/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"x","key":"sim.paused","value":true}' });
  check(refused.status === 403 && /read-only viewer/.test(refused.body.error), `the viewer refuses commands: ${refused.status} "${refused.body.error}"`);
  await page.goto(`${viewer.url}?run=${kept}`, { timeout: 10_000 });
  await waitText('[data-testid=recorded-status]', /ticks 0–199 from the store/, 10_000, 'the recorded run through the viewer');
  check(true, `the viewer shows recorded run #${kept} from the store`);

  // 6. A Sobol design, followed through the viewer: its progress, then its indices.
  const sobol = startBackground(['experiment', path.join(tmp, 'sobol.yaml'), '--data-dir', dataDir, '--jobs', '1']);
  for (let i = 0; (await api(viewBase, '/api/experiments/4')).status !== 200; i++) {
    if (i > 400) throw new Error(`experiment 4 never appeared:\n${sobol.output.join('\n')}`);
    await sleep(25);
  }
  await page.goto(`${viewer.url}#experiments/4`, { timeout: 10_000 });
  await waitText('[data-testid=exp-name]', /^e2e-sobol$/, 5_000, 'the Sobol design to open');
  check(await page.locator('[data-testid=exp-heat-card]').count() === 0 && await page.locator('[data-testid=exp-sensitivity-card]').count() === 1,
    'a designed experiment shows a sensitivity card, no heat map');
  await waitText('[data-testid=sens-waiting]', /the indices come when the design is complete/, 10_000, 'the design\'s progress');
  check(true, `while it runs: "${await page.textContent('[data-testid=sens-waiting]')}"`);
  await waitText('[data-testid=exp-progress-text]', /^32 of 32 runs \(100 %\) · finished/, 60_000, 'the Sobol design to finish');
  check(await exited(sobol, 10_000) === 0, 'the Sobol experiment exits 0');
  await waitFor(() => document.querySelectorAll('[data-testid=sens-chart]').length === 2, null, 10_000, 'the indices\' charts');
  const sens = (await api(viewBase, '/api/experiments/4/sensitivity')).body;
  check(sens.complete === true && JSON.stringify(sens.columns) === '["unemployment_rate_mean","inflation_mean"]', `/api/experiments/4/sensitivity serves the indices of ${sens.columns.join(' and ')}`);
  const shown = await page.evaluate(() => [...document.querySelectorAll('[data-testid=sens-column]')].map((c) => ({
    column: c.dataset.column,
    bars: [...c.querySelectorAll('[data-testid=sens-bar]')].map((b) => ({ p: b.dataset.parameter, index: b.dataset.index, value: Number(b.dataset.value), conf: Number(b.dataset.conf), width: Number(b.getAttribute('width')) })),
    whiskers: c.querySelectorAll('[data-testid=sens-whisker]').length,
    axis: c.querySelector('[data-testid=sens-axis]').textContent,
    rows: [...c.querySelectorAll('[data-testid=sens-table] tbody tr')].map((r) => ({ p: r.dataset.parameter, s1: r.querySelector('[data-testid=sens-s1]').textContent, st: r.querySelector('[data-testid=sens-st]').textContent })),
    notes: [...c.querySelectorAll('[data-testid=sens-notes] li')].map((n) => n.textContent),
  })));
  check(JSON.stringify(shown.map((c) => c.column)) === JSON.stringify(sens.columns), `one chart per indicator: ${shown.map((c) => c.column).join(', ')}`);
  for (const c of shown) {
    const ix = sens.indices[c.column];
    const order = sens.order[c.column];
    const st = (p) => ix[p].ST;
    check(order.length === 2 && st(order[0]) >= st(order[1]), `${c.column}: the served order is by total order (${order.map((p) => `${p} ST ${st(p).toFixed(3)}`).join(', ')})`);
    const expected = order.flatMap((p) => ['S1', 'ST'].map((k) => ({ p, index: k, value: ix[p][k], conf: ix[p][`${k}_conf`] })));
    check(JSON.stringify(c.bars.map(({ p, index, value, conf }) => ({ p, index, value, conf }))) === JSON.stringify(expected) && c.bars.every((b) => b.width > 0 || b.value === 0),
      `${c.column}: S1 and ST bars side by side, largest total order on top, with the served values ${expected.map((e) => `${e.index} ${e.value.toFixed(3)} ± ${e.conf.toFixed(3)}`).join(', ')}`);
    check(c.whiskers === 4 && c.axis === "share of the output's variance", `${c.column}: 4 whiskers (95% intervals), axis "${c.axis}"`);
    const rows = order.map((p) => ({ p, s1: `${ix[p].S1.toFixed(3)} ± ${ix[p].S1_conf.toFixed(3)}`, st: `${ix[p].ST.toFixed(3)} ± ${ix[p].ST_conf.toFixed(3)}` }));
    check(JSON.stringify(c.rows) === JSON.stringify(rows), `${c.column}: the table lists ${rows.map((r) => `${r.p} S1 ${r.s1}, ST ${r.st}`).join('; ')}`);
    check(c.notes.length === sens.notes[c.column].length && c.notes.every((n, i) => n.toLowerCase().startsWith(sens.notes[c.column][i].toLowerCase())),
      `${c.column}: the notes in plain words (${c.notes.length}): ${c.notes.join(' ') || 'none'}`);
  }
  await page.screenshot({ path: path.join(SHOTS, 'experiments-sensitivity-1280x800.png'), fullPage: true });

  checkClean(offsite, problems);
  check(await stopServer(viewer.proc) === 0, 'the viewer exits 0 on SIGTERM');
  log(`(${servers.size} servers left)`);
}

await harness('experiments', 150_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
