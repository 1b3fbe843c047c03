import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ClaimPolicy, QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { sqlBackendFactory } from '../support/sql-backends.js';

/**
 * Two apps of one process on one SQLite file (two connections), claiming controlled queues at once: a controlled
 * claim's transaction (BEGIN IMMEDIATE) must not be held across a yield to the event loop, where the other
 * connection's statements wait for the write lock synchronously (better-sqlite3) and fail with SQLITE_BUSY.
 */
describe('SQLite: two apps on one file claiming controlled queues at once', () => {
  // Two backends on one table of one file, each with a connection of its own.
  const sqlite = sqlBackendFactory('sqlite');
  after(sqlite.teardown);

  test('controlled, by-id and plain claims, completions and enqueues of both apps interleave without SQLITE_BUSY; caps hold', async () => {
    const a = await sqlite.factory();
    const b = await sqlite.peer(a);
    try {
      const policies: Record<string, ClaimPolicy> = {
        capped: { concurrency: 3 },
        grouped: { groupConcurrency: 1 },
        limited: { rateLimit: { max: 50, duration: 60_000 } },
      };
      for (const queue of Object.keys(policies))
        await a.enqueueMany(
          Array.from({ length: 60 }, (_, i) => newTaskRecord({ taskName: 't', queue, group: `g${i % 4}` })),
        );
      const plain = await b.enqueueMany(
        Array.from({ length: 40 }, () => newTaskRecord({ taskName: 't', queue: 'plain' })),
      );
      const started = new Map<string, number>();
      let peakCapped = 0;
      const run = async (backend: QueueBackend, worker: string) => {
        for (let round = 0; round < 25; round++) {
          for (const [queue, policy] of Object.entries(policies)) {
            const { claimed } = await backend.claimControlled({ queue, policy, limit: 2, workerId: worker });
            for (const record of claimed) started.set(record.id, (started.get(record.id) ?? 0) + 1);
            peakCapped = Math.max(peakCapped, (await backend.getStatistics({ queue: 'capped' })).running);
            // Complete half of what was claimed at once, the rest in a later round: slots come back.
            for (const record of claimed.slice(0, 1))
              await backend.completeTask(record.id, null, { expectedRetryCount: 0 });
          }
          const byId = plain[(round * 2 + (worker === 'a' ? 0 : 1)) % plain.length]!;
          await backend.claimTaskControlled(byId.id, { workerId: worker, policy: { concurrency: 100 } });
          await backend.enqueue(newTaskRecord({ taskName: 't', queue: 'plain' }));
          await backend.claimMany({ limit: 1, queues: ['plain'], workerId: worker });
        }
      };
      await Promise.all([run(a, 'a'), run(b, 'b'), run(a, 'a2'), run(b, 'b2')]);
      assert.ok(
        [...started.values()].every((n) => n === 1),
        'no record claimed twice',
      );
      assert.ok(peakCapped <= 3, `concurrency 3 held: peak ${peakCapped}`);
      assert.ok(started.size > 60, `claims went through: ${started.size}`);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
