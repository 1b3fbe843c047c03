import 'reflect-metadata';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  QueueService,
  QueuesDashboardModule,
  QueuesModule,
  Task,
  TaskCtx,
  type TaskExecutionContext,
} from '../../src/index.js';
import { fastWorker } from '../support/app.js';
import { launchChromium, skipWithoutChromium } from './support/chromium.js';

// Functions passed to page.waitForFunction run in the browser, where `document` exists.
declare const document: { querySelector(selector: string): { textContent: string | null } | null };
const skip = skipWithoutChromium();

let flakyAttempts = 0;
@Injectable()
class DashboardTasks {
  @Task('files.process')
  async process(steps: number, @TaskCtx() ctx: TaskExecutionContext) {
    for (let step = 1; step <= steps; step++) {
      await sleep(150);
      await ctx.progress(step, steps, `step ${step}`);
    }
    return { steps };
  }

  @Task('api.flaky')
  async flaky() {
    flakyAttempts++;
    if (flakyAttempts === 1) throw new Error('upstream said 503');
    return 'ok';
  }

  @Task('mail.later')
  async later() {}
}

describe('dashboard in a real browser (playwright-core + Debian Chromium)', { skip }, () => {
  let app: INestApplication;
  let url: string;
  let browser: import('playwright-core').Browser;
  const artifacts = path.resolve('test-artifacts');

  before(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        QueuesModule.forRoot({ worker: fastWorker }),
        QueuesDashboardModule.register({ allowAnonymous: true }),
      ],
      providers: [DashboardTasks],
    }).compile();
    app = moduleRef.createNestApplication({ logger: ['error'] });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}/queues/dashboard`;
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test(
    'progress reaches 100 %, a pending task is cancelled and a failed one retried from the page',
    { timeout: 60_000 },
    async () => {
      const queues = app.get(QueueService);
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      await page.goto(url);
      await page.waitForSelector('[data-testid="stat-total"]');

      const file = await queues.enqueue('files.process', [6]);
      await page.waitForSelector(`[data-testid="row-${file.id}"]`);
      await page.waitForFunction(
        (id) =>
          Number(document.querySelector(`[data-testid="pct-${id}"]`)?.textContent?.replace('%', '')) > 0,
        file.id,
      );
      await page.screenshot({ path: path.join(artifacts, 'dashboard-progress.png') });
      await page.waitForFunction(
        (id) => document.querySelector(`[data-testid="pct-${id}"]`)?.textContent === '100%',
        file.id,
        { timeout: 15_000 },
      );

      const later = await queues.enqueue('mail.later', [], { delay: 60_000 });
      await page.click(`[data-testid="cancel-${later.id}"]`);
      await page.waitForFunction(
        (id) => document.querySelector(`[data-testid="status-${id}"]`)?.textContent === 'cancelled',
        later.id,
      );
      assert.equal((await queues.getTask(later.id))!.status, 'cancelled');

      const flaky = await queues.enqueue('api.flaky');
      await queues.waitFor(flaky.id, { timeout: 5_000 });
      await page.click(`[data-testid="retry-${flaky.id}"]`);
      await page.waitForFunction(
        (id) => document.querySelector(`[data-testid="status-${id}"]`)?.textContent === 'completed',
        flaky.id,
        { timeout: 15_000 },
      );
      assert.equal((await queues.getTask(flaky.id))!.result, 'ok');

      await page.click(`[data-testid="row-${flaky.id}"]`);
      await page.waitForFunction(() =>
        document.querySelector('[data-testid="detail"]')?.textContent?.includes('task.completed'),
      );
      await page.screenshot({ path: path.join(artifacts, 'dashboard.png') });
      assert.equal(await page.textContent('[data-testid="stat-cancelled"]'), '1');
    },
  );

  test('read-only and access rules', async () => {
    assert.throws(() => QueuesDashboardModule.register({}), /authorize/);
    const denied = await fetch(`${url}/api/stats`, { method: 'GET' });
    assert.equal(denied.status, 200, 'allowAnonymous serves everyone');
    const bogus = await fetch(`${url}/api/records?status=bogus`);
    assert.equal(bogus.status, 400, 'an unknown status filter is a 400, not an empty list');
    const listed = await fetch(`${url}/api/records?status=completed&limit=2`);
    assert.equal(listed.status, 200);
    const records = (await listed.json()) as Array<{ status: string }>;
    assert.ok(records.length <= 2 && records.every((r) => r.status === 'completed'));
  });
});
