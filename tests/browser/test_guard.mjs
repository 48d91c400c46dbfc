// SPDX-License-Identifier: Apache-2.0
// kiln ui against other sites, in headless Chromium: a page served by a second local HTTP
// server (another origin) tries to enable a slot and to read /api/workloads; a page on a
// rebound name (rebind.test mapped to 127.0.0.1 by --host-resolver-rules, its first answer
// served by that second server, as a rebinding DNS would) tries the same from "its own"
// origin. All fail and are counted; the same actions from kiln's own page work.
//
//   KILN=build/kiln KILN_BUILD=build node tests/browser/test_guard.mjs
//
// Needs Debian's chromium and `npm ci` in tests/browser. Exits 77 only without Chromium.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, fail, feedBin, kiln, playwright, reportFailure, startLine } from './lib.mjs';

const chromiumApi = playwright();
const ring = `uiguard-${process.pid}`;
const wid = 'unit/guard-browser.service';

// What the hostile page does. UI is where kiln ui listens (absolute) or '' (same origin,
// for the rebound name). Each attempt records what the page could see.
function attackPage(ui, slot) {
  return `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" action="${ui}${slot}" target="sink"><input name="a" value="1"></form>
<script>
window.results = {};
async function attempt(name, fn) {
  try { window.results[name] = await fn(); } catch (e) { window.results[name] = 'error: ' + e.name; }
}
(async () => {
  await attempt('noCorsPost', async () => (await fetch('${ui}${slot}', { method: 'POST', mode: 'no-cors' })).type);
  await attempt('proofPost', async () => (await fetch('${ui}${slot}', { method: 'POST', headers: { 'X-Kiln-Request': '1' } })).status);
  await attempt('readWorkloads', async () => { const r = await fetch('${ui}/api/workloads'); return r.status + ' ' + (await r.text()).slice(0, 80); });
  document.getElementById('f').submit();
  window.results.form = 'submitted';
  window.done = true;
})();
</script></body></html>`;
}

async function metric(base, reason) {
  const text = await (await fetch(base + '/metrics')).text();
  const m = text.match(new RegExp(`kiln_ui_requests_refused_total\\{reason="${reason}"\\} (\\d+)`));
  if (!m) fail('metrics lack reason ' + reason);
  return Number(m[1]);
}

async function slotOpen(base) {
  const s = await (await fetch(base + '/api/slots')).json();
  return s.slots.some((x) => x.id === wid);
}

const procs = [];
const userDir = mkdtempSync(path.join(tmpdir(), 'kiln-chromium-'));
let browser, attacker;
try {
  const feed = await startLine(feedBin, ['--ring', ring, '--key', wid, '--name', 'guard-browser.service',
    '--mix', 'f=100', '--interval-ms', '100'], /^window/);
  procs.push(feed.p);
  const ui = await startLine(kiln, ['ui', '--ring', ring, '--listen', '127.0.0.1:0'],
    /listening on (http:\/\/\S+)\//);
  procs.push(ui.p);
  const base = ui.m[1];
  const uiPort = new URL(base).port;
  const slot = '/api/slots/' + encodeURIComponent(wid);

  // The other origin: a second local HTTP server on a random port.
  attacker = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(req.url.startsWith('/rebind') ? attackPage('', slot) : attackPage(base, slot));
  });
  await new Promise((r) => attacker.listen(0, '127.0.0.1', r));
  const other = `http://127.0.0.1:${attacker.address().port}`;

  // Wait for the workload, so that a refused enable cannot pass for an unknown one.
  for (let i = 0; ; i++) {
    const w = await (await fetch(base + '/api/workloads')).json();
    if (w.some((x) => x.id === wid)) break;
    if (i > 150) fail('workload never listed');
    await new Promise((r) => setTimeout(r, 100));
  }

  const context = await chromiumApi.launchPersistentContext(userDir, {
    executablePath: chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP rebind.test 127.0.0.1',
      // The browser's own local-network checks off: the UI must hold without them (other
      // browsers, older ones), so this tests the UI's defence alone.
      '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,' +
        'PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults'],
  });
  browser = context;
  const page = context.pages()[0] || await context.newPage();
  const h0 = { host: await metric(base, 'host'), origin: await metric(base, 'origin'), header: await metric(base, 'header') };

  // 1. Another origin.
  await page.goto(other + '/');
  await page.waitForFunction(() => window.done === true, null, { timeout: 15000 });
  const cross = await page.evaluate(() => window.results);
  // The form's POST lands in the iframe; wait until the UI has counted all three POSTs.
  for (let i = 0; (await metric(base, 'origin')) < h0.origin + 3; i++) {
    if (i > 100) fail('cross-origin POSTs not all refused/counted: ' + JSON.stringify(cross));
    await new Promise((r) => setTimeout(r, 100));
  }
  if (await slotOpen(base)) fail('a page of another origin enabled a slot: ' + JSON.stringify(cross));
  if (!String(cross.proofPost).startsWith('error')) fail('preflighted POST was allowed: ' + cross.proofPost);
  if (!String(cross.readWorkloads).startsWith('error')) fail('another origin read /api/workloads: ' + cross.readWorkloads);

  // 2. A rebound name: the document came from the attacker, later requests reach the UI.
  await page.route(`http://rebind.test:${uiPort}/`, async (route) => {
    const body = await (await fetch(other + '/rebind')).text();
    await route.fulfill({ status: 200, contentType: 'text/html', body });
  });
  await page.goto(`http://rebind.test:${uiPort}/`);
  await page.waitForFunction(() => window.done === true, null, { timeout: 15000 });
  const rebound = await page.evaluate(() => window.results);
  for (let i = 0; (await metric(base, 'host')) < h0.host + 3; i++) {
    if (i > 100) fail('rebound requests not all refused/counted: ' + JSON.stringify(rebound));
    await new Promise((r) => setTimeout(r, 100));
  }
  if (await slotOpen(base)) fail('a rebound page enabled a slot: ' + JSON.stringify(rebound));
  if (rebound.proofPost !== 421) fail('rebound POST: ' + rebound.proofPost);
  if (!String(rebound.readWorkloads).startsWith('421') || rebound.readWorkloads.includes(wid))
    fail('rebound read of /api/workloads: ' + rebound.readWorkloads);
  await page.unroute(`http://rebind.test:${uiPort}/`);

  // 3. kiln's own page: the same actions work.
  await page.goto(base + '/');
  const row = page.locator(`#workloads tr[data-id="${wid}"]`);
  await row.waitFor({ timeout: 15000 });
  await row.click();
  await page.locator('#enable').click();
  await page.locator('#disable').waitFor({ state: 'visible', timeout: 15000 });
  if (!(await slotOpen(base))) fail("kiln's own page could not enable the slot");
  await page.locator('#disable').click();
  for (let i = 0; await slotOpen(base); i++) {
    if (i > 100) fail("kiln's own page could not disable the slot");
    await new Promise((r) => setTimeout(r, 100));
  }
  const h1 = { host: await metric(base, 'host'), origin: await metric(base, 'origin'), header: await metric(base, 'header') };
  console.log(`browser guard ok: other origin ${JSON.stringify(cross)}; rebound ${JSON.stringify(rebound)}; ` +
    `refused +host ${h1.host - h0.host} +origin ${h1.origin - h0.origin} +header ${h1.header - h0.header}`);
} catch (e) {
  reportFailure(e);
} finally {
  if (browser) await browser.close();
  if (attacker) attacker.close();
  for (const p of procs.reverse()) p.kill('SIGTERM');
  rmSync(userDir, { recursive: true, force: true });
}
