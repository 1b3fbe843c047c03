import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClaimPolicy, QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord } from '../../src/models/new-record.js';

/**
 * A claim by id under the record's queue control (`claimTaskControlled`: the `run-task` CLI, a Cloud Run execution):
 * refused, with the reason and the record left as it was, while the queue is paused, at its `concurrency` or the
 * record's group at `groupConcurrency`, or the rate limit's window is spent; its starts count against the same caps
 * and window as `claimControlled`'s, and the checks hold under concurrent claims.
 */
export function describeClaimByIdControlConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false } = {},
): void {
  describe(
    `QueueBackend conformance (claim by id under queue control): ${name}`,
    { skip: options.skip },
    () => {
      let backend: QueueBackend;
      let queue: string;
      const put = async (n: number, group?: string) =>
        backend.enqueueMany(
          Array.from({ length: n }, () =>
            newTaskRecord({ taskName: 'byid.task', queue, ...(group ? { group } : {}) }),
          ),
        );
      const byId = (id: string, policy?: ClaimPolicy) =>
        backend.claimTaskControlled(id, { workerId: 'run-task', ...(policy ? { policy } : {}) });
      const controlled = (policy: ClaimPolicy, limit = 10) =>
        backend.claimControlled({ queue, policy, limit, workerId: 'w', executionBackends: ['local'] });
      /** The record is as enqueued: not started, no worker. */
      const untouched = async (id: string) => {
        const record = (await backend.getTask(id))!;
        assert.equal(record.status, 'pending');
        assert.equal(record.workerId, null);
        assert.equal(record.startedAt, null);
      };

      beforeEach(async () => {
        backend = await factory();
        queue = `byid_${randomUUID().slice(0, 8)}`;
      });
      afterEach(() => backend.close());

      test('without a policy it claims a claimable record, and says nothing for one it cannot claim', async () => {
        const [a, later] = await put(2);
        const claimed = await byId(a!.id);
        assert.equal(claimed.claimed?.id, a!.id);
        assert.equal(claimed.claimed?.status, 'running');
        assert.equal(claimed.claimed?.workerId, 'run-task');
        assert.equal(claimed.refused, undefined);
        assert.deepEqual(await byId(a!.id), { claimed: null }, 'already running');
        assert.deepEqual(await byId(randomUUID()), { claimed: null }, 'missing');
        const scheduled = await backend.enqueue(
          newTaskRecord({ taskName: 'byid.task', queue, scheduledAt: new Date(Date.now() + 60_000) }),
        );
        assert.deepEqual(await byId(scheduled.id), { claimed: null }, 'not due');
        await backend.cancelTask(later!.id);
        assert.deepEqual(await byId(later!.id), { claimed: null }, 'terminal');
      });

      test('expired records: capped claims skip them, claimTask leaves them, claimTaskControlled ends them', async () => {
        // Expiries 1 s away: enqueued first, they head the queue once past.
        const expiresAt = Date.now() + 1_000;
        const expiring = (group?: string) =>
          backend.enqueue(
            newTaskRecord({
              taskName: 'byid.task',
              queue,
              metadata: { expiresAt },
              ...(group ? { group } : {}),
            }),
          );
        const [first, grouped, byIdOne] = [await expiring(), await expiring('g'), await expiring()];
        const [fresh] = await put(1);
        const [freshGrouped] = await put(1, 'g');
        await sleep(Math.max(0, expiresAt - Date.now()) + 30);

        const capped = await controlled({ concurrency: 1, rateLimit: { max: 1, duration: 60_000 } });
        assert.deepEqual(
          capped.claimed.map((r) => r.id),
          [fresh!.id],
          'the one slot and the one start go to the record that has not expired',
        );
        const byGroup = await controlled({ groupConcurrency: 1 });
        assert.deepEqual(
          byGroup.claimed.map((r) => r.id),
          [freshGrouped!.id],
          "group g's expired head skipped",
        );

        assert.equal(await backend.claimTask(byIdOne!.id, { workerId: 'w' }), null, 'claimTask leaves it');
        await untouched(byIdOne!.id);
        const outcome = await byId(byIdOne!.id, { concurrency: 5 });
        assert.equal(outcome.claimed, null);
        assert.equal(outcome.refused, undefined);
        assert.equal(outcome.expired?.id, byIdOne!.id, 'reported expired');
        assert.equal(outcome.expired?.status, 'failed');
        assert.match(outcome.expired?.error ?? '', /^Task expired: not started by \d{4}-/);
        assert.equal(outcome.expired?.startedAt, null, 'never started');
        const stored = await backend.getTask(byIdOne!.id);
        assert.equal(stored?.status, 'failed');
        assert.equal(stored?.error, outcome.expired?.error);
        assert.deepEqual(await byId(byIdOne!.id), { claimed: null }, 'ended once');

        assert.equal(
          (await backend.getStatistics({ queue })).running,
          2,
          'no slot taken by an expired record',
        );
        const swept = await backend.expireWaiting(Date.now(), 10);
        assert.deepEqual(
          swept.map((r) => r.id).sort(),
          [first!.id, grouped!.id].sort(),
          'the skipped ones wait for the sweep',
        );
      });

      test('a paused queue refuses, with or without a policy, and leaves the record; resumed, it claims', async () => {
        const [a] = await put(1);
        await backend.setQueuePaused(queue, true);
        assert.deepEqual(await byId(a!.id), { claimed: null, refused: 'paused' });
        assert.deepEqual(await byId(a!.id, { concurrency: 5 }), { claimed: null, refused: 'paused' });
        await untouched(a!.id);
        await backend.setQueuePaused(queue, false);
        assert.equal((await byId(a!.id, { concurrency: 5 })).claimed?.id, a!.id);
      });

      test('concurrency: refused at the cap (counting records claimed either way); a completion frees it', async () => {
        const records = await put(4);
        const [first] = (await controlled({ concurrency: 2 }, 1)).claimed;
        assert.ok(first);
        const second = await byId(records[1]!.id, { concurrency: 2 });
        assert.equal(second.claimed?.id, records[1]!.id);
        assert.deepEqual(await byId(records[2]!.id, { concurrency: 2 }), {
          claimed: null,
          refused: 'concurrency',
        });
        await untouched(records[2]!.id);
        assert.equal((await controlled({ concurrency: 2 })).claimed.length, 0, 'the by-id start counts');
        await backend.completeTask(second.claimed!.id, null, { expectedRetryCount: 0 });
        assert.equal((await byId(records[2]!.id, { concurrency: 2 })).claimed?.id, records[2]!.id);
      });

      test('groupConcurrency: refused while the group is at its cap; other groups and ungrouped records start', async () => {
        const a = await put(3, 'a');
        const policy = { groupConcurrency: 2 };
        const first = (await controlled(policy)).claimed;
        assert.deepEqual(
          first.map((r) => r.group),
          ['a', 'a'],
        );
        const waiting = a.find((r) => !first.some((f) => f.id === r.id))!;
        assert.deepEqual(await byId(waiting.id, policy), { claimed: null, refused: 'groupConcurrency' });
        await untouched(waiting.id);
        const [b] = await put(1, 'b');
        const [none] = await put(1);
        assert.ok((await byId(b!.id, policy)).claimed, 'group b has room');
        assert.ok((await byId(none!.id, policy)).claimed, 'a record without a group is not group-capped');
        await put(1, 'b');
        assert.deepEqual(
          (await controlled({ groupConcurrency: 1 })).claimed,
          [],
          'the by-id start counts in its group for claimControlled too',
        );
        await backend.completeTask(first[0]!.id, null, { expectedRetryCount: 0 });
        assert.equal((await byId(waiting.id, policy)).claimed?.id, waiting.id, 'a completion freed a slot');
      });

      test('rateLimit: by-id starts spend the window, a spent window refuses with when it frees', async () => {
        const records = await put(4);
        const rate = { rateLimit: { max: 2, duration: 60_000 } };
        const before = Date.now();
        assert.ok((await byId(records[0]!.id, rate)).claimed);
        assert.equal((await controlled(rate, 1)).claimed.length, 1, 'the window shared with claimControlled');
        const refused = await byId(records[2]!.id, rate);
        assert.equal(refused.claimed, null);
        assert.equal(refused.refused, 'rateLimit');
        assert.ok(
          refused.retryAt !== undefined &&
            refused.retryAt >= before + 59_000 &&
            refused.retryAt <= Date.now() + 61_000,
          `retryAt ${refused.retryAt! - before} ms after the first start`,
        );
        assert.ok((await controlled(rate)).rateLimitedUntil! > Date.now() + 50_000);
      });

      test('race: concurrent claims by id and batch claims never exceed the cap', async () => {
        const records = await put(30);
        const policy = { concurrency: 3 };
        const [single, batches] = await Promise.all([
          Promise.all(records.slice(0, 24).map((r) => byId(r.id, policy))),
          Promise.all([controlled(policy, 3), controlled(policy, 3)]),
        ]);
        const batchIds = new Set(batches.flatMap((b) => b.claimed.map((r) => r.id)));
        const started = single.filter((o) => o.claimed).length + batchIds.size;
        assert.equal(started, 3, 'exactly the cap started');
        assert.equal((await backend.getStatistics({ queue })).running, 3);
        single.forEach((outcome, i) =>
          assert.ok(
            outcome.claimed || outcome.refused === 'concurrency' || batchIds.has(records[i]!.id),
            `claim ${i}: ${JSON.stringify(outcome)}`,
          ),
        );
      });
    },
  );
}
