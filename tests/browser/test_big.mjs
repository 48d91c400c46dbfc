// SPDX-License-Identifier: Apache-2.0
// The kiln ui page with 50,000 distinct stacks in a slot (tests/ui/ui_feed --stacks 50000,
// one window a second through a real shm ring): it renders and stays interactive (search
// highlights, a click zooms). The render times are printed, not checked: a figure that
// depends on the machine's load belongs in a note, not in a verdict.
//
//   KILN=build/kiln KILN_BUILD=build node tests/browser/test_big.mjs
import path from 'node:path';

import { build, closeAll, fail, feedBin, playwright, reportFailure, startLine, startUiPage } from './lib.mjs';

const chromiumApi = playwright();
const ring = `uiinv-big-${process.pid}`;
const wid = 'unit/big.service';
const STACKS = 50000;
const WINDOWS = 3;
// Sanitized trees (KILN_SANITIZE) run the same test several times slower (KILN_SLOW: how many).
const SLOW = process.env.KILN_SANITIZE ? Number(process.env.KILN_SLOW || 5) : 1;

const procs = [];
let ctx;
try {
  const feed = await startLine(feedBin, ['--ring', ring, '--key', wid, '--name', 'big.service',
    '--mix', 'alpha=70,beta=30', '--stacks', String(STACKS), '--interval-ms', '1000', '--ring-mb', '64'], /^window/);
  procs.push(feed.p);
  // Room for a few windows of ~5 MB each.
  const errors = [];
  ({ ctx } = await startUiPage(chromiumApi, ring, wid, procs, errors, { PROFILES_SLOT_MAX_BYTES: String(64 << 20) }));
  const page = ctx.page;

  // The page's own refresh (tree capped at its default 2,048 nodes) once WINDOWS are in.
  try {
    await page.waitForFunction((n) => {
      const t = window.kiln.timing();
      return window.kiln.timeline().windows.length >= n && t && window.kiln.frames().some((f) => f.name === 'alpha');
    }, WINDOWS, { timeout: 60000 * SLOW, polling: 200 });
  } catch (e) {
    fail('the page never showed the slot: ' + JSON.stringify(await page.evaluate(() => ({
      windows: window.kiln.timeline().windows.length, timing: window.kiln.timing(), frames: window.kiln.frames().length,
      status: document.querySelector('#status').textContent, info: document.querySelector('#wl-info').textContent }))));
  }
  // One more refresh, so the timing is of a refresh that had WINDOWS in it.
  const t0 = await page.evaluate(() => window.kiln.timing());
  await page.waitForFunction((prev) => window.kiln.timing() !== prev && window.kiln.timing().fetch_ms !== prev.fetch_ms,
    t0, { timeout: 30000 * SLOW, polling: 100 });
  const capped = await page.evaluate(() => window.kiln.timing());
  const info = await page.locator('#wl-info').innerText();

  // The whole tree (every one of the 50,000 stacks a node): fetched, parsed and drawn.
  const full = await page.evaluate(async (id) => {
    const a = performance.now();
    const r = await fetch('/api/slots/' + encodeURIComponent(id) + '/flamegraph?max_nodes=100000');
    const text = await r.text();
    const b = performance.now();
    const fg = JSON.parse(text);
    const c = performance.now();
    const d = window.KilnFlame.draw(document.querySelector('#flame'), fg.tree, {});
    const e = performance.now();
    return { fetch_ms: b - a, parse_ms: c - b, draw_ms: e - c, bytes: text.length, nodes: fg.nodes, frames: d.rects.length,
      total: fg.total };
  }, wid);
  if (full.nodes < STACKS) fail(`the full tree has ${full.nodes} nodes, expected >= ${STACKS}`);

  // Interactive: search highlights a row, a click on a frame zooms into it.
  const s0 = Date.now();
  await page.locator('#search').fill('alpha');
  await page.locator('#symbols tr.hl').first().waitFor({ timeout: 30000 * SLOW });
  const searchMs = Date.now() - s0;
  const frames = await page.evaluate(() => window.kiln.frames());
  const alpha = frames.find((f) => f.name === 'alpha');
  if (!alpha) fail('alpha not drawn');
  const box = await page.locator('#flame').boundingBox();
  const z0 = Date.now();
  await page.mouse.click(box.x + alpha.x + alpha.w / 2, box.y + alpha.y + 9);
  await page.waitForFunction(() => document.querySelector('#flame').dataset.zoom === 'alpha', null,
    { timeout: 10000 * SLOW });
  const zoomMs = Date.now() - z0;
  await page.locator('#reset').click();
  await page.screenshot({ path: path.join(build, 'ui-big.png'), fullPage: true });
  if (errors.length) fail('page errors: ' + errors.join('; '));
  const f = (x) => x.toFixed(0);
  console.log(`50k stacks (${info}):`);
  console.log(`  page refresh, tree capped at 2048 nodes (${capped.nodes} nodes, ${capped.frames} frames drawn): ` +
    `fetch of flamegraph+symbols+timeline ${f(capped.fetch_ms)} ms, draw ${f(capped.draw_ms)} ms`);
  console.log(`  full tree (${full.nodes} nodes, ${(full.bytes / 1e6).toFixed(1)} MB JSON, ${full.frames} frames drawn): ` +
    `fetch ${f(full.fetch_ms)} ms, parse ${f(full.parse_ms)} ms, draw ${f(full.draw_ms)} ms`);
  console.log(`  search to highlighted row ${searchMs} ms, click to zoomed ${zoomMs} ms`);
  console.log('big browser test ok; screenshot ' + path.join(build, 'ui-big.png'));
} catch (e) {
  reportFailure(e);
} finally {
  await closeAll(ctx, procs);
}
