import 'reflect-metadata';
import { Injectable, type INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';
import {
  QueueBackend,
  QueueEvents,
  QueueService,
  QueuesDashboardModule,
  QueuesModule,
  Task,
  TaskCtx,
  QueueConfigurationError,
  newTaskRecord,
  type GatewayOptions,
  type TaskExecutionContext,
} from '../../src/index.js';
import { fastWorker } from '../support/app.js';
import { LIVE_UPDATE_WINDOW } from '../../src/dashboard/live-updates.js';
import { launchChromium, skipWithoutChromium } from './support/chromium.js';

// Functions passed to page.evaluate / waitForFunction run in the browser.
declare const window: { __pwned?: unknown };
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): { length: number };
};

/** The operator's session: the dashboard lets in requests that carry this cookie. */
const OPERATOR_COOKIE = 'queues_operator=yes';

@Injectable()
class SecurityTasks {
  @Task('security.hold')
  async hold(@TaskCtx() ctx: TaskExecutionContext) {
    await sleep(60_000, undefined, { signal: ctx.signal }).catch(() => undefined);
  }

  @Task('security.quick')
  async quick() {
    await sleep(10);
  }

  @Task('security.flaky', { retries: 0 })
  async flaky() {
    throw new Error('flaky');
  }
}

interface Served {
  method: string;
  url: string;
  status: number;
}

async function startApp(
  gateway: GatewayOptions = { allowAnonymous: true },
): Promise<{ app: INestApplication; origin: string; served: Served[] }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      QueuesModule.forRoot({
        // Records here stay running for seconds while Chromium runs beside the suite: a 500 ms staleAfter let a
        // loaded machine's stalled heartbeat fail a held record before the test read it.
        worker: { ...fastWorker, concurrency: 5, staleAfter: 10_000 },
        gateway,
      }),
      QueuesDashboardModule.register({
        authorize: (request) =>
          String((request as { headers: { cookie?: string } }).headers.cookie ?? '').includes(
            OPERATOR_COOKIE,
          ),
      }),
    ],
    providers: [SecurityTasks],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  app.useWebSocketAdapter(new IoAdapter(app));
  const served: Served[] = [];
  app.use((request: http.IncomingMessage, response: http.ServerResponse, next: () => void) => {
    response.on('finish', () =>
      served.push({ method: request.method!, url: request.url!, status: response.statusCode }),
    );
    next();
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, origin: `http://127.0.0.1:${port}`, served };
}

/** A server on another port (another origin, the same site): serves `html` at `/`. */
async function startOtherOrigin(html: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('dashboard actions refuse cross-origin and non-JSON requests (HTTP)', () => {
  let app: INestApplication;
  let origin: string;
  let api: string;
  before(async () => {
    ({ app, origin } = await startApp());
    api = `${origin}/queues/dashboard/api`;
  });
  after(async () => {
    await app?.close();
  });

  const held = () => app.get(QueueService).enqueue('security.hold', [], { delay: 60_000 });
  const post = (path: string, headers: Record<string, string>, body = '{}') =>
    fetch(`${api}${path}`, { method: 'POST', headers: { cookie: OPERATOR_COOKIE, ...headers }, body });

  test('only application/json from the page own origin (or no browser at all) may cancel', async () => {
    const record = await held();
    const cases: Array<[Record<string, string>, number]> = [
      [{ 'content-type': 'text/plain', origin }, 403],
      [{ 'content-type': 'application/x-www-form-urlencoded', origin }, 403],
      [{ 'content-type': 'application/json', origin: 'http://evil.example' }, 403],
      [{ 'content-type': 'application/json', origin: 'null' }, 403],
      [{ 'content-type': 'application/json', referer: 'http://127.0.0.1:1/attack.html' }, 403],
      [{ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }, 403],
    ];
    for (const [headers, status] of cases) {
      const response = await post(`/records/${record.id}/cancel`, headers);
      assert.equal(response.status, status, JSON.stringify(headers));
      assert.equal((await app.get(QueueService).getTask(record.id))!.status, 'scheduled');
    }
    // The same request from the page's own origin goes through.
    const own = await post(`/records/${record.id}/cancel`, {
      'content-type': 'application/json',
      origin,
      'sec-fetch-site': 'same-origin',
    });
    assert.equal(own.status, 201);
    assert.equal((await app.get(QueueService).getTask(record.id))!.status, 'cancelled');
    // retry and again are actions too.
    for (const action of ['retry', 'again']) {
      const refused = await post(`/records/${record.id}/${action}`, { 'content-type': 'text/plain', origin });
      assert.equal(refused.status, 403, action);
    }
    const again = await post(`/records/${record.id}/retry`, { 'content-type': 'application/json' });
    assert.equal(again.status, 201, 'a client that is no browser (no Origin, no Referer) may act');
  });

  test('remove and promote refuse what cancel refuses, and go through from the page own origin', async () => {
    const queues = app.get(QueueService);
    const promoted = await held();
    const removed = await held();
    const forged: Array<Record<string, string>> = [
      { 'content-type': 'text/plain', origin },
      { 'content-type': 'application/x-www-form-urlencoded', origin },
      { 'content-type': 'application/json', origin: 'http://evil.example' },
      { 'content-type': 'application/json', origin: 'null' },
      { 'content-type': 'application/json', referer: 'http://127.0.0.1:1/attack.html' },
      { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of forged) {
      for (const [record, action] of [
        [promoted, 'promote'],
        [removed, 'remove'],
      ] as const) {
        const response = await post(`/records/${record.id}/${action}`, headers);
        assert.equal(response.status, 403, `${action} ${JSON.stringify(headers)}`);
        assert.equal((await queues.getTask(record.id))?.status, 'scheduled', `${action} left it`);
      }
    }
    const own = { 'content-type': 'application/json', origin, 'sec-fetch-site': 'same-origin' };
    assert.equal((await post(`/records/${removed.id}/remove`, own)).status, 201);
    assert.equal(await queues.getTask(removed.id), null);
    assert.equal((await post(`/records/${promoted.id}/promote`, own)).status, 201);
    const record = (await queues.getTask(promoted.id))!;
    assert.ok(record.status !== 'scheduled', `promoted: ${record.status}`);
    await queues.cancel(promoted.id).catch(() => undefined);
  });

  test('the event stream sends a page a bounded number of events, whatever the event rate', async () => {
    const controller = new AbortController();
    const response = await fetch(`${api}/events`, {
      headers: { cookie: OPERATOR_COOKIE },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const events: Array<Record<string, unknown>> = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
          const data = text
            .slice(0, end)
            .split('\n')
            .find((line) => line.startsWith('data:'));
          if (data) events.push(JSON.parse(data.slice(5)) as Record<string, unknown>);
          text = text.slice(end + 2);
        }
      }
    })().catch(() => undefined);
    try {
      await sleep(300); // the subscription is up
      const bus = app.get(QueueEvents);
      const started = Date.now();
      // 3,000 events in a burst: 10 tasks reporting progress 200 times each, and 1,000 others.
      for (let i = 0; i < 200; i++) {
        for (let t = 0; t < 10; t++)
          await bus.publish({
            type: 'task.progress',
            record: { id: `task-${t}`, taskName: 'security.quick', queue: 'default', retryCount: 0 },
            progressCurrent: i + 1,
            progressTotal: 200,
          });
        for (let k = 0; k < 5; k++) await bus.publish({ type: 'queue.paused', queue: `q${k}` });
      }
      const windows = Math.ceil((Date.now() - started) / LIVE_UPDATE_WINDOW) + 2;
      await sleep(1_500);
      // Each window sends each task's latest progress and one other event: 11 per window, not 3,000.
      assert.ok(events.length > 0, 'no event reached the page');
      assert.ok(
        events.length <= windows * 11,
        `the page was sent ${events.length} events in ${windows} windows`,
      );
      const last = new Map(events.filter((e) => e['type'] === 'task.progress').map((e) => [e['taskId'], e]));
      assert.equal(last.size, 10);
      for (const event of last.values()) assert.equal(event['progressPercent'], 100, 'the latest progress');
    } finally {
      controller.abort();
      await reading;
    }
  });

  test('the page is served with a Content-Security-Policy that forbids inline handlers and framing', async () => {
    const response = await fetch(`${origin}/queues/dashboard`, { headers: { cookie: OPERATOR_COOKIE } });
    assert.equal(response.status, 200);
    const policy = response.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(policy)?.[1];
    assert.ok(nonce, policy);
    assert.match(policy, /frame-ancestors 'none'/);
    assert.doesNotMatch(policy, /unsafe-inline/);
    const html = await response.text();
    assert.ok(html.includes(`<script nonce="${nonce}">`));
    const second = await fetch(`${origin}/queues/dashboard`, { headers: { cookie: OPERATOR_COOKIE } });
    assert.notEqual(second.headers.get('content-security-policy'), policy, 'a fresh nonce per response');
  });

  test('the socket.io gateway refuses browser pages of other origins and sends no permissive CORS', async () => {
    const connect = (headers: Record<string, string>) => connectWith(origin, headers);
    assert.equal(await connect({ origin: 'http://evil.example' }), 'origin not allowed');
    assert.equal(await connect({ origin }), 'connected');
    assert.equal(await connect({}), 'connected', 'clients that send no Origin are not browsers');
    const polling = await fetch(`${origin}/socket.io/?EIO=4&transport=polling`, {
      headers: { origin: 'http://evil.example' },
    });
    assert.equal(polling.headers.get('access-control-allow-origin'), null);
  });
});

/** Connect to the gateway's namespace with these handshake headers: 'connected' or the refusal's message. */
function connectWith(origin: string, headers: Record<string, string>): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = io(`${origin}/queues`, {
      transports: ['websocket'],
      extraHeaders: headers,
      forceNew: true,
      reconnection: false,
    });
    socket.once('connect', () => {
      socket.close();
      resolve('connected');
    });
    socket.once('connect_error', (error) => {
      socket.close();
      resolve(error.message);
    });
  });
}

describe('cross-origin options', () => {
  test('gateway.cors lets the listed origins connect and answers their CORS requests', async () => {
    const { app, origin } = await startApp({
      allowAnonymous: true,
      cors: { origin: ['http://allowed.example'], credentials: true },
    });
    try {
      assert.equal(await connectWith(origin, { origin: 'http://allowed.example' }), 'connected');
      assert.equal(await connectWith(origin, { origin: 'http://evil.example' }), 'origin not allowed');
      const polling = await fetch(`${origin}/socket.io/?EIO=4&transport=polling`, {
        headers: { origin: 'http://allowed.example' },
      });
      assert.equal(polling.headers.get('access-control-allow-origin'), 'http://allowed.example');
    } finally {
      await app.close();
    }
  });

  test('bad origins are configuration errors', () => {
    assert.throws(
      () => QueuesModule.forRoot({ gateway: { allowAnonymous: true, cors: { origin: '*' as never } } }),
      (error: unknown) =>
        error instanceof QueueConfigurationError &&
        error.problems.some((p) => p.path === 'gateway.cors.origin'),
    );
    assert.throws(
      () => QueuesDashboardModule.register({ allowAnonymous: true, allowedOrigins: ['admin.example.com'] }),
      (error: unknown) =>
        error instanceof QueueConfigurationError &&
        error.problems.some((p) => p.path === 'QueuesDashboardModule.allowedOrigins[0]'),
    );
    QueuesDashboardModule.register({
      allowAnonymous: true,
      allowedOrigins: ['https://admin.example.com:8443'],
    });
  });
});

describe(
  'dashboard in Chromium: another origin, hostile records, refresh rate',
  { skip: skipWithoutChromium() },
  () => {
    let app: INestApplication;
    let origin: string;
    let served: Served[];
    let dashboard: string;
    let browser: import('playwright-core').Browser;

    before(async () => {
      ({ app, origin, served } = await startApp());
      dashboard = `${origin}/queues/dashboard`;
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await app?.close();
    });

    /** A browser context holding the operator's cookie for the dashboard's host (SameSite=Lax: sent same-site). */
    async function operatorContext(options: { bypassCSP?: boolean } = {}) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, ...options });
      const [name, value] = OPERATOR_COOKIE.split('=') as [string, string];
      await context.addCookies([{ name, value, domain: '127.0.0.1', path: '/', sameSite: 'Lax' }]);
      return context;
    }

    test(
      'a page on another origin cannot cancel a running record with the operator cookie',
      { timeout: 60_000 },
      async () => {
        const queues = app.get(QueueService);
        const byForm = await queues.enqueue('security.hold');
        const byFetch = await queues.enqueue('security.hold');
        const byJsonFetch = await queues.enqueue('security.hold');
        for (const record of [byForm, byFetch, byJsonFetch]) {
          for (let i = 0; i < 100 && (await queues.getTask(record.id))!.status !== 'running'; i++)
            await sleep(20);
          assert.equal((await queues.getTask(record.id))!.status, 'running');
        }
        const cancel = (id: string) => `${dashboard}/api/records/${id}/cancel`;
        const attacker = await startOtherOrigin(`<!doctype html><body>
<iframe name="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="${cancel(byForm.id)}">
<input name='{"a":"' value='"}'></form>
<script>
(async () => {
  await fetch(${JSON.stringify(cancel(byFetch.id))}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' }).catch(() => {});
  await fetch(${JSON.stringify(cancel(byJsonFetch.id))}, { method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: { 'content-type': 'application/json' }, body: '{}' }).catch(() => {});
  document.getElementById('f').submit();
  window.attackSent = true;
})();
</script></body>`);
        const context = await operatorContext();
        try {
          const page = await context.newPage();
          await page.goto(attacker.origin);
          await page.waitForFunction(() => (window as { attackSent?: boolean }).attackSent === true);
          // Wait until the server answered all three forged requests.
          const forged = () => served.filter((s) => s.method === 'POST' && s.url.endsWith('/cancel'));
          for (let i = 0; i < 100 && forged().length < 3; i++) await sleep(50);
          assert.equal(forged().length, 3, 'the three forged requests reached the server');
          assert.deepEqual(
            forged().map((s) => s.status),
            [403, 403, 403],
          );
          for (const record of [byForm, byFetch, byJsonFetch])
            assert.equal((await queues.getTask(record.id))!.status, 'running', 'not cancelled');

          // The dashboard's own buttons still work for the operator (each asks for a confirmation first).
          const own = await context.newPage();
          await own.goto(`${dashboard}#/records`);
          await own.click(`[data-testid="cancel-${byForm.id}"]`);
          await own.click('[data-testid="confirm-ok"]');
          await own.waitForFunction(
            (id) => document.querySelector(`[data-testid="status-${id}"]`)?.textContent === 'cancelled',
            byForm.id,
          );
          assert.equal((await queues.getTask(byForm.id))!.status, 'cancelled');
          const flaky = await queues.enqueue('security.flaky');
          await queues.waitFor(flaky.id, { timeout: 5_000 });
          await own.click(`[data-testid="retry-${flaky.id}"]`);
          await own.click('[data-testid="confirm-ok"]');
          const retried = () => served.some((s) => s.url.endsWith(`/${flaky.id}/retry`) && s.status === 201);
          for (let i = 0; i < 100 && !retried(); i++) await sleep(50);
          assert.ok(retried(), 'the retry button was accepted');
        } finally {
          await context.close();
          await attacker.close();
          for (const record of [byForm, byFetch, byJsonFetch]) await queues.cancel(record.id);
        }
      },
    );

    test(
      'hostile values in every field render as text, with and without the CSP',
      { timeout: 60_000 },
      async () => {
        const payload = (tag: string) =>
          `"><img src=x onerror="window.__pwned='${tag}'"><script>window.__pwned='${tag}'</script>'`;
        // Written straight into the store, as anyone with write access to it could.
        const hostile = {
          ...newTaskRecord({
            id: `id${payload('id')}`,
            taskName: `task${payload('taskName')}`,
            queue: `queue${payload('queue')}`,
            key: `key${payload('key')}`,
            args: [payload('args')],
            metadata: { note: payload('metadata') },
          }),
          status: 'failed' as const,
          error: payload('error'),
          completedAt: new Date(),
        };
        await app.get(QueueBackend).enqueue(hostile);
        // Values the store would not hold (a status that is none, numbers that are strings), served to the page
        // in place of the API's answer: the page must not trust even those.
        const forged = {
          ...JSON.parse(JSON.stringify(hostile)),
          id: `forged${payload('forged-id')}`,
          status: payload('status'),
          retryCount: payload('retryCount'),
          maxRetries: payload('maxRetries'),
          metadata: { progress: { current: payload('current'), total: 1 } },
        };
        const statistics = { pending: payload('stat'), total: 1 };
        const timeline = [
          { type: payload('type'), message: payload('message'), occurredAt: payload('occurredAt') },
        ];

        for (const bypassCSP of [true, false]) {
          const context = await operatorContext({ bypassCSP });
          try {
            const page = await context.newPage();
            const dialogs: string[] = [];
            page.on('dialog', (dialog) => {
              dialogs.push(dialog.message());
              void dialog.dismiss();
            });
            // Every page's answer carries the header's statistics; the records page's also the records.
            await page.route(/\/api\/(overview|stats|records|schedules|workers)(\?|$)/, async (route) => {
              const response = await route.fetch();
              const url = new URL(route.request().url());
              const body = await response.json();
              const json = url.pathname.endsWith('/stats')
                ? { ...body, ...statistics }
                : {
                    ...body,
                    statistics: { ...body.statistics, ...statistics },
                    ...(url.pathname.endsWith('/records') ? { records: [forged, ...body.records] } : {}),
                    ...(url.pathname.endsWith('/workers')
                      ? { workers: [{ ...forged, host: payload('host'), queues: [payload('wq')] }] }
                      : {}),
                  };
              await route.fulfill({ response, json });
            });
            await page.route(/\/api\/records\/forged/, (route) =>
              route.fulfill({ json: { record: forged, timeline, logs: timeline, children: [forged] } }),
            );
            // The overview lists the hostile queue (from the recent records), the workers page a forged worker.
            for (const hash of ['#/', '#/workers', '#/schedules']) {
              await page.goto(`${dashboard}${hash}`);
              await page.waitForSelector('[data-testid="stat-total"]');
              await sleep(300);
            }
            await page.goto(`${dashboard}#/records`);
            await page.waitForSelector('tr.rec');
            await page.waitForFunction(() => document.querySelectorAll('tr.rec').length >= 2);
            // The values show as text.
            assert.ok((await page.textContent('#rows'))!.includes(`task${payload('taskName')}`));
            // Open both hostile records' details.
            await page.locator('tr.rec', { hasText: 'task"><img' }).first().click();
            await page.waitForFunction(() =>
              document.querySelector('[data-testid="detail"]')?.textContent?.includes('error'),
            );
            await page.goto(`${dashboard}#/records`);
            await page.waitForFunction(() => document.querySelectorAll('tr.rec').length >= 2);
            await page.locator('tr.rec').first().click();
            await page.waitForFunction(() =>
              document.querySelector('[data-testid="detail"]')?.textContent?.includes('forged'),
            );
            await sleep(500);
            const pwned = await page.evaluate(() => window.__pwned);
            assert.equal(pwned, undefined, `script ran (bypassCSP ${bypassCSP}): ${String(pwned)}`);
            assert.deepEqual(dialogs, []);
            assert.equal(await page.locator('img').count(), 0, 'no element was injected');
          } finally {
            await context.close();
          }
        }
      },
    );

    test(
      '1,000 tasks draining cost about one API request per second, and the final state shows',
      { timeout: 120_000 },
      async (t) => {
        const queues = app.get(QueueService);
        const context = await operatorContext();
        try {
          const page = await context.newPage();
          await page.goto(dashboard);
          await page.waitForSelector('[data-testid="stat-total"]');
          await sleep(1_500);
          const requests: string[] = [];
          page.on('request', (request) => {
            const url = request.url();
            if (url.includes('/api/') && !url.includes('/api/events')) requests.push(url);
          });
          const started = Date.now();
          const records = [];
          for (let i = 0; i < 10; i++)
            records.push(
              ...(await queues.enqueueMany(Array.from({ length: 100 }, () => ({ task: 'security.quick' })))),
            );
          for (const record of records) await queues.waitFor(record.id, { timeout: 60_000 });
          const drained = Date.now() - started;
          await sleep(2_000); // the trailing reload
          const seconds = (Date.now() - started) / 1_000;
          const completed = (await queues.getStatistics()).completed;
          await page.waitForFunction(
            (n) => document.querySelector('[data-testid="stat-completed"]')?.textContent === String(n),
            completed,
            { timeout: 5_000 },
          );
          t.diagnostic(`${requests.length} API requests in ${seconds.toFixed(1)} s (drain ${drained} ms)`);
          assert.ok(drained > 500, `the drain took ${drained} ms`);
          assert.ok(
            requests.length <= Math.ceil(seconds) + 3,
            `${requests.length} API requests in ${seconds.toFixed(1)} s (drain ${drained} ms)`,
          );
        } finally {
          await context.close();
        }
      },
    );
  },
);
