import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { newTaskRecord, type NewRecordFields } from '../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';

/** Options of the conformance suite. */
export interface ConformanceOptions {
  /** Skip reason (service unreachable), or false. */
  skip?: string | false;
  /** Called once after the suite (drop tables, delete keys). */
  teardown?: () => Promise<void>;
  /**
   * A second, opened backend on the same data as `backend` (its table, its key prefix) with connections of its
   * own, as another process would open it. Absent where instances cannot share data (memory).
   */
  peer?: (backend: QueueBackend) => Promise<QueueBackend>;
}

const W = 'worker-a';

/**
 * The contract every queue backend implements identically (DESIGN §4, §5, §12). Each test gets a fresh, opened
 * backend from `factory` and closes it afterwards; factories isolate data (own table / key prefix) per call.
 */
export function describeQueueBackendConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: ConformanceOptions = {},
): void {
  describe(`QueueBackend conformance: ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let queue: string;
    const rec = (fields: Partial<NewRecordFields> = {}, now?: Date): QueuedTaskRecord =>
      newTaskRecord({ taskName: 'conf.task', queue, ...fields }, now);
    const put = (fields: Partial<NewRecordFields> = {}) => backend.enqueue(rec(fields));
    const claimOne = async (workerId = W) =>
      (await backend.claimMany({ limit: 1, queues: [queue], workerId }))[0];

    beforeEach(async () => {
      backend = await factory();
      queue = `q_${randomUUID().slice(0, 8)}`;
    });
    afterEach(async () => {
      await backend.close();
    });
    after(async () => {
      await options.teardown?.();
    });

    describe('enqueue and read', () => {
      test('a due record is pending, a future one scheduled; reads are copies', async () => {
        const due = await put({
          args: [1, { a: 'ü😀' }],
          kwargs: { k: [true, null] },
          metadata: { m: { n: 1.5 } },
        });
        assert.equal(due.status, 'pending');
        const later = await put({ scheduledAt: new Date(Date.now() + 60_000) });
        assert.equal(later.status, 'scheduled');
        const read = (await backend.getTask(due.id))!;
        assert.deepEqual(read.args, [1, { a: 'ü😀' }]);
        assert.deepEqual(read.kwargs, { k: [true, null] });
        assert.deepEqual(read.metadata, { m: { n: 1.5 } });
        assert.equal(read.queue, queue);
        assert.equal(read.retryCount, 0);
        assert.ok(read.createdAt instanceof Date && read.queuedAt instanceof Date);
        (read.args as unknown[]).push('mutated');
        (read.metadata as Record<string, unknown>)['x'] = 1;
        const again = (await backend.getTask(due.id))!;
        assert.deepEqual(again.args, [1, { a: 'ü😀' }]);
        assert.equal(again.metadata['x'], undefined);
        assert.equal(await backend.getTask(randomUUID()), null);
      });

      test('empty and nested JSON payloads round-trip', async () => {
        const payload = {
          list: [],
          obj: {},
          deep: { a: [{ b: [1, 'two', false, null] }] },
          text: 'line\nbreak "quoted" \\ back',
        };
        const stored = await put({ args: [payload, [], ''], kwargs: {}, metadata: {} });
        const read = (await backend.getTask(stored.id))!;
        assert.deepEqual(read.args, [payload, [], '']);
        assert.deepEqual(read.kwargs, {});
      });

      test('a key held by an active record returns that record unchanged', async () => {
        const key = `k:${randomUUID()}`;
        const first = await put({ key, args: [1] });
        const second = await put({ key, args: [2] });
        assert.equal(second.id, first.id);
        assert.deepEqual(second.args, [1]);
        assert.equal((await backend.getTaskByKey(key))!.id, first.id);
        assert.equal((await backend.getStatistics({ queue })).total, 1);
      });

      test('once the holder is terminal the key passes to a new record', async () => {
        const key = `k:${randomUUID()}`;
        const first = await put({ key });
        await backend.cancelTask(first.id);
        assert.equal(
          (await backend.getTaskByKey(key))!.id,
          first.id,
          'terminal holder still readable by key',
        );
        const second = await put({ key });
        assert.notEqual(second.id, first.id);
        assert.equal((await backend.getTaskByKey(key))!.id, second.id);
        const claimed = await claimOne();
        await backend.completeTask(claimed!.id, 1);
        const third = await put({ key });
        assert.notEqual(third.id, second.id);
      });

      test('64 concurrent enqueues of one key create exactly one record', async () => {
        const key = `race:${randomUUID()}`;
        const results = await Promise.all(Array.from({ length: 64 }, (_, i) => put({ key, args: [i] })));
        assert.equal(new Set(results.map((r) => r.id)).size, 1);
        assert.equal((await backend.getStatistics({ queue })).total, 1);
      });

      test('enqueueMany keeps input order and dedup semantics', async () => {
        const key = `many:${randomUUID()}`;
        const specs = [
          rec({ args: [0] }),
          rec({ args: [1], key }),
          rec({ args: [2] }),
          rec({ args: [3], key }),
        ];
        const stored = await backend.enqueueMany(specs);
        assert.deepEqual(
          stored.map((r) => r.args[0]),
          [0, 1, 2, 1],
        );
        assert.equal(stored[3]!.id, stored[1]!.id);
        assert.equal((await backend.getStatistics({ queue })).total, 3);
        assert.deepEqual(await backend.enqueueMany([]), []);
      });

      test('enqueueMany of 20,000 records in one call stores them all, in order', async () => {
        // One Redis call spreading every record's arguments overflowed the stack at this size.
        const specs = Array.from({ length: 20_000 }, (_, i) => rec({ args: [i], priority: i % 3 }));
        const stored = await backend.enqueueMany(specs);
        assert.equal(stored.length, 20_000);
        assert.deepEqual(
          stored.map((r) => r.args[0]),
          specs.map((r) => r.args[0]),
        );
        assert.equal((await backend.getStatistics({ queue })).pending, 20_000);
      });

      test('enqueueMany stores every field exactly, set or null', async () => {
        // Characters that need quoting or escaping in SQL values and array literals, and a large payload.
        const awkward = [
          '',
          'NULL',
          ' spaced ',
          '"quoted"',
          'back\\slash',
          '{a,b}',
          'tab\tnew\nline',
          'ü😀中',
        ];
        const at = (ms: number) => new Date(Date.UTC(2031, 0, 2, 3, 4, 5) + ms);
        const full: QueuedTaskRecord = {
          ...rec({ taskName: 'conf.täsk "x"' }, at(0)),
          args: [awkward, { nested: { list: [1.5, -2, 2 ** 53 - 1, null, true] } }, 'x'.repeat(300_000)],
          kwargs: { 'key "with" quotes': awkward, empty: {} },
          executionBackend: 'ext\\backend',
          executionProfile: 'profile,{1}',
          executionRef: 'ref "1"',
          workerId: 'worker ü',
          status: 'scheduled',
          priority: -7,
          maxRetries: 12,
          retryCount: 3,
          scheduledAt: at(61_001),
          startedAt: at(2),
          completedAt: at(3),
          heartbeatAt: at(4),
          result: { ok: 'NULL', list: awkward },
          error: 'Error: "boom"\\n\tat x',
          metadata: { description: 'ü😀', awkward },
        };
        const empty = rec({ args: [], kwargs: {}, metadata: {} }, at(5));
        const keyed = { ...full, id: randomUUID(), key: `k "${randomUUID()}" ü` };
        const records = [full, empty, keyed, ...awkward.map((text) => rec({ args: [text], queue }))];
        const stored = await backend.enqueueMany(records);
        assert.deepEqual(stored, records);
        for (const record of records) assert.deepEqual(await backend.getTask(record.id), record);
      });
    });

    describe('claim', () => {
      test('claimed records carry every field exactly (claimMany and completeAndClaim)', async () => {
        const awkward = ['', 'NULL', '"q"', 'back\\slash /slash', 'tab\tnew\nline', 'ü😀中', '\u0001\u001f'];
        const make = (i: number) =>
          rec({
            taskName: `conf.täsk "${i}"`,
            args: [awkward, { n: [1.5, -2, 2 ** 53 - 1, null, true] }, 'x'.repeat(100_000)],
            kwargs: { 'k "q"': awkward, empty: {} },
            metadata: { description: 'ü😀', list: [] },
            key: `k "${randomUUID()}" ü`,
            maxRetries: 3,
          });
        await backend.enqueueMany([make(0), make(1)]);
        const [first] = await backend.claimMany({ limit: 1, queues: [queue], workerId: W });
        assert.deepEqual(first, await backend.getTask(first!.id));
        const { claimed } = await backend.completeAndClaim(
          [{ id: first!.id, result: awkward, expectedRetryCount: 0 }],
          { limit: 1, queues: [queue], workerId: W },
        );
        assert.equal(claimed.length, 1);
        assert.deepEqual(claimed[0], await backend.getTask(claimed[0]!.id));
        assert.deepEqual(claimed[0]!.args[0], awkward);
        assert.deepEqual((await backend.getTask(first!.id))!.result, awkward);
      });

      test('higher priority first, FIFO by queuedAt within a priority', async () => {
        const t = Date.now();
        await backend.enqueue(rec({ args: ['low'], priority: 0 }, new Date(t - 3000)));
        await backend.enqueue(rec({ args: ['high-late'], priority: 5 }, new Date(t - 1000)));
        await backend.enqueue(rec({ args: ['high-early'], priority: 5 }, new Date(t - 2000)));
        await backend.enqueue(rec({ args: ['negative'], priority: -1 }, new Date(t - 4000)));
        const claimed = await backend.claimMany({ limit: 10, queues: [queue], workerId: W });
        assert.deepEqual(
          claimed.map((r) => r.args[0]),
          ['high-early', 'high-late', 'low', 'negative'],
        );
        for (const record of claimed) {
          assert.equal(record.status, 'running');
          assert.equal(record.workerId, W);
          assert.ok(record.startedAt && record.heartbeatAt);
        }
        assert.deepEqual(await backend.claimMany({ limit: 10, queues: [queue], workerId: W }), []);
      });

      test('a retry lines up behind work already waiting at its priority', async () => {
        const t = Date.now();
        const first = await backend.enqueue(rec({ args: ['first'], maxRetries: 1 }, new Date(t - 2000)));
        const claimed = await claimOne();
        assert.equal(claimed!.id, first.id);
        await backend.enqueue(rec({ args: ['waiting'] }, new Date(t - 1000)));
        await backend.failTask(first.id, 'boom', { expectedRetryCount: 0 });
        const order = await backend.claimMany({ limit: 5, queues: [queue], workerId: W });
        assert.deepEqual(
          order.map((r) => r.args[0]),
          ['waiting', 'first'],
        );
      });

      test('queue and execution backend filters', async () => {
        const other = `${queue}_other`;
        await put({ args: ['local'] });
        await put({ args: ['remote'], executionBackend: 'cloudrun' });
        await backend.enqueue(newTaskRecord({ taskName: 'conf.task', queue: other, args: ['other'] }));
        const local = await backend.claimMany({
          limit: 10,
          queues: [queue],
          executionBackends: ['local'],
          workerId: W,
        });
        assert.deepEqual(
          local.map((r) => r.args[0]),
          ['local'],
        );
        const remote = await backend.claimMany({
          limit: 10,
          queues: [queue, other],
          executionBackends: ['cloudrun'],
          workerId: W,
        });
        assert.deepEqual(
          remote.map((r) => r.args[0]),
          ['remote'],
        );
        const rest = await backend.claimMany({ limit: 10, queues: [other], workerId: W });
        assert.deepEqual(
          rest.map((r) => r.args[0]),
          ['other'],
        );
      });

      test('scheduled records are not claimable until due', async () => {
        const soon = await put({ scheduledAt: new Date(Date.now() + 300) });
        assert.equal(await claimOne(), undefined);
        assert.equal(await backend.claimTask(soon.id, { workerId: W }), null);
        await sleep(350);
        const claimed = await claimOne();
        assert.equal(claimed?.id, soon.id);
      });

      test('claimTask takes one due record by id, once', async () => {
        const record = await put();
        const claimed = await backend.claimTask(record.id, { workerId: 'remote-1' });
        assert.equal(claimed?.status, 'running');
        assert.equal(claimed?.workerId, 'remote-1');
        assert.equal(await backend.claimTask(record.id, { workerId: 'remote-2' }), null);
        assert.equal(await backend.claimTask(randomUUID(), { workerId: W }), null);
      });

      test('claimNext returns one record or null', async () => {
        assert.equal(await backend.claimNext({ queues: [queue], workerId: W }), null);
        const record = await put();
        assert.equal((await backend.claimNext({ queues: [queue], workerId: W }))?.id, record.id);
      });

      test('RACE: concurrent claimers never share a record and together take all', async () => {
        const total = 60;
        await backend.enqueueMany(Array.from({ length: total }, (_, i) => rec({ args: [i] })));
        const claimers = Array.from({ length: 8 }, async (_, w) => {
          const mine: string[] = [];
          for (;;) {
            const batch = await backend.claimMany({ limit: 3, queues: [queue], workerId: `w${w}` });
            if (batch.length === 0) return mine;
            mine.push(...batch.map((r) => r.id));
          }
        });
        const all = (await Promise.all(claimers)).flat();
        assert.equal(all.length, total);
        assert.equal(new Set(all).size, total);
      });

      test('RACE: claims racing writes to pending records never share one, and leave none behind', async () => {
        const total = 120;
        const ids = (
          await backend.enqueueMany(Array.from({ length: total }, (_, i) => rec({ args: [i] })))
        ).map((record) => record.id);
        // Rewrites pending rows under the claimers (a claim may then pass a row over: it must stay claimable).
        let claiming = true;
        const writer = (async () => {
          for (let i = 0; claiming; i++) {
            const id = ids[(i * 37) % total]!;
            if (i % 7 === 0) await backend.cancelTask(id);
            else await backend.patchMetadata(id, { touched: i });
          }
        })();
        const claimers = Array.from({ length: 6 }, async (_, w) => {
          const mine: string[] = [];
          for (let idle = 0; idle < 3;) {
            const batch = await backend.claimMany({ limit: 4, queues: [queue], workerId: `w${w}` });
            idle = batch.length === 0 ? idle + 1 : 0;
            mine.push(...batch.map((r) => r.id));
          }
          return mine;
        });
        const claimed = (await Promise.all(claimers)).flat();
        claiming = false;
        await writer;
        for (;;) {
          const late = await backend.claimMany({ limit: 50, queues: [queue], workerId: 'late' });
          if (late.length === 0) break;
          claimed.push(...late.map((r) => r.id));
        }
        assert.equal(new Set(claimed).size, claimed.length, 'no record was claimed twice');
        const states = await Promise.all(ids.map(async (id) => (await backend.getTask(id))!.status));
        assert.deepEqual(
          states.filter((status) => status === 'pending'),
          [],
          'every record was claimed or cancelled',
        );
        const cancelled = states.filter((status) => status === 'cancelled').length;
        assert.ok(claimed.length + cancelled >= total, `${claimed.length} claimed, ${cancelled} cancelled`);
      });

      test('RACE: claimTask of one record by many claimers succeeds once', async () => {
        const record = await put();
        const results = await Promise.all(
          Array.from({ length: 16 }, (_, i) => backend.claimTask(record.id, { workerId: `w${i}` })),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    describe('fenced writes', () => {
      test('complete applies only while running with the expected retry count', async () => {
        const record = await put();
        assert.equal(await backend.completeTask(record.id, 1), null, 'pending cannot complete');
        const claimed = (await claimOne())!;
        assert.equal(
          await backend.completeTask(claimed.id, 1, { expectedRetryCount: 1 }),
          null,
          'wrong fence',
        );
        const done = await backend.completeTask(claimed.id, { ok: true }, { expectedRetryCount: 0 });
        assert.equal(done?.status, 'completed');
        assert.deepEqual(done?.result, { ok: true });
        assert.ok(done?.completedAt);
        assert.equal(await backend.completeTask(claimed.id, 2), null, 'terminal cannot complete again');
        assert.deepEqual((await backend.getTask(claimed.id))!.result, { ok: true });
        assert.equal(await backend.completeTask(randomUUID(), 1), null);
      });

      test('fail with retry left requeues: retryCount+1, error kept, queuedAt refreshed', async () => {
        const record = await put({ maxRetries: 2 });
        const claimed = (await claimOne())!;
        await sleep(5);
        const retried = (await backend.failTask(claimed.id, 'boom', { expectedRetryCount: 0 }))!;
        assert.equal(retried.status, 'pending');
        assert.equal(retried.retryCount, 1);
        assert.equal(retried.error, 'boom');
        assert.ok(retried.queuedAt.getTime() > record.queuedAt.getTime());
        assert.equal(retried.workerId, null);
        const again = (await claimOne())!;
        assert.equal(again.retryCount, 1);
        assert.equal(await backend.failTask(again.id, 'stale fence', { expectedRetryCount: 0 }), null);
      });

      test("completing on a later attempt clears the earlier attempt's error (completeTask, completeAndClaim)", async () => {
        const complete = {
          completeTask: (id: string) => backend.completeTask(id, { ok: 2 }, { expectedRetryCount: 1 }),
          completeAndClaim: async (id: string) => {
            const outcome = await backend.completeAndClaim(
              [{ id, result: { ok: 2 }, expectedRetryCount: 1 }],
              {
                limit: 1,
                queues: [queue],
                workerId: W,
              },
            );
            assert.deepEqual(outcome.completed, [true]);
            return backend.getTask(id);
          },
        };
        for (const [method, run] of Object.entries(complete)) {
          await put({ maxRetries: 1 });
          const first = (await claimOne())!;
          const retried = (await backend.failTask(first.id, 'first attempt broke', {
            expectedRetryCount: 0,
          }))!;
          assert.equal(retried.error, 'first attempt broke', method);
          const second = (await claimOne())!;
          assert.equal(second.retryCount, 1, method);
          const done = (await run(second.id))!;
          assert.equal(done.status, 'completed', method);
          assert.equal(done.error, null, method);
          assert.deepEqual(done.result, { ok: 2 }, method);
          const read = (await backend.getTask(second.id))!;
          assert.equal(read.error, null, `${method}: the stored record keeps no stale error`);
          assert.equal(read.retryCount, 1, method);
        }
      });

      test('fail with retryAt schedules the retry; retry=false fails at once', async () => {
        await put({ maxRetries: 3 });
        const claimed = (await claimOne())!;
        const retryAt = new Date(Date.now() + 60_000);
        const scheduled = (await backend.failTask(claimed.id, 'later', { expectedRetryCount: 0, retryAt }))!;
        assert.equal(scheduled.status, 'scheduled');
        assert.equal(scheduled.scheduledAt?.getTime(), retryAt.getTime());
        assert.equal(await claimOne(), undefined);

        await put({ maxRetries: 3 });
        const second = (await claimOne())!;
        const failed = (await backend.failTask(second.id, 'fatal', { retry: false, expectedRetryCount: 0 }))!;
        assert.equal(failed.status, 'failed');
        assert.equal(failed.retryCount, 0);
        assert.ok(failed.completedAt);
      });

      test('fail without retries left is terminal', async () => {
        await put({ maxRetries: 0 });
        const claimed = (await claimOne())!;
        const failed = (await backend.failTask(claimed.id, 'no more'))!;
        assert.equal(failed.status, 'failed');
        assert.equal(failed.error, 'no more');
      });

      test('heartbeats are fenced; touchHeartbeats returns the applied ids', async () => {
        await put();
        await put();
        const [a, b] = await backend.claimMany({ limit: 2, queues: [queue], workerId: W });
        assert.equal(await backend.touchHeartbeat(a!.id, { expectedRetryCount: 0 }), true);
        assert.equal(await backend.touchHeartbeat(a!.id, { expectedRetryCount: 3 }), false);
        await backend.cancelTask(b!.id);
        const applied = await backend.touchHeartbeats([
          { id: a!.id, expectedRetryCount: 0 },
          { id: b!.id, expectedRetryCount: 0 },
          { id: randomUUID(), expectedRetryCount: 0 },
        ]);
        assert.deepEqual(applied, [a!.id]);
        assert.equal(await backend.touchHeartbeat(b!.id), false, 'cancelled record takes no heartbeat');
      });

      test('completeAndClaim completes a batch (each fenced) and claims the next records in claim order', async () => {
        await put();
        await put();
        const [a, b] = await backend.claimMany({ limit: 2, queues: [queue], workerId: W });
        const low = await put({ priority: 0 });
        const high = await put({ priority: 5 });
        const claim = { limit: 5, queues: [queue], workerId: 'worker-b' };
        const outcome = await backend.completeAndClaim(
          [
            { id: b!.id, result: { ok: 'b' }, expectedRetryCount: 0 },
            { id: a!.id, result: 'wrong fence', expectedRetryCount: 7 },
            { id: randomUUID(), result: null, expectedRetryCount: 0 },
          ],
          claim,
        );
        assert.deepEqual(
          outcome.completed,
          [true, false, false],
          'a wrong fence and an unknown id are rejected',
        );
        const doneB = (await backend.getTask(b!.id))!;
        assert.equal(doneB.status, 'completed');
        assert.deepEqual(doneB.result, { ok: 'b' });
        assert.equal(doneB.heartbeatAt, null);
        assert.ok(doneB.completedAt, 'completedAt is set');
        assert.equal((await backend.getTask(a!.id))!.status, 'running', 'a rejected fence changes nothing');
        assert.deepEqual(
          outcome.claimed.map((r) => [r.id, r.status, r.workerId]),
          [
            [high.id, 'running', 'worker-b'],
            [low.id, 'running', 'worker-b'],
          ],
        );
        // Without a claim, only the completions happen; with an empty queue, the claim finds nothing.
        const next = await put();
        const alone = await backend.completeAndClaim(
          [{ id: a!.id, result: 1, expectedRetryCount: 0 }],
          undefined,
        );
        assert.deepEqual(alone.completed, [true]);
        assert.equal((await backend.getTask(a!.id))!.status, 'completed');
        assert.deepEqual(alone.claimed, []);
        assert.equal((await backend.getTask(next.id))!.status, 'pending');
        const rest = await backend.completeAndClaim(
          [{ id: high.id, result: null, expectedRetryCount: 0 }],
          claim,
        );
        assert.deepEqual(
          rest.claimed.map((r) => r.id),
          [next.id],
        );
        const dry = await backend.completeAndClaim(
          [{ id: low.id, result: null, expectedRetryCount: 0 }],
          claim,
        );
        assert.deepEqual(dry.completed, [true]);
        assert.equal((await backend.getTask(low.id))!.result, null);
        assert.deepEqual(dry.claimed, []);
        const stats = await backend.getStatistics({ queue });
        assert.deepEqual(
          [stats.pending, stats.running, stats.completed, stats.total],
          [0, 1, 4, 5],
          'the counters followed every batched completion and claim',
        );
      });

      test('releaseClaims puts never-started claims back in their old place, no retry consumed', async () => {
        const first = await put();
        const second = await put();
        const [a, b] = await backend.claimMany({ limit: 2, queues: [queue], workerId: W });
        assert.deepEqual([a!.id, b!.id], [first.id, second.id]);
        const third = await put();
        const released = await backend.releaseClaims([
          { id: a!.id, expectedRetryCount: 0 },
          { id: b!.id, expectedRetryCount: 5 },
          { id: randomUUID(), expectedRetryCount: 0 },
        ]);
        assert.deepEqual(released, [a!.id], 'only the fenced-in claim is released');
        const back = (await backend.getTask(a!.id))!;
        assert.equal(back.status, 'pending');
        assert.equal(back.retryCount, 0);
        assert.equal(back.workerId, null);
        assert.equal(back.startedAt, null);
        assert.equal(back.heartbeatAt, null);
        assert.equal(back.queuedAt.getTime(), first.queuedAt.getTime());
        assert.equal((await backend.getTask(b!.id))!.status, 'running');
        assert.equal(await backend.countRunning(), 1);
        const stats = await backend.getStatistics({ queue });
        assert.equal(stats.pending, 2);
        assert.equal(stats.running, 1);
        // Its old place: ahead of the record enqueued after it was claimed.
        assert.deepEqual(
          (await backend.claimMany({ limit: 2, queues: [queue], workerId: W })).map((r) => r.id),
          [first.id, third.id],
        );
      });

      test('releaseClaims hands back a large batch in one call and answers in the batch order', async () => {
        await backend.enqueueMany(Array.from({ length: 300 }, () => rec()));
        const claimed = await backend.claimMany({ limit: 300, queues: [queue], workerId: W });
        assert.equal(claimed.length, 300);
        const batch = claimed.reverse().map((r) => ({ id: r.id, expectedRetryCount: 0 }));
        assert.deepEqual(
          await backend.releaseClaims(batch),
          batch.map((b) => b.id),
        );
        const stats = await backend.getStatistics({ queue });
        assert.equal(stats.pending, 300);
        assert.equal(stats.running, 0);
        assert.deepEqual(await backend.releaseClaims(batch), [], 'released already: nothing to release');
      });

      test('writes on a cancelled or pending record are rejected and change nothing', async () => {
        const pending = await put();
        assert.equal(await backend.failTask(pending.id, 'x'), null);
        assert.equal(await backend.touchHeartbeat(pending.id), false);
        assert.equal(await backend.patchMetadata(pending.id, { a: 1 }), false);
        assert.equal((await backend.getTask(pending.id))!.status, 'pending');
        const claimed = (await claimOne())!;
        await backend.cancelTask(claimed.id);
        assert.equal(await backend.completeTask(claimed.id, 'late'), null);
        assert.equal(await backend.failTask(claimed.id, 'late'), null);
        const read = (await backend.getTask(claimed.id))!;
        assert.equal(read.status, 'cancelled');
        assert.equal(read.result, null);
      });

      test('RACE: complete vs fail vs cancel on one running record, exactly one wins', async () => {
        for (let round = 0; round < 5; round++) {
          await put();
          const claimed = (await claimOne())!;
          const outcomes = await Promise.all([
            backend.completeTask(claimed.id, 'done', { expectedRetryCount: 0 }),
            backend.failTask(claimed.id, 'failed', { retry: false, expectedRetryCount: 0 }),
            backend.cancelTask(claimed.id),
          ]);
          assert.equal(
            outcomes.filter(Boolean).length,
            1,
            `round ${round}: ${outcomes.map((o) => o?.status).join(',')}`,
          );
          const final = (await backend.getTask(claimed.id))!;
          assert.equal(final.status, outcomes.find(Boolean)!.status);
        }
      });

      test('patchMetadata merges into a running record', async () => {
        await put({ metadata: { keep: 1 } });
        const claimed = (await claimOne())!;
        assert.equal(
          await backend.patchMetadata(claimed.id, { progress: { current: 1 } }, { expectedRetryCount: 0 }),
          true,
        );
        assert.equal(await backend.patchMetadata(claimed.id, { x: 1 }, { expectedRetryCount: 5 }), false);
        assert.deepEqual((await backend.getTask(claimed.id))!.metadata, {
          keep: 1,
          progress: { current: 1 },
        });
      });
    });

    describe('cancel and retry', () => {
      test('cancel pending, scheduled and running; terminal cannot be cancelled', async () => {
        const pending = await put();
        const scheduled = await put({ scheduledAt: new Date(Date.now() + 60_000) });
        assert.equal((await backend.cancelTask(pending.id))?.status, 'cancelled');
        assert.equal((await backend.cancelTask(scheduled.id))?.status, 'cancelled');
        assert.equal(await backend.cancelTask(pending.id), null);
        await put();
        const running = (await claimOne())!;
        const cancelled = (await backend.cancelTask(running.id))!;
        assert.equal(cancelled.status, 'cancelled');
        assert.ok(cancelled.completedAt);
        assert.equal(await claimOne(), undefined, 'cancelled records are never claimed');
      });

      test('retryTask puts a failed or cancelled record back with retryCount 0', async () => {
        await put({ maxRetries: 1 });
        let claimed = (await claimOne())!;
        await backend.failTask(claimed.id, 'one', { expectedRetryCount: 0 });
        claimed = (await claimOne())!;
        await backend.failTask(claimed.id, 'two', { expectedRetryCount: 1 });
        assert.equal((await backend.getTask(claimed.id))!.status, 'failed');
        const retried = (await backend.retryTask(claimed.id))!;
        assert.equal(retried.id, claimed.id);
        assert.equal(retried.status, 'pending');
        assert.equal(retried.retryCount, 0);
        assert.equal((await claimOne())?.id, claimed.id);
        assert.equal(await backend.retryTask(claimed.id), null, 'running cannot be retried');
      });

      test('retryTask refuses when the key is held by another active record', async () => {
        const key = `rk:${randomUUID()}`;
        const first = await put({ key });
        await backend.cancelTask(first.id);
        const second = await put({ key });
        assert.equal(await backend.retryTask(first.id), null);
        await backend.cancelTask(second.id);
        assert.equal((await backend.retryTask(first.id))?.status, 'pending');
        assert.equal((await backend.getTaskByKey(key))!.id, first.id);
      });
    });

    describe('stale recovery and heartbeats', () => {
      test('stale records are requeued with a retry or failed without', async () => {
        const withRetry = await put({ maxRetries: 1, args: ['retry'] });
        const noRetry = await put({ maxRetries: 0, args: ['fail'] });
        const claimed = await backend.claimMany({ limit: 2, queues: [queue], workerId: W });
        assert.equal(claimed.length, 2);
        const fresh = await backend.requeueStaleRunning({ staleAfter: 60_000 });
        assert.equal(fresh.requeued.length + fresh.failed.length, 0, 'fresh heartbeats are not stale');
        await sleep(60);
        const result = await backend.requeueStaleRunning({ staleAfter: 20 });
        assert.deepEqual(
          result.requeued.map((r) => r.id),
          [withRetry.id],
        );
        assert.deepEqual(
          result.failed.map((r) => r.id),
          [noRetry.id],
        );
        const requeued = (await backend.getTask(withRetry.id))!;
        assert.equal(requeued.status, 'pending');
        assert.equal(requeued.retryCount, 1);
        const failed = (await backend.getTask(noRetry.id))!;
        assert.equal(failed.status, 'failed');
        assert.equal(failed.error, 'Task heartbeat stale');
      });

      test('nullHeartbeats makes a record stale at once; failTaskNames fail instead of requeue', async () => {
        await put({ maxRetries: 3, taskName: 'conf.no_requeue' });
        await put({ maxRetries: 3, args: ['released'] });
        const claimed = await backend.claimMany({ limit: 2, queues: [queue], workerId: W });
        await backend.nullHeartbeats(claimed.map((r) => ({ id: r.id, expectedRetryCount: 0 })));
        const result = await backend.requeueStaleRunning({
          staleAfter: 60_000,
          failTaskNames: ['conf.no_requeue'],
        });
        assert.deepEqual(
          result.failed.map((r) => r.taskName),
          ['conf.no_requeue'],
        );
        assert.deepEqual(
          result.requeued.map((r) => r.args[0]),
          ['released'],
        );
      });

      test('stale recovery covers every queue and fences the old attempt', async () => {
        const other = await backend.enqueue(
          newTaskRecord({ taskName: 'conf.task', queue: `${queue}_x`, maxRetries: 1 }),
        );
        const [claimed] = await backend.claimMany({ limit: 1, queues: [`${queue}_x`], workerId: W });
        await backend.nullHeartbeats([{ id: claimed!.id, expectedRetryCount: 0 }]);
        const result = await backend.requeueStaleRunning({ staleAfter: 60_000 });
        assert.ok(result.requeued.some((r) => r.id === other.id));
        const [again] = await backend.claimMany({ limit: 1, queues: [`${queue}_x`], workerId: 'worker-b' });
        assert.equal(again!.retryCount, 1);
        assert.equal(
          await backend.completeTask(other.id, 'late', { expectedRetryCount: 0 }),
          null,
          'old attempt is fenced off',
        );
        assert.equal(
          (await backend.completeTask(other.id, 'new', { expectedRetryCount: 1 }))?.status,
          'completed',
        );
      });

      test('countRunning counts running records, per task', async () => {
        await put({ taskName: 'conf.a' });
        await put({ taskName: 'conf.a' });
        await put({ taskName: 'conf.b' });
        const before = await backend.countRunning({ taskName: 'conf.a' });
        await backend.claimMany({ limit: 3, queues: [queue], workerId: W });
        assert.equal((await backend.countRunning({ taskName: 'conf.a' })) - before, 2);
        assert.ok((await backend.countRunning()) >= 3);
      });

      test("releaseKey frees a running record's key for a successor", async () => {
        const key = `rel:${randomUUID()}`;
        await put({ key });
        const claimed = (await claimOne())!;
        assert.equal(await backend.releaseKey(claimed.id, { expectedRetryCount: 1 }), false);
        assert.equal(await backend.releaseKey(claimed.id, { expectedRetryCount: 0 }), true);
        const read = (await backend.getTask(claimed.id))!;
        assert.equal(read.key, null);
        assert.equal(read.metadata['releasedKey'], key);
        const successor = await put({ key });
        assert.notEqual(successor.id, claimed.id);
        assert.equal((await backend.getTaskByKey(key))!.id, successor.id);
      });
    });

    describe('external execution', () => {
      test('setExecutionRef is a compare-and-swap on the current ref', async () => {
        const record = await put({ executionBackend: 'cloudrun' });
        const reserved = await backend.setExecutionRef(record.id, 'reserving:1', { expectedRef: null });
        assert.equal(reserved?.executionRef, 'reserving:1');
        assert.equal(await backend.setExecutionRef(record.id, 'reserving:2', { expectedRef: null }), null);
        assert.equal(
          (await backend.setExecutionRef(record.id, 'exec-1', { expectedRef: 'reserving:1' }))?.executionRef,
          'exec-1',
        );
        const external = await backend.listRunningExternal();
        assert.ok(external.some((r) => r.id === record.id));
        await backend.cancelTask(record.id);
        assert.equal(
          await backend.setExecutionRef(record.id, 'exec-2'),
          null,
          'terminal records take no ref',
        );
        assert.ok(!(await backend.listRunningExternal()).some((r) => r.id === record.id));
      });

      test('listPending by executionRef: dispatched records take no place among the undispatched, and are counted apart', async () => {
        // The five first in claim order are dispatched (their run has not claimed them); three more wait behind.
        const dispatched = [];
        for (let i = 0; i < 5; i++) dispatched.push(await put({ executionBackend: 'cloudrun', priority: 5 }));
        const waiting = [];
        for (let i = 0; i < 3; i++) waiting.push(await put({ executionBackend: 'cloudrun' }));
        for (const record of dispatched)
          assert.ok(await backend.setExecutionRef(record.id, `exec-${record.id}`, { expectedRef: null }));
        const list = (options: Parameters<QueueBackend['listPending']>[0]) =>
          backend.listPending({ queues: [queue], executionBackends: ['cloudrun'], ...options });
        assert.deepEqual(
          (await list({ limit: 2, executionRef: 'none' })).map((r) => r.id),
          waiting.slice(0, 2).map((r) => r.id),
        );
        assert.equal((await list({ limit: 100, executionRef: 'none' })).length, 3);
        const set = await list({ limit: 3, executionRef: 'set' });
        assert.equal(set.length, 3);
        assert.ok(set.every((r) => r.executionRef !== null));
        assert.equal((await list({ limit: 100, executionRef: 'set' })).length, 5);
        assert.equal((await list({ limit: 100 })).length, 8, 'without the filter, every pending record');
      });

      test('RACE: one of many reservations wins', async () => {
        const record = await put({ executionBackend: 'cloudrun' });
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            backend.setExecutionRef(record.id, `reserving:${i}`, { expectedRef: null }),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });

      test('setExecutionBackend moves a record and clears its ref', async () => {
        const record = await put({ executionBackend: 'cloudrun' });
        await backend.setExecutionRef(record.id, 'reserving:x', { expectedRef: null });
        const moved = (await backend.setExecutionBackend(record.id, 'local', {
          executionProfile: 'fallback',
        }))!;
        assert.equal(moved.executionBackend, 'local');
        assert.equal(moved.executionRef, null);
        assert.equal(moved.executionProfile, 'fallback');
        const claimed = await backend.claimMany({
          limit: 1,
          queues: [queue],
          executionBackends: ['local'],
          workerId: W,
        });
        assert.equal(claimed[0]?.id, record.id);
      });

      test('listPending lists due claimable records in claim order with filters', async () => {
        await put({ args: ['p0'], priority: 0 });
        await put({ args: ['p9'], priority: 9 });
        await put({ args: ['later'], scheduledAt: new Date(Date.now() + 60_000) });
        await put({ args: ['remote'], executionBackend: 'cloudrun' });
        const due = await backend.listPending({ queues: [queue], executionBackends: ['local'] });
        assert.deepEqual(
          due.map((r) => r.args[0]),
          ['p9', 'p0'],
        );
        const all = await backend.listPending({ queues: [queue], dueOnly: false, limit: 10 });
        assert.equal(all.length, 4);
        assert.equal((await backend.listPending({ queues: [queue], limit: 1 })).length, 1);
      });
    });

    describe('statistics, listing and cleanup', () => {
      test('statistics per status, per queue and overall', async () => {
        const other = `${queue}_s`;
        await put();
        await put({ scheduledAt: new Date(Date.now() + 60_000) });
        const c = await put();
        await backend.enqueue(newTaskRecord({ taskName: 'conf.task', queue: other }));
        await backend.cancelTask(c.id);
        await put();
        const running = (await claimOne())!;
        await backend.completeTask(running.id, null);
        const stats = await backend.getStatistics({ queue });
        assert.deepEqual(stats, {
          pending: 1,
          scheduled: 1,
          running: 0,
          completed: 1,
          failed: 0,
          cancelled: 1,
          waiting: 0,
          total: 4,
        });
        const overall = await backend.getStatistics();
        assert.ok(overall.total >= 5);
        assert.equal(
          overall.total,
          overall.pending +
            overall.scheduled +
            overall.running +
            overall.completed +
            overall.failed +
            overall.cancelled +
            overall.waiting,
        );
      });

      test('listCompletedByTask: newest first, since and limit', async () => {
        const task = `conf.list_${randomUUID().slice(0, 6)}`;
        for (let i = 0; i < 3; i++) {
          await put({ taskName: task, args: [i] });
          const claimed = (await claimOne())!;
          await backend.completeTask(claimed.id, i);
          await sleep(15);
        }
        const all = await backend.listCompletedByTask(task, { limit: 10 });
        assert.deepEqual(
          all.map((r) => r.result),
          [2, 1, 0],
        );
        assert.equal((await backend.listCompletedByTask(task, { limit: 2 })).length, 2);
        const since = await backend.listCompletedByTask(task, { since: all[0]!.completedAt! });
        assert.deepEqual(
          since.map((r) => r.result),
          [2],
        );
      });

      test('cleanupTerminal deletes only terminal records older than the cutoff', async () => {
        const keep = await put();
        const old = await put();
        await backend.cancelTask(old.id);
        await sleep(20);
        const cutoff = new Date();
        await sleep(5);
        const recent = await put();
        await backend.cancelTask(recent.id);
        const removed = await backend.cleanupTerminal(cutoff);
        assert.ok(removed >= 1);
        assert.equal(await backend.getTask(old.id), null);
        assert.ok(await backend.getTask(recent.id));
        assert.ok(await backend.getTask(keep.id));
      });

      test('listRecords: newest first, filtered by status, task substring and queue, limited', async () => {
        const base = Date.now() - 60_000;
        const at = (i: number) => new Date(base + i * 1_000);
        const make = (i: number, fields: Partial<NewRecordFields>) =>
          backend.enqueue(newTaskRecord({ taskName: 'conf.task', queue, ...fields }, at(i)));
        const a = await make(0, { taskName: 'mail.Send' });
        const b = await make(1, { taskName: 'mail.send' });
        const c = await make(2, { taskName: 'report.build' });
        const d = await make(3, { taskName: 'mail.send', scheduledAt: new Date(Date.now() + 60_000) });
        const ids = (records: QueuedTaskRecord[]) => records.map((r) => r.id);
        assert.deepEqual(ids(await backend.listRecords({ queue })), [d.id, c.id, b.id, a.id]);
        assert.deepEqual(ids(await backend.listRecords({ queue, limit: 2 })), [d.id, c.id]);
        assert.deepEqual(ids(await backend.listRecords({ queue, taskNameContains: 'mail.s' })), [d.id, b.id]);
        assert.deepEqual(ids(await backend.listRecords({ queue, status: 'scheduled' })), [d.id]);
        assert.deepEqual(
          ids(await backend.listRecords({ queue, status: 'pending', taskNameContains: 'mail' })),
          [b.id, a.id],
        );
        assert.deepEqual(await backend.listRecords({ queue: `${queue}_none` }), []);
        // A limit that is not a finite number falls back to the default instead of reaching SQL.
        assert.equal((await backend.listRecords({ queue, limit: Number.NaN })).length, 4);
        assert.deepEqual(await backend.listRecords({ queue, taskNameContains: "%' OR 1=1 --" }), []);
        const [read] = await backend.listRecords({ queue, limit: 1 });
        assert.deepEqual(read, await backend.getTask(d.id));
      });

      test('iterAll streams every record in chunks', async () => {
        const ids = new Set(
          (await backend.enqueueMany(Array.from({ length: 25 }, () => rec()))).map((r) => r.id),
        );
        const seen = new Set<string>();
        for await (const record of backend.iterAll({ chunkSize: 7 }))
          if (ids.has(record.id)) seen.add(record.id);
        assert.equal(seen.size, 25);
      });
    });

    describe(
      'across instances',
      { skip: options.peer ? false : 'instances of this backend share nothing' },
      () => {
        let other: QueueBackend;
        beforeEach(async () => {
          other = await options.peer!(backend);
        });
        afterEach(async () => {
          await other.close();
        });

        test('RACE: two instances claiming at once never share a record and together take all', async () => {
          const ids = new Set(
            (await backend.enqueueMany(Array.from({ length: 60 }, () => rec()))).map((r) => r.id),
          );
          const claimed: string[] = [];
          const claimer = async (instance: QueueBackend, workerId: string) => {
            for (;;) {
              const batch = await instance.claimMany({ limit: 4, queues: [queue], workerId });
              if (batch.length === 0) return;
              claimed.push(...batch.map((r) => r.id));
            }
          };
          await Promise.all([
            claimer(backend, 'a1'),
            claimer(other, 'b1'),
            claimer(backend, 'a2'),
            claimer(other, 'b2'),
          ]);
          assert.equal(claimed.length, 60, 'no record claimed twice');
          assert.deepEqual(new Set(claimed), ids);
        });

        test('a fenced write through one instance is seen, and fenced, through the other', async () => {
          const record = await put();
          const [claimed] = await other.claimMany({ limit: 1, queues: [queue], workerId: 'b1' });
          assert.equal(claimed!.id, record.id);
          assert.equal(await backend.completeTask(record.id, 'r', { expectedRetryCount: 1 }), null);
          assert.equal(
            (await backend.completeTask(record.id, 'r', { expectedRetryCount: 0 }))?.status,
            'completed',
          );
          assert.equal((await other.getTask(record.id))?.result, 'r');
          assert.equal(await other.touchHeartbeat(record.id, { expectedRetryCount: 0 }), false);
        });

        test('an instance waiting for work wakes when the other enqueues; a polled one waits out its timeout', async () => {
          const polled = !other.capabilities.notifications;
          const waiting = other.waitForNotifications(polled ? 400 : 5_000);
          await sleep(200); // a listener may subscribe on its first wait
          const started = Date.now();
          await put();
          if (polled) {
            // No cross-process wakeups here: the other instance's workers find the record by polling.
            assert.equal(await waiting, false);
            return;
          }
          assert.equal(await waiting, true);
          assert.ok(Date.now() - started < 4_000, 'woken by the enqueue, not by the timeout');
        });
      },
    );

    describe('leases and notifications', () => {
      test('a lease is exclusive, renewable by its owner, and expires', async () => {
        const name = `lease_${randomUUID().slice(0, 8)}`;
        // 1.5 s, not 150 ms: on a loaded machine (PostgreSQL in CI) two calls 150 ms apart let 'b' in.
        assert.equal(await backend.acquireLease(name, 'a', 1_500), true);
        assert.equal(await backend.acquireLease(name, 'b', 1_500), false);
        assert.equal(await backend.acquireLease(name, 'a', 1_500), true);
        await sleep(1_700);
        assert.equal(await backend.acquireLease(name, 'b', 1_500), true);
        const concurrent = await Promise.all(
          ['x', 'y', 'z', 'w'].map((owner) => backend.acquireLease(`${name}_r`, owner, 5_000)),
        );
        assert.equal(concurrent.filter(Boolean).length, 1);
      });

      test('waitForNotifications wakes on notifyNewTask, times out, and honours abort', async () => {
        const waiting = backend.waitForNotifications(5_000);
        await sleep(50);
        await backend.notifyNewTask(queue);
        assert.equal(await waiting, true);
        // A wakeup is only a hint: a subscription still being set up by the first wait ends with one more (it cannot
        // know what it missed), which a loaded machine can land in the next wait. Once settled, a quiet wait times out.
        let timedOut = false;
        for (let attempt = 0; attempt < 5 && !timedOut; attempt++) {
          const started = Date.now();
          timedOut = !(await backend.waitForNotifications(60));
          if (timedOut) assert.ok(Date.now() - started >= 50);
        }
        assert.ok(timedOut, 'a wait with nothing sent times out');
        const controller = new AbortController();
        const aborted = backend.waitForNotifications(5_000, controller.signal);
        controller.abort();
        assert.equal(await aborted, false);
      });
    });
  });
}
