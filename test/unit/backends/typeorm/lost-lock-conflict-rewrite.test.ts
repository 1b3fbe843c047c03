import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { DataSource, EntityManager } from 'typeorm';
import { EnqueueRejectedError } from '../../../../src/errors/enqueue-rejected.error.js';
import { LOCK_CONFLICT_ATTEMPTS } from '../../../../src/backends/typeorm/lock-conflict-retry.js';
import type { SqlQueueStore } from '../../../../src/backends/typeorm/sql-queue.store.js';
import type { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { buildFlow } from '../../../../src/flows/flow-builder.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { sqlBackendFactory } from '../../../support/sql-backends.js';
import { skipUnless } from '../../../support/services.js';

type Transaction = <T>(work: (manager: EntityManager) => Promise<T>) => Promise<T>;

/**
 * A batch or a flow written in a transaction that loses a lock conflict to the claims and completions of workers
 * (InnoDB's "Deadlock found", seen in CI; PostgreSQL's deadlock_detected) was rolled back whole by the server: the
 * store writes it again, and what it stores is there once. The conflict is raised by the server-side transaction
 * here after its work ran, as the server raises it, so the rollback is real.
 */
const conflicts = {
  mysql: () => Object.assign(new Error('Deadlock found when trying to get lock'), { errno: 1213 }),
  postgres: () => Object.assign(new Error('deadlock detected'), { code: '40P01' }),
};

for (const dialect of ['postgres', 'mysql'] as const) {
  describe(
    `${dialect}: a write that loses a lock conflict is written again`,
    { skip: skipUnless(dialect) },
    () => {
      const { factory, teardown } = sqlBackendFactory(dialect);
      after(teardown);

      /** The backend's store and a transaction of its DataSource that loses the first `losses` runs after its work. */
      const open = async (losses: number) => {
        const backend = (await factory()) as TypeOrmQueueBackend;
        const internals = backend as unknown as { requireStore(): SqlQueueStore; dataSource: DataSource };
        let runs = 0;
        const transaction: Transaction = (work) =>
          internals.dataSource.transaction(async (manager) => {
            const result = await work(manager);
            if (++runs <= losses) throw conflicts[dialect]();
            return result;
          });
        return { backend, store: internals.requireStore(), transaction, runs: () => runs };
      };
      const batch = (queue: string) => [
        ...[0, 1, 2].map((i) => newTaskRecord({ taskName: 'rewrite.plain', args: [i], queue })),
        ...[0, 1].map((i) =>
          newTaskRecord({ taskName: 'rewrite.keyed', args: [i], queue, key: randomUUID() }),
        ),
      ];
      const stored = async (backend: TypeOrmQueueBackend, queue: string) =>
        (await backend.listTasks({ queue, limit: 100 })).records.map((record) => record.id).sort();

      test('enqueueMany: a lost run is rolled back and the batch stored once; the count of enqueued records too', async () => {
        const { backend, store, transaction, runs } = await open(2);
        try {
          const queue = `q-${randomUUID()}`;
          const records = batch(queue);
          const before = store.metrics.enqueued;
          await store.enqueueMany(records, transaction);
          assert.equal(runs(), 3, 'two lost runs, then the one that committed');
          assert.deepEqual(await stored(backend, queue), records.map((record) => record.id).sort());
          assert.equal(store.metrics.enqueued - before, records.length);
        } finally {
          await backend.close();
        }
      });

      test('enqueueFlow: a lost run is rolled back and the tree stored once', async () => {
        const { backend, store, transaction, runs } = await open(1);
        try {
          const queue = `q-${randomUUID()}`;
          const flow = buildFlow(
            {
              task: 'rewrite.parent',
              children: [0, 1, 2].map((i) => ({ task: 'rewrite.child', args: [i] })),
            },
            (task, args) => newTaskRecord({ taskName: task, args, queue }),
          );
          assert.deepEqual(await store.enqueueFlow(flow, transaction), { created: true });
          assert.equal(runs(), 2);
          assert.deepEqual(await stored(backend, queue), flow.nodes.map((node) => node.record.id).sort());
          assert.equal((await backend.listChildren(flow.nodes[0]!.record.id)).length, 3);
        } finally {
          await backend.close();
        }
      });

      test('a conflict that never ends is an EnqueueRejectedError after bounded runs, and nothing is stored', async () => {
        const { backend, store, transaction, runs } = await open(Number.MAX_SAFE_INTEGER);
        try {
          const queue = `q-${randomUUID()}`;
          const before = store.metrics.enqueued;
          await assert.rejects(store.enqueueMany(batch(queue), transaction), EnqueueRejectedError);
          assert.equal(runs(), LOCK_CONFLICT_ATTEMPTS);
          assert.deepEqual(await stored(backend, queue), []);
          assert.equal(store.metrics.enqueued, before);
        } finally {
          await backend.close();
        }
      });
    },
  );
}
