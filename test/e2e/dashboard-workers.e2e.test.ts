import 'reflect-metadata';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueueBackend, QueuesDashboardModule, QueuesModule, Task } from '../../src/index.js';
import { fastWorker } from '../support/app.js';
import { uniqueSuffix } from '../support/services.js';
import { backendMatrix } from './support/backend-matrix.js';
import { launchChromium, skipWithoutChromium } from './support/chromium.js';

// Functions passed to page.waitForFunction run in the browser.
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

@Injectable()
class MailTasks {
  @Task('mail.deliver', { queue: 'mail' })
  async deliver() {}
}

/** An app of one process of the cluster: a worker (id `workerId`, claiming `queues`) on the shared store. */
async function startApp(
  store: QueueBackend,
  workerId: string,
  options: { queues?: string[]; dashboard?: boolean } = {},
): Promise<INestApplication> {
  @Module({
    imports: [
      QueuesModule.forRoot({
        queueBackend: store,
        worker: { ...fastWorker, workerId, ...(options.queues ? { queues: options.queues } : {}) },
      }),
      ...(options.dashboard ? [QueuesDashboardModule.register({ allowAnonymous: true })] : []),
    ],
    providers: [MailTasks],
  })
  class ClusterAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [ClusterAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  return app;
}

// Stores other processes share (memory has one process; the registry's own conformance covers all six backends).
for (const target of backendMatrix().filter((b) => b.name === 'postgres' || b.name === 'redis')) {
  describe(
    `dashboard workers page: every process on one ${target.name} store`,
    { skip: skipWithoutChromium() || target.skip },
    () => {
      let browser: import('playwright-core').Browser;
      before(async () => {
        browser = await launchChromium();
      });
      after(async () => {
        await browser?.close();
        await target.teardown();
      });

      test(
        'two apps show as two live workers; one that stops is gone at once',
        { timeout: 60_000 },
        async () => {
          const suffix = uniqueSuffix();
          const front = `front-${suffix}`;
          const back = `back-${suffix}`;
          const frontStore = await target.factory();
          const backStore = await target.peer(frontStore);
          const frontApp = await startApp(frontStore, front, { dashboard: true });
          let backApp: INestApplication | undefined = await startApp(backStore, back, { queues: ['mail'] });
          const page = await browser.newPage();
          const errors: string[] = [];
          page.on('console', (message) => {
            if (message.type() === 'error') errors.push(message.text());
          });
          try {
            const port = (frontApp.getHttpServer().address() as { port: number }).port;
            await page.goto(`http://127.0.0.1:${port}/queues/dashboard#/workers`);
            await page.waitForSelector(`[data-testid="worker-${front}"]`);
            await page.waitForSelector(`[data-testid="worker-${back}"]`);
            assert.match((await page.textContent(`[data-testid="worker-${back}"]`))!, /mail/);
            assert.match((await page.textContent(`[data-testid="worker-${front}"]`))!, /all/);
            assert.match(
              (await page.textContent(`[data-testid="heartbeat-${back}"]`))!,
              /^\d+(\.\d)? (ms|s) ago$/,
            );
            await backApp.close();
            backApp = undefined;
            // Gone with the next reload (the 5 s poll at the latest), long before its entry would expire.
            await page.waitForSelector(`[data-testid="worker-${back}"]`, {
              state: 'detached',
              timeout: 10_000,
            });
            assert.deepEqual(
              (await frontStore.listWorkers()).map((w) => w.id).filter((id) => id.endsWith(suffix)),
              [front],
            );
            assert.deepEqual(errors, []);
          } finally {
            await page.close();
            await backApp?.close();
            await frontApp.close();
            await backStore.close();
            await frontStore.close();
          }
        },
      );
    },
  );
}
