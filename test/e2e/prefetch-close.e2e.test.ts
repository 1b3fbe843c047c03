import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import { getQueueBackend } from '../../src/backends/queue-backend.registry.js';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { QueueService, Task } from '../../src/index.js';
import { chaosBackends, dropChaosStorage } from '../chaos/support/backends.js';
import { createQueuesApp } from '../support/app.js';

const CONCURRENCY = 4;
const PREFETCH = 100;
const RECORDS = 300;
/** How long a row of the buffer stays locked once the app starts closing: longer than one hand-back's own wait. */
const LOCK_MS = 2_500;

let gate: Promise<void> = Promise.resolve();
const started = new Set<number>();
/** How many times each record's body started, across apps. */
const runs = new Map<number, number>();

@Injectable()
class ClosingTasks {
  @Task('close.gated')
  async gated(n: number) {
    started.add(n);
    runs.set(n, (runs.get(n) ?? 0) + 1);
    await gate;
  }

  @Task('close.quick')
  async quick() {
    await sleep(1);
  }
}

/** Waits up to 20 s for `check`. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * On a SQL server, a session that locks the row of `id` until `release()`: a hand-back that reaches it waits, as on
 * a loaded server. Elsewhere nothing to lock (the hand-back is then only as slow as the backend).
 */
async function lockRow(config: Record<string, unknown>, id: string): Promise<() => Promise<void>> {
  const options = config['options'] as { type: string; url?: string } | undefined;
  if (options?.type !== 'postgres' && options?.type !== 'mysql') return async () => undefined;
  const dataSource = new DataSource({ type: options.type, url: options.url } as never);
  await dataSource.initialize();
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  const table =
    options.type === 'postgres' ? `"${String(config['tableName'])}"` : `\`${String(config['tableName'])}\``;
  const placeholder = options.type === 'postgres' ? '$1' : '?';
  await runner.query(`SELECT id FROM ${table} WHERE id = ${placeholder} FOR UPDATE`, [id]);
  return async () => {
    await runner.commitTransaction();
    await runner.release();
    await dataSource.destroy();
  };
}

// The worker hands its prefetch buffer back when claiming stops, and the backend closes once the worker drained. A
// hand-back slower than its own wait (1 s: 450 records on a loaded MariaDB) went on while shutdown went ahead, was cut
// off by the close ("Pool is closed") and left its records claimed until stale recovery.
for (const target of chaosBackends()) {
  describe(`closing an app with a prefetch buffer (${target.name})`, { skip: target.skip }, () => {
    test(
      'every record not completed is pending again as soon as close() returns',
      { timeout: 90_000 },
      async () => {
        const config = target.config();
        started.clear();
        let open!: () => void;
        gate = new Promise((resolve) => (open = resolve));
        const app = await createQueuesApp([ClosingTasks], {
          queueBackend: config as never,
          // Stale recovery far off: only the hand-back can make a record pending again here.
          worker: {
            concurrency: CONCURRENCY,
            prefetch: PREFETCH,
            staleAfter: 600_000,
            staleCheckInterval: 600_000,
            shutdownTimeout: 10_000,
          },
        });
        const observer: QueueBackend = await getQueueBackend(config as never);
        await observer.open();
        let unlock: () => Promise<void> = async () => undefined;
        try {
          const queues = app.get(QueueService);
          const records = await queues.enqueueMany(
            Array.from({ length: RECORDS }, (_, n) => ({ task: 'close.gated', args: [n] })),
          );
          await until(
            async () =>
              (await observer.countRunning()) === CONCURRENCY + PREFETCH && started.size === CONCURRENCY,
            'a full buffer',
          );
          const buffered = (await observer.listRecords({ status: 'running', limit: RECORDS })).find(
            (record) => !started.has(record.args[0] as number),
          );
          assert.ok(buffered, 'a buffered record');
          unlock = await lockRow(config, buffered.id);
          const closing = app.close();
          open();
          await sleep(LOCK_MS);
          await unlock();
          unlock = async () => undefined;
          await closing;
          const stats = await observer.getStatistics();
          assert.equal(stats.running, 0, `records left claimed after close: ${JSON.stringify(stats)}`);
          assert.equal(stats.pending + stats.completed, RECORDS, JSON.stringify(stats));
          assert.equal(records.length, RECORDS);
        } finally {
          open();
          await unlock();
          await observer.close();
          await dropChaosStorage(config);
        }
      },
    );
  });
}

// The memory backend keeps its records in the process, so "another worker" is a second app on the same backend
// instance (an instance passed in is never closed by an app). The hand-back is the only way back to pending here too.
describe('closing an app with a prefetch buffer (memory, one backend shared by two apps)', () => {
  test(
    'the buffer is handed back at close, never started, and the next app runs every record exactly once',
    { timeout: 60_000 },
    async () => {
      const backend = new InMemoryQueueBackend();
      await backend.open();
      started.clear();
      runs.clear();
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      const worker = {
        concurrency: CONCURRENCY,
        prefetch: PREFETCH,
        staleAfter: 600_000,
        staleCheckInterval: 600_000,
        shutdownTimeout: 10_000,
      };
      const first = await createQueuesApp([ClosingTasks], { queueBackend: backend, worker });
      let second: Awaited<ReturnType<typeof createQueuesApp>> | undefined;
      try {
        const records = await first
          .get(QueueService)
          .enqueueMany(Array.from({ length: RECORDS }, (_, n) => ({ task: 'close.gated', args: [n] })));
        await until(
          async () =>
            (await backend.countRunning()) === CONCURRENCY + PREFETCH && started.size === CONCURRENCY,
          'a full buffer',
        );
        const buffered = (await backend.listRecords({ status: 'running', limit: RECORDS })).filter(
          (record) => !started.has(record.args[0] as number),
        );
        assert.equal(buffered.length, PREFETCH, 'claimed, not started: the buffer');
        // The gate opens once the closing worker has handed its buffer back (only the started records still run), so
        // no buffered record can start in a slot freed meanwhile: what runs in the drain is exactly what had started.
        const closing = first.close();
        await until(async () => (await backend.countRunning()) === CONCURRENCY, 'the buffer handed back');
        open();
        await closing;
        const stats = await backend.getStatistics();
        assert.equal(stats.running, 0, `records left claimed after close: ${JSON.stringify(stats)}`);
        assert.equal(stats.completed, CONCURRENCY, 'the started records finished in the drain');
        assert.equal(stats.pending, RECORDS - CONCURRENCY, JSON.stringify(stats));
        for (const record of buffered) {
          const back = await backend.getTask(record.id);
          assert.equal(back?.status, 'pending', `${record.id} handed back`);
          assert.equal(back?.retryCount, 0, 'no retry used');
          assert.equal(back?.startedAt, null);
          assert.equal(back?.workerId, null);
          assert.equal(runs.has(record.args[0] as number), false, 'a handed-back record had started');
        }

        second = await createQueuesApp([ClosingTasks], { queueBackend: backend, worker });
        const queues = second.get(QueueService);
        for (const record of records)
          assert.equal((await queues.waitFor(record.id, { timeout: 20_000 })).status, 'completed');
        assert.equal(runs.size, RECORDS);
        assert.deepEqual(
          [...runs].filter(([, count]) => count !== 1),
          [],
          'every record ran exactly once',
        );
      } finally {
        open();
        await first.close().catch(() => undefined);
        await second?.close();
        await backend.close();
      }
    },
  );
});
