import { TASK_STATUSES } from '../models/task-status.js';
import { dashboardScript } from './dashboard.script.js';
import { dashboardStyles } from './dashboard.styles.js';

/** Least time between two reloads of one tab (ms): events arriving meanwhile coalesce into one trailing reload. */
export const REFRESH_GAP = 1_000;
/** The fallback poll (ms), for changes no event reports (another process's writes without cross-process events). */
export const POLL_INTERVAL = 5_000;

/** The favicon: a stack of three bars, inline (no request, nothing to serve). */
const FAVICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0f172a"/>' +
      '<rect x="3" y="3" width="10" height="2.4" rx="1" fill="#22c55e"/><rect x="3" y="6.8" width="7" height="2.4" rx="1" fill="#38bdf8"/>' +
      '<rect x="3" y="10.6" width="4" height="2.4" rx="1" fill="#eab308"/></svg>',
  );

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
 * The dashboard page: one HTML document with its CSS and JS inline (no CDN, nothing to copy at build time), a
 * single-page app over `./api/*` (relative to its own URL) with hash routes: `#/` overview, `#/records`,
 * `#/record/<id>`, `#/schedules`, `#/workers`. It listens to `./api/events` (SSE) for live updates.
 */
export function dashboardPage(options: { readOnly: boolean; nonce: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>nestjs-queues</title>
<link rel="icon" type="image/svg+xml" href="${FAVICON}">
<style nonce="${options.nonce}">${dashboardStyles}</style></head>
<body>
<header>
<h1><a href="#/">nestjs-queues</a></h1>
<nav id="nav" data-testid="nav"><a href="#/" data-page="overview">Overview</a><a href="#/records" data-page="records">Records</a><a href="#/schedules" data-page="schedules">Schedules</a><a href="#/workers" data-page="workers">Workers</a></nav>
<div class="chips" id="stats" data-testid="stats"></div>
</header>
<main id="view" data-testid="view"><p class="muted">Loading…</p></main>
<dialog id="confirm" data-testid="confirm"><p id="confirm-text" data-testid="confirm-text"></p>
<div class="row"><button id="confirm-cancel" data-testid="confirm-cancel">Keep</button><button id="confirm-ok" class="danger" data-testid="confirm-ok">Confirm</button></div></dialog>
<div id="toast" data-testid="toast" role="status"></div>
<script nonce="${options.nonce}">
const READ_ONLY = ${options.readOnly ? 'true' : 'false'};
const REFRESH_GAP = ${REFRESH_GAP};
const POLL_INTERVAL = ${POLL_INTERVAL};
const STATUSES = ${JSON.stringify(TASK_STATUSES)};
${dashboardScript}
</script>
</body></html>`;
}
