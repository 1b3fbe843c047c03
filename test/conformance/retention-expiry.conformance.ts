import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { Task } from '../../src/decorators/task.decorator.js';
import { QueueEvents } from '../../src/events/queue-events.js';
import type { QueueEventEnvelope } from '../../src/events/queue-event.js';
import { TaskRunner } from '../../src/execution/task-runner.js';
import { newTaskRecord } from '../../src/models/new-record.js';
import { isExpired } from '../../src/expiry/record-expiry.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { runRetentionPass } from '../../src/retention/retention-pass.js';
import { QueueService } from '../../src/service/queue.service.js';
import { createQueuesApp } from '../support/app.js';

const DAY = 24 * 3600 * 1000;

/**
 * Retention (`removeOnComplete` / `removeOnFail`, the cleanup pass) and expiry (`expiresIn` / `expiresAt`) on one
 * backend. The first half drives the backend contract directly (delete on completion and final failure, filtered
 * and count-based cleanup); the second boots an app on the backend and runs records through the worker's runner,
 * as a worker of any process would. Each test gets a fresh backend (own table / key prefix) from `factory`.
 */
export function describeRetentionExpiryConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: { skip?: string | false; peer?: (backend: QueueBackend) => Promise<QueueBackend> } = {},
): void {
  describe(`QueueBackend conformance (retention, expiry): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let task: string;
    const put = async (fields: Partial<QueuedTaskRecord> = {}) =>
      backend.enqueue(newTaskRecord({ taskName: task, ...fields }));
    /** Claim exactly these records (by id), running. */
    const claimAll = async (n: number) => {
      const claimed = await backend.claimMany({ limit: n, workerId: 'w', queues: [task] });
      assert.equal(claimed.length, n);
      return claimed;
    };

    beforeEach(async () => {
      backend = await factory();
      task = `conf.ret_${randomUUID().slice(0, 8)}`;
    });
    afterEach(() => backend.close());

    test('completeTask with remove deletes the record in one fenced write and frees its key', async () => {
      const key = `k-${task}`;
      const record = await put({ key, queue: task });
      const [running] = await claimAll(1);
      assert.equal(
        await backend.completeTask(record.id, 'x', { expectedRetryCount: 5, remove: true }),
        null,
        'the fence still applies',
      );
      assert.equal((await backend.getTask(record.id))?.status, 'running');
      const done = await backend.completeTask(
        record.id,
        { ok: 1 },
        {
          expectedRetryCount: running!.retryCount,
          remove: true,
        },
      );
      assert.equal(done?.status, 'completed');
      assert.deepEqual(done?.result, { ok: 1 });
      assert.equal(await backend.getTask(record.id), null);
      assert.equal(await backend.getTaskByKey(key), null, 'a removed record no longer answers for its key');
      const stats = await backend.getStatistics({ queue: task });
      assert.equal(stats.running, 0);
      assert.equal(stats.completed, 0);
      assert.equal(stats.total, 0);
      const next = await put({ key, queue: task });
      assert.notEqual(next.id, record.id, 'the key passes to a new record');
      assert.equal(await backend.completeTask(record.id, 'again', { remove: true }), null);
      assert.deepEqual(await backend.listCompletedByTask(task), []);
    });

    test('completeAndClaim deletes the items marked remove and completes the others', async () => {
      const a = await put({ queue: task });
      const b = await put({ queue: task });
      await claimAll(2);
      const c = await put({ queue: task });
      const outcome = await backend.completeAndClaim(
        [
          { id: a.id, result: 'a', expectedRetryCount: 0, remove: true },
          { id: b.id, result: 'b', expectedRetryCount: 0 },
        ],
        { limit: 5, workerId: 'w2', queues: [task] },
      );
      assert.deepEqual(outcome.completed, [true, true]);
      assert.deepEqual(
        outcome.claimed.map((r) => r.id),
        [c.id],
      );
      assert.equal(await backend.getTask(a.id), null);
      assert.equal((await backend.getTask(b.id))?.status, 'completed');
      assert.equal((await backend.getTask(b.id))?.result, 'b');
      const stats = await backend.getStatistics({ queue: task });
      assert.deepEqual([stats.completed, stats.running, stats.total], [1, 1, 2]);
      const again = await backend.completeAndClaim(
        [{ id: a.id, result: 'a', expectedRetryCount: 0, remove: true }],
        undefined,
      );
      assert.deepEqual(again.completed, [false], 'a removed record cannot complete twice');
    });

    test('completeAndClaim fences each removed item on its own retry count', async () => {
      const records = [await put({ queue: task }), await put({ queue: task }), await put({ queue: task })];
      const [a, b, c] = records.map((record) => record.id) as [string, string, string];
      await claimAll(3);
      const outcome = await backend.completeAndClaim(
        [
          { id: b, result: 'b', expectedRetryCount: 0 },
          { id: c, result: 'c', expectedRetryCount: 4, remove: true },
          { id: a, result: 'a', expectedRetryCount: 0, remove: true },
        ],
        undefined,
      );
      assert.deepEqual(outcome.completed, [true, false, true]);
      assert.equal(await backend.getTask(a), null);
      assert.equal((await backend.getTask(b))?.status, 'completed');
      assert.equal((await backend.getTask(c))?.status, 'running', 'the stale fence keeps the record');
      const again = await backend.completeAndClaim(
        [
          { id: a, result: 'a', expectedRetryCount: 0, remove: true },
          { id: c, result: 'c', expectedRetryCount: 0, remove: true },
        ],
        undefined,
      );
      assert.deepEqual(again.completed, [false, true]);
      assert.equal(await backend.getTask(c), null);
    });

    test('failTask with remove deletes only a final failure; a retry keeps the record', async () => {
      const retried = await put({ queue: task, maxRetries: 1 });
      const final = await put({ queue: task });
      await claimAll(2);
      const requeued = await backend.failTask(retried.id, 'boom', { expectedRetryCount: 0, remove: true });
      assert.equal(requeued?.status, 'pending');
      assert.equal((await backend.getTask(retried.id))?.retryCount, 1);
      const failed = await backend.failTask(final.id, 'fatal', { expectedRetryCount: 0, remove: true });
      assert.equal(failed?.status, 'failed');
      assert.equal(failed?.error, 'fatal');
      assert.equal(await backend.getTask(final.id), null);
      const stats = await backend.getStatistics({ queue: task });
      assert.deepEqual([stats.failed, stats.pending, stats.running, stats.total], [0, 1, 0, 1]);
    });

    test('cleanupTerminal filters by status and task; removeTerminal deletes terminal records only', async () => {
      const other = `${task}_other`;
      const done = await put({ queue: task });
      const failed = await put({ queue: task });
      const cancelled = await put({ queue: task });
      const otherDone = await backend.enqueue(newTaskRecord({ taskName: other, queue: task }));
      const pending = await put({ queue: task });
      const claimed = await backend.claimMany({ limit: 4, workerId: 'w', queues: [task] });
      assert.equal(claimed.length, 4);
      await backend.completeTask(done.id, 1);
      await backend.failTask(failed.id, 'x', { retry: false });
      await backend.cancelTask(cancelled.id);
      await backend.completeTask(otherDone.id, 2);
      await sleep(5);
      const later = new Date(Date.now() + 1);
      assert.equal(await backend.cleanupTerminal(later, { statuses: ['failed'], taskName: other }), 0);
      assert.equal(await backend.cleanupTerminal(later, { statuses: ['completed'], taskName: task }), 1);
      assert.equal(await backend.getTask(done.id), null);
      assert.equal((await backend.getTask(otherDone.id))?.status, 'completed', 'another task is left alone');
      assert.equal(await backend.cleanupTerminal(later, { statuses: ['failed', 'cancelled'] }), 2);
      assert.equal(await backend.getTask(failed.id), null);
      assert.equal(await backend.getTask(cancelled.id), null);
      assert.equal(
        await backend.cleanupTerminal(new Date(Date.now() - DAY), { statuses: ['completed'] }),
        0,
        'nothing ended a day ago',
      );
      assert.equal(await backend.removeTerminal(pending.id), false, 'a pending record is not removed');
      assert.equal(await backend.removeTerminal(otherDone.id), true);
      assert.equal(await backend.removeTerminal(otherDone.id), false);
      assert.equal((await backend.getTask(pending.id))?.status, 'pending');
      const stats = await backend.getStatistics({ queue: task });
      assert.deepEqual([stats.total, stats.pending], [1, 1]);
    });

    test('trimTerminal keeps the newest records of one task in one state class', async () => {
      const records = [];
      for (let i = 0; i < 5; i++) records.push(await put({ queue: task }));
      const cancelled = await put({ queue: task });
      await backend.cancelTask(cancelled.id);
      for (const record of records) {
        const [claimed] = await backend.claimMany({ limit: 1, workerId: 'w', queues: [task] });
        assert.equal(claimed?.id, record.id);
        await backend.completeTask(record.id, record.id);
        await sleep(3); // distinct end times: the newest are the last completed
      }
      assert.equal(await backend.trimTerminal(task, ['completed'], 2, 2), 2, 'bounded by the limit');
      assert.equal(await backend.trimTerminal(task, ['completed'], 2, 100), 1);
      assert.equal(await backend.trimTerminal(task, ['completed'], 2, 100), 0);
      const kept = await backend.listCompletedByTask(task, { limit: 10 });
      assert.deepEqual(
        kept.map((r) => r.id),
        [records[4]!.id, records[3]!.id],
      );
      assert.equal((await backend.getTask(cancelled.id))?.status, 'cancelled', 'other states untouched');
      assert.equal(await backend.trimTerminal(task, ['failed', 'cancelled'], 0, 10), 1);
      assert.equal(await backend.getTask(cancelled.id), null);
    });

    test('a retention pass applies the module defaults and per-task age and count rules', async () => {
      const counted = `${task}_counted`;
      const aged = `${task}_aged`;
      const ended: Record<string, string[]> = { [task]: [], [counted]: [], [aged]: [] };
      for (const name of [task, counted, aged]) {
        for (let i = 0; i < 3; i++) {
          const record = await backend.enqueue(newTaskRecord({ taskName: name, queue: task }));
          const [claimed] = await backend.claimMany({ limit: 1, workerId: 'w', queues: [task] });
          assert.equal(claimed?.id, record.id);
          if (i === 2) await backend.failTask(record.id, 'x', { retry: false });
          else await backend.completeTask(record.id, i);
          ended[name]!.push(record.id);
          await sleep(3);
        }
      }
      await sleep(40);
      const removed = await runRetentionPass(backend, { completed: DAY, failed: DAY, batchSize: 1 }, [
        { name: counted, options: { removeOnComplete: { count: 1 } } as never },
        { name: aged, options: { removeOnFail: { age: 20 } } as never },
      ]);
      assert.equal(removed, 2, 'one completed record past the count, one failed record past the age');
      const left = async (name: string) =>
        (await Promise.all(ended[name]!.map((id) => backend.getTask(id)))).map((r) => r?.status ?? 'gone');
      assert.deepEqual(await left(task), ['completed', 'completed', 'failed'], 'defaults: a day');
      assert.deepEqual(await left(counted), ['gone', 'completed', 'failed']);
      assert.deepEqual(await left(aged), ['completed', 'completed', 'gone']);
      assert.equal(
        await runRetentionPass(backend, { completed: 10, failed: DAY, batchSize: 1 }, [], Date.now()),
        5,
        'a short default age deletes every completed record, in batches',
      );
    });

    /** A waiting record of this test's task that expires `in` ms from now (as an enqueue writes it). */
    const expiring = (inMs: number, fields: Partial<QueuedTaskRecord> = {}) =>
      put({ queue: task, ...fields, metadata: { expiresAt: Date.now() + inMs, ...fields.metadata } });
    const untilExpired = async (...records: QueuedTaskRecord[]) => {
      const latest = Math.max(...records.map((r) => r.metadata['expiresAt'] as number));
      await sleep(Math.max(0, latest - Date.now()) + 20);
    };

    test('expireWaiting ends waiting expired records once, failed with the expiry error; claims skip them', async () => {
      const key = `k-${task}`;
      // Expiries 1 s away: the steps before them must finish first, on a loaded machine too.
      const due = await expiring(1_000);
      const scheduled = await expiring(1_000, { scheduledAt: new Date(Date.now() + 300) });
      const keyed = await expiring(1_000, { key });
      const retried = await expiring(1_000, { maxRetries: 1 });
      const claimedFirst = await expiring(1_000);
      const later = await expiring(60_000);
      const never = await put({ queue: task });
      assert.equal(scheduled.status, 'scheduled');
      const early = await backend.claimMany({ limit: 2, workerId: 'w', queues: [task] });
      assert.deepEqual(
        early.map((r) => r.id).sort(),
        [due.id, keyed.id].sort(),
        'two of them claimed before they expire',
      );
      // Back to waiting before expiry (a release), and another claimed for good.
      assert.deepEqual(
        (await backend.releaseClaims(early.map((r) => ({ id: r.id, expectedRetryCount: 0 })))).sort(),
        [due.id, keyed.id].sort(),
      );
      assert.equal(
        await backend.expireWaiting(Date.now(), 10).then((ended) => ended.length),
        0,
        'none expired yet',
      );
      const running = await backend.claimMany({ limit: 7, workerId: 'w', queues: [task] });
      const kept = [retried.id, claimedFirst.id];
      assert.ok(kept.every((id) => running.some((r) => r.id === id)));
      await backend.releaseClaims(
        running.filter((r) => !kept.includes(r.id)).map((r) => ({ id: r.id, expectedRetryCount: 0 })),
      );
      await untilExpired(due, scheduled, keyed, retried, claimedFirst);
      // The retry policy requeues a record after its expiry: waiting again, so the sweep must find it again.
      assert.equal(
        (await backend.failTask(retried.id, 'boom', { expectedRetryCount: 0 }))?.status,
        'pending',
      );
      assert.deepEqual(
        (await backend.claimMany({ limit: 10, workerId: 'w2', queues: [task] })).map((r) => r.id).sort(),
        [later.id, never.id].sort(),
        'a claim never hands out an expired record',
      );
      const ended = await backend.expireWaiting(Date.now(), 10);
      assert.deepEqual(
        ended.map((r) => r.id).sort(),
        [due.id, scheduled.id, keyed.id, retried.id].sort(),
        'waiting expired records only: not the running one, not the later one',
      );
      for (const record of ended) {
        assert.equal(record.status, 'failed');
        assert.match(record.error ?? '', /^Task expired: not started by \d{4}-/);
        const stored = await backend.getTask(record.id);
        assert.equal(stored?.status, 'failed');
        assert.equal(stored?.error, record.error);
        assert.ok(stored?.completedAt, 'an end time, for retention');
        if (record.id !== retried.id) assert.equal(stored?.startedAt, null, 'never started');
      }
      assert.deepEqual(await backend.expireWaiting(Date.now(), 10), [], 'each record ends once');
      assert.equal((await backend.getTask(claimedFirst.id))?.status, 'running', 'its claimer expires it');
      const again = await put({ queue: task, key });
      assert.notEqual(again.id, keyed.id, 'the expired record freed its key');
      const stats = await backend.getStatistics({ queue: task });
      assert.equal(stats.failed, 4);
    });

    test('expireWaiting is bounded by its limit and finds records written by another connection', async () => {
      const records = [];
      for (let i = 0; i < 5; i++) records.push(await expiring(50 + i));
      const other = options.peer ? await options.peer(backend) : backend;
      try {
        await untilExpired(...records);
        const first = await other.expireWaiting(Date.now(), 2);
        assert.deepEqual(
          first.map((r) => r.id),
          [records[0]!.id, records[1]!.id],
          'the earliest expiries first',
        );
        const rest = await backend.expireWaiting(Date.now(), 10);
        assert.deepEqual(
          rest.map((r) => r.id).sort(),
          records
            .slice(2)
            .map((r) => r.id)
            .sort(),
        );
      } finally {
        if (other !== backend) await other.close();
      }
    });

    test('race: several stores claiming and sweeping at once end each expiring record exactly once', async () => {
      const stores = [backend];
      for (let i = 0; i < 2; i++) stores.push(options.peer ? await options.peer(backend) : backend);
      try {
        // Expiries spread over 0.2-0.5 s from one write; the claimers run one 40 ms body at a time, so they take some
        // records before they expire and the sweeps end the rest.
        const start = Date.now();
        const records = await backend.enqueueMany(
          Array.from({ length: 60 }, (_, i) =>
            newTaskRecord({ taskName: task, queue: task, metadata: { expiresAt: start + 200 + i * 5 } }),
          ),
        );
        const ends = new Map<string, string[]>();
        const note = (id: string, how: string) => ends.set(id, [...(ends.get(id) ?? []), how]);
        const stopAt = Date.now() + 20_000;
        await Promise.all(
          stores.map(async (store, n) => {
            // Until every record ended, and a little longer: a second end of one record would show up then.
            let settled = 0;
            while (Date.now() < stopAt && (ends.size < records.length || settled++ < 10)) {
              for (const record of await store.claimMany({ limit: 1, workerId: `w${n}`, queues: [task] })) {
                assert.ok(
                  !isExpired(record, record.startedAt!.getTime()),
                  'a claim never takes an expired record',
                );
                await sleep(40); // the body
                const done = await store.completeTask(record.id, n, { expectedRetryCount: 0 });
                if (done) note(record.id, `ran in ${n}`);
              }
              for (const record of await store.expireWaiting(Date.now(), 3))
                note(record.id, `expired in ${n}`);
              await sleep(5);
            }
          }),
        );
        for (const record of records) {
          const how = ends.get(record.id) ?? [];
          assert.equal(how.length, 1, `${record.id} ended ${how.length} times: ${how.join(', ')}`);
          const stored = await backend.getTask(record.id);
          assert.equal(stored?.status, how[0]!.startsWith('ran') ? 'completed' : 'failed');
        }
        const expired = [...ends.values()].filter((how) => how[0]!.startsWith('expired')).length;
        assert.ok(expired > 0 && expired < records.length, `both paths took part (${expired} expired)`);
      } finally {
        for (const store of stores) if (store !== backend) await store.close();
      }
    });

    test('removeAged deletes ended records once their own age for the state they ended in has passed', async () => {
      // Ages of 1 s: the ends below must all be written before the first one is due, on a loaded machine too.
      const short = { age: 1_000 };
      const done = await put({ queue: task, metadata: { removeOnComplete: short } });
      const doneLong = await put({ queue: task, metadata: { removeOnComplete: { age: 60_000 } } });
      const failedWithCompleteRule = await put({ queue: task, metadata: { removeOnComplete: short } });
      const cancelled = await put({ queue: task, metadata: { removeOnFail: short } });
      const retried = await put({ queue: task, maxRetries: 1, metadata: { removeOnFail: short } });
      const failed = await put({ queue: task, metadata: { removeOnFail: { age: 1_000, count: 5 } } });
      const waiting = await put({ queue: task, metadata: { removeOnFail: short } });
      const plain = await put({ queue: task });
      const running = await backend.claimMany({ limit: 6, workerId: 'w', queues: [task] });
      assert.equal(running.length, 6);
      await backend.completeTask(done.id, 1);
      await backend.completeAndClaim([{ id: doneLong.id, result: 2, expectedRetryCount: 0 }], undefined);
      await backend.failTask(failedWithCompleteRule.id, 'x', { retry: false });
      await backend.cancelTask(cancelled.id);
      assert.equal(
        (await backend.failTask(retried.id, 'again', { expectedRetryCount: 0 }))?.status,
        'pending',
      );
      await backend.failTask(failed.id, 'x', { retry: false });
      await backend.cancelTask(plain.id);
      const lastEnd = Date.now();
      assert.equal(await backend.removeAged(Date.now(), 10), 0, 'nothing is due yet');
      await sleep(Math.max(0, lastEnd + 1_100 - Date.now()));
      // Another connection (another process, or this one after a restart) finds the rules stored with the records.
      const other = options.peer ? await options.peer(backend) : backend;
      try {
        assert.equal(await other.removeAged(Date.now(), 2), 2, 'bounded by its limit');
        assert.equal(await other.removeAged(Date.now(), 10), 1);
        assert.equal(await other.removeAged(Date.now(), 10), 0);
      } finally {
        if (other !== backend) await other.close();
      }
      const left = async (...records: QueuedTaskRecord[]) =>
        Promise.all(records.map(async (r) => (await backend.getTask(r.id))?.status ?? 'gone'));
      assert.deepEqual(await left(done, cancelled, failed), ['gone', 'gone', 'gone']);
      assert.deepEqual(await left(doneLong, failedWithCompleteRule, retried, waiting, plain), [
        'completed',
        'failed',
        'pending',
        'pending',
        'cancelled',
      ]);
    });

    test('newestEnded reads the record of a task that ended last in one state class', async () => {
      assert.equal(await backend.newestEnded(task, ['completed']), null);
      const [a, b, c] = [await put({ queue: task }), await put({ queue: task }), await put({ queue: task })];
      await backend.claimMany({ limit: 3, workerId: 'w', queues: [task] });
      await backend.completeTask(a!.id, 'a');
      await sleep(3);
      await backend.failTask(b!.id, 'b', { retry: false });
      await sleep(3);
      await backend.completeTask(c!.id, 'c');
      await sleep(3);
      const d = await put({ queue: task });
      await backend.cancelTask(d.id);
      assert.equal((await backend.newestEnded(task, ['completed']))?.id, c!.id);
      assert.equal((await backend.newestEnded(task, ['failed', 'cancelled']))?.id, d.id);
      assert.equal(await backend.newestEnded(`${task}_none`, ['failed', 'cancelled']), null);
    });

    test("a retention pass applies the records' own rules: age per record, count of the newest ended", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const record = await put({ queue: task, metadata: { removeOnComplete: { count: 2 } } });
        await backend.claimMany({ limit: 1, workerId: 'w', queues: [task] });
        await backend.completeTask(record.id, i);
        ids.push(record.id);
        await sleep(3);
      }
      const aged = await put({ queue: task, metadata: { removeOnFail: { age: 30 } } });
      await backend.cancelTask(aged.id);
      await sleep(60);
      const removed = await runRetentionPass(backend, { completed: DAY, failed: DAY, batchSize: 1 }, [
        { name: task, options: {} as never },
      ]);
      assert.equal(removed, 3, "two past the newest record's count, one past its own age");
      const left = await Promise.all(ids.map(async (id) => (await backend.getTask(id))?.status ?? 'gone'));
      assert.deepEqual(left, ['gone', 'gone', 'completed', 'completed']);
      assert.equal(await backend.getTask(aged.id), null);
      // The newest record without a count: nothing more is cut.
      const plain = await put({ queue: task });
      await backend.claimMany({ limit: 1, workerId: 'w', queues: [task] });
      await backend.completeTask(plain.id, 'p');
      assert.equal(
        await runRetentionPass(backend, { completed: DAY, failed: DAY, batchSize: 10 }, [
          { name: task, options: {} as never },
        ]),
        0,
      );
    });

    test('retention metadata and expiry written at enqueue survive the store', async () => {
      const expiresAt = Date.now() + 60_000;
      const stored = await put({
        queue: task,
        metadata: { removeOnComplete: true, removeOnFail: true, expiresAt },
      });
      const read = await backend.getTask(stored.id);
      assert.deepEqual(read?.metadata, { removeOnComplete: true, removeOnFail: true, expiresAt });
    });

    describe('through a worker', () => {
      let app: TestingModule | undefined;
      const ran: string[] = [];

      @Injectable()
      class RetentionTasks {
        @Task('conf.retention.echo', { removeOnComplete: true })
        echo(value: string) {
          ran.push(value);
          return { echoed: value };
        }

        @Task('conf.retention.kept')
        kept(value: string) {
          ran.push(value);
          return value;
        }
      }

      const boot = async (
        worker: boolean,
        overrides: { queues?: string[]; cleanup?: { interval: number } } = {},
      ) => {
        app = await createQueuesApp([RetentionTasks], {
          queueBackend: backend,
          worker: { enabled: worker, queues: [task], cleanup: false, ...overrides },
          events: { crossProcess: false },
        });
        return {
          queues: app.get(QueueService),
          runner: app.get(TaskRunner),
          events: app.get(QueueEvents),
        };
      };
      afterEach(async () => {
        ran.length = 0;
        await app?.close();
        app = undefined;
      });

      test('removeOnComplete: the record is gone, waitFor still returns its result', async () => {
        const { queues } = await boot(true);
        const record = await queues.enqueue('conf.retention.echo', ['hi'], { queue: task });
        const done = await queues.waitFor(record.id, { timeout: 10_000, pollInterval: 50 });
        assert.equal(done.status, 'completed');
        assert.deepEqual(done.result, { echoed: 'hi' });
        assert.equal(await queues.getTask(record.id), null);
        const again = await queues.waitFor(record.id, { timeout: 1_000 });
        assert.deepEqual(again.result, { echoed: 'hi' }, 'waiting after the removal still finds the outcome');
        const kept = await queues.enqueue('conf.retention.kept', ['k'], {
          queue: task,
          removeOnComplete: true,
        });
        await queues.waitFor(kept.id, { timeout: 10_000, pollInterval: 50 });
        assert.equal(await queues.getTask(kept.id), null, 'the enqueue option removes a kept task too');
        const overridden = await queues.enqueue('conf.retention.echo', ['o'], {
          queue: task,
          removeOnComplete: false,
        });
        await queues.waitFor(overridden.id, { timeout: 10_000, pollInterval: 50 });
        assert.equal((await queues.getTask(overridden.id))?.status, 'completed', 'false keeps it');
      });

      test('an expired record never runs: failed with an error saying so, and task.expired', async () => {
        const { queues, runner, events } = await boot(false);
        const seen: QueueEventEnvelope[] = [];
        const subscription = events.events$.subscribe((event) => seen.push(event));
        try {
          const expiring = await queues.enqueue('conf.retention.kept', ['late'], {
            queue: task,
            expiresIn: 300,
          });
          const fresh = await queues.enqueue('conf.retention.kept', ['fresh'], {
            queue: task,
            expiresAt: new Date(Date.now() + 60_000),
          });
          assert.equal(typeof expiring.metadata['expiresAt'], 'number');
          // Claimed before its expiry (as a prefetch buffer holds records), started after it.
          const claimed = await backend.claimMany({ limit: 5, workerId: 'w', queues: [task] });
          assert.deepEqual(
            claimed.map((r) => r.id),
            [expiring.id, fresh.id],
          );
          await sleep(Math.max(0, (expiring.metadata['expiresAt'] as number) - Date.now()) + 20);
          const outcomes = await Promise.all(claimed.map((r) => runner.run(r, { workerId: 'w' })));
          assert.equal(outcomes[0]?.status, 'failed');
          assert.match(outcomes[0]?.error ?? '', /^Task expired: not started by \d{4}-/);
          assert.equal(outcomes[1]?.status, 'completed', 'the expired head did not block the next record');
          assert.deepEqual(ran, ['fresh']);
          const stored = await queues.getTask(expiring.id);
          assert.equal(stored?.status, 'failed');
          assert.match(stored?.error ?? '', /expired/);
          assert.equal((await queues.waitFor(expiring.id, { timeout: 1_000 })).status, 'failed');
          const expired = seen.filter((e) => e.type === 'task.expired');
          assert.deepEqual(
            expired.map((e) => e.taskId),
            [expiring.id],
          );
          assert.ok(!seen.some((e) => e.type === 'task.started' && e.taskId === expiring.id));
        } finally {
          subscription.unsubscribe();
        }
      });

      test("an enqueue's { age, count } is stored with its record and enforced by the cleanup pass", async () => {
        const { queues } = await boot(true, { cleanup: { interval: 100 } });
        const counted: string[] = [];
        for (const value of ['a', 'b', 'c']) {
          const record = await queues.enqueue('conf.retention.kept', [value], {
            queue: task,
            removeOnComplete: { count: 2 },
          });
          assert.deepEqual(record.metadata['removeOnComplete'], { count: 2 });
          // Ended in this order in the store (waitFor may learn the outcome from the event before it is written).
          await queues.waitFor(record.id, { timeout: 10_000, pollInterval: 20 });
          while ((await queues.getTask(record.id))?.status !== 'completed') await sleep(10);
          await sleep(5);
          counted.push(record.id);
        }
        // Another task (whose own rule, true, the enqueue overrides): its newest record does not cut the first one's.
        const aged = await queues.enqueue('conf.retention.echo', ['d'], {
          queue: task,
          removeOnComplete: { age: 200 },
        });
        const done = await queues.waitFor(aged.id, { timeout: 10_000, pollInterval: 20 });
        assert.equal(done.status, 'completed');
        assert.equal((await queues.getTask(aged.id))?.status, 'completed', 'kept until its age has passed');
        const statuses = async () =>
          Promise.all([...counted, aged.id].map(async (id) => (await queues.getTask(id))?.status ?? 'gone'));
        for (const by = Date.now() + 10_000; Date.now() < by; await sleep(50)) {
          if ((await statuses()).join() === 'gone,completed,completed,gone') break;
        }
        assert.deepEqual(await statuses(), ['gone', 'completed', 'completed', 'gone']);
      });

      test('the sweep ends expired records of a queue no worker consumes, with task.expired', async () => {
        const { queues, events } = await boot(true, { queues: [`${task}_other`] });
        const seen: QueueEventEnvelope[] = [];
        const subscription = events.events$.subscribe((event) => seen.push(event));
        try {
          const kept = await queues.enqueue('conf.retention.kept', ['never'], {
            queue: task,
            expiresIn: 100,
          });
          const removed = await queues.enqueue('conf.retention.kept', ['gone'], {
            queue: task,
            expiresIn: 100,
            removeOnFail: true,
          });
          const waiting = queues.waitFor(removed.id, { timeout: 15_000, pollInterval: 50 });
          const ended = await queues.waitFor(kept.id, { timeout: 15_000, pollInterval: 50 });
          assert.equal(ended.status, 'failed');
          assert.match(ended.error ?? '', /^Task expired: not started by/);
          assert.equal(ended.startedAt, null, 'never started');
          const gone = await waiting;
          assert.equal(gone.status, 'failed');
          assert.match(gone.error ?? '', /expired/);
          // Deleted right after its end is written (removeOnFail), so waitFor may have read it just before.
          for (const by = Date.now() + 5_000; Date.now() < by && (await queues.getTask(removed.id));)
            await sleep(20);
          assert.equal(await queues.getTask(removed.id), null, 'removeOnFail deleted it');
          await sleep(50);
          assert.deepEqual(
            seen
              .filter((e) => e.type === 'task.expired')
              .map((e) => e.taskId)
              .sort(),
            [kept.id, removed.id].sort(),
          );
          assert.deepEqual(ran, []);
        } finally {
          subscription.unsubscribe();
        }
      });

      test('an expired record with removeOnFail is deleted; waitFor in this process sees it failed', async () => {
        const { queues, runner } = await boot(false);
        const record = await queues.enqueue('conf.retention.kept', ['gone'], {
          queue: task,
          expiresIn: 300,
          removeOnFail: true,
        });
        const [claimed] = await backend.claimMany({ limit: 1, workerId: 'w', queues: [task] });
        await sleep(Math.max(0, (record.metadata['expiresAt'] as number) - Date.now()) + 20);
        const waiting = queues.waitFor(record.id, { timeout: 5_000, pollInterval: 50 });
        const outcome = await runner.run(claimed!, { workerId: 'w' });
        assert.equal(outcome?.status, 'failed');
        assert.equal(await queues.getTask(record.id), null);
        const seen = await waiting;
        assert.equal(seen.status, 'failed');
        assert.match(seen.error ?? '', /expired/);
        assert.deepEqual(ran, []);
      });
    });
  });
}
