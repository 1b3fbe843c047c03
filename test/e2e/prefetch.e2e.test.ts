import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend, QueueService, QueueWorker, Task, type QueueBackendConfig } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

const runs = new Map<string, number>();
let running = 0;
let peak = 0;
let gate: Promise<void> = Promise.resolve();

@Injectable()
class PrefetchTasks {
  @Task('prefetch.quick')
  async quick(n: number) {
    runs.set(String(n), (runs.get(String(n)) ?? 0) + 1);
    running++;
    peak = Math.max(peak, running);
    await sleep(n % 3);
    running--;
  }

  @Task('prefetch.gated')
  async gated(n: number) {
    runs.set(String(n), (runs.get(String(n)) ?? 0) + 1);
    await gate;
  }
}

const backends: Array<{ name: string; config: () => QueueBackendConfig; skip: string | false }> = [
  { name: 'memory', config: () => 'memory', skip: false },
  {
    name: 'redis',
    config: () => ({ type: 'redis', url: testServices.redisUrl, keyPrefix: `prefetch_${uniqueSuffix()}` }),
    skip: skipUnless('redis'),
  },
];

/**
 * A concurrency-1 worker with `prefetch` whose tasks wait on a gate: once `claimed` records are running in the
 * backend (one started, the rest buffered), returns the app, the records and the gate's opener.
 */
async function gatedWorker(config: QueueBackendConfig, prefetch: number, count: number, claimed: number) {
  runs.clear();
  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  const app = await createQueuesApp([PrefetchTasks], {
    queueBackend: config,
    worker: { concurrency: 1, prefetch },
  });
  const queues = app.get(QueueService);
  const records = await queues.enqueueMany(
    Array.from({ length: count }, (_, n) => ({ task: 'prefetch.gated', args: [n] })),
  );
  const backend = app.get(QueueBackend);
  for (let i = 0; i < 200 && ((await backend.countRunning()) < claimed || runs.size < 1); i++)
    await sleep(10);
  assert.equal(await backend.countRunning(), claimed);
  assert.equal(runs.size, 1, 'one record runs, the others wait in the buffer');
  return { app, queues, records, open };
}

for (const backend of backends) {
  describe(`worker prefetch buffer (${backend.name})`, { skip: backend.skip }, () => {
    test('every record runs exactly once and never more than `concurrency` at a time', async () => {
      runs.clear();
      peak = 0;
      const app = await createQueuesApp([PrefetchTasks], {
        queueBackend: backend.config(),
        worker: { concurrency: 3, prefetch: 20 },
      });
      const queues = app.get(QueueService);
      const records = await queues.enqueueMany(
        Array.from({ length: 300 }, (_, n) => ({ task: 'prefetch.quick', args: [n] })),
      );
      for (const record of records)
        assert.equal((await queues.waitFor(record.id, { timeout: 20_000 })).status, 'completed');
      assert.equal(runs.size, 300);
      assert.ok(
        [...runs.values()].every((count) => count === 1),
        'a record ran twice',
      );
      assert.equal(peak, 3);
      await app.close();
    });

    test('stopping hands buffered records back: pending, no retry used, never started', async () => {
      // One runs, four wait claimed in the buffer, one stays pending.
      const { app, queues, records, open } = await gatedWorker(backend.config(), 4, 6, 5);
      const worker = app.get(QueueWorker);
      await worker.stopClaiming();
      const after = await Promise.all(records.map((r) => queues.getTask(r.id)));
      const statuses = after.map((r) => r!.status);
      assert.deepEqual(statuses.filter((s) => s === 'running').length, 1, statuses.join());
      const handedBack = after.filter((r) => r!.status === 'pending');
      assert.equal(handedBack.length, 5);
      for (const record of handedBack) {
        assert.equal(record!.retryCount, 0);
        assert.equal(record!.startedAt, null);
        assert.equal(record!.workerId, null);
        assert.equal(runs.has(String(record!.args[0])), false, 'a handed-back record had started');
      }
      open();
      await app.close();
    });

    test('a buffered record cancelled meanwhile is dropped at the next heartbeat, never run', async () => {
      const { app, queues, records, open } = await gatedWorker(backend.config(), 3, 4, 4);
      const buffered = records.find((r) => !runs.has(String(r.args[0])))!;
      assert.equal(await queues.cancel(buffered.id), true);
      await sleep(200); // several heartbeats (50 ms)
      open();
      for (const record of records) await queues.waitFor(record.id, { timeout: 10_000 });
      const final = await Promise.all(records.map((r) => queues.getTask(r.id)));
      assert.equal(
        runs.has(String(buffered.args[0])),
        false,
        `the cancelled buffered record ran: ${JSON.stringify({ cancelled: buffered.args[0], runs: [...runs], final: final.map((r) => [r!.args[0], r!.status]) })}`,
      );
      assert.equal(runs.size, 3);
      await app.close();
    });
  });
}
