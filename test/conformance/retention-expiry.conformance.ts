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
  options: { skip?: string | false } = {},
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

      const boot = async (worker: boolean) => {
        app = await createQueuesApp([RetentionTasks], {
          queueBackend: backend,
          worker: { enabled: worker, queues: [task], cleanup: false },
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
            expiresIn: 50,
          });
          const fresh = await queues.enqueue('conf.retention.kept', ['fresh'], {
            queue: task,
            expiresAt: new Date(Date.now() + 60_000),
          });
          assert.equal(typeof expiring.metadata['expiresAt'], 'number');
          await sleep(120);
          const claimed = await backend.claimMany({ limit: 5, workerId: 'w', queues: [task] });
          assert.deepEqual(
            claimed.map((r) => r.id),
            [expiring.id, fresh.id],
          );
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

      test('an expired record with removeOnFail is deleted; waitFor in this process sees it failed', async () => {
        const { queues, runner } = await boot(false);
        const record = await queues.enqueue('conf.retention.kept', ['gone'], {
          queue: task,
          expiresIn: 30,
          removeOnFail: true,
        });
        await sleep(80);
        const [claimed] = await backend.claimMany({ limit: 1, workerId: 'w', queues: [task] });
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
