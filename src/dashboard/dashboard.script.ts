/**
 * The dashboard's browser script (inline under the page's nonce; `READ_ONLY`, `REFRESH_GAP`, `POLL_INTERVAL` and
 * `STATUSES` are defined before it). A single-page app with hash routes over `./api/*`.
 *
 * Everything the API returns is untrusted (task names, ids, queues, keys, errors, logs come from the store, which
 * anyone with write access to it can fill): every value goes through `esc` before it reaches HTML, numbers through
 * `num`, statuses through `statusOf`, times through `time`, and ids in URLs through `encodeURIComponent`.
 *
 * Reloads are coalesced: one at a time, at most one per `REFRESH_GAP` per tab, whatever the event rate; whatever
 * asks meanwhile (events, the poll, filters, actions) folds into one trailing reload, so the final state shows.
 */
export const dashboardScript = String.raw`
const base = location.pathname.replace(/\/$/, '');
const api = (p) => base + '/api' + p;
const $ = (id) => document.getElementById(id);
const progress = new Map();
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);
const statusOf = (s) => (STATUSES.includes(s) ? s : 'unknown');
const json = (v) => esc(JSON.stringify(v, null, 2));
const clampPct = (v) => Math.max(0, Math.min(100, Math.round(num(v)) || 0));
const attempt = (r) => { const a = num(r.retryCount) + 1, b = num(r.maxRetries) + 1; return Number.isNaN(a + b) ? '?' : a + '/' + b; };
function dateOf(v) { if (v === null || v === undefined || v === '') return null; const d = new Date(v); return Number.isNaN(d.getTime()) ? null : d; }
function time(v) {
  const d = dateOf(v); if (!d) return '';
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 3600000) return Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
  return (ms / 3600000).toFixed(1) + ' h';
}
function ago(v) { const d = dateOf(v); return d ? duration(Date.now() - d.getTime()) + ' ago' : ''; }
function runTime(r) {
  const s = dateOf(r.startedAt), e = dateOf(r.completedAt);
  if (!s) return '';
  return duration((e ? e.getTime() : Date.now()) - s.getTime());
}
const badge = (s, id) => { const st = statusOf(s); return '<span class="badge ' + st + '"' + (id !== undefined ? ' data-testid="status-' + esc(id) + '"' : '') + '>' + st + '</span>'; };
// Ids are UUIDv7: records created close together share their first characters, so the short form is the end.
const shortId = (id) => { const s = String(id); return s.length > 10 ? '…' + s.slice(-8) : s; };
const recordLink = (id, text) => '<a href="#/record/' + esc(encodeURIComponent(id)) + '">' + esc(text) + '</a>';

// --- state
let taskNames = [];
let knownQueues = [];
const filters = { status: '', queue: '', task: '', key: '', search: '' };
let cursors = [];   // cursors of the pages before this one
let cursor = null;  // this page's cursor (null: the first page)
let nextCursor = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  const path = q === -1 ? hash : hash.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : hash.slice(q + 1));
  const slash = path.indexOf('/');
  const page = (slash === -1 ? path : path.slice(0, slash)) || 'overview';
  let id = null;
  if (slash !== -1) { try { id = decodeURIComponent(path.slice(slash + 1)); } catch { id = path.slice(slash + 1); } }
  return { page, id, params };
}

async function getJson(path) {
  const response = await fetch(api(path), { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(path + ': ' + response.status);
  return response.json();
}

function renderStats(s) {
  $('stats').innerHTML = STATUSES.concat('total').filter((k) => k in s || k !== 'waiting')
    .map((k) => '<span class="chip">' + esc(k) + '<b data-testid="stat-' + esc(k) + '">' + esc(Number.isNaN(num(s[k])) ? '?' : s[k]) + '</b></span>').join('');
}

function common(d) {
  renderStats(d.statistics || {});
  taskNames = Array.isArray(d.taskNames) ? d.taskNames : [];
}

function toast(text) {
  const t = $('toast'); t.textContent = text; t.className = 'show';
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.className = ''; }, 3000);
}

// --- overview
function chart(name, t) {
  const c = Array.isArray(t && t.completed) ? t.completed.map((v) => Math.max(0, num(v) || 0)) : [];
  const f = Array.isArray(t && t.failed) ? t.failed.map((v) => Math.max(0, num(v) || 0)) : [];
  const n = Math.max(c.length, f.length, 1);
  const max = Math.max(1, ...c.map((v, i) => v + (f[i] || 0)));
  const w = 600 / n, h = 80;
  let bars = '';
  for (let i = 0; i < n; i++) {
    const ch = ((c[i] || 0) / max) * h, fh = ((f[i] || 0) / max) * h;
    const x = (i * w + 1).toFixed(1), bw = Math.max(1, w - 2).toFixed(1);
    if (ch > 0) bars += '<rect class="c" x="' + x + '" y="' + (90 - ch).toFixed(1) + '" width="' + bw + '" height="' + ch.toFixed(1) + '"><title>' + (c[i] || 0) + ' completed, ' + (n - i - 1) + ' min ago</title></rect>';
    if (fh > 0) bars += '<rect class="f" x="' + x + '" y="' + (90 - ch - fh).toFixed(1) + '" width="' + bw + '" height="' + fh.toFixed(1) + '"><title>' + (f[i] || 0) + ' failed, ' + (n - i - 1) + ' min ago</title></rect>';
  }
  const done = c.reduce((a, b) => a + b, 0), failed = f.reduce((a, b) => a + b, 0);
  const rate = done + failed > 0 ? ((failed / (done + failed)) * 100).toFixed(1) + '%' : '–';
  return '<svg class="chart" viewBox="0 0 600 90" preserveAspectRatio="none" role="img" aria-label="completed and failed per minute, last hour" data-testid="chart-' + esc(name) + '">' + bars + '</svg>' +
    '<div class="row legend"><span>60 min ago → now, per minute:</span><span><b data-testid="completed-hour-' + esc(name) + '">' + done + '</b> completed</span>' +
    '<span><b data-testid="failed-hour-' + esc(name) + '">' + failed + '</b> failed</span><span>failure rate <b data-testid="failure-rate-' + esc(name) + '">' + rate + '</b></span></div>';
}

function policyText(q) {
  const p = q.policy;
  const parts = [];
  if (p && Number.isFinite(num(p.concurrency))) parts.push('concurrency ' + esc(p.concurrency));
  if (p && Number.isFinite(num(p.groupConcurrency))) {
    const groups = q.runningGroups && typeof q.runningGroups === 'object' ? Object.keys(q.runningGroups) : [];
    parts.push('per group ' + esc(p.groupConcurrency) + ' (' + groups.length + ' group' + (groups.length === 1 ? '' : 's') + ' running' +
      (groups.length ? ': ' + groups.slice(0, 8).map((g) => esc(g) + ' ' + esc(num(q.runningGroups[g]) || 0)).join(', ') : '') + ')');
  }
  if (p && p.rateLimit && Number.isFinite(num(p.rateLimit.max))) parts.push('rate limit ' + esc(p.rateLimit.max) + ' per ' + esc(duration(num(p.rateLimit.duration))) + rateWindowText(q));
  return parts.length ? parts.join(' · ') : 'no cluster-wide caps';
}

// The window as the last refresh read it: starts used, and when the oldest leaves it (the next start when spent).
function rateWindowText(q) {
  const w = q.rateWindow;
  if (!w || typeof w !== 'object' || !Number.isFinite(num(w.used)) || !Number.isFinite(num(w.max))) return '';
  const used = num(w.used), max = num(w.max), freesIn = num(w.freesIn);
  const when = Number.isFinite(freesIn) ? (used >= max ? ', spent: next start in ' : ', oldest leaves in ') + duration(freesIn) : '';
  return ' <span data-testid="rate-window-' + esc(q.name) + '">(' + esc(used) + ' of ' + esc(max) + ' used' + esc(when) + ')</span>';
}

function renderOverview(d) {
  const queues = Array.isArray(d.queues) ? d.queues : [];
  knownQueues = queues.map((q) => String(q.name));
  const workers = Array.isArray(d.workers) ? d.workers : [];
  const cards = queues.map((q) => {
    const name = String(q.name), s = q.statistics || {};
    const state = q.paused === true ? '<span class="badge paused" data-testid="queue-state-' + esc(name) + '">paused</span>'
      : q.paused === false ? '<span class="badge live" data-testid="queue-state-' + esc(name) + '">active</span>' : '';
    const control = !READ_ONLY && typeof q.paused === 'boolean'
      ? '<button class="small" data-queue-act="' + (q.paused ? 'resume' : 'pause') + '" data-queue="' + esc(name) + '" data-testid="' + (q.paused ? 'resume' : 'pause') + '-' + esc(name) + '">' + (q.paused ? 'resume' : 'pause') + '</button>' : '';
    const counts = STATUSES.filter((k) => k !== 'waiting' || num(s[k]) > 0).map((k) =>
      '<a class="chip" href="#/records?queue=' + esc(encodeURIComponent(name)) + '&status=' + k + '">' + k + '<b data-testid="queue-' + k + '-' + esc(name) + '">' + esc(Number.isNaN(num(s[k])) ? '?' : s[k]) + '</b></a>').join('');
    return '<section class="card" data-testid="queue-' + esc(name) + '"><header><h3>' + esc(name) + '</h3>' + state + control + '</header>' +
      '<div class="chips">' + counts + '</div><p class="muted" data-testid="policy-' + esc(name) + '">' + policyText(q) + '</p>' + chart(name, q.throughput) + '</section>';
  }).join('');
  const running = workers.reduce((a, w) => a + (num(w.running) || 0), 0);
  $('view').innerHTML = '<h2>Queues</h2><div class="grid" data-testid="queues">' + (cards || '<div class="empty">No queues yet.</div>') + '</div>' +
    '<h2>Workers <span class="muted" data-testid="worker-count">' + workers.length + ' live, ' + running + ' running</span></h2>' +
    (workers.length ? '<table><thead><tr><th>id</th><th>host</th><th>queues</th><th>running</th><th>last heartbeat</th></tr></thead><tbody>' +
      workers.map((w) => '<tr><td class="id">' + esc(w.id) + '</td><td>' + esc(w.host) + '</td><td>' + (Array.isArray(w.queues) ? w.queues.map(esc).join(', ') : 'all') + '</td><td>' + esc(num(w.running) || 0) + ' / ' + esc(num(w.concurrency) || 0) + '</td><td>' + esc(ago(w.heartbeatAt)) + '</td></tr>').join('') +
      '</tbody></table>' : '<div class="empty">No live workers.</div>');
}

// --- records
function filterForm() {
  const opt = (v, label, cur) => '<option value="' + esc(v) + '"' + (v === cur ? ' selected' : '') + '>' + esc(label) + '</option>';
  return '<div class="filters" id="filters">' +
    '<select id="f-status" data-testid="filter-status">' + opt('', 'all statuses', filters.status) + STATUSES.map((s) => opt(s, s, filters.status)).join('') + '</select>' +
    '<input id="f-queue" list="queue-names" placeholder="queue" data-testid="filter-queue" value="' + esc(filters.queue) + '">' +
    '<input id="f-task" list="task-names" placeholder="task" data-testid="filter-task" value="' + esc(filters.task) + '">' +
    '<input id="f-key" placeholder="key" data-testid="filter-key" value="' + esc(filters.key) + '">' +
    '<input id="f-search" type="search" placeholder="search by id or key" data-testid="search" value="' + esc(filters.search) + '">' +
    '<datalist id="queue-names">' + knownQueues.map((q) => '<option value="' + esc(q) + '">').join('') + '</datalist>' +
    '<datalist id="task-names">' + taskNames.map((t) => '<option value="' + esc(t) + '">').join('') + '</datalist>' +
    '<span id="bulk" class="row"></span></div>' +
    '<div id="records"></div>';
}

function bulkButtons() {
  if (READ_ONLY || !filters.queue) return '';
  const cleanStatus = ['completed', 'failed', 'cancelled'].includes(filters.status) ? filters.status : 'completed';
  return '<button class="small" data-queue-act="retry-failed" data-queue="' + esc(filters.queue) + '" data-testid="bulk-retry-failed">retry failed in ' + esc(filters.queue) + '</button>' +
    '<button class="small danger" data-queue-act="clean" data-status="' + cleanStatus + '" data-queue="' + esc(filters.queue) + '" data-testid="bulk-clean">clean ' + cleanStatus + ' in ' + esc(filters.queue) + '</button>';
}

function actionButtons(r) {
  if (READ_ONLY || !Array.isArray(r.actions)) return '';
  const id = esc(r.id);
  return r.actions.filter((a) => ['cancel', 'retry', 'promote', 'again', 'remove'].includes(a)).map((a) =>
    '<button class="small' + (a === 'remove' || a === 'cancel' ? ' danger' : '') + '" data-act="' + a + '" data-id="' + id + '" data-task="' + esc(r.taskName) + '" data-testid="' + a + '-' + id + '">' + a + '</button>').join(' ');
}

function percentOf(r) {
  if (r.status === 'completed') return 100;
  const live = progress.get(r.id);
  if (live !== undefined) return live;
  const p = r.metadata && r.metadata.progress;
  return p && num(p.total) ? clampPct((num(p.current) / num(p.total)) * 100) : 0;
}

function renderRecords(d) {
  const records = Array.isArray(d.records) ? d.records : [];
  nextCursor = typeof d.nextCursor === 'string' ? d.nextCursor : null;
  $('bulk').innerHTML = bulkButtons();
  const any = Object.values(filters).some((v) => v);
  if (records.length === 0) {
    $('records').innerHTML = '<div class="empty" data-testid="empty">' + (any ? 'No records match these filters.' : 'No records yet: enqueue a task and it shows here.') + '</div>' + pager();
    return;
  }
  $('records').innerHTML = '<table class="records"><thead><tr><th>id</th><th>task</th><th>queue</th><th>status</th><th class="wide">progress</th><th>attempt</th><th>enqueued</th><th class="wide">started</th><th>finished</th><th>duration</th><th></th></tr></thead><tbody id="rows">' +
    records.map((r) => {
      const id = esc(r.id), pct = percentOf(r);
      return '<tr class="rec" data-id="' + id + '" data-testid="row-' + id + '"><td class="id" data-label="id">' + esc(shortId(r.id)) + '</td><td data-label="task">' + esc(r.taskName) + '</td><td data-label="queue">' + esc(r.queue) + '</td>' +
        '<td data-label="status">' + badge(r.status, r.id) + '</td>' +
        '<td class="wide"><span class="bar"><i data-pct="' + pct + '"></i></span><span class="pct" data-testid="pct-' + id + '">' + pct + '%</span></td>' +
        '<td data-label="attempt">' + attempt(r) + '</td><td data-label="enqueued">' + esc(time(r.createdAt)) + '</td><td class="wide">' + esc(time(r.startedAt)) + '</td>' +
        '<td data-label="finished">' + esc(time(r.completedAt)) + '</td><td data-label="duration">' + esc(runTime(r)) + '</td><td>' + actionButtons(r) + '</td></tr>';
    }).join('') + '</tbody></table>' + pager();
  // Widths through the CSSOM: the policy allows no inline style attributes.
  for (const bar of document.querySelectorAll('#rows .bar i')) bar.style.width = bar.dataset.pct + '%';
}

function pager() {
  return '<div class="pager"><span class="muted" data-testid="page-number">page ' + (cursors.length + 1) + '</span>' +
    '<button class="small" id="page-first" data-testid="page-first"' + (cursors.length ? '' : ' disabled') + '>first</button>' +
    '<button class="small" id="page-prev" data-testid="page-prev"' + (cursors.length ? '' : ' disabled') + '>previous</button>' +
    '<button class="small" id="page-next" data-testid="page-next"' + (nextCursor ? '' : ' disabled') + '>next</button></div>';
}

function recordsQuery() {
  const q = new URLSearchParams();
  if (filters.status) q.set('status', filters.status);
  if (filters.queue) q.set('queue', filters.queue);
  if (filters.task) q.set('task', filters.task);
  if (filters.key) q.set('key', filters.key);
  if (filters.search) q.set('search', filters.search);
  return q;
}

// --- record detail
function section(title, body) { return '<h4>' + esc(title) + '</h4>' + body; }
function relativeLink(r) { return r ? recordLink(r.id, (r.taskName || shortId(r.id))) + ' ' + badge(r.status) : ''; }

function renderRecord(d) {
  const r = d.record;
  const logs = Array.isArray(d.logs) ? d.logs : null;
  const timeline = Array.isArray(d.timeline) ? d.timeline : [];
  const children = Array.isArray(d.children) ? d.children : null;
  const facts = [
    ['id', esc(r.id)], ['queue', esc(r.queue)], ['status', badge(r.status, r.id)], ['attempt', attempt(r).replace('/', ' of ')],
    ['priority', esc(num(r.priority) || 0)], ['key', esc(r.key === null || r.key === undefined ? '–' : r.key)],
    ['worker', esc(r.workerId || '–')], ['enqueued', esc(time(r.createdAt))], ['due', esc(time(r.scheduledAt) || time(r.queuedAt))],
    ['started', esc(time(r.startedAt) || '–')], ['finished', esc(time(r.completedAt) || '–')], ['duration', esc(runTime(r) || '–')],
  ];
  if (d.parent) facts.push(['parent', '<span data-testid="parent">' + relativeLink(d.parent) + '</span>']);
  $('view').innerHTML = '<section class="card" data-testid="detail"><header><h3 data-testid="detail-task">' + esc(r.taskName) + '</h3>' + badge(r.status) + '<span class="row">' + actionButtons(r) + '</span></header>' +
    '<div class="cols"><div><dl>' + facts.map((f) => '<dt>' + f[0] + '</dt><dd>' + f[1] + '</dd>').join('') + '</dl>' +
    (children !== null ? section('children (' + children.length + ')', children.length ? '<ul class="timeline" data-testid="children">' + children.map((c) => '<li>' + relativeLink(c) + '</li>').join('') + '</ul>' : '<p class="muted" data-testid="children">none</p>') : '') +
    '</div><div>' +
    section('args', '<pre data-testid="args">' + json(r.args) + '</pre>') +
    (r.kwargs && Object.keys(r.kwargs).length ? section('kwargs', '<pre>' + json(r.kwargs) + '</pre>') : '') +
    (r.result !== null && r.result !== undefined ? section('result', '<pre data-testid="result">' + json(r.result) + '</pre>') : '') +
    (r.error ? section('error', '<pre data-testid="error">' + esc(r.error) + '</pre>') : '') +
    (r.error && r.metadata && typeof r.metadata.errorStack === 'string' ? section('stack', '<pre data-testid="stack">' + esc(r.metadata.errorStack) + '</pre>') : '') +
    '</div></div>' +
    section('logs', logs === null ? '<p class="muted">This version keeps no logs.</p>' : logs.length === 0 ? '<p class="muted" data-testid="logs">No log lines.</p>' :
      '<table data-testid="logs"><thead><tr><th>time</th><th>attempt</th><th>level</th><th>message</th></tr></thead><tbody>' +
      logs.map((l) => '<tr><td>' + esc(time(l.at)) + '</td><td>' + esc(num(l.attempt) || '?') + '</td><td>' + esc(l.level) + '</td><td>' + esc(l.message) + (l.payload ? ' <span class="muted">' + esc(JSON.stringify(l.payload)) + '</span>' : '') + '</td></tr>').join('') + '</tbody></table>') +
    section('timeline', timeline.length === 0 ? '<p class="muted">No events seen by this server yet.</p>' : '<ul class="timeline" data-testid="timeline">' + timeline.map((e) =>
      '<li><span class="muted">' + esc(time(e.occurredAt) || String(e.occurredAt)) + '</span> ' + esc(e.type) + (e.attempt ? ' <span class="muted">attempt ' + esc(num(e.attempt) || '?') + '</span>' : '') + (e.message ? ' — ' + esc(e.message) : '') + '</li>').join('') + '</ul>') +
    '</section>';
}

// --- schedules and workers
function renderSchedules(d) {
  const rows = Array.isArray(d.schedules) ? d.schedules : [];
  $('view').innerHTML = '<h2>Schedules</h2>' + (rows.length === 0 ? '<div class="empty" data-testid="empty">No schedules.</div>' :
    '<table data-testid="schedules"><thead><tr><th>task</th><th>key</th><th>every</th><th>timezone</th><th>next fire</th><th>last occurrence</th></tr></thead><tbody>' +
    rows.map((s) => '<tr data-testid="schedule-' + esc(s.key) + '"><td>' + esc(s.taskName) + (s.source ? ' <span class="muted">' + esc(s.source) + '</span>' : '') + '</td><td class="id">' + esc(s.key) + '</td>' +
      '<td>' + (s.cron ? '<code>' + esc(s.cron) + '</code>' : esc(duration(num(s.interval)))) + '</td><td>' + esc(s.timezone || 'UTC') + '</td>' +
      '<td data-testid="next-' + esc(s.key) + '">' + (s.occurrenceId ? recordLink(s.occurrenceId, time(s.nextRunAt) || 'due') : '–') + '</td>' +
      '<td data-testid="last-' + esc(s.key) + '">' + (s.lastOccurrence ? badge(s.lastOccurrence.status) + ' ' + recordLink(s.lastOccurrence.id, time(s.lastOccurrence.completedAt || s.lastOccurrence.startedAt) || shortId(s.lastOccurrence.id)) : '–') + '</td></tr>').join('') +
    '</tbody></table>');
}

function renderWorkers(d) {
  const rows = Array.isArray(d.workers) ? d.workers : [];
  $('view').innerHTML = '<h2>Workers</h2>' + (rows.length === 0 ? '<div class="empty" data-testid="empty">No live workers.</div>' :
    '<table data-testid="workers"><thead><tr><th>id</th><th>host</th><th>pid</th><th>queues</th><th>running</th><th>started</th><th>last heartbeat</th></tr></thead><tbody>' +
    rows.map((w) => '<tr data-testid="worker-' + esc(w.id) + '"><td class="id">' + esc(w.id) + '</td><td>' + esc(w.host) + '</td><td>' + esc(num(w.pid) || '') + '</td>' +
      '<td>' + (Array.isArray(w.queues) ? w.queues.map(esc).join(', ') : 'all') + '</td><td data-testid="running-' + esc(w.id) + '">' + esc(num(w.running) || 0) + ' / ' + esc(num(w.concurrency) || 0) + '</td>' +
      '<td>' + esc(time(w.startedAt)) + '</td><td data-testid="heartbeat-' + esc(w.id) + '">' + esc(ago(w.heartbeatAt)) + '</td></tr>').join('') +
    '</tbody></table>');
}

// --- page loading
let shownPage = null;
async function refresh() {
  const { page, id } = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === (page === 'record' ? 'records' : page));
  if (page === 'records') {
    if (shownPage !== 'records') { $('view').innerHTML = filterForm(); bindFilters(); }
    const q = recordsQuery(); if (cursor) q.set('cursor', cursor);
    const d = await getJson('/records?' + q);
    common(d);
    shownPage = 'records';
    renderRecords(d);
    return;
  }
  shownPage = page;
  if (page === 'record' && id !== null) { const d = await getJson('/records/' + encodeURIComponent(id)); common(d); renderRecord(d); return; }
  if (page === 'schedules') { const d = await getJson('/schedules'); common(d); renderSchedules(d); return; }
  if (page === 'workers') { const d = await getJson('/workers'); common(d); renderWorkers(d); return; }
  const d = await getJson('/overview'); common(d); renderOverview(d);
}

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
  refresh().catch((e) => { if (String(e && e.message).endsWith(': 404')) $('view').innerHTML = '<div class="empty" data-testid="not-found">Not found: it may have been removed.</div>'; }).finally(() => {
    inFlight = false;
    if (again) { again = false; scheduleRefresh(); }
  });
}

function bindFilters() {
  const read = () => {
    filters.status = $('f-status').value; filters.queue = $('f-queue').value.trim(); filters.task = $('f-task').value.trim();
    filters.key = $('f-key').value; filters.search = $('f-search').value.trim();
    cursors = []; cursor = null;
    const q = recordsQuery();
    history.replaceState(null, '', '#/records' + (String(q) ? '?' + q : ''));
    scheduleRefresh();
  };
  for (const id of ['f-status', 'f-queue', 'f-task', 'f-key', 'f-search']) $(id).addEventListener('input', read);
}

function loadRoute() {
  const { page, params } = route();
  if (page === 'records') {
    for (const k of Object.keys(filters)) filters[k] = params.get(k === 'task' ? 'task' : k) || '';
    cursors = []; cursor = null;
  }
  shownPage = null;
  scheduleRefresh();
}

// --- confirmed actions
const VERBS = { cancel: 'Cancel', retry: 'Retry', promote: 'Run now', again: 'Enqueue again', remove: 'Remove for good',
  pause: 'Pause', resume: 'Resume', 'retry-failed': 'Retry every failed record of', clean: 'Delete the records of' };
function confirmAction(text) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const done = (ok) => { $('confirm-ok').onclick = null; $('confirm-cancel').onclick = null; dialog.onclose = null; if (dialog.open) dialog.close(); resolve(ok); };
    $('confirm-ok').onclick = () => done(true);
    $('confirm-cancel').onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
  });
}
async function post(path, body) {
  const response = await fetch(api(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer && answer.message ? String(answer.message) : 'refused (' + response.status + ')');
  return answer;
}
document.addEventListener('click', async (ev) => {
  const button = ev.target.closest('button');
  if (button && button.id === 'page-next' && nextCursor) { cursors.push(cursor); cursor = nextCursor; return scheduleRefresh(); }
  if (button && button.id === 'page-prev' && cursors.length) { cursor = cursors.pop(); return scheduleRefresh(); }
  if (button && button.id === 'page-first') { cursors = []; cursor = null; return scheduleRefresh(); }
  if (button && button.dataset.act) {
    ev.stopPropagation();
    const act = button.dataset.act, id = button.dataset.id;
    const text = VERBS[act] + ' ' + (button.dataset.task || 'record') + ' ' + shortId(id) + '?' + (act === 'remove' ? ' Its record and logs are deleted.' : '');
    if (!(await confirmAction(text))) return;
    try {
      const answer = await post('/records/' + encodeURIComponent(id) + '/' + act);
      toast(act + ': done');
      if (act === 'again' && answer && typeof answer.id === 'string') location.hash = '#/record/' + encodeURIComponent(answer.id);
      if (act === 'remove' && route().page === 'record') location.hash = '#/records';
    } catch (e) { toast(act + ' refused: ' + e.message); }
    return scheduleRefresh();
  }
  if (button && button.dataset.queueAct) {
    const act = button.dataset.queueAct, queue = button.dataset.queue, status = button.dataset.status;
    const text = act === 'clean' ? VERBS.clean + ' queue ' + queue + ' with status ' + status + '?' : VERBS[act] + ' queue ' + queue + '?';
    if (!(await confirmAction(text))) return;
    try {
      const answer = await post('/queues/' + encodeURIComponent(queue) + '/' + act, status ? { status } : {});
      const count = answer && (answer.retried ?? answer.removed);
      toast(act + ': done' + (typeof count === 'number' ? ' (' + count + ')' : ''));
    } catch (e) { toast(act + ' refused: ' + e.message); }
    return scheduleRefresh();
  }
  const row = ev.target.closest('tr.rec');
  if (row && !ev.target.closest('a')) location.hash = '#/record/' + encodeURIComponent(row.dataset.id);
});

// --- live updates
const events = new EventSource(api('/events'));
events.addEventListener('queue.event', (m) => {
  let e; try { e = JSON.parse(m.data); } catch { return; }
  if (e.type === 'task.progress' && e.progressPercent !== null) {
    progress.set(e.taskId, clampPct(e.progressPercent));
    for (const row of document.querySelectorAll('#rows tr.rec')) {
      if (row.dataset.id !== e.taskId) continue;
      row.querySelector('.bar i').style.width = progress.get(e.taskId) + '%';
      row.querySelector('.pct').textContent = progress.get(e.taskId) + '%';
    }
  } else { scheduleRefresh(); }
});
window.addEventListener('hashchange', loadRoute);
document.addEventListener('visibilitychange', () => { if (!document.hidden) scheduleRefresh(); });
setInterval(() => { if (!document.hidden) scheduleRefresh(); }, POLL_INTERVAL);
loadRoute();
`;
