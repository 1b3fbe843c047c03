/**
 * The dashboard page: one HTML document with its CSS and JS inline (no CDN, nothing to copy at build time).
 * It reads `./api/*` relative to its own URL and listens to `./api/events` (SSE) for live progress.
 */
export function dashboardPage(options: { readOnly: boolean }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>nestjs-queues</title>
<style>
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
<script>
const READ_ONLY = ${options.readOnly ? 'true' : 'false'};
const base = location.pathname.replace(/\\/$/, '');
const api = (p) => base + '/api' + p;
const progress = new Map();
let selected = null;
const esc = (v) => String(v).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function loadStats() {
  const s = await (await fetch(api('/stats'))).json();
  document.getElementById('stats').innerHTML = ['pending','scheduled','running','completed','failed','cancelled','total']
    .map((k) => '<span class="chip">' + k + '<b data-testid="stat-' + k + '">' + s[k] + '</b></span>').join('');
}
function percentOf(r) {
  if (r.status === 'completed') return 100;
  const live = progress.get(r.id);
  if (live !== undefined) return live;
  const p = r.metadata && r.metadata.progress;
  return p && p.total ? Math.round((p.current / p.total) * 100) : 0;
}
async function loadRecords() {
  const q = new URLSearchParams({ status: document.getElementById('f-status').value, task: document.getElementById('f-task').value, queue: document.getElementById('f-queue').value });
  const records = await (await fetch(api('/records?' + q))).json();
  document.getElementById('rows').innerHTML = records.map((r) => {
    const pct = percentOf(r);
    const actions = READ_ONLY ? '' :
      (['pending','scheduled','running'].includes(r.status) ? '<button data-act="cancel" data-id="' + r.id + '" data-testid="cancel-' + r.id + '">cancel</button>' : '') +
      (['failed','cancelled'].includes(r.status) ? '<button data-act="retry" data-id="' + r.id + '" data-testid="retry-' + r.id + '">retry</button>' : '') +
      '<button data-act="again" data-id="' + r.id + '">again</button>';
    return '<tr class="rec" data-id="' + r.id + '" data-testid="row-' + r.id + '"><td>' + esc(r.taskName) + '</td><td>' + esc(r.queue) + '</td>' +
      '<td><span class="badge ' + r.status + '" data-testid="status-' + r.id + '">' + r.status + '</span></td>' +
      '<td><span class="bar"><i style="width:' + pct + '%"></i></span><span class="pct" data-testid="pct-' + r.id + '">' + pct + '%</span></td>' +
      '<td>' + (r.retryCount + 1) + '/' + (r.maxRetries + 1) + '</td><td>' + actions + '</td></tr>';
  }).join('');
}
async function showDetail(id) {
  selected = id;
  const d = await (await fetch(api('/records/' + id))).json();
  const r = d.record;
  document.getElementById('detail').innerHTML = '<h3>' + esc(r.taskName) + '</h3><p class="muted">' + r.id + '</p>' +
    '<p><span class="badge ' + r.status + '">' + r.status + '</span> attempt ' + (r.retryCount + 1) + ' of ' + (r.maxRetries + 1) + '</p>' +
    '<h4>args</h4><pre>' + esc(JSON.stringify(r.args, null, 1)) + '</pre>' +
    (r.result !== null ? '<h4>result</h4><pre>' + esc(JSON.stringify(r.result, null, 1)) + '</pre>' : '') +
    (r.error ? '<h4>error</h4><pre>' + esc(r.error) + '</pre>' : '') +
    '<h4>timeline</h4><ul class="timeline">' + d.timeline.map((e) => '<li><span class="muted">' + e.occurredAt.slice(11, 23) + '</span> ' + esc(e.type) + (e.message ? ' — ' + esc(e.message) : '') + '</li>').join('') + '</ul>';
}
document.getElementById('rows').addEventListener('click', async (ev) => {
  const button = ev.target.closest('button');
  if (button) {
    ev.stopPropagation();
    await fetch(api('/records/' + button.dataset.id + '/' + button.dataset.act), { method: 'POST' });
    return refresh();
  }
  const row = ev.target.closest('tr.rec');
  if (row) showDetail(row.dataset.id);
});
for (const id of ['f-status', 'f-task', 'f-queue']) document.getElementById(id).addEventListener('input', () => loadRecords());
async function refresh() { await Promise.all([loadStats(), loadRecords()]); if (selected) await showDetail(selected); }
const events = new EventSource(api('/events'));
events.addEventListener('queue.event', (m) => {
  const e = JSON.parse(m.data);
  if (e.type === 'task.progress' && e.progressPercent !== null) {
    progress.set(e.taskId, Math.round(e.progressPercent));
    const bar = document.querySelector('[data-testid="row-' + e.taskId + '"] .bar i');
    const pct = document.querySelector('[data-testid="pct-' + e.taskId + '"]');
    if (bar) bar.style.width = progress.get(e.taskId) + '%';
    if (pct) pct.textContent = progress.get(e.taskId) + '%';
  } else { refresh(); }
});
refresh();
setInterval(refresh, 3000);
</script>
</body></html>`;
}
