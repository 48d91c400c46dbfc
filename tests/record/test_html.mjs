// SPDX-License-Identifier: Apache-2.0
// kiln record -f html and -f svg of the known-answer workload (alpha=70, beta=30) in headless
// Chromium, offline: the browser context has no network and every request that is not the
// file itself is aborted and fails the test. The page's symbols table shows alpha at 70 %
// +- 3, a search finds beta's share, clicking alpha zooms it to the full width, Reset zooms
// out; the SVG renders its frames. Screenshots: ${KILN_BUILD}/record-html*.png, record-svg.png.
//
//   KILN=build/kiln KILN_BUILD=build node tests/record/test_html.mjs
//
// Needs root (kiln record loads BPF), Debian's chromium and `npm ci` in tests/browser.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const build = process.env.KILN_BUILD || path.join(here, '../../build');
const kiln = process.env.KILN || path.join(build, 'kiln');
const workload = path.join(build, 'bench', 'workload');
const chromium = process.env.KILN_CHROMIUM || '/usr/bin/chromium';
const TOL = 3; // percentage points: ~3000 samples at 999 Hz, 3.6 standard errors

function fail(msg) {
  throw new Error(msg);
}

function skip(msg) {
  console.error('SKIP: ' + msg);
  process.exit(77);
}

if (process.getuid() !== 0) skip('not root: kiln record loads BPF programs');
if (!existsSync(chromium)) skip(`no Chromium at ${chromium} (apt-get install chromium)`);
let chromiumApi;
try {
  // playwright-core is installed once for every browser test, in tests/browser.
  chromiumApi = createRequire(path.join(here, '../browser/package.json'))('playwright-core').chromium;
} catch (e) {
  console.error('FAIL: playwright-core is missing: run `npm ci` in tests/browser');
  process.exit(1);
}

function record(fmt, out) {
  const args = ['record', '-F', '999', '-f', fmt, '-o', out, '--', workload, '--mix', 'alpha=70,beta=30',
    '--cpu-seconds', '3'];
  const p = spawnSync(kiln, args, { encoding: 'utf8', timeout: 120000 });
  if (p.status !== 0) {
    if (/loading the BPF sampler/.test(p.stderr) && /not permitted|not supported/i.test(p.stderr))
      skip('the kernel refused the BPF sampler: ' + p.stderr.trim());
    fail(`kiln ${args.join(' ')}: exit ${p.status}\n${p.stderr}`);
  }
  const m = p.stderr.match(/(\d+) samples in \d+ distinct stacks/);
  if (!m) fail('no summary line:\n' + p.stderr);
  return Number(m[1]);
}

async function checkPage(page, file, written) {
  await page.goto('file://' + file);
  await page.waitForFunction(() => window.kilnReport && window.kilnReport.frames().length > 0, null,
    { timeout: 15000 });

  // Symbols table: profile/symtotal's Total, alpha 70 % +- 3 of the samples.
  const rows = await page.$$eval('#symbols tbody tr', (trs) =>
    trs.map((tr) => ({ name: tr.dataset.name, self: parseFloat(tr.cells[1].textContent), total: parseFloat(tr.cells[2].textContent) })));
  const row = (n) => rows.find((r) => r.name === n);
  if (!row('alpha') || !row('beta')) fail('alpha / beta missing from the table: ' + JSON.stringify(rows.slice(0, 20)));
  console.log(`table: alpha total ${row('alpha').total} %, beta total ${row('beta').total} %, ${rows.length} rows`);
  if (Math.abs(row('alpha').total - 70) > TOL) fail(`alpha's Total is ${row('alpha').total} %, expected 70 +- ${TOL}`);
  if (Math.abs(row('beta').total - 30) > TOL) fail(`beta's Total is ${row('beta').total} %, expected 30 +- ${TOL}`);
  const info = await page.locator('#info').innerText();
  if (!info.includes(written.toLocaleString('en-US') + ' samples')) fail(`header says "${info}", ${written} samples were written`);

  // The flame graph: alpha and beta as wide as their shares.
  const frames = await page.evaluate(() => window.kilnReport.frames());
  const root = frames.find((f) => f.name === 'all');
  // alpha is not recursive: its frames (one per distinct caller chain) never overlap.
  const width = (n) => frames.filter((f) => f.name === n).reduce((s, f) => s + f.w, 0);
  const widest = (n) => frames.filter((f) => f.name === n).sort((a, b) => b.w - a.w)[0];
  const alpha = widest('alpha');
  if (!root || !alpha || !widest('beta')) fail('frames all / alpha / beta not drawn');
  const wa = width('alpha') / root.w, wb = width('beta') / root.w;
  console.log(`flame: alpha ${wa.toFixed(3)}, beta ${wb.toFixed(3)} of the width; widest alpha frame ${(alpha.w / root.w).toFixed(3)}`);
  if (Math.abs(wa - 0.7) > TOL / 100) fail('alpha frames width ' + wa);

  // Search: beta's rows only, its share of samples said.
  await page.locator('#search').fill('beta');
  await page.waitForFunction(() => /matched/.test(document.querySelector('#matched').textContent));
  const names = await page.$$eval('#symbols tbody tr', (trs) => trs.map((tr) => tr.dataset.name));
  if (!names.length || names.some((n) => !n.toLowerCase().includes('beta'))) fail('search left rows: ' + names);
  const matched = parseFloat((await page.locator('#matched').innerText()).replace(/^[^\d]*/, ''));
  console.log(`search "beta": ${names.length} rows, matched ${matched} % of samples`);
  if (Math.abs(matched - 30) > TOL) fail(`search matched ${matched} %, expected 30 +- ${TOL}`);
  await page.screenshot({ path: path.join(build, 'record-html-search.png'), fullPage: true });
  await page.locator('#search').fill('');

  // Zoom: click alpha; it spans the width, beta is gone; Reset zooms out.
  const box = await page.locator('#flame').boundingBox();
  await page.mouse.click(box.x + alpha.x + alpha.w / 2, box.y + alpha.y + 9);
  await page.waitForFunction(() => window.kilnReport.zoomed() === 'alpha', null, { timeout: 5000 });
  const zoomed = await page.evaluate(() => window.kilnReport.frames());
  const za = zoomed.filter((f) => f.name === 'alpha');
  if (!za.length || Math.abs(za[za.length - 1].w - root.w) > 1) fail('zoomed alpha is not full width: ' + JSON.stringify(za));
  if (zoomed.some((f) => f.name === 'beta')) fail('beta is still drawn when zoomed into alpha');
  const path_ = await page.locator('#zoom-path').innerText();
  if (!/alpha$/.test(path_)) fail('zoom path: ' + path_);
  console.log(`zoom: alpha ${za[za.length - 1].w.toFixed(0)} of ${root.w.toFixed(0)} px; ${path_}`);
  await page.screenshot({ path: path.join(build, 'record-html.png'), fullPage: true });
  await page.locator('#reset').click();
  await page.waitForFunction(() => window.kilnReport.zoomed() === 'all');
}

async function checkSvg(page, file) {
  await page.goto('file://' + file);
  const frames = await page.$$eval('g.f', (gs) => gs.map((g) => {
    const r = g.querySelector('rect').getBoundingClientRect();
    return { title: g.querySelector('title').textContent, w: r.width, h: r.height };
  }));
  const shown = frames.filter((f) => f.w > 0 && f.h > 0);
  const alpha = shown.filter((f) => /^alpha\b/.test(f.title));
  const root = shown.find((f) => /^all\n/.test(f.title));
  console.log(`svg: ${shown.length} frames rendered, alpha ${alpha.length}`);
  if (shown.length < 5 || !alpha.length || !root) fail('the SVG does not render its frames');
  const wa = alpha.reduce((s, f) => s + f.w, 0) / root.w;
  if (Math.abs(wa - 0.7) > TOL / 100) fail(`alpha's rendered width ${wa}`);
  await page.screenshot({ path: path.join(build, 'record-svg.png') });
}

const tmp = mkdtempSync(path.join(tmpdir(), 'kiln-record-html-'));
let context;
try {
  const html = path.join(tmp, 'out.html'), svg = path.join(tmp, 'out.svg');
  const written = record('html', html);
  record('svg', svg);
  if (/<(script|link|img)[^>]+(src|href)=/i.test(readFileSync(html, 'utf8'))) fail('the page refers to another file');

  context = await chromiumApi.launchPersistentContext(path.join(tmp, 'chromium'), {
    executablePath: chromium,
    headless: true,
    offline: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push('console: ' + m.text()));
  // Nothing but the file itself may load.
  await context.route('**', (route) => {
    const url = route.request().url();
    if (url.startsWith('file://' + tmp + '/')) return route.continue();
    errors.push('request outside the file: ' + url);
    return route.abort();
  });
  await checkPage(page, html, written);
  await checkSvg(page, svg);

  // Names made to break out of the page's data (tests/record/render_feed.c): drawn as text,
  // never run.
  const hostile = path.join(tmp, 'hostile');
  mkdirSync(hostile);
  const feed = spawnSync(path.join(build, 'tests/record/render_feed'), [hostile], { encoding: 'utf8' });
  if (feed.status !== 0) fail('render_feed: ' + feed.stderr);
  await page.goto('file://' + path.join(hostile, 'out.html'));
  await page.waitForFunction(() => window.kilnReport && window.kilnReport.frames().length > 0);
  const names = await page.evaluate(() => window.kilnReport.frames().map((f) => f.name));
  if (await page.evaluate(() => window.pwned !== undefined)) fail('a frame name ran as a script');
  if (!names.includes('</script><script>window.pwned=1</script>')) fail('hostile name not drawn: ' + names);
  console.log(`hostile names: ${names.length} frames drawn as text, none ran`);
  if (errors.length) fail('page errors: ' + errors.join('; '));
  console.log('record html / svg browser test ok');
} catch (e) {
  console.error('FAIL: ' + (e.stack || e));
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(tmp, { recursive: true, force: true });
}
