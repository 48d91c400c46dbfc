// SPDX-License-Identifier: Apache-2.0
// The kiln ui web page in headless Chromium: open it, pick the workload, enable profiling,
// wait for the flame graph, click a frame to zoom, hover for the tooltip, search, read the
// symbols table, save a screenshot. Fed by tests/ui/ui_feed through a real shm ring.
//
//   KILN=build/kiln KILN_BUILD=build node tests/browser/test_ui.mjs
//
// Needs Debian's chromium (/usr/bin/chromium, else KILN_CHROMIUM) and `npm ci` in
// tests/browser. Exits 77 (skip) only when no Chromium is installed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build, chromium, fail, feedBin, kiln, openAndEnable, playwright, reportFailure, startLine } from './lib.mjs';

const shot = path.join(build, 'ui-screenshot.png');
const ring = `uibrowser-${process.pid}`;
const wid = 'unit/alpha-beta.service';

const chromiumApi = playwright();

const procs = [];
const userDir = mkdtempSync(path.join(tmpdir(), 'kiln-chromium-'));
let browser;
try {
  const feed = await startLine(feedBin, ['--ring', ring, '--key', wid, '--name', 'alpha-beta.service',
    '--mix', 'alpha=70,beta=30', '--interval-ms', '100'], /^window/);
  procs.push(feed.p);
  const ui = await startLine(kiln, ['ui', '--ring', ring, '--listen', '127.0.0.1:0'],
    /listening on (http:\/\/\S+)\//);
  procs.push(ui.p);
  const base = ui.m[1];

  // launchPersistentContext: the fresh --user-data-dir is passed the way playwright wants it.
  const context = await chromiumApi.launchPersistentContext(userDir, {
    executablePath: chromium,
    headless: true,
    viewport: { width: 1400, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browser = context;
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Offline: the page must not load anything but itself.
  await page.route('**/*', (route) =>
    route.request().url().startsWith(base) ? route.continue() : (errors.push('external: ' + route.request().url()), route.abort()));

  await openAndEnable(page, base, wid);

  // Wait until enough samples for stable shares are in the flame graph.
  await page.waitForFunction(() => window.kiln.frames().some((f) => f.name === 'all' && f.total >= 20000),
    null, { timeout: 30000, polling: 200 });
  const frames = await page.evaluate(() => window.kiln.frames());
  const root = frames.find((f) => f.name === 'all');
  const alpha = frames.find((f) => f.name === 'alpha');
  const beta = frames.find((f) => f.name === 'beta');
  if (!alpha || !beta) fail('alpha/beta frames not drawn: ' + JSON.stringify(frames));
  const wa = alpha.w / root.w, wb = beta.w / root.w;
  if (Math.abs(wa - 0.7) > 0.03 || Math.abs(wb - 0.3) > 0.03) fail(`frame widths ${wa} / ${wb}`);

  // Click "work" to zoom: it becomes the full-width frame under its dimmed ancestors.
  const box = await page.locator('#flame').boundingBox();
  const work = frames.find((f) => f.name === 'work');
  await page.mouse.click(box.x + work.x + work.w / 2, box.y + work.y + 9);
  await page.waitForFunction(() => document.querySelector('#flame').dataset.zoom === 'work');
  const zoomed = await page.evaluate(() => window.kiln.frames());
  const zw = zoomed.find((f) => f.name === 'work');
  if (Math.abs(zw.w - root.w) > 1) fail('zoomed frame is not full width');

  // Tooltip on beta (after zoom, 30/100 of the width).
  const zb = zoomed.find((f) => f.name === 'beta');
  await page.mouse.move(box.x + zb.x + zb.w / 2, box.y + zb.y + 9);
  const tip = await page.locator('#tooltip').innerText();
  if (!/beta/.test(tip) || !/Self: .*\(\d+\.\d+ %\)/.test(tip) || !/Total:/.test(tip)) fail('tooltip: ' + tip);

  // Symbols table: sorted by Self, alpha ~70 %, beta ~30 %.
  await page.locator('#symbols tbody tr').first().waitFor();
  const rows = await page.$$eval('#symbols tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const get = (n) => rows.find((r) => r[0] === n);
  if (!get('alpha') || Math.abs(parseFloat(get('alpha')[1]) - 70) > 3) fail('symbols: ' + JSON.stringify(rows));
  if (!get('beta') || Math.abs(parseFloat(get('beta')[1]) - 30) > 3) fail('symbols: ' + JSON.stringify(rows));
  if (rows[0][0] !== 'alpha') fail('not sorted by Self: ' + JSON.stringify(rows));
  await page.locator('#symbols th[data-sort="total"]').click();
  await page.waitForFunction(() => document.querySelector('#symbols tbody tr td').textContent === 'main');

  // The zoomed graph with the tooltip, then search highlighting in a second screenshot.
  await page.mouse.move(box.x + zb.x + zb.w / 2, box.y + zb.y + 9);
  await page.screenshot({ path: shot, fullPage: true });
  await page.locator('#search').fill('beta');
  await page.locator('#symbols tr.hl').first().waitFor();
  await page.screenshot({ path: shot.replace(/\.png$/, '-search.png'), fullPage: true });
  if (errors.length) fail('page errors: ' + errors.join('; '));
  console.log(`browser test ok: alpha ${wa.toFixed(3)} beta ${wb.toFixed(3)}; screenshot ${shot}`);
} catch (e) {
  reportFailure(e);
} finally {
  if (browser) await browser.close();
  for (const p of procs.reverse()) p.kill('SIGTERM');
  rmSync(userDir, { recursive: true, force: true });
}
