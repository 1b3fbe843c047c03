import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord, type NewRecordFields } from '../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import type { TaskListQuery, ListPosition } from '../../src/management/task-list.js';
import { storableLogLine, TASK_LOG_LIMITS } from '../../src/management/task-log.js';

/** Options of the management suite. */
export interface ManagementConformanceOptions {
  skip?: string | false;
  /** A second backend on the same data (another process), for the races. Absent for memory. */
  peer?: (backend: QueueBackend) => Promise<QueueBackend>;
}

/**
 * The management contract (DESIGN §13, issue 22): `listTasks` (keyset pages newest first by creation time then id,
 * every filter, a cursor that visits every record once while others enqueue, remove and change state),
 * `removeTask`, `promoteTask`, `rescheduleTask` (and a removal racing claims), and persisted logs
 * (`appendTaskLogs`/`getTaskLogs`: order, attempts, the cap, deleted with the record). Each test gets a fresh backend.
 */
export function describeManagementConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: ManagementConformanceOptions = {},
): void {
  describe(`QueueBackend conformance (management): ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let queue: string;
    const rec = (fields: Partial<NewRecordFields> = {}, now?: Date): QueuedTaskRecord =>
      newTaskRecord({ taskName: 'conf.manage', queue, ...fields }, now);

    /** Every record of a query, page by page; `between` runs after each page (concurrent changes). */
    const readAll = async (
      query: Omit<TaskListQuery, 'after'>,
      between?: (page: number) => Promise<void>,
    ): Promise<QueuedTaskRecord[]> => {
      const seen: QueuedTaskRecord[] = [];
      let after: ListPosition | undefined;
      for (let page = 0; page < 1_000; page++) {
        const result = await backend.listTasks({ ...query, ...(after ? { after } : {}) });
        assert.ok(result.records.length <= query.limit, 'a page never holds more than limit');
        seen.push(...result.records);
        if (!result.next) return seen;
        after = result.next;
        await between?.(page);
      }
      assert.fail('paging did not end');
    };

    const newestFirst = (records: QueuedTaskRecord[]) =>
      [...records].sort(
        (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
      );

    beforeEach(async () => {
      backend = await factory();
      queue = `mq_${randomUUID().slice(0, 8)}`;
    });
    afterEach(async () => {
      await backend.close();
    });

    describe('listTasks', () => {
      test('pages newest first by creation time then id, each record once, ending with next null', async () => {
        const base = Date.now() - 60_000;
        // Three records per millisecond: the id breaks the tie.
        const records = Array.from({ length: 23 }, (_, i) => rec({}, new Date(base + Math.floor(i / 3))));
        await backend.enqueueMany(records);
        const seen = await readAll({ queue, limit: 5 });
        assert.deepEqual(
          seen.map((r) => r.id),
          newestFirst(records).map((r) => r.id),
        );
        const single = await backend.listTasks({ queue, limit: 23 });
        assert.equal(single.records.length, 23);
        assert.equal(single.next, null, 'a page that took the last record says so');
        const empty = await backend.listTasks({ queue: `${queue}_none`, limit: 10 });
        assert.deepEqual(empty, { records: [], next: null });
      });

      test('every filter alone and together', async () => {
        const other = `${queue}_b`;
        const at = Date.now() - 30_000;
        const made = await backend.enqueueMany([
          rec({ taskName: 'conf.a', key: `k1_${queue}` }, new Date(at)),
          { ...rec({ taskName: 'conf.b' }, new Date(at + 1)), group: `g1_${queue}` },
          { ...rec({ taskName: 'conf.a', queue: other }, new Date(at + 2)), group: `g1_${queue}` },
          rec({ taskName: 'conf.b', queue: other, key: `k2_${queue}` }, new Date(at + 3)),
          rec({ taskName: 'conf.a', scheduledAt: new Date(Date.now() + 60_000) }, new Date(at + 4)),
        ]);
        const [a1, b1, a2, b2, later] = made as [
          QueuedTaskRecord,
          QueuedTaskRecord,
          QueuedTaskRecord,
          QueuedTaskRecord,
          QueuedTaskRecord,
        ];
        const claimed = await backend.claimTask(b1.id, { workerId: 'w' });
        assert.ok(claimed);
        await backend.completeTask(b1.id, 'ok');
        const ids = async (query: Omit<TaskListQuery, 'limit' | 'after'>) =>
          (await readAll({ limit: 2, ...query })).map((r) => r.id);
        assert.deepEqual(await ids({ queue }), [later.id, b1.id, a1.id]);
        assert.deepEqual(await ids({ queue: other }), [b2.id, a2.id]);
        assert.deepEqual(await ids({ queue, taskName: 'conf.a' }), [later.id, a1.id]);
        assert.deepEqual(await ids({ taskName: 'conf.b', queue: other }), [b2.id]);
        assert.deepEqual(await ids({ queue, status: 'completed' }), [b1.id]);
        assert.deepEqual(await ids({ queue, status: 'scheduled' }), [later.id]);
        assert.deepEqual(await ids({ queue, status: 'pending' }), [a1.id]);
        assert.deepEqual(await ids({ key: `k1_${queue}` }), [a1.id]);
        assert.deepEqual(await ids({ key: `k2_${queue}`, queue: other, status: 'pending' }), [b2.id]);
        assert.deepEqual(await ids({ key: `k2_${queue}`, queue }), []);
        assert.deepEqual(await ids({ queue, status: 'running' }), []);
        assert.deepEqual(await ids({ group: `g1_${queue}` }), [a2.id, b1.id]);
        assert.deepEqual(await ids({ group: `g1_${queue}`, status: 'completed' }), [b1.id]);
        assert.deepEqual(await ids({ group: `g1_${queue}`, queue: other, taskName: 'conf.a' }), [a2.id]);
        assert.deepEqual(await ids({ group: `g2_${queue}` }), []);
        const statuses = (await readAll({ queue, limit: 10 })).map((r) => r.status);
        assert.deepEqual(statuses, ['scheduled', 'completed', 'pending']);
      });

      test('the cursor visits every record once while others enqueue, change state and are removed', async () => {
        const base = Date.now() - 120_000;
        const first = Array.from({ length: 40 }, (_, i) => rec({}, new Date(base + Math.floor(i / 4))));
        await backend.enqueueMany(first);
        const removedLater = new Set<string>();
        const seen = await readAll({ queue, limit: 6 }, async (page) => {
          // Newer records while paging: behind the cursor, so never part of this walk.
          await backend.enqueueMany([rec(), rec()]);
          // A record not reached yet changes state; one is removed.
          const [next] = await backend.claimMany({ limit: 1, queues: [queue], workerId: 'w' });
          if (next) await backend.completeTask(next.id, null);
          const unseen = newestFirst(first).at(-1 - page);
          if (unseen && page % 3 === 0 && (await backend.removeTask(unseen.id))) removedLater.add(unseen.id);
        });
        const ids = seen.map((r) => r.id);
        assert.equal(new Set(ids).size, ids.length, 'no record twice');
        assert.deepEqual(
          ids,
          newestFirst(first)
            .map((r) => r.id)
            .filter((id) => !removedLater.has(id)),
        );
        assert.ok(removedLater.size > 0, 'the walk met removals');
      });

      test('status running pages through the claimed records newest first', async () => {
        const base = Date.now() - 20_000;
        const made = await backend.enqueueMany(
          Array.from({ length: 7 }, (_, i) =>
            rec({ taskName: i % 2 ? 'conf.odd' : 'conf.even' }, new Date(base + i)),
          ),
        );
        const claimed = await backend.claimMany({ limit: 5, queues: [queue], workerId: 'w' });
        assert.equal(claimed.length, 5);
        const expected = newestFirst(claimed).map((r) => r.id);
        assert.deepEqual(
          (await readAll({ queue, status: 'running', limit: 2 })).map((r) => r.id),
          expected,
        );
        assert.deepEqual(
          (await readAll({ status: 'running', taskName: 'conf.odd', queue, limit: 1 })).map((r) => r.id),
          newestFirst(claimed.filter((r) => r.taskName === 'conf.odd')).map((r) => r.id),
        );
        await backend.completeTask(expected[0]!, null);
        assert.deepEqual(
          (await readAll({ queue, status: 'running', limit: 10 })).map((r) => r.id),
          expected.slice(1),
        );
        assert.equal(made.length, 7);
      });

      test('ids that are not UUIDs are listed and claimed like any other', async () => {
        // The library makes UUIDv7 ids; a record written through the backend may carry any id. Redis packs ids into
        // its index members and read a 10-byte tail as a UUIDv7's: an id of 9 bytes starting with a byte below 3 was
        // packed to 10 bytes and vanished from listings and claims.
        const ids = [
          '\u0001abcdefgh',
          '\u0002abcdefgh',
          '\u0001abcdefghi',
          'abcdefghi',
          'abcdefghij',
          '\u0001',
        ];
        const base = Date.now() - 10_000;
        for (const [i, id] of ids.entries()) await backend.enqueue({ ...rec({}, new Date(base + i)), id });
        const listed = (await readAll({ queue, limit: 4 })).map((r) => r.id);
        assert.deepEqual(listed, [...ids].reverse(), 'newest first');
        const claimed = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' });
        assert.deepEqual(
          claimed.map((r) => r.id),
          ids,
          'claimed in the order they were enqueued',
        );
      });

      test('a page after a position left by a removed record continues where it was', async () => {
        const base = Date.now() - 10_000;
        const made = await backend.enqueueMany(
          Array.from({ length: 6 }, (_, i) => rec({}, new Date(base + i))),
        );
        const page = await backend.listTasks({ queue, limit: 3 });
        assert.deepEqual(
          page.records.map((r) => r.id),
          [made[5]!.id, made[4]!.id, made[3]!.id],
        );
        assert.ok(await backend.removeTask(made[3]!.id));
        const rest = await backend.listTasks({ queue, limit: 10, after: page.next! });
        assert.deepEqual(
          rest.records.map((r) => r.id),
          [made[2]!.id, made[1]!.id, made[0]!.id],
        );
        assert.equal(rest.next, null);
      });
    });

    describe('remove, promote, reschedule', () => {
      test('remove deletes a pending, scheduled or terminal record everywhere, never a running one', async () => {
        const key = `rk_${queue}`;
        const pending = await backend.enqueue(rec({ key }));
        const scheduled = await backend.enqueue(rec({ scheduledAt: new Date(Date.now() + 200) }));
        const running = await backend.enqueue(rec());
        const done = await backend.enqueue(rec());
        assert.ok(await backend.claimTask(done.id, { workerId: 'w' }));
        await backend.completeTask(done.id, 1);
        assert.ok(await backend.claimTask(running.id, { workerId: 'w' }));
        await backend.appendTaskLogs([
          { taskId: pending.id, lines: [storableLogLine(1, 'kept?', undefined, 'info')] },
        ]);

        const removed = await backend.removeTask(pending.id);
        assert.equal(removed?.id, pending.id);
        assert.equal(removed?.status, 'pending');
        assert.equal(await backend.getTask(pending.id), null);
        assert.deepEqual(await backend.getTaskLogs(pending.id), []);
        assert.equal(await backend.getTaskByKey(key), null, 'its key is free');
        const successor = await backend.enqueue(rec({ key }));
        assert.notEqual(successor.id, pending.id, 'a new record takes the key');
        assert.equal(await backend.removeTask(pending.id), null, 'gone already');
        assert.equal(await backend.removeTask(randomUUID()), null);

        assert.equal(await backend.removeTask(running.id), null, 'a running record stays');
        assert.equal((await backend.getTask(running.id))?.status, 'running');
        assert.equal((await backend.removeTask(done.id))?.status, 'completed');
        assert.equal((await backend.removeTask(scheduled.id))?.status, 'scheduled');

        await sleep(300); // the scheduled one would be due now
        const left = await backend.claimMany({ limit: 10, queues: [queue], workerId: 'w' });
        assert.deepEqual(
          left.map((r) => r.id),
          [successor.id],
          'no removed record is claimed',
        );
        const stats = await backend.getStatistics({ queue });
        assert.deepEqual(
          { total: stats.total, running: stats.running, pending: stats.pending, completed: stats.completed },
          { total: 2, running: 2, pending: 0, completed: 0 },
        );
        const listed = await backend.listTasks({ queue, limit: 10 });
        assert.deepEqual(listed.records.map((r) => r.id).sort(), [running.id, successor.id].sort());
      });

      test('removals racing claims: each record is claimed or removed, never both', async () => {
        const other = options.peer ? await options.peer(backend) : backend;
        try {
          const records = await backend.enqueueMany(Array.from({ length: 40 }, () => rec()));
          const [claimed, removed] = await Promise.all([
            (async () => {
              const got: QueuedTaskRecord[] = [];
              for (let i = 0; i < 10; i++)
                got.push(...(await other.claimMany({ limit: 3, queues: [queue], workerId: 'racer' })));
              return got;
            })(),
            Promise.all(records.map((r) => backend.removeTask(r.id))),
          ]);
          const claimedIds = new Set(claimed.map((r) => r.id));
          const removedIds = new Set(removed.filter((r) => r !== null).map((r) => r!.id));
          for (const id of claimedIds) assert.ok(!removedIds.has(id), `${id} was claimed and removed`);
          assert.equal(claimedIds.size + removedIds.size, records.length, 'every record went one way');
          for (const id of claimedIds) assert.equal((await backend.getTask(id))?.status, 'running');
          for (const id of removedIds) assert.equal(await backend.getTask(id), null);
        } finally {
          if (other !== backend) await other.close();
        }
      });

      test('promote makes a scheduled record due now; other statuses are refused', async () => {
        const later = await backend.enqueue(rec({ scheduledAt: new Date(Date.now() + 3_600_000) }));
        const now = await backend.enqueue(rec());
        await sleep(5); // promoted a moment later than \`now\` was queued
        const promoted = await backend.promoteTask(later.id);
        assert.equal(promoted?.status, 'pending');
        assert.equal(promoted?.scheduledAt, null);
        assert.ok(promoted!.queuedAt.getTime() >= later.queuedAt.getTime());
        assert.equal(await backend.promoteTask(later.id), null, 'pending now');
        assert.equal(await backend.promoteTask(randomUUID()), null);
        const claimed = await backend.claimMany({ limit: 5, queues: [queue], workerId: 'w' });
        assert.deepEqual(
          claimed.map((r) => r.id),
          [now.id, later.id],
          'the promoted record lines up behind the waiting one',
        );
        assert.equal(await backend.promoteTask(later.id), null, 'running');
        assert.equal((await backend.getStatistics({ queue })).scheduled, 0);
      });

      test('reschedule moves a pending or scheduled record to a new due time', async () => {
        const a = await backend.enqueue(rec());
        const b = await backend.enqueue(rec({ scheduledAt: new Date(Date.now() + 3_600_000) }));
        const soon = new Date(Date.now() + 400);
        const moved = await backend.rescheduleTask(a.id, soon);
        assert.equal(moved?.status, 'scheduled');
        assert.equal(moved?.scheduledAt?.getTime(), soon.getTime());
        assert.equal(moved?.queuedAt.getTime(), a.queuedAt.getTime(), 'queuedAt kept');
        const due = await backend.rescheduleTask(b.id, new Date(Date.now() - 1_000));
        assert.equal(due?.status, 'pending');
        const first = await backend.claimMany({ limit: 5, queues: [queue], workerId: 'w' });
        assert.deepEqual(
          first.map((r) => r.id),
          [b.id],
          'only the one due now',
        );
        assert.equal(await backend.rescheduleTask(b.id, new Date()), null, 'running');
        assert.equal(await backend.rescheduleTask(randomUUID(), new Date()), null);
        const stats = await backend.getStatistics({ queue });
        assert.equal(stats.scheduled, 1);
        await sleep(600);
        const later = await backend.claimMany({ limit: 5, queues: [queue], workerId: 'w' });
        assert.deepEqual(
          later.map((r) => r.id),
          [a.id],
          'due at its new time',
        );
        await backend.completeTask(a.id, null);
        assert.equal(await backend.rescheduleTask(a.id, new Date()), null, 'terminal');
      });
    });

    describe('persisted logs', () => {
      test('lines keep their order, attempt, time, level and payload, per record, in one batch', async () => {
        const [a, b] = await backend.enqueueMany([rec(), rec()]);
        const at = new Date(Date.now() - 5_000);
        const text = `ü😀 ${'x'.repeat(TASK_LOG_LIMITS.messageChars - 10)}`;
        await backend.appendTaskLogs([
          {
            taskId: a!.id,
            lines: [
              storableLogLine(1, 'first', { n: 1, nested: { s: 'é' } }, 'info', at),
              storableLogLine(1, text, undefined, 'warning', at),
            ],
          },
          { taskId: b!.id, lines: [storableLogLine(2, 'other', undefined, 'error', at)] },
          { taskId: randomUUID(), lines: [storableLogLine(1, 'nobody', undefined, 'info')] },
        ]);
        await backend.appendTaskLogs([
          { taskId: a!.id, lines: [storableLogLine(2, 'nul\u0000 \uD800', undefined, 'debug')] },
        ]);
        const lines = await backend.getTaskLogs(a!.id);
        assert.deepEqual(
          lines.map((l) => [l.attempt, l.level, l.message]),
          [
            [1, 'info', 'first'],
            [1, 'warning', text],
            [2, 'debug', 'nul\uFFFD \uFFFD'],
          ],
        );
        assert.equal(lines[0]!.at.getTime(), at.getTime());
        assert.deepEqual(lines[0]!.payload, { n: 1, nested: { s: 'é' } });
        assert.equal(lines[1]!.payload, undefined);
        assert.deepEqual(
          (await backend.getTaskLogs(b!.id)).map((l) => l.message),
          ['other'],
        );
        lines[0]!.message = 'changed';
        assert.equal((await backend.getTaskLogs(a!.id))[0]!.message, 'first', 'reads are copies');
      });

      test('a record keeps its newest lines up to the cap, across attempts and batches', async () => {
        const record = await backend.enqueue(rec({ maxRetries: 1 }));
        const cap = TASK_LOG_LIMITS.linesPerRecord;
        const batch = (from: number, count: number, attempt: number) =>
          Array.from({ length: count }, (_, i) =>
            storableLogLine(attempt, `line ${from + i}`, undefined, 'info'),
          );
        await backend.appendTaskLogs([{ taskId: record.id, lines: batch(0, cap - 20, 1) }]);
        assert.ok(await backend.claimTask(record.id, { workerId: 'w' }));
        await backend.failTask(record.id, 'again', { expectedRetryCount: 0 });
        await backend.appendTaskLogs([{ taskId: record.id, lines: batch(cap - 20, 50, 2) }]);
        const lines = await backend.getTaskLogs(record.id);
        assert.equal(lines.length, cap);
        assert.equal(lines[0]!.message, 'line 30', 'the oldest were dropped');
        assert.equal(lines.at(-1)!.message, `line ${cap + 29}`);
        assert.equal(lines.at(-1)!.attempt, 2);
        assert.equal(lines.filter((l) => l.attempt === 1).length, cap - 50);
      });

      test('logs go with a record deleted as it ends (removeOnComplete, removeOnFail, batched completions)', async () => {
        const [one, batched, kept, failed] = await backend.enqueueMany([rec(), rec(), rec(), rec()]);
        for (const record of [one!, batched!, kept!, failed!]) {
          assert.ok(await backend.claimTask(record.id, { workerId: 'w' }));
          await backend.appendTaskLogs([
            { taskId: record.id, lines: [storableLogLine(1, 'bye', undefined, 'info')] },
          ]);
        }
        assert.ok(await backend.completeTask(one!.id, 1, { expectedRetryCount: 0, remove: true }));
        const outcome = await backend.completeAndClaim(
          [
            { id: batched!.id, result: 2, expectedRetryCount: 0, remove: true },
            { id: kept!.id, result: 3, expectedRetryCount: 0 },
          ],
          undefined,
        );
        assert.deepEqual(outcome.completed, [true, true]);
        assert.ok(await backend.failTask(failed!.id, 'no', { expectedRetryCount: 0, remove: true }));
        for (const gone of [one!, batched!, failed!]) {
          assert.equal(await backend.getTask(gone.id), null);
          assert.deepEqual(await backend.getTaskLogs(gone.id), [], `${gone.id}'s lines were deleted`);
        }
        assert.equal((await backend.getTaskLogs(kept!.id)).length, 1);
        await backend.appendTaskLogs([
          { taskId: one!.id, lines: [storableLogLine(1, 'late', undefined, 'info')] },
        ]);
        assert.deepEqual(
          await backend.getTaskLogs(one!.id),
          [],
          'a late line of a deleted record is not written',
        );
      });

      test('logs go with their record: removed or cleaned up', async () => {
        const [kept, removed, cleaned] = await backend.enqueueMany([rec(), rec(), rec()]);
        for (const record of [kept!, removed!, cleaned!])
          await backend.appendTaskLogs([
            { taskId: record.id, lines: [storableLogLine(1, 'hi', undefined, 'info')] },
          ]);
        assert.ok(await backend.removeTask(removed!.id));
        assert.ok(await backend.claimTask(cleaned!.id, { workerId: 'w' }));
        await backend.completeTask(cleaned!.id, null);
        await sleep(5);
        assert.ok((await backend.cleanupTerminal(new Date(Date.now() + 1))) >= 1);
        assert.deepEqual(await backend.getTaskLogs(removed!.id), []);
        assert.deepEqual(await backend.getTaskLogs(cleaned!.id), []);
        assert.equal((await backend.getTaskLogs(kept!.id)).length, 1);
      });
    });
  });
}
