import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';

/**
 * `ClaimManyOptions.excludeQueues` (a worker with per-queue caps and no queue list claims its uncapped share this
 * way): a claim, alone or with completions, never returns a record of an excluded queue, and takes the rest.
 * Each test gets a fresh backend (own table / key prefix) from `factory`.
 */
export function describeClaimExcludeConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false } = {},
): void {
  describe(`QueueBackend conformance (excludeQueues): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let capped: string;
    let free: string;
    const put = (queue: string, n: number) =>
      backend.enqueueMany(
        Array.from({ length: n }, () => newTaskRecord({ taskName: 'conf.exclude', queue })),
      );

    beforeEach(async () => {
      backend = await factory();
      const suffix = randomUUID().slice(0, 8);
      capped = `capped_${suffix}`;
      free = `free_${suffix}`;
    });
    afterEach(() => backend.close());

    test('claimMany leaves excluded queues alone, with or without a queue list', async () => {
      await put(capped, 3);
      const others = await put(free, 3);
      const claimed = await backend.claimMany({ limit: 10, excludeQueues: [capped], workerId: 'w' });
      assert.deepEqual(claimed.map((r) => r.queue).sort(), [free, free, free]);
      assert.deepEqual(claimed.map((r) => r.id).sort(), others.map((r) => r.id).sort());
      await put(free, 1);
      const both = await backend.claimMany({
        limit: 10,
        queues: [capped, free],
        excludeQueues: [capped],
        workerId: 'w',
      });
      assert.deepEqual(
        both.map((r) => r.queue),
        [free],
      );
      const none = await backend.claimMany({
        limit: 10,
        queues: [capped],
        excludeQueues: [capped],
        workerId: 'w',
      });
      assert.deepEqual(none, []);
      const rest = await backend.claimMany({ limit: 10, queues: [capped], workerId: 'w' });
      assert.equal(rest.length, 3, 'the excluded records stayed claimable');
    });

    test('completeAndClaim honours excludeQueues in its claim', async () => {
      await put(free, 1);
      const [first] = await backend.claimMany({ limit: 1, queues: [free], workerId: 'w' });
      await put(capped, 2);
      await put(free, 1);
      const outcome = await backend.completeAndClaim(
        [{ id: first!.id, result: null, expectedRetryCount: 0 }],
        {
          limit: 5,
          excludeQueues: [capped],
          workerId: 'w',
        },
      );
      assert.deepEqual(outcome.completed, [true]);
      assert.deepEqual(
        outcome.claimed.map((r) => r.queue),
        [free],
      );
    });
  });
}
