import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { TestingModule } from '@nestjs/testing';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { QueueEvents } from '../../src/events/queue-events.js';
import type { QueueEventEnvelope } from '../../src/events/queue-event.js';
import { TaskRunner } from '../../src/execution/task-runner.js';
import { sweepExpired } from '../../src/expiry/expiry-sweep.js';
import { newTaskRecord, type NewRecordFields } from '../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { recordShapeProblems } from '../../src/models/record-shape.js';
import { runRetentionPass } from '../../src/retention/retention-pass.js';
import { createQueuesApp } from '../support/app.js';
import { rawRecordWriter, type RawRecordWriter } from '../support/raw-record-writer.js';
import {
  BAD_RECORD_CASES,
  badCaseSkip,
  numbersInTypedColumns,
  type BadCase,
} from './bad-records.conformance.js';
import type { ConformanceOptions } from './queue-backend.conformance.js';

const W = 'worker-bad-sweeps';
const DAY = 24 * 3600 * 1000;

/**
 * The maintenance passes over records written around the library, for every queue backend: the expiry sweep and the
 * retention pass meet a record that cannot be decoded among the records they are due to end or delete. Each pass
 * runs in batches of one, so a bad record that stopped a batch, or came back first in every batch, would stall it
 * for good; instead the good records around it end (expired, with `task.expired`) or are deleted, the pass returns,
 * the next pass has nothing left to trip over, and the bad record never runs.
 */
export function describeBadRecordSweepConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: ConformanceOptions = {},
): void {
  describe(`Bad stored records in the expiry sweep and retention: ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let raw: RawRecordWriter;
    let queue: string;
    let taskName: string;
    let app: TestingModule | undefined;
    const put = (fields: Partial<NewRecordFields> = {}) =>
      backend.enqueue(newTaskRecord({ taskName, queue, ...fields }));
    const claimAll = () => backend.claimMany({ limit: 50, queues: [queue], workerId: W });
    const skipIf = (c: BadCase) => badCaseSkip(name, c);
    const statusOf = async (record: QueuedTaskRecord) => (await backend.getTask(record.id))?.status ?? 'gone';

    beforeEach(async () => {
      backend = await factory();
      raw = rawRecordWriter(backend);
      const suffix = randomUUID().slice(0, 8);
      queue = `badsweep_${suffix}`;
      taskName = `bad.sweep_${suffix}`;
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await backend.close();
    });
    after(async () => {
      await options.teardown?.();
    });

    describe('the expiry sweep', () => {
      for (const bad of BAD_RECORD_CASES) {
        test(
          `${bad.name}, expiring first: the sweep ends every good expired record once, with task.expired`,
          skipIf(bad),
          async () => {
            // A worker's runner and events, on this backend; no worker claims.
            app = await createQueuesApp([], {
              queueBackend: backend,
              worker: { enabled: false, cleanup: false },
              events: { crossProcess: false },
            });
            const runner = app.get(TaskRunner);
            const seen: QueueEventEnvelope[] = [];
            const subscription = app.get(QueueEvents).events$.subscribe((event) => seen.push(event));
            try {
              // 1 s ahead: every write below lands before the first expiry, on a loaded machine too.
              const at = Date.now() + 1_000;
              const broken = await put({ metadata: { expiresAt: at } });
              const good: QueuedTaskRecord[] = [];
              for (let i = 1; i <= 3; i++) good.push(await put({ metadata: { expiresAt: at + i } }));
              const later = await put({ metadata: { expiresAt: at + 60_000 } });
              await raw.corrupt(broken.id, bad.columns);
              await sleep(Math.max(0, at + 3 - Date.now()) + 30);

              const sweep = () => sweepExpired(backend, runner, W, { batchSize: 1, budget: 10_000 });
              const ended = await sweep();
              assert.ok(ended >= good.length, `one sweep ended ${ended} records`);
              for (const record of good) {
                const stored = await backend.getTask(record.id);
                assert.equal(stored?.status, 'failed', `${record.id} ended`);
                assert.match(stored?.error ?? '', /^Task expired: not started by \d{4}-/);
                assert.equal(stored?.startedAt, null, 'never started');
              }
              assert.equal(await sweep(), 0, 'each record ends once: nothing is left to trip over');
              await sleep(20);
              const expired = seen.filter((e) => e.type === 'task.expired');
              for (const record of good)
                assert.equal(
                  expired.filter((e) => e.taskId === record.id).length,
                  1,
                  `one task.expired for ${record.id}`,
                );
              assert.ok(
                expired.every((e) => e.taskId === broken.id || good.some((r) => r.id === e.taskId)),
                'only the expired records are announced',
              );
              // The bad record never runs, and reads as failed, naming what could not be decoded.
              assert.deepEqual(
                (await claimAll()).map((r) => r.id),
                [later.id],
                'the record not yet expired is the only one claimed',
              );
              const read = await backend.getTask(broken.id);
              assert.equal(read?.status, 'failed');
              assert.match(read?.error ?? '', new RegExp(`^record ${broken.id}: `));
              assert.match(read?.error ?? '', bad.error);
            } finally {
              subscription.unsubscribe();
            }
          },
        );
      }

      test(
        'an expiry stored as text: claims hand out every record, the sweep ends the others; it never expires',
        { skip: numbersInTypedColumns(name) ? 'a BIGINT column cannot hold text' : false },
        async () => {
          // Memory keeps the expiry in metadata; the other stores in a field of its own, beside the metadata.
          const unreadable =
            name === 'memory' ? { metadata_json: '{"expiresAt":"soon"}' } : { expires_at: 'soon' };
          const later = Date.now() + 60_000;
          const first = await put({ priority: 5, metadata: { expiresAt: later } });
          const broken = await put({ priority: 4, metadata: { expiresAt: later } });
          const last = await put({ priority: 3, metadata: { expiresAt: later } });
          const alone = await put({ priority: 2, metadata: { expiresAt: later } });
          await raw.corrupt(broken.id, unreadable);
          await raw.corrupt(alone.id, unreadable);
          assert.deepEqual(await backend.expireWaiting(Date.now(), 10), []);
          // A Lua comparison of nil with a number failed the whole claim script: the queue's head stopped every claim.
          const claimed = await backend.claimMany({ limit: 3, queues: [queue], workerId: W });
          assert.deepEqual(
            claimed.map((r) => r.id),
            [first.id, broken.id, last.id],
          );
          assert.equal(
            (await backend.claimTask(alone.id, { workerId: W }))?.id,
            alone.id,
            'a claim by id takes it too',
          );

          const at = Date.now() + 300;
          const due = await put({ metadata: { expiresAt: at } });
          const never = await put({ metadata: { expiresAt: at } });
          await raw.corrupt(never.id, unreadable);
          await sleep(Math.max(0, at - Date.now()) + 30);
          assert.deepEqual(
            (await backend.expireWaiting(Date.now(), 10)).map((r) => r.id),
            [due.id],
            'the readable expiry ends; the unreadable one does not',
          );
          assert.deepEqual(
            (await claimAll()).map((r) => r.id),
            [never.id],
          );
        },
      );

      test('what a sweep hands to its runner is always a record of sound shape', async () => {
        const at = Date.now() + 500;
        const broken = await put({ metadata: { expiresAt: at } });
        await raw.corrupt(broken.id, { args_json: '{not json', kwargs_json: '[1]' });
        await sleep(Math.max(0, at - Date.now()) + 30);
        const ended = await backend.expireWaiting(Date.now(), 10);
        for (const record of ended) {
          assert.deepEqual(recordShapeProblems(record), [], 'a reader never meets a field of the wrong type');
          assert.equal(record.status, 'failed');
        }
        assert.deepEqual(await backend.expireWaiting(Date.now(), 10), []);
        assert.deepEqual(await claimAll(), []);
      });
    });

    describe('the retention pass', () => {
      /** A record of this test's task, ended (completed, or failed) by a claim and its write; distinct end times. */
      const ended = async (status: 'completed' | 'failed', metadata: Record<string, unknown> = {}) => {
        const record = await put({ metadata });
        const [claimed] = await claimAll();
        assert.equal(claimed?.id, record.id);
        if (status === 'completed') assert.ok(await backend.completeTask(record.id, 'ok'));
        else assert.ok(await backend.failTask(record.id, 'x', { retry: false }));
        await sleep(3);
        return record;
      };

      test(
        'a retention age stored as text: the batch completing it completes every record, the rules go on',
        { skip: numbersInTypedColumns(name) ? 'a BIGINT column cannot hold text' : false },
        async () => {
          const unreadable =
            name === 'memory'
              ? { metadata_json: '{"removeOnComplete":{"age":"soon"}}' }
              : { keep_completed_ms: 'soon' };
          const records = [];
          for (let i = 0; i < 3; i++) records.push(await put({ metadata: { removeOnComplete: { age: 1 } } }));
          assert.equal((await claimAll()).length, 3);
          await raw.corrupt(records[1]!.id, unreadable);
          // A Lua sum with nil failed the whole completion script: every completion of the batch was lost with it.
          const outcome = await backend.completeAndClaim(
            records.map((r) => ({ id: r.id, result: 'ok', expectedRetryCount: 0 })),
            undefined,
          );
          assert.deepEqual(outcome.completed, [true, true, true]);
          assert.equal((await backend.getTask(records[1]!.id))?.status, 'completed');
          await sleep(20);
          await runRetentionPass(backend, { completed: DAY, failed: DAY, batchSize: 1 }, []);
          const [first, middle, last] = await Promise.all(records.map(statusOf));
          assert.deepEqual([first, last], ['gone', 'gone'], 'the readable ages deleted their records');
          // No store reads an age there: the record stays (SQLite's sum read the text as 0 and deleted it at once).
          assert.equal(middle, 'completed');
        },
      );

      for (const bad of BAD_RECORD_CASES) {
        test(
          `${bad.name}, among ended records: count, age and default rules delete the good records around it`,
          skipIf(bad),
          async () => {
            const counted = { removeOnComplete: { count: 1 } };
            const aged = { removeOnFail: { age: 1 } };
            // By count: the newest completed record keeps itself only; the bad one ended between the others.
            const oldest = await ended('completed', counted);
            const brokenDone = await ended('completed', counted);
            const middle = await ended('completed', counted);
            const newest = await ended('completed', counted);
            // By their own age: failed records due for deletion, the bad one first.
            const brokenFailed = await ended('failed', aged);
            const failed = [await ended('failed', aged), await ended('failed', aged)];
            await raw.corrupt(brokenDone.id, bad.columns);
            await raw.corrupt(brokenFailed.id, bad.columns);
            await sleep(20);
            // What the count rule and the dashboard read: records of sound shape (the bad one as its failed view).
            const listed = await backend.listCompletedByTask(taskName, { limit: 10 });
            assert.ok(listed.length >= 3);
            for (const record of listed) assert.deepEqual(recordShapeProblems(record), [], record.id);
            const newestRead = await backend.newestEnded(taskName, ['completed']);
            assert.deepEqual(recordShapeProblems(newestRead!), []);

            const pass = (age: number) =>
              runRetentionPass(backend, { completed: age, failed: age, batchSize: 1 }, [
                { name: taskName, options: {} as never },
              ]);
            const removed = await pass(DAY);
            assert.ok(removed >= 4, `the pass removed ${removed} records`);
            assert.deepEqual(
              await Promise.all([oldest, middle, newest].map(statusOf)),
              ['gone', 'gone', 'completed'],
              'the count rule cut past the bad record',
            );
            assert.deepEqual(
              await Promise.all(failed.map(statusOf)),
              ['gone', 'gone'],
              'the age rule deleted the records after the bad one',
            );
            // The module defaults: every ended record is past an age of 1 ms, the bad ones too once they read ended.
            await pass(1);
            assert.equal(await statusOf(newest), 'gone');
            assert.equal(await pass(1), 0, 'nothing is left to trip over');
            // A record whose status cannot be read never reads as ended: it is kept, shown failed.
            for (const broken of [brokenDone, brokenFailed]) {
              const read = await backend.getTask(broken.id);
              if ('status' in bad.columns) assert.match(read?.error ?? '', bad.error);
              else assert.equal(read, null, `${broken.id} was deleted like any ended record`);
            }
            assert.deepEqual(await claimAll(), [], 'and nothing of it runs');
          },
        );
      }
    });
  });
}
