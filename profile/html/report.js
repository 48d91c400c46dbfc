// SPDX-License-Identifier: Apache-2.0
// kiln record -f html: draws the profile embedded in this page (no network, no other file).
'use strict';
(() => {
  const F = window.KilnFlame; // ui/web/flame.js, embedded before this script
  const data = JSON.parse(document.getElementById('kiln-data').textContent);
  const $ = (sel) => document.querySelector(sel);

  // The call tree as the flame graph takes it: parents come before their children in data.nodes.
  const nodes = data.nodes.f.map((f, i) => ({
    frame: f, parent: data.nodes.p[i], total: data.nodes.t[i], self: data.nodes.s[i], children: [],
    name: f < 0 ? 'all' : data.frames[f][0], module: f < 0 ? '' : data.frames[f][1], kind: f < 0 ? 'process' : data.frames[f][2],
  }));
  for (const n of nodes) if (n.parent >= 0) nodes[n.parent].children.push(n);
  const root = nodes[0];
  const total = data.total;
  const state = { zoomPath: [], search: '', sort: 'total', drawn: { rects: [], chain: [root] } };

  const fmt = (n) => n.toLocaleString('en-US');
  const pct = (n, d) => (d ? (100 * n / d).toFixed(2) : '0.00') + ' %';

  const matches = (n) => state.search && n.name.toLowerCase().includes(state.search);

  // Samples under a matching frame, each counted once (not again under a matching caller).
  function matchedSamples(n) {
    if (n !== root && matches(n)) return n.total;
    let s = 0;
    for (const c of n.children) s += matchedSamples(c);
    return s;
  }

  function draw() {
    const canvas = $('#flame');
    $('#flame-empty').hidden = !!total;
    state.drawn = F.draw(canvas, total ? root : null, { zoomPath: state.zoomPath, search: state.search });
    const ch = state.drawn.chain;
    const narrow = state.drawn.narrow;
    $('#narrow').textContent = narrow ? `${fmt(narrow)} call paths too narrow to draw: zoom in to see them` : '';
    $('#zoom-path').textContent = ch.length > 1 ? 'zoomed: ' + ch.slice(1).map((n) => n.name).join(' › ') : '';
    $('#matched').textContent = state.search ? 'matched: ' + pct(matchedSamples(root), total) + ' of samples' : '';
  }

  function renderSymbols() {
    const tbody = $('#symbols tbody');
    tbody.replaceChildren();
    const rows = data.symbols.filter((s) => !state.search || s[0].toLowerCase().includes(state.search));
    const key = state.sort === 'self' ? 2 : 3, other = 5 - key;
    rows.sort((a, b) => b[key] - a[key] || b[other] - a[other] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const s of rows.slice(0, 2000)) {
      const tr = document.createElement('tr');
      if (state.search) tr.className = 'hl';
      const name = document.createElement('td');
      name.className = 'name';
      name.title = s[1] ? `${s[0]} (${s[1]})` : s[0];
      name.textContent = s[0];
      if (s[1]) {
        const mod = document.createElement('span');
        mod.className = 'mod';
        mod.textContent = s[1];
        name.appendChild(mod);
      }
      const self = document.createElement('td');
      self.className = 'num self';
      self.textContent = pct(s[2], total);
      self.title = fmt(s[2]) + ' samples';
      const tot = document.createElement('td');
      tot.className = 'num total';
      tot.textContent = pct(s[3], total);
      tot.title = fmt(s[3]) + ' samples';
      tr.dataset.name = s[0];
      tr.append(name, self, tot);
      tr.addEventListener('click', () => { $('#search').value = s[0]; setSearch(s[0]); });
      tbody.appendChild(tr);
    }
    document.querySelectorAll('#symbols th.sortable').forEach((th) =>
      th.classList.toggle('active', th.dataset.sort === state.sort));
  }

  function setSearch(text) {
    state.search = text.trim().toLowerCase();
    draw();
    renderSymbols();
  }

  function hit(ev) {
    const r = $('#flame').getBoundingClientRect();
    const x = ev.clientX - r.left, y = ev.clientY - r.top;
    return F.hit(state.drawn.rects, x, y);
  }

  function tooltip(ev) {
    const f = hit(ev);
    const tip = $('#tooltip');
    if (!f) { tip.hidden = true; return; }
    const n = f.node;
    tip.textContent = `${n.name}${n.module ? ' (' + n.module + ')' : ''}\n${n.kind}\n` +
      `Self: ${fmt(n.self)} (${pct(n.self, total)})\nTotal: ${fmt(n.total)} (${pct(n.total, total)})`;
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 300) + 'px';
    tip.style.top = ev.clientY + 14 + 'px';
  }

  document.title = data.title;
  $('#title').textContent = data.title;
  $('#info').textContent = `${fmt(total)} samples` + (data.period_ns ? ` at ${Math.round(1e9 / data.period_ns)} Hz` : '') +
    (data.duration_ns ? `, ${(data.duration_ns / 1e9).toFixed(1)} s` : '');
  F.legend($('#legend'), false, new Set(data.frames.map((f) => f[2])));
  $('#search').addEventListener('input', (e) => setSearch(e.target.value));
  $('#reset').addEventListener('click', () => { state.zoomPath = []; draw(); });
  const canvas = $('#flame');
  canvas.addEventListener('click', (ev) => {
    const f = hit(ev);
    if (!f) return;
    state.zoomPath = f.path;
    draw();
  });
  canvas.addEventListener('mousemove', tooltip);
  canvas.addEventListener('mouseleave', () => { $('#tooltip').hidden = true; });
  document.querySelectorAll('#symbols th.sortable').forEach((th) =>
    th.addEventListener('click', () => { state.sort = th.dataset.sort; renderSymbols(); }));
  window.addEventListener('resize', draw);
  draw();
  renderSymbols();

  // For tests and scripts: what is drawn, and where.
  window.kilnReport = {
    frames: () => state.drawn.rects.map((f) => ({ x: f.x, y: f.y, w: f.w, name: f.node.name, total: f.node.total })),
    zoomed: () => state.drawn.chain[state.drawn.chain.length - 1].name,
    width: () => canvas.clientWidth,
  };
})();
