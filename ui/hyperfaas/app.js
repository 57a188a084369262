// The HyperFaaS dashboard: polls the status API once a second and draws each function's phase, instances, slots,
// borrowed guest slots, traffic (req/s, p50/p99) and the scheduler's recent decisions. No build step: plain browser
// JavaScript plus uPlot for the charts. Same-origin requests carry the browser's basic-auth credentials.
(function () {
  'use strict';
  const POLL_MS = 1000;
  const nsSelect = document.getElementById('namespace');
  const root = document.getElementById('functions');
  const updated = document.getElementById('updated');
  const cards = new Map(); // function key -> { el, charts }

  function text(tag, cls, content) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (content !== undefined) el.textContent = content;
    return el;
  }

  function fmtMs(v) {
    if (v === null || v === undefined) return '–';
    return v < 10 ? v.toFixed(1) + ' ms' : Math.round(v) + ' ms';
  }

  function fmtBytes(n) {
    if (!n) return '–';
    const mi = n / 1048576;
    return mi >= 1024 ? (mi / 1024).toFixed(1) + ' GiB' : Math.round(mi) + ' MiB';
  }

  async function getJson(url) {
    const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) throw new Error(url + ': ' + res.status + ' ' + (await res.text()).trim());
    return res.json();
  }

  async function loadNamespaces() {
    let list = [];
    try {
      list = await getJson('/system/namespaces');
    } catch (e) {
      list = [];
    }
    const wanted = new URLSearchParams(location.search).get('namespace');
    if (wanted && !list.includes(wanted)) list.unshift(wanted);
    if (list.length === 0) list = ['openfaas-fn'];
    nsSelect.replaceChildren(...list.map((n) => { const o = text('option', '', n); o.value = n; return o; }));
    if (wanted) nsSelect.value = wanted;
  }

  function chart(el, title, series, width) {
    const opts = {
      title,
      width,
      height: 150,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { size: 50 }],
      series: [{}].concat(series),
    };
    return new uPlot(opts, [[], ...series.map(() => [])], el);
  }

  function cardFor(doc) {
    let c = cards.get(doc.function);
    if (c) return c;
    const el = text('section', 'card');
    el.dataset.function = doc.function;
    const head = text('div', 'head');
    head.append(text('h2', '', doc.name), text('span', 'badge phase', ''), text('span', 'badge policy', ''), text('span', 'muted image', ''));
    const figures = text('div', 'figures');
    const charts = text('div', 'charts');
    const rate = text('div');
    const lat = text('div');
    charts.append(rate, lat);
    const inst = text('table', 'instances');
    const borrowed = text('div', 'borrowed');
    const warnings = text('ul', 'warnings');
    const decisions = text('ol', 'decisions');
    el.append(head, figures, warnings, charts, inst, borrowed, text('div', 'muted', 'recent scheduler decisions'), decisions);
    const w = Math.max(320, Math.min(560, (root.clientWidth - 80) / 2));
    c = {
      el,
      rate: chart(rate, 'requests / s, bounces, boosts', [
        { label: 'req/s', stroke: '#2f6fed', width: 2 },
        { label: 'bounces', stroke: '#e67e22' },
        { label: 'boosts', stroke: '#8e44ad' },
      ], w),
      lat: chart(lat, 'latency (ms)', [
        { label: 'p50', stroke: '#27ae60', width: 2 },
        { label: 'p99', stroke: '#c0392b', width: 2 },
      ], w),
    };
    cards.set(doc.function, c);
    return c;
  }

  function slotChip(s) {
    const chip = text('span', 'slot ' + s.kind + ' ' + s.state);
    chip.dataset.slotKind = s.kind;
    chip.dataset.slotState = s.state;
    chip.textContent = s.kind + ': ' + s.state + (s.function ? ' ' + s.function : '') + ' ' + s.inflight + '/' + (s.capacity || '∞');
    return chip;
  }

  function render(doc) {
    const c = cardFor(doc);
    const el = c.el;
    const phase = el.querySelector('.phase');
    phase.textContent = doc.phase || 'no policy';
    phase.className = 'badge phase phase-' + (doc.phase || 'none');
    el.dataset.phase = doc.phase || '';
    el.querySelector('.policy').textContent = doc.policy || 'none';
    el.querySelector('.image').textContent = doc.image;
    const t = doc.traffic.last60s;
    const figures = el.querySelector('.figures');
    figures.replaceChildren(
      ...[
        ['replicas', doc.availableReplicas + ' / ' + doc.replicas],
        ['req/s (60 s)', t.rps.toFixed(1)],
        ['p50', fmtMs(t.p50)],
        ['p99', fmtMs(t.p99)],
        ['5xx', String(t.errors)],
        ['bounces', String(t.bounces)],
        ['boosts', String(t.boosts)],
        ['invocations', String(doc.invocationCount)],
        ['borrowed slots', String(doc.borrowed.length)],
      ].map(([k, v]) => { const s = text('span', '', k + ' '); s.append(text('b', '', v)); return s; }),
    );
    const rows = [['instance', 'ready', 'watermark', 'cpu', 'memory', 'in flight', 'queued', 'slots']].map((h) => {
      const tr = text('tr');
      for (const x of h) tr.append(text('th', '', x));
      return tr;
    });
    for (const i of doc.instances) {
      const tr = text('tr');
      tr.dataset.instance = i.id;
      const wm = i.load ? i.load.watermark : '–';
      const slots = text('td');
      for (const s of i.slots) slots.append(slotChip(s));
      tr.append(
        text('td', '', i.id),
        text('td', '', i.ready ? 'yes' : 'starting'),
        text('td', 'wm-' + wm, wm + (i.blocked ? ' (blocked)' : '')),
        text('td', '', i.load ? i.load.cpu.used.toFixed(2) + ' / ' + (i.load.cpu.limit ? i.load.cpu.limit.toFixed(2) : '∞') : '–'),
        text('td', '', i.load ? fmtBytes(i.load.memory.used) + ' / ' + fmtBytes(i.load.memory.limit) : '–'),
        text('td', '', String(i.inflight)),
        text('td', '', i.load ? String(i.load.queued) : '–'),
        slots,
      );
      rows.push(tr);
    }
    el.querySelector('.instances').replaceChildren(...rows);
    const borrowed = el.querySelector('.borrowed');
    borrowed.replaceChildren();
    if (doc.borrowed.length) {
      borrowed.append(text('span', 'muted', 'borrowed guest slots: '));
      for (const b of doc.borrowed) {
        const chip = b.slot ? slotChip(b.slot) : text('span', 'slot guest', 'guest');
        chip.dataset.borrowedFrom = b.hostInstance;
        chip.title = 'on ' + b.hostInstance + ' (' + b.hostFunction + ')';
        borrowed.append(chip);
      }
    }
    // Warnings: the last failed attempts to lend this function a guest slot (its code could not be fetched or loaded).
    const failures = (doc.warnings && doc.warnings.specialiseFailures) || [];
    el.querySelector('.warnings').replaceChildren(
      ...failures.slice().reverse().map((f) => {
        const li = text('li', 'warning', new Date(f.at).toLocaleTimeString() + ' guest slot on ' + f.host + ' not specialised: ' + f.error);
        li.dataset.warning = 'specialise-failed';
        return li;
      }),
    );
    const decisions = el.querySelector('.decisions');
    decisions.replaceChildren(
      ...doc.decisions.slice(-8).reverse().map((d) => {
        const li = text('li', '', new Date(d.at).toLocaleTimeString() + ' ' + d.phase + ' → ' + d.replicas + ' replicas' +
          (d.actions.length ? ' [' + d.actions.map((a) => a.kind + (a.error ? ' failed' : '')).join(', ') + ']' : '') +
          (d.reasons.length ? ': ' + d.reasons.join('; ') : ''));
        return li;
      }),
    );
    const s = doc.traffic.series;
    const xs = s.map((p) => p.t);
    c.rate.setData([xs, s.map((p) => p.rps), s.map((p) => p.bounces), s.map((p) => p.boosts)]);
    c.lat.setData([xs, s.map((p) => p.p50), s.map((p) => p.p99)]);
  }

  async function poll() {
    try {
      const docs = await getJson('/system/hyperfaas/functions?namespace=' + encodeURIComponent(nsSelect.value) + '&seconds=120');
      const seen = new Set(docs.map((d) => d.function));
      for (const [k, c] of cards) if (!seen.has(k)) { c.el.remove(); cards.delete(k); }
      if (docs.length === 0) root.replaceChildren(text('p', 'muted', 'No functions in ' + nsSelect.value + '.'));
      else {
        const placeholder = root.querySelector('p.muted');
        if (placeholder) placeholder.remove();
      }
      for (const d of docs) {
        render(d);
        const el = cards.get(d.function).el;
        if (el.parentNode !== root) root.append(el);
      }
      updated.textContent = 'updated ' + new Date().toLocaleTimeString();
      updated.dataset.ok = 'true';
    } catch (e) {
      updated.textContent = String(e.message || e);
      updated.dataset.ok = 'false';
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  nsSelect.addEventListener('change', () => {
    for (const c of cards.values()) c.el.remove();
    cards.clear();
  });
  loadNamespaces().then(poll);
})();
