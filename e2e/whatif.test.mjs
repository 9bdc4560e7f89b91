// whatif.test.mjs: end-to-end test of the dashboard's what-if branches in headless
// Chromium (issue 16).
//
// Starts its own `watchtower serve` in a temporary directory and checks: "What if…"
// drafts slider changes without changing the run; "Start branch" forks a branch with
// them (POST /api/runs/1/fork) and puts the sliders back; the branch appears in the run
// bar and as a second series on the charts, named in the legend, with values equal to
// its /api/history; the difference switch plots branch − baseline, equal to the two
// runs' /api/history; steering the branch sends a command that only the branch applies,
// and the audit log says it went to the branch; dropping the branch removes its series
// and keeps its rows, and its recorded page (/?run=2) says so; after a crash (SIGKILL)
// `serve --resume` on the same port continues run 1, the page reconnects by itself, and
// the run bar and the header say "resumed at tick T" as /api/runs has it. No console
// errors (outside the deliberate outage), no request off localhost. Screenshots go to
// e2e/screenshots/ (whatif.png is committed). Bounded at 90 s.
//
// Run: node e2e/whatif.test.mjs  (or e2e/run.sh, which builds first)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkClean, SHOTS, api, check, freePort, harness, launch, log, prepare, sleep, startServer, stopServer, servers, waiters, watch,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-whatif-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

const TAX = 'government.income_tax_rate';

async function main() {
  prepare(dataDir);
  const port = await freePort();
  const server = await startServer(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--households', '2000', '--firms', '200', '--embedding-sample', '0']);
  const base = `http://127.0.0.1:${port}/`;
  context = await launch(tmp);
  page = context.pages()[0] ?? (await context.newPage());
  const noMap = (url, status) => status === 404 && url.includes('/api/admin/embedding-map'); // --embedding-sample 0
  const { problems, offsite } = watch(page, noMap);
  const { waitFor, waitText } = waiters(page);
  const tax = async (run) => (await api(base, `/api/registry${run ? `?run=${run}` : ''}`)).body.params.find((p) => p.key === TAX).value;
  const legend = (chart) => page.evaluate((id) => [...document.querySelectorAll(`[data-testid=chart-${id}] .u-legend .u-label`)].map((e) => e.textContent), chart);

  await page.goto(server.url, { timeout: 10_000 });
  await waitText('[data-testid=conn-status]', /^Online$/, 10_000, 'the badge to say Online');
  await waitFor(() => document.querySelector('[data-testid=readonly-note]').hidden, null, 5_000, 'the controls to be writable');
  await waitText('[data-testid=steer-target]', /Steering.*baseline/, 5_000, 'the steered run to be named');
  check(true, `the controls say which run they steer: "${await page.textContent('[data-testid=steer-target]')}"`);
  check(await page.locator('[data-testid=run-chip-1]').count() === 1, 'the run bar shows the main run');

  // 1. "What if…": a slider's change is drafted, not sent.
  await page.click('[data-testid=whatif-start]');
  const number = page.locator(`[data-testid="input-${TAX}"]`);
  await number.fill('0.35');
  await number.press('Enter');
  await waitText(`[data-testid="status-${TAX}"]`, /^What if: 0\.2 → 0\.35/, 3_000, 'the drafted change');
  check(true, `the change is drafted: "${await page.textContent(`[data-testid="status-${TAX}"]`)}"`);
  await sleep(300);
  check(await tax() === 0.2, 'the run itself is not changed (/api/registry: 0.2)');
  check(/Income tax rate = 0\.35/.test(await page.textContent('[data-testid=whatif-text]')), 'the what-if says what the branch would change');
  await page.fill('[data-testid=whatif-name]', 'tax 35%');
  await page.click('[data-testid=whatif-go]');

  // 2. The branch: in the run bar, on the charts; the sliders back to the run's values.
  await page.locator('[data-testid=run-chip-2]').waitFor({ timeout: 10_000 });
  check(/tax 35%/.test(await page.textContent('[data-testid=run-chip-2]')), 'the run bar shows branch #2, "tax 35%"');
  await waitFor((t) => Math.abs(Number(document.querySelector(`[data-testid="input-${t}"]`).value) - 0.2) < 1e-9, TAX, 3_000, 'the slider to go back');
  check(true, 'the slider went back to the baseline\'s 0.2');
  check(await tax() === 0.2 && await tax(2) === 0.35, '/api/registry: the baseline has 0.2, branch #2 has 0.35');
  const runs = (await api(base, '/api/runs')).body;
  const branch = runs.runs.find((r) => r.id === 2);
  check(branch?.parent_run_id === 1 && branch.branch_name === 'tax 35%' && branch.changes[TAX] === 0.35, '/api/runs: run 2 is a branch of run 1 named "tax 35%"');
  await waitFor(() => {
    const u = window.watchtower.charts.plot('unemployment');
    return u.series.length === 3 && u.data[2]?.some((v) => v != null);
  }, null, 5_000, 'the branch series on the unemployment chart');
  const labels = await legend('unemployment');
  check(labels.includes('tax 35% · Unemployment'), `the legend names the branch: ${JSON.stringify(labels)}`);
  const perChart = await page.evaluate(() => window.watchtower.charts.charts.filter((c) => c.spec.id !== 'tps')
    .every((c) => c.u.series.length === 1 + 2 * c.spec.series.length));
  check(perChart, 'every chart (but the browser\'s speed) overlays the branch on each baseline series');

  // The plotted branch values are its recorded ticks.
  const plotted = async () => page.evaluate(() => {
    const u = window.watchtower.charts.plot('unemployment');
    const g = window.watchtower.charts.plot('output');
    let i = u.data[0].length - 1;
    while (i > 0 && (u.data[2][i] == null || u.data[1][i] == null)) i--;
    const j = g.data[0].indexOf(u.data[0][i]);
    return { tick: u.data[0][i], base: u.data[1][i], branch: u.data[2][i], gdp: g.data[3][j] };
  });
  const stored = async (run, tick) => {
    for (let k = 0; k < 40; k++) {
      const rows = (await api(base, `/api/history?run=${run}&from=${tick}&to=${tick}`)).body.ticks;
      if (rows.length) return rows[0];
      await sleep(100);
    }
    throw new Error(`tick ${tick} of run ${run} was never stored`);
  };
  await sleep(1_000);
  const a = await plotted();
  const [a1, a2] = [await stored(1, a.tick), await stored(2, a.tick)];
  check(a.base === a1.unemployment_rate && a.branch === a2.unemployment_rate,
    `at tick ${a.tick} the chart plots the baseline's ${a.base} and the branch's ${a.branch}, as /api/history has them`);
  await page.screenshot({ path: path.join(SHOTS, 'whatif.png') });

  // 3. Difference: branch − baseline, tick by tick.
  await page.check('[data-testid=diff-toggle]');
  await waitFor(() => /Δ tax 35%/.test(document.querySelector('[data-testid=chart-unemployment] .u-legend').textContent), null, 3_000, 'the difference legend');
  await sleep(500);
  const d = await plotted();
  const [d1, d2] = [await stored(1, d.tick), await stored(2, d.tick)];
  check(d.branch === d2.unemployment_rate - d1.unemployment_rate,
    `difference at tick ${d.tick}: ${d.branch} = ${d2.unemployment_rate} − ${d1.unemployment_rate} (unemployment, /api/history)`);
  check(d.gdp === d2.gdp - d1.gdp, `difference at tick ${d.tick}: GDP ${d.gdp} = ${d2.gdp} − ${d1.gdp} cents`);
  check(await page.evaluate(() => window.watchtower.charts.plot('unemployment').series[1].show === false), 'the baseline series is hidden while differences are shown');
  await page.screenshot({ path: path.join(SHOTS, 'whatif-difference-1280x800.png') });
  await page.uncheck('[data-testid=diff-toggle]');
  await waitFor(() => !/Δ/.test(document.querySelector('[data-testid=chart-unemployment] .u-legend').textContent), null, 3_000, 'the levels again');
  check(true, 'switching the difference off plots the levels again');

  // 4. Steer the branch: a command only it applies, and the audit says where it went.
  await page.click('[data-testid=run-select-2]');
  await waitText('[data-testid=steer-target]', /Steering.*run #2 · tax 35%/, 3_000, 'the controls to steer the branch');
  await waitFor((t) => Math.abs(Number(document.querySelector(`[data-testid="input-${t}"]`).value) - 0.35) < 1e-9, TAX, 5_000, 'the branch\'s value in the slider');
  check(true, 'picking the branch makes the controls steer it, showing its 0.35');
  await number.fill('0.4');
  await number.press('Enter');
  await waitText(`[data-testid="status-${TAX}"]`, /^Applied at tick \d+/, 5_000, 'the branch\'s change to apply');
  check(await tax(2) === 0.4 && await tax() === 0.2, 'the command reached the branch only (branch 0.4, baseline 0.2)');
  await waitFor(() => [...document.querySelectorAll('[data-testid=audit-row][data-source=server][data-run="2"]')]
    .some((r) => /run #2 · tax 35%/.test(r.textContent) && /0\.35 → 0\.4/.test(r.textContent)), null, 5_000, 'the audit row of the branch\'s command');
  check(true, 'the audit log shows the command went to run #2 · tax 35%');
  const audit = (await api(base, '/api/audit?run=1,2')).body.commands;
  check(audit.some((c) => c.run_id === 2 && c.key === TAX && c.new === 0.4), '/api/audit?run=1,2 records it for run 2');

  // 5. Drop the branch: its series go, its rows stay.
  await page.click('[data-testid=run-drop-2]');
  await page.locator('[data-testid=run-chip-2]').waitFor({ state: 'detached', timeout: 10_000 });
  await waitText('[data-testid=steer-target]', /baseline/, 3_000, 'the controls to steer the baseline again');
  const after = await legend('unemployment');
  check(after.length === 2 && !after.some((l) => /tax 35%/.test(l)), `the branch's series are gone: ${JSON.stringify(after)}`);
  const dropped = (await api(base, '/api/runs')).body;
  const row = dropped.runs.find((r) => r.id === 2);
  check(row.dropped_tick != null && !row.live && !dropped.live.includes(2), `run 2 is dropped at tick ${row.dropped_tick} and stays in the database`);
  check(problems.length === 0, `no console errors or failed requests${problems.length ? `:\n  ${problems.join('\n  ')}` : ''}`);

  // 6. A crash, then `serve --resume` on the same port: the same run, "resumed at tick T".
  check(!/resumed/.test(await page.textContent('[data-testid=run]')), 'a run never resumed says nothing of a resume');
  const killed = new Promise((resolve) => server.proc.once('exit', resolve));
  server.proc.kill('SIGKILL');
  await Promise.race([killed, sleep(5_000).then(() => { throw new Error('the killed server did not exit within 5 s'); })]);
  await waitText('[data-testid=conn-status]', /^Offline$/, 5_000, 'the badge to say Offline');
  const resumed = await startServer(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir, '--resume', '--embedding-sample', '0']);
  const at = (await api(base, '/api/runs')).body.runs.find((r) => r.id === 1)?.resumed_at;
  check(Array.isArray(at) && at.length === 1, `/api/runs: run 1 was resumed at tick ${at?.[0]}`);
  await waitText('[data-testid=conn-status]', /^Online$/, 15_000, 'the page to reconnect by itself');
  const said = `resumed at tick ${at[0].toLocaleString('en-US')}`;
  await waitText('[data-testid=run-sub-1]', new RegExp(said), 5_000, 'the run bar to say the run was resumed');
  check(true, `the run bar says "${await page.textContent('[data-testid=run-sub-1]')}"`);
  check((await page.textContent('[data-testid=run]')) === `run #1 · ${said}`, `the header says "${await page.textContent('[data-testid=run]')}"`);
  await page.screenshot({ path: path.join(SHOTS, 'whatif-resumed-1280x800.png') });
  await sleep(500);
  problems.length = 0; // the deliberate outage's failed requests and socket errors

  // The resumed run's recorded page says it too (/?run=1 while it is live shows it live:
  // the dropped branch's recorded page is the one of a run that is not live).
  const other = await context.newPage();
  const watched = watch(other, noMap);
  await other.goto(`${base}?run=2`, { timeout: 10_000 });
  await other.waitForFunction(() => /dropped at tick/.test(document.querySelector('[data-testid=recorded-about]')?.textContent ?? ''), null, { timeout: 5_000, polling: 50 });
  check(true, `the dropped branch's recorded page says "${await other.textContent('[data-testid=recorded-note]')}"`);
  check(watched.problems.length === 0, `no errors on the recorded page${watched.problems.length ? `:\n  ${watched.problems.join('\n  ')}` : ''}`);
  await other.close();

  checkClean(offsite, problems, ' after the resume');
  check(await stopServer(resumed.proc) === 0, 'the resumed server exits 0 on SIGTERM');
  log(`(${servers.size} servers left)`);
}

await harness('whatif', 90_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
