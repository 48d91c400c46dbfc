// SPDX-License-Identifier: Apache-2.0
// kiln ui: workloads list, slot control, canvas flame graph and symbols table. No
// dependencies: the page is served from the kiln binary and must work offline.
'use strict';

const REFRESH_MS = 2000;
const ROW = 18;
const $ = (sel) => document.querySelector(sel);

const state = {
  id: null, // workload being viewed
  enabled: false,
  tree: null,
  total: 0,
  zoomPath: [], // names from the root's child down to the zoomed node
  search: '',
  sort: 'self',
  rects: [], // drawn frames, for hit testing: {x, y, w, node, path}
  timer: null,
};

// X-Kiln-Request proves a state change comes from this page: a page of another site cannot
// send it without a CORS preflight, which kiln ui never grants.
async function api(method, path) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-Kiln-Request'] = '1';
  const r = await fetch(path, { method, headers, credentials: 'same-origin' });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
  return body;
}

const slotPath = (id) => '/api/slots/' + encodeURIComponent(id);
const fmt = (n) => n.toLocaleString('en-US');
const pct = (n, of) => (of ? (100 * n / of).toFixed(2) : '0.00') + ' %';

function setStatus(text) { $('#status').textContent = text; }

// Workloads list ---------------------------------------------------------------------------

async function loadWorkloads() {
  let list;
  try {
    list = await api('GET', '/api/workloads');
  } catch (e) {
    setStatus('error: ' + e.message);
    return [];
  }
  setStatus('updated ' + new Date().toLocaleTimeString());
  const tbody = $('#workloads tbody');
  tbody.replaceChildren();
  for (const w of list) {
    const tr = document.createElement('tr');
    tr.className = 'click';
    tr.dataset.id = w.id;
    const cells = [w.name || w.id, w.kind || '', w.id, w.rate.toFixed(1)];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (i === 2) td.className = 'name';
      if (i === 3) td.className = 'num';
      tr.appendChild(td);
    });
    const td = document.createElement('td');
    const pill = document.createElement('span');
    pill.className = 'pill' + (w.slot ? ' on' : '');
    pill.textContent = w.slot ? 'enabled' : 'off';
    td.appendChild(pill);
    tr.appendChild(td);
    const open = document.createElement('td');
    open.innerHTML = '<button type="button">Open</button>';
    tr.appendChild(open);
    tr.addEventListener('click', () => openWorkload(w.id, w.name || w.id, w.slot));
    tbody.appendChild(tr);
  }
  $('#no-workloads').hidden = list.length > 0;
  return list;
}

function showList() {
  state.id = null;
  location.hash = '';
  $('#profile-view').hidden = true;
  $('#workloads-view').hidden = false;
  schedule(loadWorkloads);
}

// Profiling view ---------------------------------------------------------------------------

function openWorkload(id, name, enabled) {
  state.id = id;
  state.enabled = enabled;
  state.tree = null;
  state.zoomPath = [];
  location.hash = encodeURIComponent(id);
  $('#wl-title').textContent = name;
  $('#workloads-view').hidden = true;
  $('#profile-view').hidden = false;
  updateButtons();
  draw();
  renderSymbols([]);
  schedule(refreshProfile);
}

function updateButtons() {
  $('#enable').hidden = state.enabled;
  $('#clear').hidden = !state.enabled;
  $('#disable').hidden = !state.enabled;
  $('#flame-empty').textContent = state.enabled
    ? 'Waiting for samples…'
    : 'Profiling is off for this workload: click Enable profiling to start collecting.';
}

async function refreshProfile() {
  if (!state.id || !state.enabled) return;
  const id = state.id;
  try {
    const [fg, sy] = await Promise.all([
      api('GET', slotPath(id) + '/flamegraph'),
      api('GET', slotPath(id) + '/symbols?sort=' + state.sort + '&limit=300'),
    ]);
    if (state.id !== id) return;
    state.tree = fg.tree;
    state.total = fg.total;
    $('#wl-info').textContent = fmt(fg.total) + ' samples in ' + fg.chunks + ' windows' +
      (fg.truncated ? ' (tree capped at ' + fg.max_nodes + ' nodes)' : '');
    draw();
    renderSymbols(sy.symbols);
    setStatus('updated ' + new Date().toLocaleTimeString());
  } catch (e) {
    // The slot can vanish (TTL, eviction, another user's disable): show it as off.
    if (/no slot/.test(e.message)) {
      state.enabled = false;
      updateButtons();
    }
    setStatus('error: ' + e.message);
  }
}

async function slotAction(method, suffix) {
  try {
    await api(method, slotPath(state.id) + suffix);
  } catch (e) {
    setStatus('error: ' + e.message);
    return;
  }
  state.enabled = method !== 'DELETE';
  if (suffix || method === 'DELETE') {
    state.tree = null;
    state.zoomPath = [];
    draw();
    renderSymbols([]);
  }
  updateButtons();
  refreshProfile();
}

// Flame graph ------------------------------------------------------------------------------

// Python frames are named "file.py:Qualified.name" (one rule for every output).
const PYTHON_FRAME = /^[^;:\[\]]+\.py:/;

function color(name, dim) {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  // Native frames warm (red to orange-yellow), Python frames cool (teal to blue).
  const hue = PYTHON_FRAME.test(name) ? 175 + (h % 40) : 10 + (h % 40);
  const light = 55 + ((h >>> 8) % 15);
  return dim ? `hsl(${hue}, 15%, 82%)` : `hsl(${hue}, 85%, ${light}%)`;
}

// Resolves the zoom path against the current tree; returns [ancestors..., zoomed node].
function zoomChain() {
  const chain = [state.tree];
  for (const name of state.zoomPath) {
    const next = (chain[chain.length - 1].children || []).find((c) => c.name === name);
    if (!next) break;
    chain.push(next);
  }
  state.zoomPath = chain.slice(1).map((n) => n.name);
  return chain;
}

function depthOf(node) {
  let d = 0;
  for (const c of node.children || []) d = Math.max(d, depthOf(c));
  return d + 1;
}

function draw() {
  const canvas = $('#flame');
  const tree = state.tree;
  $('#flame-empty').hidden = !!(tree && tree.total);
  state.rects = [];
  if (!tree || !tree.total) {
    canvas.height = 0;
    canvas.dataset.frames = '0';
    return;
  }
  const chain = zoomChain();
  const zoomed = chain[chain.length - 1];
  const rows = chain.length - 1 + depthOf(zoomed);
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800;
  canvas.width = width * dpr;
  canvas.height = rows * ROW * dpr;
  canvas.style.height = rows * ROW + 'px';
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.font = '12px ui-monospace, monospace';
  ctx.textBaseline = 'middle';
  const search = state.search.toLowerCase();

  const frame = (node, x, y, w, path, ancestor) => {
    const hit = search && node.name.toLowerCase().includes(search);
    ctx.fillStyle = hit ? '#b06fd8' : color(node.name, ancestor || (search && !hit));
    ctx.fillRect(x, y, Math.max(w - 1, 0.5), ROW - 1);
    if (w > 30) {
      ctx.fillStyle = '#1d232a';
      ctx.save();
      ctx.beginPath();
      ctx.rect(x, y, w - 2, ROW);
      ctx.clip();
      ctx.fillText(node.name, x + 3, y + ROW / 2);
      ctx.restore();
    }
    state.rects.push({ x, y, w, node, path });
  };
  // Ancestors of the zoomed node span the full width, dimmed; clicking one zooms out.
  chain.slice(0, -1).forEach((n, i) => frame(n, 0, i * ROW, width, chain.slice(1, i + 1).map((c) => c.name), true));
  const walk = (node, x, depth, w, path) => {
    frame(node, x, depth * ROW, w, path, false);
    let cx = x;
    for (const c of node.children || []) {
      const cw = node.total ? w * c.total / node.total : 0;
      if (cw >= 0.3) walk(c, cx, depth + 1, cw, path.concat(c.name));
      cx += cw;
    }
  };
  walk(zoomed, 0, chain.length - 1, width, state.zoomPath);
  canvas.dataset.frames = String(state.rects.length);
  canvas.dataset.zoom = zoomed.name;
  $('#zoom-path').textContent = state.zoomPath.length ? 'zoomed: ' + state.zoomPath.join(' › ') : '';
}

function hit(ev) {
  const canvas = $('#flame');
  const r = canvas.getBoundingClientRect();
  const x = ev.clientX - r.left, y = ev.clientY - r.top;
  return state.rects.find((f) => x >= f.x && x < f.x + f.w && y >= f.y && y < f.y + ROW);
}

function showTooltip(ev) {
  const f = hit(ev);
  const tip = $('#tooltip');
  if (!f) { tip.hidden = true; return; }
  const n = f.node;
  tip.textContent = `${n.name}\nSelf: ${fmt(n.self)} (${pct(n.self, state.total)})\n` +
    `Total: ${fmt(n.total)} (${pct(n.total, state.total)})`;
  tip.hidden = false;
  tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 300) + 'px';
  tip.style.top = ev.clientY + 14 + 'px';
}

// Symbols table ----------------------------------------------------------------------------

function renderSymbols(rows) {
  const tbody = $('#symbols tbody');
  tbody.replaceChildren();
  const search = state.search.toLowerCase();
  for (const s of rows) {
    const tr = document.createElement('tr');
    tr.className = 'click' + (search && s.name.toLowerCase().includes(search) ? ' hl' : '');
    const name = document.createElement('td');
    name.className = 'name';
    name.textContent = s.name;
    name.title = s.name;
    const self = document.createElement('td');
    self.className = 'num';
    self.textContent = s.self_percent.toFixed(2) + ' %';
    self.title = fmt(s.self) + ' samples';
    const total = document.createElement('td');
    total.className = 'num';
    total.textContent = s.total_percent.toFixed(2) + ' %';
    total.title = fmt(s.total) + ' samples';
    tr.append(name, self, total);
    tr.addEventListener('click', () => { $('#search').value = s.name; setSearch(s.name); });
    tbody.appendChild(tr);
  }
  document.querySelectorAll('#symbols th.sortable').forEach((th) =>
    th.classList.toggle('active', th.dataset.sort === state.sort));
}

function setSearch(text) {
  state.search = text;
  draw();
  refreshProfile();
}

// Refresh loop -----------------------------------------------------------------------------

function schedule(fn) {
  clearInterval(state.timer);
  fn();
  state.timer = setInterval(fn, REFRESH_MS);
}

function init() {
  $('#back').addEventListener('click', showList);
  $('#enable').addEventListener('click', () => slotAction('POST', ''));
  $('#clear').addEventListener('click', () => slotAction('POST', '/clear'));
  $('#disable').addEventListener('click', () => slotAction('DELETE', ''));
  $('#reset').addEventListener('click', () => { state.zoomPath = []; draw(); });
  $('#search').addEventListener('input', (e) => setSearch(e.target.value));
  const canvas = $('#flame');
  canvas.addEventListener('click', (ev) => {
    const f = hit(ev);
    if (!f) return;
    state.zoomPath = f.path;
    draw();
  });
  canvas.addEventListener('mousemove', showTooltip);
  canvas.addEventListener('mouseleave', () => { $('#tooltip').hidden = true; });
  document.querySelectorAll('#symbols th.sortable').forEach((th) =>
    th.addEventListener('click', () => { state.sort = th.dataset.sort; refreshProfile(); }));
  window.addEventListener('resize', draw);
  const id = decodeURIComponent(location.hash.slice(1));
  if (id) {
    // A reload of a profiling view: the slot survives closing the page.
    api('GET', slotPath(id)).then(() => openWorkload(id, id, true),
      () => openWorkload(id, id, false));
  } else {
    showList();
  }
}

// Test hook: the drawn frames, for the browser test to click one.
window.kiln = { frames: () => state.rects.map((f) => ({ x: f.x, y: f.y, w: f.w, name: f.node.name, total: f.node.total })) };

init();
