import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord, type NewRecordFields } from '../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';

/**
 * Queue control (DESIGN §13) at the backend: the stored pause state and the claim's respect of it (also under a
 * race with claimers in a second connection), and the batch deletes behind a queue handle's `drain` and `clean`.
 * Each test gets a fresh backend (own table / key prefix) from `factory`; `peer` opens a second one on the same data.
 */
export function describeQueueHandleConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false; peer?: (backend: QueueBackend) => Promise<QueueBackend> } = {},
): void {
  describe(`QueueBackend conformance (queue handle): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let queue: string;
    let other: string;
    const put = (fields: Partial<NewRecordFields> = {}) =>
      backend.enqueue(newTaskRecord({ taskName: 'conf.control', queue, ...fields }));
    const putMany = (n: number, q = queue) =>
      backend.enqueueMany(
        Array.from({ length: n }, () => newTaskRecord({ taskName: 'conf.control', queue: q })),
      );
    const claimAll = (limit = 100) => backend.claimMany({ limit, workerId: 'w' });

    beforeEach(async () => {
      backend = await factory();
      const suffix = randomUUID().slice(0, 8);
      queue = `ctl_${suffix}`;
      other = `oth_${suffix}`;
    });
    afterEach(() => backend.close());

    describe('pause state', () => {
      test('a paused queue is stored, listed, and its records are not claimed until resumed', async () => {
        assert.equal((await backend.listPausedQueues()).includes(queue), false);
        await putMany(3);
        await putMany(2, other);
        assert.equal(await backend.setQueuePaused(queue, true), true, 'the first pause changes the state');
        assert.equal(await backend.setQueuePaused(queue, true), false, 'a second pause changes nothing');
        assert.ok((await backend.listPausedQueues()).includes(queue));
        assert.deepEqual(await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' }), []);
        const claimed = await claimAll();
        assert.deepEqual(
          claimed.map((r) => r.queue),
          [other, other],
          'a claim of every queue leaves the paused one alone',
        );
        assert.equal((await backend.getStatistics({ queue })).pending, 3);
        assert.equal(await backend.setQueuePaused(queue, false), true);
        assert.equal(await backend.setQueuePaused(queue, false), false);
        assert.equal((await backend.listPausedQueues()).includes(queue), false);
        const resumed = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' });
        assert.equal(resumed.length, 3);
      });

      test('completeAndClaim does not claim records of a paused queue', async () => {
        await putMany(1, other);
        const [running] = await claimAll(1);
        await putMany(2);
        await putMany(1, other);
        await backend.setQueuePaused(queue, true);
        const outcome = await backend.completeAndClaim(
          [{ id: running!.id, result: 1, expectedRetryCount: 0 }],
          { limit: 10, workerId: 'w' },
        );
        assert.deepEqual(outcome.completed, [true]);
        assert.deepEqual(
          outcome.claimed.map((r) => r.queue),
          [other],
        );
      });

      test('claimControlled (a queue with a cap or a rate limit) gives nothing of a paused queue', async () => {
        await putMany(3);
        await backend.setQueuePaused(queue, true);
        const policies = [
          { concurrency: 5 },
          { rateLimit: { max: 10, duration: 1_000 } },
          { groupConcurrency: 2 },
        ];
        for (const policy of policies) {
          const result = await backend.claimControlled({ queue, policy, limit: 5, workerId: 'w' });
          assert.deepEqual(result.claimed, [], JSON.stringify(policy));
        }
        await backend.setQueuePaused(queue, false);
        const result = await backend.claimControlled({
          queue,
          policy: { concurrency: 5 },
          limit: 5,
          workerId: 'w',
        });
        assert.equal(result.claimed.length, 3);
      });

      test('a scheduled record that falls due while its queue is paused waits for the resume', async () => {
        await put({ scheduledAt: new Date(Date.now() + 150) });
        await backend.setQueuePaused(queue, true);
        await sleep(250);
        assert.deepEqual(await claimAll(), []);
        await backend.setQueuePaused(queue, false);
        assert.equal((await claimAll()).length, 1);
      });

      test('running records of a paused queue finish normally', async () => {
        await putMany(1);
        const [running] = await claimAll(1);
        await backend.setQueuePaused(queue, true);
        assert.equal(await backend.touchHeartbeat(running!.id, { expectedRetryCount: 0 }), true);
        const done = await backend.completeTask(running!.id, 'ok', { expectedRetryCount: 0 });
        assert.equal(done?.status, 'completed');
      });

      test('ifUnset applies only while no state is stored (the module option at boot)', async () => {
        assert.equal(await backend.setQueuePaused(queue, true, { ifUnset: true }), true);
        assert.ok((await backend.listPausedQueues()).includes(queue));
        assert.equal(await backend.setQueuePaused(queue, false, { ifUnset: true }), false);
        assert.ok((await backend.listPausedQueues()).includes(queue), 'the stored pause wins');
        await backend.setQueuePaused(queue, false);
        assert.equal(await backend.setQueuePaused(queue, true, { ifUnset: true }), false);
        assert.equal((await backend.listPausedQueues()).includes(queue), false, 'a stored resume wins too');
        assert.equal(await backend.setQueuePaused(other, false, { ifUnset: true }), false);
        assert.equal(
          await backend.setQueuePaused(other, true, { ifUnset: true }),
          false,
          'resumed is stored',
        );
      });

      test('queue names with separators and unicode-free edge characters stay apart', async () => {
        const a = `${queue}.a:b-c`;
        const b = `${queue}.a`;
        await putMany(1, a);
        await putMany(1, b);
        await backend.setQueuePaused(a, true);
        assert.deepEqual(
          (await claimAll()).map((r) => r.queue),
          [b],
        );
        assert.equal((await backend.listPausedQueues()).includes(b), false);
      });

      if (options.peer) {
        const openPeer = options.peer;
        test('another connection sees the pause at once and after a restart', async () => {
          await putMany(4);
          await backend.setQueuePaused(queue, true);
          const peer = await openPeer(backend);
          try {
            assert.ok((await peer.listPausedQueues()).includes(queue));
            assert.deepEqual(await peer.claimMany({ limit: 10, workerId: 'p' }), []);
          } finally {
            await peer.close();
          }
          const closed = backend;
          await closed.close();
          backend = await openPeer(closed);
          assert.ok((await backend.listPausedQueues()).includes(queue), 'the pause survives a reopen');
          await backend.setQueuePaused(queue, false);
          assert.equal((await backend.claimMany({ limit: 10, workerId: 'p' })).length, 4);
        });

        test('race: no claim that starts after the pause resolved takes a record of the queue', async () => {
          const peer = await openPeer(backend);
          try {
            await putMany(1000);
            let pausedAt = Number.POSITIVE_INFINITY;
            let stop = false;
            const late: QueuedTaskRecord[] = [];
            let claimsAfterPause = 0;
            const claimer = async (b: QueueBackend, id: string) => {
              while (!stop) {
                const startedAt = performance.now();
                const got = await b.claimMany({ limit: 2, workerId: id });
                if (startedAt > pausedAt) {
                  claimsAfterPause++;
                  late.push(...got.filter((r) => r.queue === queue));
                }
                await sleep(got.length === 0 ? 2 : 1);
              }
            };
            const loops = [claimer(backend, 'a'), claimer(peer, 'b'), claimer(peer, 'c')];
            while ((await backend.getStatistics({ queue })).running < 30) await sleep(2);
            await backend.setQueuePaused(queue, true);
            pausedAt = performance.now();
            // Until the claimers have made a dozen claims since (a loaded machine runs few per 100 ms), at most 10 s.
            for (const deadline = Date.now() + 10_000; claimsAfterPause < 12 && Date.now() < deadline;)
              await sleep(20);
            stop = true;
            await Promise.all(loops);
            assert.ok(claimsAfterPause > 3, `claims ran after the pause (${claimsAfterPause})`);
            assert.deepEqual(
              late.map((r) => r.id),
              [],
              'claims started after the pause took records of the paused queue',
            );
            assert.ok((await backend.getStatistics({ queue })).pending > 0, 'work was left to take');
          } finally {
            await peer.close();
          }
        });
      }
    });

    describe('deleteWaiting (drain)', () => {
      test('deletes pending and scheduled records of the queue in batches, never running or other queues', async () => {
        const pending = await putMany(3);
        await put({ scheduledAt: new Date(Date.now() + 60_000) });
        await backend.claimMany({ limit: 1, queues: [queue], workerId: 'w' });
        const keyed = await put({ key: `drain-${queue}` });
        await putMany(2, other);
        // 3 pending - 1 claimed + 1 keyed + 1 scheduled = 4 waiting
        assert.equal(await backend.deleteWaiting(queue, 3), 3);
        assert.equal(await backend.deleteWaiting(queue, 3), 1);
        assert.equal(await backend.deleteWaiting(queue, 3), 0);
        const stats = await backend.getStatistics({ queue });
        assert.equal(stats.pending + stats.scheduled, 0);
        assert.equal(stats.running, 1);
        assert.equal(stats.total, 1);
        assert.equal((await backend.getStatistics({ queue: other })).pending, 2);
        const left = await Promise.all([...pending, keyed].map((r) => backend.getTask(r.id)));
        assert.deepEqual(
          left.filter((r) => r !== null).map((r) => r!.status),
          ['running'],
        );
        assert.equal(await backend.getTaskByKey(`drain-${queue}`), null);
        const again = await put({ key: `drain-${queue}` });
        assert.notEqual(again.id, keyed.id, 'the key is free after the drain');
        assert.deepEqual(
          (await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' })).map((r) => r.id),
          [again.id],
          'drained records are in no ready set',
        );
      });

      test('a drained delayed record never comes due', async () => {
        await put({ scheduledAt: new Date(Date.now() + 100) });
        assert.equal(await backend.deleteWaiting(queue, 10), 1);
        await sleep(200);
        assert.deepEqual(await claimAll(), []);
        assert.equal((await backend.getStatistics({ queue })).total, 0);
      });
    });

    describe('deleteTerminal (clean)', () => {
      async function ended(): Promise<Record<'completed' | 'failed' | 'cancelled', QueuedTaskRecord[]>> {
        const records = await putMany(5);
        const claimed = await backend.claimMany({ limit: 4, queues: [queue], workerId: 'w' });
        const completed = [];
        for (const r of claimed.slice(0, 2)) completed.push((await backend.completeTask(r.id, 1))!);
        const failed = [];
        for (const r of claimed.slice(2)) failed.push((await backend.failTask(r.id, 'x', { retry: false }))!);
        const cancelled = [
          (await backend.cancelTask(records.find((r) => !claimed.some((c) => c.id === r.id))!.id))!,
        ];
        return { completed, failed, cancelled };
      }

      test('deletes terminal records of the given statuses that ended before the cut, in batches', async () => {
        const old = await ended();
        await sleep(30);
        const cut = new Date();
        await sleep(30);
        const recent = await ended();
        await putMany(1); // pending: never cleaned
        const [otherRecord] = await putMany(1, other);
        await backend.cancelTask(otherRecord!.id);

        assert.equal(
          await backend.deleteTerminal(queue, { statuses: ['completed'], before: cut, limit: 1 }),
          1,
        );
        assert.equal(
          await backend.deleteTerminal(queue, { statuses: ['completed'], before: cut, limit: 10 }),
          1,
        );
        assert.equal(
          await backend.deleteTerminal(queue, { statuses: ['completed'], before: cut, limit: 10 }),
          0,
        );
        for (const r of old.completed) assert.equal(await backend.getTask(r.id), null);
        for (const r of [...old.failed, ...old.cancelled, ...recent.completed])
          assert.notEqual(await backend.getTask(r.id), null);

        const far = new Date(Date.now() + 60_000);
        assert.equal(
          await backend.deleteTerminal(queue, { statuses: ['failed', 'cancelled'], before: far, limit: 100 }),
          6,
        );
        const stats = await backend.getStatistics({ queue });
        assert.deepEqual([stats.completed, stats.failed, stats.cancelled, stats.pending], [2, 0, 0, 1]);
        assert.equal(
          (await backend.getStatistics({ queue: other })).cancelled,
          1,
          'other queues are left alone',
        );
      });

      test('a cleaned keyed record no longer answers getTaskByKey', async () => {
        const keyed = await put({ key: `clean-${queue}` });
        await backend.cancelTask(keyed.id);
        assert.equal((await backend.getTaskByKey(`clean-${queue}`))?.id, keyed.id);
        const removed = await backend.deleteTerminal(queue, {
          statuses: ['cancelled'],
          before: new Date(Date.now() + 1000),
          limit: 10,
        });
        assert.equal(removed, 1);
        assert.equal(await backend.getTaskByKey(`clean-${queue}`), null);
      });
    });
  });
}
