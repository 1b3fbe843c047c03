import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { EnqueueRejectedError } from '../../src/errors/enqueue-rejected.error.js';
import { ERROR_MESSAGE_CHARS } from '../../src/serialization/storable-text.js';
import { newTaskRecord, type NewRecordFields } from '../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { rawRecordWriter, type RawColumns, type RawRecordWriter } from '../support/raw-record-writer.js';
import type { ConformanceOptions } from './queue-backend.conformance.js';

const W = 'worker-bad-records';

/** A way a stored record can go bad, and what its decode error must name. */
export interface BadCase {
  name: string;
  columns: RawColumns;
  error: RegExp;
  /** Only where a stored field can be removed (Redis hashes, memory objects). */
  removesFields?: boolean;
  /** Only where a number column can hold text (Redis hashes, memory objects, SQLite). */
  textInNumber?: boolean;
}

/** The ways a stored record goes bad that every suite over bad records meets (the sweeps' too). */
/** Whether backend `name` stores numbers in INTEGER/BIGINT columns, which cannot hold text (PostgreSQL, MariaDB). */
export function numbersInTypedColumns(name: string): boolean {
  return name === 'typeorm:postgres' || name === 'typeorm:mysql';
}

/** Why case `c` cannot be written on backend `name` (SQL columns are NOT NULL and typed), or false. */
export function badCaseSkip(name: string, c: BadCase): { skip: string | false } {
  return {
    skip:
      c.removesFields && name.startsWith('typeorm:')
        ? 'SQL columns cannot be removed'
        : c.textInNumber && numbersInTypedColumns(name)
          ? 'an INTEGER/BIGINT column cannot hold text'
          : false,
  };
}

export const BAD_RECORD_CASES: readonly BadCase[] = [
  {
    name: 'args_json is not JSON',
    columns: { args_json: '{not json' },
    error: /args_json is not (valid JSON|a JSON array)/,
  },
  {
    name: 'metadata_json is null',
    columns: { metadata_json: 'null' },
    error: /metadata_json is not a JSON object/,
  },
  {
    name: 'kwargs_json is an array',
    columns: { kwargs_json: '[1]' },
    error: /kwargs_json is not a JSON object/,
  },
  { name: 'an unknown status', columns: { status: 'bogus' }, error: /status is not a known status/ },
  {
    name: 'fields missing',
    columns: { retry_count: undefined, max_retries: undefined, args_json: undefined },
    error: /retry_count is not a whole number/,
    removesFields: true,
  },
  {
    name: 'priority is text',
    columns: { priority: 'high' },
    error: /priority is not a whole number/,
    textInNumber: true,
  },
];

/** Cases a running record can carry into stale recovery (its status must still read `running` to be found). */
const STALE_CASES = BAD_RECORD_CASES.filter((c) => !('status' in c.columns));

/**
 * Records written around the library (issue 18 items 6, 8, 9), for every queue backend: a record that cannot be
 * decoded is isolated (failed with an error naming what could not be decoded) while every other record of its batch
 * is claimed exactly once, and stale recovery, lists and `getTask` keep working; text from task output is never
 * refused by a store; `enqueueMany` stores all of a batch or none of it.
 */
export function describeBadRecordConformance(
  name: string,
  factory: () => Promise<QueueBackend>,
  options: ConformanceOptions = {},
): void {
  describe(`Bad stored records: ${name}`, { skip: options.skip }, () => {
    let backend: QueueBackend;
    let raw: RawRecordWriter;
    let queue: string;
    const rec = (fields: Partial<NewRecordFields> = {}): QueuedTaskRecord =>
      newTaskRecord({ taskName: 'bad.task', queue, ...fields });
    const put = (fields: Partial<NewRecordFields> = {}) => backend.enqueue(rec(fields));
    const claimAll = () => backend.claimMany({ limit: 50, queues: [queue], workerId: W });
    const skipIf = (c: BadCase) => badCaseSkip(name, c);

    beforeEach(async () => {
      backend = await factory();
      raw = rawRecordWriter(backend);
      queue = `bad_${randomUUID().slice(0, 8)}`;
    });
    afterEach(async () => {
      await backend.close();
    });
    after(async () => {
      await options.teardown?.();
    });

    /** The record as read back: failed, its error naming the record and what could not be decoded. */
    const assertIsolated = async (id: string, error: RegExp) => {
      const read = await backend.getTask(id);
      assert.ok(read, 'the bad record can still be read');
      assert.equal(read.id, id);
      assert.equal(read.status, 'failed');
      assert.match(read.error ?? '', new RegExp(`^record ${id}: `));
      assert.match(read.error ?? '', error);
      assert.ok(Array.isArray(read.args) && read.metadata !== null && typeof read.metadata === 'object');
    };

    describe('a record that cannot be decoded', () => {
      for (const bad of BAD_RECORD_CASES) {
        test(
          `${bad.name}: it is failed, and every other record of the claim batch is claimed once`,
          skipIf(bad),
          async () => {
            const first = await put({ priority: 5 });
            const broken = await put({ priority: 4 });
            const last = await put({ priority: 3 });
            await raw.corrupt(broken.id, bad.columns);

            const claimed = await claimAll();
            assert.deepEqual(
              claimed.map((r) => r.id),
              [first.id, last.id],
            );
            for (const record of claimed) {
              assert.equal(record.status, 'running');
              assert.equal(record.workerId, W);
            }
            await assertIsolated(broken.id, bad.error);
            assert.deepEqual(await claimAll(), [], 'nothing is claimed twice, the bad record never');
            for (const record of claimed)
              assert.ok(await backend.completeTask(record.id, 'ok', { expectedRetryCount: 0 }));
            assert.equal((await backend.getTask(first.id))!.status, 'completed');
          },
        );
      }

      test('one in a completeAndClaim batch costs that record only', async () => {
        const running = await put();
        assert.equal((await claimAll()).length, 1);
        const good = await put();
        const broken = await put();
        await raw.corrupt(broken.id, { args_json: '{not json' });
        const outcome = await backend.completeAndClaim(
          [{ id: running.id, result: 1, expectedRetryCount: 0 }],
          {
            limit: 10,
            queues: [queue],
            workerId: W,
          },
        );
        assert.deepEqual(outcome.completed, [true]);
        assert.deepEqual(
          outcome.claimed.map((r) => r.id),
          [good.id],
        );
        await assertIsolated(broken.id, /args_json is not (valid JSON|a JSON array)/);
      });

      for (const bad of STALE_CASES) {
        test(
          `${bad.name}: stale recovery keeps working, the good record is recovered`,
          skipIf(bad),
          async () => {
            const good = await put({ maxRetries: 1 });
            const broken = await put({ maxRetries: 1 });
            const claimed = await claimAll();
            assert.equal(claimed.length, 2);
            await backend.nullHeartbeats(claimed.map((r) => ({ id: r.id, expectedRetryCount: 0 })));
            await raw.corrupt(broken.id, bad.columns);

            const recovered = await backend.requeueStaleRunning({ staleAfter: 1_000 });
            assert.ok(
              recovered.requeued.some((r) => r.id === good.id),
              'the good record is put back in line',
            );
            await backend.requeueStaleRunning({ staleAfter: 1_000 }); // and again: nothing left to trip over
            const again = await claimAll();
            assert.deepEqual(
              again.map((r) => r.id),
              [good.id],
              'the good record runs again, the bad one never',
            );
            const read = (await backend.getTask(broken.id))!;
            assert.equal(read.status, 'failed');
            assert.equal((await claimAll()).length, 0);
          },
        );
      }

      for (const route of ['claimMany', 'completeAndClaim', 'claimMany once due'] as const) {
        test(`an empty id: listed failed, isolated by ${route}, the others claimed, nothing left waiting`, async () => {
          // Ids come from newTaskId; a record read back from a store may carry any. One whose id is '' is a bad
          // record ('id is missing') on every store: never claimable, never left pending behind the others.
          const due = route === 'claimMany once due' ? new Date(Date.now() + 300) : null;
          const running = route === 'completeAndClaim' ? await put({ priority: 9 }) : undefined;
          if (running) assert.equal((await claimAll()).length, 1);
          const first = await put({ priority: 5 });
          await backend.enqueue({ ...rec({ priority: 4, scheduledAt: due }), id: '' });
          const last = await put({ priority: 3, scheduledAt: due });
          const listed = await backend.listRecords({ queue, limit: 10 });
          assert.deepEqual(
            new Set(listed.map((r) => r.id)),
            new Set([first.id, '', last.id, ...(running ? [running.id] : [])]),
          );
          assert.equal(listed.find((r) => r.id === '')!.status, 'failed', 'listed as the bad record it is');
          if (due) await new Promise((resolve) => setTimeout(resolve, due.getTime() - Date.now() + 50));

          const claimed = running
            ? (
                await backend.completeAndClaim([{ id: running.id, result: 1, expectedRetryCount: 0 }], {
                  limit: 10,
                  queues: [queue],
                  workerId: W,
                })
              ).claimed
            : await claimAll();
          assert.deepEqual(
            claimed.map((r) => r.id),
            [first.id, last.id],
          );
          const read = await backend.getTask('');
          assert.equal(read?.id, '');
          assert.equal(read.status, 'failed');
          assert.equal(read.error, 'record (no id): id is missing');
          assert.deepEqual(await claimAll(), [], 'never claimed later either');
          const stats = await backend.getStatistics({ queue });
          assert.equal(stats.pending, 0, 'nothing left waiting');
          assert.equal(stats.failed, 1, 'failed in the store, not only shown failed');
        });
      }

      test('lists, getTask, statistics and iterAll keep working, showing it failed', async () => {
        const good = await put();
        const broken = await put();
        const unknown = await put();
        await raw.corrupt(broken.id, { args_json: '{not json', metadata_json: 'null' });
        await raw.corrupt(unknown.id, { status: '<b>bogus' });

        const listed = await backend.listRecords({ queue, limit: 10 });
        assert.deepEqual(new Set(listed.map((r) => r.id)), new Set([good.id, broken.id, unknown.id]));
        assert.equal(listed.find((r) => r.id === good.id)!.status, 'pending');
        assert.deepEqual(await backend.listRecords({ limit: 1_000 }).then((all) => all.length >= 3), true);
        await assertIsolated(
          broken.id,
          /args_json is not (valid JSON|a JSON array); metadata_json is not a JSON object/,
        );
        await assertIsolated(unknown.id, /status is not a known status/);
        const seen: string[] = [];
        for await (const record of backend.iterAll()) if (record.queue === queue) seen.push(record.id);
        assert.deepEqual(new Set(seen), new Set([good.id, broken.id, unknown.id]));
        await backend.getStatistics({ queue });
        assert.deepEqual(
          (await claimAll()).map((r) => r.id),
          [good.id],
        );
      });
    });

    describe('text from task output', () => {
      test('an error message with NUL and lone surrogates is stored, each replaced by U+FFFD', async () => {
        const record = await put({ maxRetries: 0 });
        await claimAll();
        const failed = await backend.failTask(record.id, 'bad\u0000byte \ud800 end\udc00', {
          expectedRetryCount: 0,
        });
        assert.ok(failed, 'the failure is written');
        assert.equal(failed.status, 'failed');
        assert.equal(failed.error, 'bad\ufffdbyte \ufffd end\ufffd');
        assert.equal((await backend.getTask(record.id))!.error, 'bad\ufffdbyte \ufffd end\ufffd');
      });

      test('an error message of any length is stored, cut to ERROR_MESSAGE_CHARS the same way everywhere', async () => {
        // 100,000 euro signs: 300 KB of UTF-8, past MariaDB's TEXT column (65,535 bytes), which refused it in strict
        // mode while every other store took it whole.
        const record = await put({ maxRetries: 0 });
        await claimAll();
        const failed = await backend.failTask(record.id, `${'€'.repeat(100_000)}end`, {
          expectedRetryCount: 0,
        });
        assert.ok(failed, 'the failure is written');
        const stored = (await backend.getTask(record.id))!.error!;
        assert.equal(stored.length, ERROR_MESSAGE_CHARS);
        assert.ok(stored.startsWith('€€€'));
        assert.ok(stored.endsWith('… (cut)'), stored.slice(-20));
        assert.equal(failed.error, stored);
      });

      test('results holding NUL and lone surrogates round-trip exactly', async () => {
        const result = { text: 'a\u0000b', lone: 'x\ud800', list: ['\u0000'] };
        const alone = await put();
        const batched = await put();
        const [first, second] = await claimAll();
        assert.ok(first && second);
        assert.ok(await backend.completeTask(alone.id, result, { expectedRetryCount: 0 }));
        const outcome = await backend.completeAndClaim(
          [{ id: batched.id, result: 'nul \u0000 inside', expectedRetryCount: 0 }],
          undefined,
        );
        assert.deepEqual(outcome.completed, [true]);
        assert.deepEqual((await backend.getTask(alone.id))!.result, result);
        assert.equal((await backend.getTask(batched.id))!.result, 'nul \u0000 inside');
      });
    });

    test('a single enqueue the store refuses throws EnqueueRejectedError naming its record and stores nothing', async () => {
      const refused = await raw.refuse(rec({ key: `k:${randomUUID()}` }));
      await assert.rejects(backend.enqueue(refused), (error: unknown) => {
        assert.ok(error instanceof EnqueueRejectedError, `got ${String(error)}`);
        assert.equal(error.count, 1);
        assert.equal(error.taskId, refused.id);
        assert.equal(error.taskName, refused.taskName);
        assert.match(
          error.message,
          new RegExp(`enqueue of "${refused.taskName}" \\(record ${refused.id}\\)`),
        );
        assert.ok(error.cause !== undefined);
        return true;
      });
      assert.equal(await backend.getTaskByKey(refused.key!), null);
      assert.equal((await backend.getStatistics({ queue })).total, 0);
      // The store takes the next record.
      const next = rec();
      assert.equal((await backend.enqueue(next)).id, next.id);
    });

    describe('enqueueMany is all or nothing', () => {
      test('a batch whose last record the store refuses stores none of it and throws EnqueueRejectedError', async () => {
        const unkeyed = rec();
        const keyed = rec({ key: `k:${randomUUID()}` });
        const refused = await raw.refuse(rec({ key: `k:${randomUUID()}` }));
        await assert.rejects(backend.enqueueMany([unkeyed, keyed, refused]), (error: unknown) => {
          assert.ok(error instanceof EnqueueRejectedError, `got ${String(error)}`);
          assert.equal(error.count, 3);
          return true;
        });
        assert.equal(await backend.getTask(unkeyed.id), null);
        assert.equal(await backend.getTask(keyed.id), null);
        assert.equal(await backend.getTaskByKey(keyed.key!), null);
        assert.equal((await backend.getStatistics({ queue })).total, 0);
        assert.deepEqual(await claimAll(), []);
        // The store is usable afterwards, and the batch without the refused record goes in whole.
        const stored = await backend.enqueueMany([unkeyed, keyed]);
        assert.deepEqual(
          stored.map((r) => r.id),
          [unkeyed.id, keyed.id],
        );
      });

      test('a batch of several store calls (250 records) whose last record is refused stores none of it', async () => {
        const batch = Array.from({ length: 249 }, (_, i) => rec({ args: [i] }));
        const refused = await raw.refuse(rec({ key: `k:${randomUUID()}` }));
        await assert.rejects(backend.enqueueMany([...batch, refused]), EnqueueRejectedError);
        assert.equal((await backend.getStatistics({ queue })).total, 0);
        assert.equal(await backend.getTask(batch[0]!.id), null);
        assert.deepEqual(await claimAll(), []);
      });
    });
  });
}
