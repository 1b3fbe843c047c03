/** Least time between two reloads of one tab (ms): events arriving meanwhile coalesce into one trailing reload. */
export const REFRESH_GAP = 1_000;
/** The fallback poll (ms), for changes no event reports (another process's writes without cross-process events). */
export const POLL_INTERVAL = 5_000;

/**
 * The page's Content-Security-Policy: only its own nonce-tagged script and style run, requests go to its own
 * origin, and no other site may frame it (a framed dashboard could be clicked on the operator's behalf).
 */
export function dashboardPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The dashboard page: one HTML document with its CSS and JS inline (no CDN, nothing to copy at build time).
 * It reads `./api/*` relative to its own URL and listens to `./api/events` (SSE) for live progress.
 *
 * Everything a record holds is untrusted (task names, ids, statuses and numbers come from the store, which anyone
 * with write access to it can fill): every value goes through `esc` before it reaches HTML, numbers through `num`,
 * statuses through `statusOf`, and ids in URLs through `encodeURIComponent`.
 */
export function dashboardPage(options: { readOnly: boolean; nonce: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>nestjs-queues</title>
<style nonce="${options.nonce}">
:root{--bg:#0f172a;--panel:#111c33;--line:#22304f;--text:#e2e8f0;--muted:#94a3b8;--ok:#22c55e;--run:#38bdf8;--bad:#ef4444;--wait:#eab308;--off:#64748b}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--text)}
header{display:flex;align-items:center;gap:16px;padding:14px 20px;border-bottom:1px solid var(--line)}h1{font-size:18px;margin:0}
.chips{display:flex;gap:8px;flex-wrap:wrap}.chip{background:var(--panel);border:1px solid var(--line);border-radius:999px;padding:4px 10px}
.chip b{margin-left:6px}main{display:grid;grid-template-columns:1fr 380px;gap:16px;padding:16px 20px}
.filters{display:flex;gap:8px;margin-bottom:10px}input,select,button{background:var(--panel);color:var(--text);border:1px solid var(--line);border-radius:6px;padding:6px 8px}
button{cursor:pointer}button:hover{border-color:var(--run)}table{width:100%;border-collapse:collapse;background:var(--panel);border-radius:8px;overflow:hidden}
th,td{text-align:left;padding:8px;border-bottom:1px solid var(--line);white-space:nowrap}tr.rec:hover{background:#16233f;cursor:pointer}
.badge{border-radius:4px;padding:2px 6px;font-size:12px}.pending,.scheduled{background:#3b2f07;color:var(--wait)}.running{background:#0b3247;color:var(--run)}
.completed{background:#0c3a22;color:var(--ok)}.failed{background:#3f1010;color:var(--bad)}.cancelled{background:#1f2937;color:var(--off)}
.bar{width:140px;height:10px;background:#0b1426;border-radius:5px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar i{display:block;height:100%;background:var(--run);transition:width .2s}.pct{margin-left:6px;color:var(--muted);font-size:12px}
aside{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px;min-height:200px}pre{white-space:pre-wrap;word-break:break-all;background:#0b1426;padding:8px;border-radius:6px;max-height:160px;overflow:auto}
.muted{color:var(--muted)}.timeline li{margin:2px 0}
</style></head>
<body>
<header><h1>nestjs-queues</h1><div class="chips" id="stats" data-testid="stats"></div></header>
<main>
<section>
<div class="filters">
<select id="f-status" data-testid="filter-status"><option value="">all statuses</option><option>pending</option><option>scheduled</option><option>running</option><option>completed</option><option>failed</option><option>cancelled</option></select>
<input id="f-task" placeholder="task" data-testid="filter-task"><input id="f-queue" placeholder="queue" data-testid="filter-queue">
</div>
<table><thead><tr><th>task</th><th>queue</th><th>status</th><th>progress</th><th>attempt</th><th></th></tr></thead><tbody id="rows"></tbody></table>
</section>
<aside id="detail" data-testid="detail"><p class="muted">Select a record to see its arguments, result, error and timeline.</p></aside>
</main>
<script nonce="${options.nonce}">
const READ_ONLY = ${options.readOnly ? 'true' : 'false'};
const REFRESH_GAP = ${REFRESH_GAP};
const POLL_INTERVAL = ${POLL_INTERVAL};
const STATUSES = ['pending','scheduled','running','completed','failed','cancelled'];
const base = location.pathname.replace(/\\/$/, '');
const api = (p) => base + '/api' + p;
const progress = new Map();
let selected = null;
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);
const statusOf = (s) => (STATUSES.includes(s) ? s : 'unknown');
const attempt = (r) => { const a = num(r.retryCount) + 1, b = num(r.maxRetries) + 1; return Number.isNaN(a + b) ? '?' : a + '/' + b; };
const clampPct = (v) => Math.max(0, Math.min(100, Math.round(num(v)) || 0));
function renderStats(s) {
  document.getElementById('stats').innerHTML = STATUSES.concat('total')
    .map((k) => '<span class="chip">' + k + '<b data-testid="stat-' + k + '">' + esc(Number.isNaN(num(s[k])) ? '?' : s[k]) + '</b></span>').join('');
}
function percentOf(r) {
  if (r.status === 'completed') return 100;
  const live = progress.get(r.id);
  if (live !== undefined) return live;
  const p = r.metadata && r.metadata.progress;
  return p && num(p.total) ? clampPct((num(p.current) / num(p.total)) * 100) : 0;
}
function renderRecords(records) {
  document.getElementById('rows').innerHTML = records.map((r) => {
    const id = esc(r.id), status = statusOf(r.status), pct = percentOf(r);
    const button = (act) => '<button data-act="' + act + '" data-id="' + id + '" data-testid="' + act + '-' + id + '">' + act + '</button>';
    const actions = READ_ONLY ? '' :
      (['pending','scheduled','running'].includes(status) ? button('cancel') : '') +
      (['failed','cancelled'].includes(status) ? button('retry') : '') + button('again');
    return '<tr class="rec" data-id="' + id + '" data-testid="row-' + id + '"><td>' + esc(r.taskName) + '</td><td>' + esc(r.queue) + '</td>' +
      '<td><span class="badge ' + status + '" data-testid="status-' + id + '">' + status + '</span></td>' +
      '<td><span class="bar"><i data-pct="' + pct + '"></i></span><span class="pct" data-testid="pct-' + id + '">' + pct + '%</span></td>' +
      '<td>' + attempt(r) + '</td><td>' + actions + '</td></tr>';
  }).join('');
  // Widths through the CSSOM: the policy allows no inline style attributes.
  for (const bar of document.querySelectorAll('#rows .bar i')) bar.style.width = bar.dataset.pct + '%';
}
async function getJson(path) {
  const response = await fetch(api(path), { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(path + ': ' + response.status);
  return response.json();
}
async function loadOverview() {
  const q = new URLSearchParams({ status: document.getElementById('f-status').value, task: document.getElementById('f-task').value, queue: document.getElementById('f-queue').value });
  const overview = await getJson('/overview?' + q);
  renderStats(overview.statistics);
  renderRecords(overview.records);
}
async function showDetail(id) {
  selected = id;
  const d = await getJson('/records/' + encodeURIComponent(id));
  const r = d.record, status = statusOf(r.status);
  document.getElementById('detail').innerHTML = '<h3>' + esc(r.taskName) + '</h3><p class="muted">' + esc(r.id) + '</p>' +
    '<p><span class="badge ' + status + '">' + status + '</span> attempt ' + attempt(r).replace('/', ' of ') + '</p>' +
    '<h4>args</h4><pre>' + esc(JSON.stringify(r.args, null, 1)) + '</pre>' +
    (r.result !== null ? '<h4>result</h4><pre>' + esc(JSON.stringify(r.result, null, 1)) + '</pre>' : '') +
    (r.error ? '<h4>error</h4><pre>' + esc(r.error) + '</pre>' : '') +
    '<h4>timeline</h4><ul class="timeline">' + d.timeline.map((e) => '<li><span class="muted">' + esc(String(e.occurredAt).slice(11, 23)) + '</span> ' + esc(e.type) + (e.message ? ' — ' + esc(e.message) : '') + '</li>').join('') + '</ul>';
}
async function refresh() { await loadOverview(); if (selected !== null) await showDetail(selected); }
// One reload at a time, at most one per REFRESH_GAP per tab; whatever asks meanwhile (events, the poll, filters,
// actions) is folded into one trailing reload, so the final state always shows.
let inFlight = false, timer = null, lastStart = -Infinity, again = false;
function scheduleRefresh() {
  if (inFlight) { again = true; return; }
  if (timer !== null) return;
  timer = setTimeout(runRefresh, Math.max(0, lastStart + REFRESH_GAP - Date.now()));
}
function runRefresh() {
  timer = null;
  inFlight = true;
  lastStart = Date.now();
  refresh().catch(() => {}).finally(() => {
    inFlight = false;
    if (again) { again = false; scheduleRefresh(); }
  });
}
document.getElementById('rows').addEventListener('click', async (ev) => {
  const button = ev.target.closest('button');
  if (button) {
    ev.stopPropagation();
    await fetch(api('/records/' + encodeURIComponent(button.dataset.id) + '/' + button.dataset.act), {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
    });
    return scheduleRefresh();
  }
  const row = ev.target.closest('tr.rec');
  if (row) showDetail(row.dataset.id).catch(() => {});
});
for (const id of ['f-status', 'f-task', 'f-queue']) document.getElementById(id).addEventListener('input', scheduleRefresh);
const events = new EventSource(api('/events'));
events.addEventListener('queue.event', (m) => {
  const e = JSON.parse(m.data);
  if (e.type === 'task.progress' && e.progressPercent !== null) {
    progress.set(e.taskId, clampPct(e.progressPercent));
    for (const row of document.querySelectorAll('#rows tr.rec')) {
      if (row.dataset.id !== e.taskId) continue;
      row.querySelector('.bar i').style.width = progress.get(e.taskId) + '%';
      row.querySelector('.pct').textContent = progress.get(e.taskId) + '%';
    }
  } else { scheduleRefresh(); }
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) scheduleRefresh(); });
setInterval(() => { if (!document.hidden) scheduleRefresh(); }, POLL_INTERVAL);
scheduleRefresh();
</script>
</body></html>`;
}
