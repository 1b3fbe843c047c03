import 'reflect-metadata';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  QueueBackend,
  QueueService,
  QueuesDashboardModule,
  QueuesModule,
  Schedule,
  Task,
  TaskCtx,
  newTaskRecord,
  type TaskExecutionContext,
} from '../../src/index.js';
import { fastWorker } from '../support/app.js';
import { launchChromium, skipWithoutChromium } from './support/chromium.js';

type Browser = import('playwright-core').Browser;
type Page = import('playwright-core').Page;

// Functions passed to page.waitForFunction / evaluate run in the browser.
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): { length: number };
};
declare const window: { getComputedStyle(element: unknown): { display: string } };

const skip = skipWithoutChromium();
/** `UPDATE_DASHBOARD_SCREENSHOTS=1` writes the screenshots of docs/dashboard.md; otherwise they go to test-artifacts. */
const SCREENSHOTS = process.env['UPDATE_DASHBOARD_SCREENSHOTS'] === '1';
const OPERATOR_COOKIE = 'queues_operator=yes';

let flakyAttempts = 0;
@Injectable()
class DashboardTasks {
  @Task('files.process')
  async process(steps: number, @TaskCtx() ctx: TaskExecutionContext) {
    for (let step = 1; step <= steps; step++) {
      await sleep(100);
      await ctx.progress(step, steps, `step ${step}`);
    }
    await ctx.log('processed every step', { steps });
    return { steps };
  }

  @Task('api.flaky', { retries: 0 })
  async flaky() {
    flakyAttempts++;
    if (flakyAttempts === 1) throw new Error('upstream said 503');
    return 'ok';
  }

  @Task('mail.send', { queue: 'mail', retries: 1, retryBackoff: 10 })
  async send(to: string, @TaskCtx() ctx: TaskExecutionContext) {
    await ctx.log(`sending to ${to}`);
    if (to.startsWith('bounce')) throw new Error(`mailbox ${to} is full`);
    return { delivered: to };
  }

  @Task('mail.hold', { queue: 'mail' })
  async hold(@TaskCtx() ctx: TaskExecutionContext) {
    await sleep(30_000, undefined, { signal: ctx.signal }).catch(() => undefined);
  }

  @Task('files.merge')
  async merge(@TaskCtx() ctx: TaskExecutionContext) {
    return Object.keys(ctx.childResults()).length;
  }

  @Task('bulk.item', { queue: 'bulk' })
  async item() {}

  @Task('limited.call', { queue: 'limited' })
  async limited() {
    return 'called';
  }

  @Task('parked.item', { queue: 'parked' })
  async parked() {
    return 'ran';
  }

  @Task('capped.work', { queue: 'capped' })
  async capped(@TaskCtx() ctx: TaskExecutionContext) {
    await sleep(30_000, undefined, { signal: ctx.signal }).catch(() => undefined);
  }

  @Task('reports.tick', { queue: 'reports' })
  @Schedule({ interval: 400, key: 'tick' })
  async tick() {
    return 'ticked';
  }
}

/** The user's own provider, injected by constructor, through which the tests act on the store. */
@Injectable()
class Operations {
  constructor(
    readonly queues: QueueService,
    readonly backend: QueueBackend,
  ) {}
}

function appModule(auth: boolean) {
  @Module({
    imports: [
      QueuesModule.forRoot({
        worker: { ...fastWorker, staleAfter: 10_000, workerId: 'dashboard-e2e-worker' },
        queues: {
          capped: { concurrency: 5, groupConcurrency: 2, rateLimit: { max: 100, duration: 1_000 } },
          limited: { rateLimit: { max: 2, duration: 60_000 } },
        },
      }),
      QueuesDashboardModule.register(
        auth
          ? {
              authorize: (request) =>
                String((request as { headers: { cookie?: string } }).headers.cookie ?? '').includes(
                  OPERATOR_COOKIE,
                ),
            }
          : { allowAnonymous: true },
      ),
    ],
    providers: [DashboardTasks, Operations],
  })
  class DashboardAppModule {}
  return DashboardAppModule;
}

for (const auth of [false, true]) {
  describe(`dashboard pages and actions in Chromium (auth ${auth ? 'on' : 'off'})`, { skip }, () => {
    let app: INestApplication;
    let url: string;
    let browser: Browser;
    let ops: Operations;
    const shots = SCREENSHOTS ? path.resolve('docs/dashboard') : path.resolve('test-artifacts/dashboard');
    /** Console errors and page errors of every page opened, by page. */
    const problems: string[] = [];

    before(async () => {
      flakyAttempts = 0;
      const moduleRef = await Test.createTestingModule({ imports: [appModule(auth)] }).compile();
      app = moduleRef.createNestApplication({ logger: ['error'] });
      await app.listen(0, '127.0.0.1');
      url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/queues/dashboard`;
      ops = app.get(Operations);
      browser = await launchChromium();
      mkdirSync(shots, { recursive: true });
    });
    after(async () => {
      await browser?.close();
      await app?.close();
    });

    async function open(hash = '#/', viewport = { width: 1280, height: 860 }): Promise<Page> {
      const context = await browser.newContext({ viewport });
      if (auth) {
        const [name, value] = OPERATOR_COOKIE.split('=') as [string, string];
        await context.addCookies([{ name, value, domain: '127.0.0.1', path: '/' }]);
      }
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`${hash}: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`${hash}: ${error.message}`));
      await page.goto(url + hash);
      await page.waitForSelector('[data-testid="stat-total"]');
      return page;
    }
    const close = (page: Page) => page.context().close();
    const text = async (page: Page, testId: string) =>
      (await page.textContent(`[data-testid="${testId}"]`))?.trim();
    const statusShows = (page: Page, id: string, status: string) =>
      page.waitForFunction(
        ([id, status]) => document.querySelector(`[data-testid="status-${id}"]`)?.textContent === status,
        [id, status] as const,
        { timeout: 15_000 },
      );
    /** Wait until the records table shows exactly these records. */
    const onlyRows = (page: Page, ids: string[]) =>
      page.waitForFunction(
        (ids) => {
          const rows = [
            ...(document.querySelectorAll('tr.rec') as unknown as Array<{ dataset: { id: string } }>),
          ];
          return rows.length === ids.length && rows.every((row) => ids.includes(row.dataset.id));
        },
        ids,
        { timeout: 10_000 },
      );
    const shot = (page: Page, name: string) =>
      auth ? Promise.resolve() : page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
    /** Click an action, check the confirmation's text, and confirm it (or keep the record with `keep`). */
    async function confirmAction(page: Page, testId: string, expected: RegExp, keep = false) {
      await page.click(`[data-testid="${testId}"]`);
      await page.waitForSelector('[data-testid="confirm"][open]');
      assert.match((await text(page, 'confirm-text'))!, expected);
      await page.click(`[data-testid="${keep ? 'confirm-cancel' : 'confirm-ok'}"]`);
      await page.waitForSelector('[data-testid="confirm"]:not([open])', { state: 'attached' });
    }

    test('without the operator cookie the page and its API are refused', { skip: !auth }, async () => {
      const page = await fetch(url);
      assert.equal(page.status, 403);
      const api = await fetch(`${url}/api/overview`);
      assert.equal(api.status, 403);
      const action = await fetch(`${url}/api/queues/mail/pause`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(action.status, 403);
    });

    test(
      'overview: queues with counts and last hour charts, workers, favicon',
      { timeout: 60_000 },
      async () => {
        const { queues } = ops;
        // Records that ended over the last hour, before this process listened: the charts read them from the store.
        const now = Date.now();
        for (let i = 0; i < 40; i++) {
          const endedAt = new Date(now - (i % 55) * 60_000 - 30_000);
          const failed = i % 9 === 4;
          await ops.backend.enqueue({
            ...newTaskRecord({ taskName: 'mail.send', queue: 'mail', args: [`past${i}@example.com`] }),
            status: failed ? 'failed' : 'completed',
            result: failed ? null : { delivered: `past${i}@example.com` },
            error: failed ? 'mailbox full' : null,
            createdAt: new Date(endedAt.getTime() - 1_000),
            startedAt: new Date(endedAt.getTime() - 500),
            completedAt: endedAt,
          });
        }
        const sent = await queues.enqueueMany(
          Array.from({ length: 6 }, (_, i) => ({ task: 'mail.send', args: [`user${i}@example.com`] })),
        );
        const bounced = await queues.enqueue('mail.send', ['bounce@example.com']);
        for (const record of [...sent, bounced]) await queues.waitFor(record.id, { timeout: 10_000 });
        const page = await open('#/');
        await page.waitForSelector('[data-testid="queue-mail"]');
        // 36 + 6 completed, 4 + 1 failed (the bounce, after its retry): 5 of 47.
        await page.waitForFunction(
          () => document.querySelector('[data-testid="completed-hour-mail"]')?.textContent === '42',
        );
        assert.equal(await text(page, 'failed-hour-mail'), '5');
        assert.equal(await text(page, 'failure-rate-mail'), '10.6%');
        assert.equal(
          await text(page, 'queue-completed-mail'),
          String((await queues.getStatistics({ queue: 'mail' })).completed),
        );
        assert.ok(
          (await page.locator('[data-testid="chart-mail"] rect.c').count()) >= 30,
          'bars over the hour',
        );
        assert.equal(await page.locator('[data-testid="chart-mail"] rect.f').count(), 5);
        assert.match((await text(page, 'worker-count'))!, /^1 live/);
        assert.ok((await page.textContent('[data-testid="view"]'))!.includes('dashboard-e2e-worker'));
        // Policies of the `queues` option, with the groups running now.
        const held = await queues.enqueue('capped.work', [], { group: 'tenant-a' });
        for (let i = 0; i < 200 && (await queues.getTask(held.id))!.status !== 'running'; i++)
          await sleep(20);
        assert.equal((await queues.getTask(held.id))!.status, 'running');
        await page
          .waitForFunction(
            () =>
              document.querySelector('[data-testid="policy-capped"]')?.textContent?.includes('tenant-a 1') ===
              true,
            undefined,
            { timeout: 10_000 },
          )
          .catch(async (e) => {
            throw new Error(`${e}: ${await text(page, 'policy-capped')}`);
          });
        // The held record's start is in the 1 s window, or just left it.
        assert.match(
          (await text(page, 'policy-capped'))!,
          /^concurrency 5 · per group 2 \(1 group running: tenant-a 1\) · rate limit 100 per 1\.0 s \((0 of 100 used|1 of 100 used, oldest leaves in (\d+ ms|1\.0 s))\)$/,
        );
        assert.equal(await text(page, 'policy-mail'), 'no cluster-wide caps');
        // A paused queue shows as paused.
        await queues.queue('reports').pause();
        await page.waitForFunction(
          () => document.querySelector('[data-testid="queue-state-reports"]')?.textContent === 'paused',
          undefined,
          { timeout: 10_000 },
        );
        assert.equal(await text(page, 'queue-state-mail'), 'active');
        await queues.queue('reports').resume();
        await queues.cancel(held.id);
        const icon = await page.getAttribute('link[rel="icon"]', 'href');
        assert.match(icon ?? '', /^data:image\/svg\+xml,/);
        await shot(page, 'overview');
        await close(page);
      },
    );

    test(
      'overview: a rate-limited queue shows its window used and when it frees',
      { timeout: 30_000 },
      async () => {
        const { queues } = ops;
        const page = await open('#/');
        await page.waitForSelector('[data-testid="rate-window-limited"]');
        assert.equal(await text(page, 'policy-limited'), 'rate limit 2 per 1 min 0 s (0 of 2 used)');
        const seconds = (shown: string, pattern: RegExp) => {
          const match = pattern.exec(shown);
          assert.ok(match, shown);
          return Number(match[1]);
        };
        const windowShows = (pattern: RegExp) =>
          page
            .waitForFunction(
              (source) =>
                new RegExp(source).test(
                  document.querySelector('[data-testid="rate-window-limited"]')?.textContent ?? '',
                ),
              pattern.source,
              { timeout: 10_000 },
            )
            .catch(async (e) => {
              throw new Error(`${e}: ${await text(page, 'rate-window-limited')}`);
            });

        const first = await queues.enqueue('limited.call');
        await queues.waitFor(first.id, { timeout: 10_000 });
        const oldest = /^\(1 of 2 used, oldest leaves in (\d+\.\d) s\)$/;
        await windowShows(oldest);
        const leaves = seconds((await text(page, 'rate-window-limited'))!, oldest);
        assert.ok(leaves > 50 && leaves <= 60, `the first start leaves the 60 s window in ${leaves} s`);

        // Two more: one starts and spends the window, the other waits for it.
        const more = await queues.enqueueMany([{ task: 'limited.call' }, { task: 'limited.call' }]);
        const statuses = async () => Promise.all(more.map(async (r) => (await queues.getTask(r.id))!.status));
        for (let i = 0; i < 200 && !(await statuses()).includes('completed'); i++) await sleep(20);
        const spent = /^\(2 of 2 used, spent: next start in (\d+\.\d) s\)$/;
        await windowShows(spent);
        const next = seconds((await text(page, 'rate-window-limited'))!, spent);
        assert.ok(next > 45 && next <= leaves, `the next start in ${next} s, when the first leaves`);
        assert.deepEqual(
          (await statuses()).sort(),
          ['completed', 'pending'],
          'one started, the other is held back by the spent window',
        );
        await shot(page, 'overview-rate-limit');
        for (const record of more) await queues.cancel(record.id).catch(() => undefined);
        await close(page);
      },
    );

    test(
      'records: columns, filters, search by id or key, empty state, narrow layout',
      { timeout: 60_000 },
      async () => {
        const { queues } = ops;
        const keyed = await queues.enqueue('mail.send', ['keyed@example.com'], { key: `welcome-${auth}` });
        const later = await queues.enqueue('mail.send', ['later@example.com'], { delay: 60_000 });
        await queues.waitFor(keyed.id, { timeout: 10_000 });
        const page = await open('#/records');
        await page.waitForSelector(`[data-testid="row-${keyed.id}"]`);
        const headers = await page.locator('table.records th').allTextContents();
        for (const column of ['id', 'task', 'queue', 'status', 'enqueued', 'started', 'finished', 'duration'])
          assert.ok(headers.includes(column), `column ${column} in ${headers.join(',')}`);
        assert.match(
          (await page.textContent(`[data-testid="row-${keyed.id}"]`))!,
          /\d+(\.\d)? (ms|s)/,
          'a duration',
        );
        await shot(page, 'records');

        await page.selectOption('[data-testid="filter-status"]', 'scheduled');
        await page.waitForFunction(
          () =>
            document.querySelectorAll('tr.rec').length > 0 &&
            document.querySelectorAll('tr.rec').length ===
              document.querySelectorAll('tr.rec .badge.scheduled').length,
        );
        assert.ok(await page.isVisible(`[data-testid="row-${later.id}"]`));
        await page.selectOption('[data-testid="filter-status"]', '');
        await page.fill('[data-testid="filter-queue"]', 'reports');
        // Every row of the queue (the schedule's newest occurrence may top the unfiltered list already).
        await page.waitForFunction(() => {
          const rows = [
            ...(document.querySelectorAll('tr.rec') as unknown as Array<{ textContent: string }>),
          ];
          return rows.length > 0 && rows.every((row) => row.textContent.includes('reports.tick'));
        });
        assert.equal(
          await page.locator(`[data-testid="row-${keyed.id}"]`).count(),
          0,
          'another queue is filtered out',
        );
        await page.fill('[data-testid="filter-queue"]', '');
        await page.fill('[data-testid="filter-task"]', 'mail.send');
        await page.fill('[data-testid="filter-key"]', `welcome-${auth}`);
        await onlyRows(page, [keyed.id]);
        await page.fill('[data-testid="filter-key"]', '');
        await page.fill('[data-testid="filter-task"]', '');

        await page.fill('[data-testid="search"]', later.id);
        await onlyRows(page, [later.id]);
        await page.fill('[data-testid="search"]', `welcome-${auth}`);
        await onlyRows(page, [keyed.id]);
        await page.fill('[data-testid="search"]', 'no-such-record-anywhere');
        await page.waitForSelector('[data-testid="empty"]');
        assert.match((await text(page, 'empty'))!, /No records match/);
        // Text no key can be (longer than 255) finds nothing, without an error.
        await page.fill('[data-testid="search"]', 'k'.repeat(300));
        await sleep(1_500);
        await page.waitForSelector('[data-testid="empty"]');
        await close(page);

        // Pages of 50 through listTasks' cursor: every record once, newest first.
        const bulk = await queues.enqueueMany(
          Array.from({ length: 57 }, (_, i) => ({
            task: 'bulk.item',
            options: { delay: 60_000, key: `bulk-${auth}-${i}` },
          })),
        );
        const paged = await open('#/records?queue=bulk');
        const rowIds = () =>
          paged.evaluate(() =>
            [...(document.querySelectorAll('tr.rec') as unknown as Array<{ dataset: { id: string } }>)].map(
              (r) => r.dataset.id,
            ),
          );
        await paged.waitForFunction(() => document.querySelectorAll('tr.rec').length === 50);
        const first = await rowIds();
        assert.equal(await text(paged, 'page-number'), 'page 1');
        await paged.click('[data-testid="page-next"]');
        await paged.waitForFunction(() => document.querySelectorAll('tr.rec').length === 7);
        assert.equal(await text(paged, 'page-number'), 'page 2');
        assert.ok(await paged.isDisabled('[data-testid="page-next"]'), 'no page after the last');
        const second = await rowIds();
        assert.deepEqual(
          [...first, ...second].sort(),
          bulk.map((r) => r.id).sort(),
          'the two pages hold every record exactly once',
        );
        const newest = [...bulk].sort(
          (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1),
        );
        assert.deepEqual(
          first,
          newest.slice(0, 50).map((r) => r.id),
          'newest first (creation time, then id)',
        );
        await paged.click('[data-testid="page-prev"]');
        await paged.waitForFunction(() => document.querySelectorAll('tr.rec').length === 50);
        assert.deepEqual(await rowIds(), first);
        await close(paged);
        for (const record of bulk) await queues.cancel(record.id);

        const narrow = await open(`#/records?search=${keyed.id}`, { width: 390, height: 800 });
        await narrow.waitForSelector(`[data-testid="row-${keyed.id}"]`);
        const layout = await narrow.evaluate(() => ({
          head: window.getComputedStyle(document.querySelector('table.records thead')).display,
          cell: window.getComputedStyle(document.querySelector('table.records td')).display,
        }));
        assert.deepEqual(layout, { head: 'none', cell: 'block' }, 'rows become cards on a narrow window');
        await shot(narrow, 'records-narrow');
        await close(narrow);
        await queues.cancel(later.id);
      },
    );

    test('record detail: args, result, error, logs, timeline, attempts', { timeout: 60_000 }, async () => {
      const { queues } = ops;
      const file = await queues.enqueue('files.process', [3]);
      await queues.waitFor(file.id, { timeout: 10_000 });
      const page = await open(`#/record/${file.id}`);
      await page.waitForSelector('[data-testid="detail"]');
      assert.equal(await text(page, 'detail-task'), 'files.process');
      assert.match((await text(page, 'args'))!, /3/);
      assert.match((await text(page, 'result'))!, /"steps": 3/);
      assert.match(
        (await page.textContent('[data-testid="timeline"]'))!,
        /task\.started[\s\S]*task\.completed/,
      );
      assert.match((await page.textContent('[data-testid="detail"]'))!, /attempt\s*1 of 1/);
      assert.match((await text(page, 'logs'))!, /processed every step/);
      await close(page);

      // A flow: the parent lists its children, each child links to its parent.
      const flow = await queues.flow({
        task: 'files.merge',
        children: [
          { task: 'files.process', args: [1] },
          { task: 'files.process', args: [2] },
        ],
      });
      const parentId = flow.record.id;
      const childIds = flow.children.map((c) => c.record.id);
      await queues.waitFor(parentId, { timeout: 15_000 });
      const parent = await open(`#/record/${parentId}`);
      await parent.waitForSelector('[data-testid="children"] a');
      const links = await parent
        .locator('[data-testid="children"] a')
        .evaluateAll((as) =>
          as.map((a) => (a as unknown as { getAttribute(n: string): string }).getAttribute('href')),
        );
      assert.deepEqual(links.sort(), childIds.map((id) => `#/record/${id}`).sort());
      assert.match((await text(parent, 'result'))!, /^2$/);
      await shot(parent, 'record-flow');
      await parent.click(`[data-testid="children"] a[href="#/record/${childIds[0]}"]`);
      await parent.waitForSelector('[data-testid="parent"] a');
      assert.equal(await parent.getAttribute('[data-testid="parent"] a', 'href'), `#/record/${parentId}`);
      assert.match((await text(parent, 'parent'))!, /files\.merge\s*completed/);
      await close(parent);

      const detailed = await open(`#/record/${file.id}`);
      await detailed.waitForSelector('[data-testid="logs"]');
      await shot(detailed, 'record');
      await close(detailed);

      const bounced = await queues.enqueue('mail.send', ['bounce-detail@example.com']);
      await queues.waitFor(bounced.id, { timeout: 10_000 });
      const failed = await open(`#/record/${bounced.id}`);
      await failed.waitForSelector('[data-testid="error"]');
      assert.match((await text(failed, 'error'))!, /mailbox bounce-detail@example\.com is full/);
      // The stack of the failed attempt, kept with the record: the task's own frame is in it.
      assert.match(
        (await text(failed, 'stack'))!,
        /^Error: mailbox bounce-detail@example\.com is full\n\s+at DashboardTasks\.send/,
      );
      await shot(failed, 'record-failed');
      assert.match((await failed.textContent('[data-testid="detail"]'))!, /attempt\s*2 of 2/);
      await close(failed);
    });

    test(
      'actions ask for confirmation, apply only where they may, and change the store',
      { timeout: 60_000 },
      async () => {
        const { queues } = ops;
        const later = await queues.enqueue('mail.send', ['cancel-me@example.com'], { delay: 60_000 });
        const held = await queues.enqueue('mail.hold');
        for (let i = 0; i < 200 && (await queues.getTask(held.id))!.status !== 'running'; i++)
          await sleep(20);
        const page = await open('#/records');
        await page.waitForSelector(`[data-testid="row-${later.id}"]`);

        // Keep: nothing changes.
        await confirmAction(page, `cancel-${later.id}`, /^Cancel mail\.send /, true);
        await sleep(300);
        assert.equal((await queues.getTask(later.id))!.status, 'scheduled');
        await confirmAction(page, `cancel-${later.id}`, /^Cancel mail\.send /);
        await statusShows(page, later.id, 'cancelled');
        assert.equal((await queues.getTask(later.id))!.status, 'cancelled');

        // A running record offers cancel only: no retry, no remove, no enqueue-again.
        await page.waitForSelector(`[data-testid="row-${held.id}"]`);
        assert.equal(await page.locator(`[data-testid="cancel-${held.id}"]`).count(), 1);
        for (const action of ['retry', 'remove', 'again', 'promote'])
          assert.equal(await page.locator(`[data-testid="${action}-${held.id}"]`).count(), 0, action);
        const refused = await fetch(`${url}/api/records/${held.id}/retry`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie: OPERATOR_COOKIE },
          body: '{}',
        });
        assert.equal(refused.status, 409, 'the server refuses it too');
        const post = (path: string, body = '{}') =>
          fetch(`${url}/api${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', cookie: OPERATOR_COOKIE },
            body,
          });
        assert.equal((await post(`/records/${held.id}/explode`)).status, 404, 'no such action');
        assert.equal((await post(`/records/no-such-record/cancel`)).status, 404);
        assert.equal((await post(`/queues/${'q'.repeat(101)}/pause`)).status, 400, 'a queue name too long');
        assert.equal(
          (await post('/queues/mail/clean', '{"status":"running"}')).status,
          400,
          'running is no cleanable status',
        );
        assert.equal((await post('/queues/mail/drop-table')).status, 404);

        // Retry a failed record: the same record runs again and completes.
        flakyAttempts = 0;
        const flaky = await queues.enqueue('api.flaky');
        await queues.waitFor(flaky.id, { timeout: 10_000 });
        await page.waitForSelector(`[data-testid="retry-${flaky.id}"]`);
        await confirmAction(page, `retry-${flaky.id}`, /^Retry api\.flaky /);
        await statusShows(page, flaky.id, 'completed');
        assert.equal((await queues.getTask(flaky.id))!.result, 'ok');

        // Enqueue again: a new record of the same task, shown in its detail.
        await confirmAction(page, `again-${flaky.id}`, /^Enqueue again api\.flaky /);
        await page.waitForSelector('[data-testid="detail"]');
        assert.equal(await text(page, 'detail-task'), 'api.flaky');
        await queues.cancel(held.id);
        await close(page);
      },
    );

    test(
      'remove and promote: offered only where they apply, each confirmed, and they change the store',
      { timeout: 60_000 },
      async () => {
        const { queues } = ops;
        // A pending record stays pending while its queue is paused.
        await queues.queue('parked').pause();
        const pending = await queues.enqueue('parked.item');
        const scheduled = await queues.enqueue('mail.send', ['promote-me@example.com'], { delay: 60_000 });
        const doomed = await queues.enqueue('mail.send', ['remove-me@example.com'], { delay: 60_000 });
        flakyAttempts = 0;
        const failed = await queues.enqueue('api.flaky');
        assert.equal((await queues.waitFor(failed.id, { timeout: 10_000 })).status, 'failed');
        const held = await queues.enqueue('mail.hold');
        for (let i = 0; i < 200 && (await queues.getTask(held.id))!.status !== 'running'; i++)
          await sleep(20);
        assert.equal((await queues.getTask(pending.id))!.status, 'pending');

        const page = await open('#/records');
        for (const record of [pending, scheduled, doomed, failed, held])
          await page.waitForSelector(`[data-testid="row-${record.id}"]`);
        const offered = async (id: string) => {
          const found: string[] = [];
          for (const action of ['remove', 'promote'])
            if ((await page.locator(`[data-testid="${action}-${id}"]`).count()) === 1) found.push(action);
          return found;
        };
        // remove: any record that is not running; promote: a scheduled record only.
        assert.deepEqual(await offered(pending.id), ['remove'], 'pending');
        assert.deepEqual(await offered(scheduled.id), ['remove', 'promote'], 'scheduled');
        assert.deepEqual(await offered(failed.id), ['remove'], 'failed');
        assert.deepEqual(await offered(held.id), [], 'running');

        // Promote, kept: still scheduled; confirmed: due now, so it runs at once.
        await confirmAction(page, `promote-${scheduled.id}`, /^Run now mail\.send …\w{8}\?$/, true);
        await sleep(300);
        assert.equal((await queues.getTask(scheduled.id))!.status, 'scheduled');
        await confirmAction(page, `promote-${scheduled.id}`, /^Run now mail\.send /);
        await statusShows(page, scheduled.id, 'completed');
        const promoted = (await queues.getTask(scheduled.id))!;
        assert.equal(promoted.status, 'completed');
        assert.ok(
          promoted.startedAt!.getTime() < scheduled.scheduledAt!.getTime() - 30_000,
          'it ran long before its delay',
        );
        assert.equal(
          await page.locator(`[data-testid="promote-${scheduled.id}"]`).count(),
          0,
          'done: no promote',
        );

        // Remove, kept: every record stays; confirmed: the row goes and the store has no such record.
        for (const record of [pending, doomed, failed]) {
          await confirmAction(
            page,
            `remove-${record.id}`,
            new RegExp(
              `^Remove for good ${record.taskName.replace('.', '\\.')} …\\w{8}\\? Its record and logs are deleted\\.$`,
            ),
            true,
          );
        }
        await sleep(300);
        assert.equal((await queues.getTask(pending.id))!.status, 'pending');
        assert.equal((await queues.getTask(doomed.id))!.status, 'scheduled');
        assert.equal((await queues.getTask(failed.id))!.status, 'failed');
        for (const record of [pending, doomed]) {
          await confirmAction(page, `remove-${record.id}`, /^Remove for good /);
          await page.waitForSelector(`[data-testid="row-${record.id}"]`, { state: 'detached' });
          assert.equal(await queues.getTask(record.id), null);
        }
        // From a record's own page, removing it leads back to the records.
        await page.goto(`${url}#/record/${failed.id}`);
        await page.waitForSelector('[data-testid="detail"]');
        await confirmAction(page, `remove-${failed.id}`, /^Remove for good api\.flaky /);
        await page.waitForFunction(
          () => (globalThis as unknown as { location: { hash: string } }).location.hash === '#/records',
        );
        assert.equal(await queues.getTask(failed.id), null);
        assert.equal(await page.locator(`[data-testid="row-${failed.id}"]`).count(), 0);

        // The server refuses both where they do not apply, whatever a page sends.
        const post = (path: string) =>
          fetch(`${url}/api${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', cookie: OPERATOR_COOKIE },
            body: '{}',
          });
        assert.equal((await post(`/records/${held.id}/remove`)).status, 409, 'remove a running record');
        assert.equal((await post(`/records/${failed.id}/remove`)).status, 404, 'remove a removed record');
        const other = await queues.enqueue('parked.item');
        assert.equal((await post(`/records/${other.id}/promote`)).status, 409, 'promote a pending record');
        assert.equal((await queues.getTask(held.id))!.status, 'running');
        await queues.cancel(held.id);
        await queues.cancel(other.id);
        await queues.queue('parked').resume();
        await close(page);
      },
    );

    test(
      'queue controls: pause and resume, retry failed and clean for a filter, each confirmed',
      { timeout: 60_000 },
      async () => {
        const { queues } = ops;
        const page = await open('#/');
        await page.waitForSelector('[data-testid="pause-mail"]');
        await confirmAction(page, 'pause-mail', /^Pause queue mail\?$/);
        await page.waitForFunction(
          () => document.querySelector('[data-testid="queue-state-mail"]')?.textContent === 'paused',
        );
        assert.equal(await queues.queue('mail').isPaused(), true);
        const waiting = await queues.enqueue('mail.send', ['paused@example.com']);
        await sleep(500);
        assert.equal(
          (await queues.getTask(waiting.id))!.status,
          'pending',
          'no process claims a paused queue',
        );
        await confirmAction(page, 'resume-mail', /^Resume queue mail\?$/);
        await page.waitForFunction(
          () => document.querySelector('[data-testid="queue-state-mail"]')?.textContent === 'active',
        );
        assert.equal((await queues.waitFor(waiting.id, { timeout: 10_000 })).status, 'completed');
        await close(page);

        // Retry every failed record of the queue in the filter.
        flakyAttempts = 0;
        const flaky = await queues.enqueue('api.flaky');
        assert.equal((await queues.waitFor(flaky.id, { timeout: 10_000 })).status, 'failed');
        const records = await open('#/records?queue=default&status=failed');
        await records.waitForSelector(`[data-testid="row-${flaky.id}"]`);
        await confirmAction(records, 'bulk-retry-failed', /^Retry every failed record of queue default\?$/);
        await records.waitForFunction(
          () => document.querySelector('[data-testid="toast"]')?.textContent === 'retry-failed: done (1)',
        );
        assert.equal((await queues.waitFor(flaky.id, { timeout: 10_000 })).status, 'completed');

        // Clean the cancelled records of a queue.
        const doomed = await queues.enqueue('bulk.item', [], { delay: 60_000 });
        await queues.cancel(doomed.id);
        assert.ok((await queues.getStatistics({ queue: 'bulk' })).cancelled >= 1);
        await records.goto(`${url}#/records?queue=bulk&status=cancelled`);
        await records.waitForSelector(`[data-testid="row-${doomed.id}"]`);
        await confirmAction(
          records,
          'bulk-clean',
          /^Delete the records of queue bulk with status cancelled\?$/,
        );
        await records.waitForSelector('[data-testid="empty"]');
        assert.equal((await queues.getStatistics({ queue: 'bulk' })).cancelled, 0);
        assert.equal(await queues.getTask(doomed.id), null);
        await close(records);
      },
    );

    test('an event storm costs about one API request per second per tab', { timeout: 90_000 }, async (t) => {
      const page = await open('#/records');
      await page.waitForSelector('table.records');
      await sleep(1_500);
      const requests: string[] = [];
      page.on('request', (request) => {
        const address = request.url();
        if (address.includes('/api/') && !address.includes('/api/events')) requests.push(address);
      });
      const started = Date.now();
      const storm = await ops.queues.enqueueMany(
        Array.from({ length: 400 }, () => ({ task: 'files.process', args: [2] })),
      );
      for (const record of storm) await ops.queues.waitFor(record.id, { timeout: 60_000 });
      await sleep(2_000); // the trailing reload
      const seconds = (Date.now() - started) / 1_000;
      const completed = (await ops.queues.getStatistics()).completed;
      await page.waitForFunction(
        // At least: the schedule's occurrences go on completing meanwhile.
        (n) => Number(document.querySelector('[data-testid="stat-completed"]')?.textContent) >= n,
        completed,
        { timeout: 5_000 },
      );
      // 400 records: enqueued, started, 2 progress, log and completed events each.
      t.diagnostic(`${requests.length} API requests in ${seconds.toFixed(1)} s for 2,400 events`);
      assert.ok(seconds > 1.5, `the storm lasted ${seconds} s`);
      assert.ok(
        requests.length <= Math.ceil(seconds) + 3,
        `${requests.length} requests in ${seconds.toFixed(1)} s`,
      );
      await close(page);
    });

    test(
      'schedules: definition, next fire time, last occurrence and its status',
      { timeout: 30_000 },
      async () => {
        const page = await open('#/schedules');
        await page.waitForSelector('[data-testid="schedule-scheduled:reports.tick:tick"]');
        const row = (await page.textContent('[data-testid="schedule-scheduled:reports.tick:tick"]'))!;
        assert.match(row, /reports\.tick/);
        assert.match(row, /400 ms/);
        await page.waitForFunction(() =>
          document
            .querySelector('[data-testid="last-scheduled:reports.tick:tick"]')
            ?.textContent?.includes('completed'),
        );
        assert.notEqual(await text(page, 'next-scheduled:reports.tick:tick'), '–');
        await shot(page, 'schedules');
        await close(page);
      },
    );

    test('workers: id, host, queues, running count, last heartbeat', { timeout: 30_000 }, async () => {
      const held = await ops.queues.enqueue('mail.hold');
      const page = await open('#/workers');
      await page.waitForSelector('[data-testid="worker-dashboard-e2e-worker"]');
      // The running count comes with the next heartbeat (50 ms here).
      await page.waitForFunction(
        () =>
          document
            .querySelector('[data-testid="running-dashboard-e2e-worker"]')
            ?.textContent?.startsWith('1 /') === true,
        undefined,
        { timeout: 10_000 },
      );
      const row = (await page.textContent('[data-testid="worker-dashboard-e2e-worker"]'))!;
      assert.match(row, /all/);
      assert.match(row, new RegExp(String(process.pid)));
      assert.match((await text(page, 'heartbeat-dashboard-e2e-worker'))!, /ago$/);
      await shot(page, 'workers');
      await ops.queues.cancel(held.id);
      await close(page);
    });

    test('no page logged a console error', () => {
      assert.deepEqual(problems, []);
    });
  });
}
