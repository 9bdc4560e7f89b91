// calibration.test.mjs: end-to-end test of a calibration in the dashboard's Experiments
// view, in headless Chromium (issue 23).
//
// A small calibration (`watchtower calibrate --json`: two free parameters of a tiny
// economy, a synthetic truth, a budget of 120 simulations, one thread) runs in the
// background while `watchtower view` (the read-only viewer, which takes no lock) serves
// its data directory. The page follows it live from the store: its evaluations and
// simulations against the budget, the least loss so far and the point that has it, and
// that the estimates come when it finishes; then the estimates with their standard
// errors and 90% intervals, the moment fit (target, model, se, t), the J test and the
// warnings, each as GET /api/experiments/1/calibration serves it, and that answer's
// result is the CLI's own `--json` object. No console errors, no request off localhost.
// Every process is stopped by its PID. Bounded at 150 s.
//
// Run: node e2e/calibration.test.mjs  (after cargo build -p watchtower)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkClean, SHOTS, api, check, exited, freePort, harness, launch, log, prepare, sleep, startBackground, startViewer,
  stopServer, servers, waiters, watch,
} from './lib.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'watchtower-calibration-'));
const dataDir = path.join(tmp, 'data');
let context;
let page;

/** Long enough to watch (seconds), small enough to finish in well under a minute. */
const SPEC = `name: e2e-calibration
model: mark0
firms: 20
households: 200
ticks: 800
warmup: 200
free:
  firms.price_adjustment: {min: 0.02, max: 0.3}
  firms.hiring_firing_ratio: {min: 1.0, max: 4.0}
target:
  synthetic: {set: {firms.price_adjustment: 0.12, firms.hiring_firing_ratio: 2.5}, seed: 99}
moments:
  inflation: [mean, sd]
  unemployment_rate: [mean]
ensemble: 2
budget: 120
`;

/** The page's number format (calibration.js), to compare what is drawn with what is served. */
function num(x, digits = 5) {
  if (x == null || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}

/** The JSON object a process printed (the pretty-printed `--json`), from its output lines. */
function printedJson(lines) {
  const start = lines.indexOf('{');
  const end = lines.lastIndexOf('}');
  return start >= 0 && end > start ? JSON.parse(lines.slice(start, end + 1).join('\n')) : null;
}

async function main() {
  prepare(tmp);
  fs.writeFileSync(path.join(tmp, 'calibrate.yaml'), SPEC);
  const calibration = startBackground(['calibrate', path.join(tmp, 'calibrate.yaml'), '--data-dir', dataDir, '--jobs', '1', '--json']);
  for (let i = 0; !fs.existsSync(path.join(dataDir, 'watchtower.db')); i++) {
    if (i > 400) throw new Error(`the calibration never created its database:\n${calibration.output.join('\n')}`);
    await sleep(25);
  }
  const port = await freePort();
  const viewer = await startViewer(['--bind', `127.0.0.1:${port}`, '--data-dir', dataDir]);
  const base = `http://127.0.0.1:${port}/`;
  for (let i = 0; (await api(base, '/api/experiments/1')).status !== 200; i++) {
    if (i > 400) throw new Error(`calibration 1 never appeared:\n${calibration.output.join('\n')}`);
    await sleep(25);
  }
  context = await launch(tmp);
  page = context.pages()[0] ?? (await context.newPage());
  const { problems, offsite } = watch(page, (url, status) => status === 404 && url.includes('/api/admin/embedding-map'));
  const { waitText } = waiters(page);

  // 1. Live: the search so far.
  await page.goto(`${viewer.url}#experiments/1`, { timeout: 10_000 });
  await waitText('[data-testid=exp-name]', /^e2e-calibration$/, 5_000, 'the calibration to open');
  check(/calibration · \d+ of 120 simulations/.test(await page.textContent('[data-testid=exp-item-1]')), `the list names it a calibration: "${await page.textContent('[data-testid=exp-item-1] .exp-item-sub')}"`);
  check(await page.locator('[data-testid=exp-calibration-card]').count() === 1 && await page.locator('[data-testid=exp-fan-card]').count() === 0,
    'a calibration shows a calibration card, no fan chart');
  await waitText('[data-testid=cal-progress-text]', /^\d+ evaluations · \d+ of 120 simulations \(\d+ %\) · running$/, 20_000, 'the calibration part-way');
  const partWay = await page.textContent('[data-testid=cal-progress-text]');
  check(true, `the viewer shows the running calibration part-way: "${partWay}"`);
  check(/come when the calibration finishes/.test(await page.textContent('[data-testid=cal-waiting]')), 'and that the estimates come when it finishes');
  await waitText('[data-testid=cal-best-loss]', /^\S+ \(evaluation #\d+; g′Wg, dimensionless, lower fits better\)$/, 30_000, 'a least loss');
  const live = (await api(base, '/api/experiments/1/calibration')).body;
  check(live.budget === 120 && live.free.length === 2 && live.meaning && typeof live.meaning.loss === 'string',
    `/api/experiments/1/calibration serves the progress with what each number means (${live.evaluations} evaluations, ${live.simulations} simulations)`);
  const bestShown = await page.$$eval('[data-testid=cal-best-value]', (els) => els.map((e) => ({ p: e.dataset.parameter, text: e.textContent })));
  check(bestShown.length === 2 && bestShown.every((b) => /^\S+ at the least loss so far \(bounds .+\)$/.test(b.text)),
    `the current estimates (the least loss so far): ${bestShown.map((b) => `${b.p} ${b.text.split(' ')[0]}`).join(', ')}`);
  await page.screenshot({ path: path.join(SHOTS, 'calibration-live-1280x800.png'), fullPage: true });

  // 2. Finished: the estimates, the moment fit, the J test and the warnings.
  await waitText('[data-testid=exp-progress-text]', /^\d+ of 120 simulations \(\d+ %\) · finished/, 90_000, 'the calibration to finish');
  check(await exited(calibration, 10_000) === 0, 'the calibration exits 0 (it held the lock; the viewer took none)');
  await page.locator('[data-testid=cal-estimates]').waitFor({ timeout: 10_000 });
  const served = (await api(base, '/api/experiments/1/calibration')).body;
  const cli = printedJson(calibration.output);
  check(served.status === 'finished' && served.result != null, 'once finished, the endpoint serves the result');
  check(cli != null && JSON.stringify(served.result) === JSON.stringify(cli),
    `and its result is the CLI's --json object, key for key and bit for bit (estimates ${Object.entries(served.result.estimates).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  const r = served.result;
  const rows = await page.$$eval('[data-testid=cal-estimates] tbody tr', (trs) => trs.map((tr) => ({
    p: tr.dataset.parameter,
    estimate: tr.querySelector('[data-testid=cal-estimate]').textContent,
    se: tr.querySelector('[data-testid=cal-se]').textContent,
    interval: tr.querySelector('[data-testid=cal-interval]').textContent,
  })));
  const expected = Object.keys(r.estimates).map((p) => ({
    p, estimate: num(r.estimates[p]), se: r.std_errors[p] == null ? 'not identified' : num(r.std_errors[p]), interval: `[${num(r.intervals[p][0])}, ${num(r.intervals[p][1])}]`,
  }));
  check(JSON.stringify(rows) === JSON.stringify(expected), `the estimates table: ${rows.map((x) => `${x.p} ${x.estimate} (se ${x.se}) ${x.interval}`).join('; ')}`);
  const heads = await page.$$eval('[data-testid=cal-estimates] th', (ths) => ths.map((t) => t.textContent));
  check(JSON.stringify(heads) === '["Parameter","Estimate","Std. error","90% interval"]', `its columns: ${heads.join(', ')}`);
  const moments = await page.$$eval('[data-testid=cal-moment]', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  const expectedMoments = r.moments.map((m) => [m.name, num(m.target), num(m.model), num(m.se), m.t == null ? '–' : m.t.toFixed(2)]);
  check(JSON.stringify(moments) === JSON.stringify(expectedMoments), `the moment fit (target, model, se, t): ${moments.map((m) => m.join(' ')).join('; ')}`);
  const titles = await page.$$eval('[data-testid=cal-moments] th', (ths) => ths.map((t) => t.title));
  check(titles.slice(1).every((t) => t.length > 10), 'every column of the moment table says what it means (tooltips from the server)');
  const j = await page.textContent('[data-testid=cal-j]');
  check(r.j_test == null ? /none/.test(j) : j.includes(`J = ${num(r.j_test.statistic, 4)} on ${r.j_test.df} degrees of freedom`), `the J test: "${j}"`);
  const warnings = await page.$$eval('[data-testid=cal-warnings] li', (lis) => lis.map((li) => li.textContent));
  check(JSON.stringify(warnings) === JSON.stringify(r.warnings), `the warnings (${warnings.length}) as served`);
  check(!/null|undefined|NaN/.test(await page.textContent('[data-testid=exp-calibration]')), 'no "null", "undefined" or "NaN" on the card');
  await page.screenshot({ path: path.join(SHOTS, 'calibration-1280x800.png'), fullPage: true });

  const refused = await api(base, '/api/experiments/99/calibration');
  check(refused.status === 404, `no calibration 99: ${refused.status}`);
  checkClean(offsite, problems);
  check(await stopServer(viewer.proc) === 0, 'the viewer exits 0 on SIGTERM');
  log(`(${servers.size} servers left)`);
}

await harness('calibration', 150_000, main, {
  page: () => page,
  context: () => context,
  tmp,
});
