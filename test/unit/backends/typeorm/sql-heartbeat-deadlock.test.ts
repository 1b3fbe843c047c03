import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueBackend } from '../../../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { skipUnless } from '../../../support/services.js';
import { sqlBackendFactory } from '../../../support/sql-backends.js';

/** `list` in a random order. */
function shuffled<T>(list: readonly T[]): T[] {
  const copy = [...list];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** `work()`, tried again while it fails (at most 20 times). */
async function settle<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 20) throw error;
    }
  }
}

// Both servers lock a multi-row UPDATE's rows one at a time in the order its plan reads them: statements that reach
// the same running rows in different orders (a heartbeat's OR list read in heap order, a completion's id list in
// index order) deadlock, and the heartbeat is the victim about as often as not.
for (const [dialect, label] of [
  ['mysql', 'MariaDB'],
  ['postgres', 'PostgreSQL'],
] as const)
  describe(`${label} heartbeats under contention`, { skip: skipUnless(dialect) }, () => {
    const { factory, peer, teardown } = sqlBackendFactory(dialect);
    after(() => teardown());

    test('heartbeats over overlapping, shuffled sets beside other processes claiming and completing never fail', async () => {
      const first = await factory();
      const backends: QueueBackend[] = [first];
      for (let i = 0; i < 3; i++) backends.push(await peer(first));
      try {
        await first.enqueueMany(
          Array.from({ length: 3_000 }, () => newTaskRecord({ taskName: 'hb.task', queue: 'hb' })),
        );
        const failures: string[] = [];
        let touches = 0;
        const until = Date.now() + 4_000;
        // Four workers of concurrency 25: each holds what it claimed, touches it in one batched heartbeat every
        // 20 ms (in a random order, with a few of the other workers' records: overlapping sets), and completes
        // random halves of it in batches that claim as many again.
        const heldBy: QueuedTaskRecord[][] = backends.map(() => []);
        await Promise.all(
          backends.map(async (backend, n) => {
            const workerId = `w${n}`;
            let held = (heldBy[n] = await backend.claimMany({ limit: 25, queues: ['hb'], workerId }));
            const beat = (async () => {
              while (Date.now() < until) {
                const others = shuffled(heldBy.filter((_, m) => m !== n).flat()).slice(0, 8);
                try {
                  await backend.touchHeartbeats(
                    shuffled([...held, ...others]).map((r) => ({
                      id: r.id,
                      expectedRetryCount: r.retryCount,
                    })),
                  );
                  touches++;
                } catch (error) {
                  failures.push(String((error as Error).message ?? error));
                }
                await sleep(20);
              }
            })();
            while (Date.now() < until && held.length > 0) {
              const done = shuffled(held).slice(0, Math.ceil(held.length / 2));
              // A completion chosen as a deadlock's victim is not what this test is about: it tries again.
              const outcome = await settle(() =>
                backend.completeAndClaim(
                  done.map((r) => ({ id: r.id, result: null, expectedRetryCount: r.retryCount })),
                  { limit: done.length, queues: ['hb'], workerId },
                ),
              );
              held = heldBy[n] = [...held.filter((r) => !done.includes(r)), ...outcome.claimed];
            }
            await beat;
          }),
        );
        assert.equal(
          failures.length,
          0,
          `${failures.length} of ${touches + failures.length} heartbeats failed: ${[...new Set(failures)].slice(0, 3).join(' | ')}`,
        );
        assert.ok(touches > 40, `only ${touches} heartbeats ran`);
      } finally {
        for (const backend of backends) await backend.close();
      }
    });
  });
