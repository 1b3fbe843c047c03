import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { newestFirst } from '../../../../src/backends/queue-backend.js';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import type { ListPosition, TaskListResult } from '../../../../src/management/task-list.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { skipUnless, testServices } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

/**
 * Every index of the queue table costs each insert, claim or completion an entry (a status change is never a HOT
 * update), so PostgreSQL keeps one listing index by status and no `_list` or `_terminal`: an unfiltered page merges
 * one `_list_status` range per status, and age cleanup reads the same index by creation time. This checks that a
 * table of an earlier version loses the two indexes at open, that merged pages come out in the order and with the
 * cursors a single index gave, and that neither a page nor a cleanup reads the table whole.
 */
describe('PostgreSQL listing without _list and _terminal', { skip: skipUnless('postgres') }, () => {
  const fixture = postgresTableFixture('listidx');
  const { tableName } = fixture;
  after(() => fixture.drop());

  test('merged pages by status, cleanup by creation time, no page reads the table whole', async () => {
    const admin = await fixture.start();
    const { DataSource } = await import('typeorm');
    const dataSource = new DataSource({ type: 'postgres', url: testServices.postgresUrl, extra: { max: 1 } });
    await dataSource.initialize();
    let backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName });
    try {
      await backend.open();
      // A table of an earlier version: it had both indexes. Built on the backend's one connection, whose statistics
      // `seqScans` flushes: an index build counts as a sequential scan, and the admin pool's connections report theirs
      // when they next end a transaction a second after the last, which could fall inside the measured window.
      await dataSource.query(
        `CREATE INDEX "${tableName}_list" ON "${tableName}" (created_at, id COLLATE "C") WHERE status <> 'running'`,
      );
      await dataSource.query(
        `CREATE INDEX "${tableName}_terminal" ON "${tableName}" (completed_at) WHERE status IN ('completed','failed','cancelled')`,
      );
      await backend.close();
      backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName });
      await backend.open();
      const indexes = (
        await admin.query('SELECT indexname FROM pg_indexes WHERE tablename = $1', [tableName])
      ).map((row: { indexname: string }) => row.indexname);
      assert.ok(!indexes.includes(`${tableName}_list`), 'an earlier _list is dropped at open');
      assert.ok(!indexes.includes(`${tableName}_terminal`), 'an earlier _terminal is dropped at open');
      assert.ok(indexes.includes(`${tableName}_list_status`));

      // 6,000 records over two queues, four per millisecond (ties on created_at are broken by id); the first 400
      // were created an hour ago, the rest are stamped an hour ahead, so an age cleanup has few candidates among
      // many terminal records, as in a table that keeps a week of them.
      const now = Date.now();
      const records = Array.from({ length: 6_000 }, (_, i) =>
        newTaskRecord(
          { taskName: 'list.task', queue: i % 3 === 0 ? 'q0' : 'q1' },
          new Date((i < 400 ? now - 3_600_000 : now + 3_600_000) + Math.floor(i / 4)),
        ),
      );
      await backend.enqueueMany(records);
      const claimed = await backend.claimMany({ limit: 4_000, workerId: 'w1' });
      const items = claimed.slice(0, 3_000).map((r) => ({ id: r.id, expectedRetryCount: 0, result: null }));
      await backend.completeAndClaim(items, undefined);
      for (const r of claimed.slice(3_000, 3_200))
        await backend.failTask(r.id, 'boom', { expectedRetryCount: 0, retry: false });
      for (const r of claimed.slice(3_200, 3_300)) await backend.cancelTask(r.id);
      await admin.query(`ANALYZE "${tableName}"`);

      const seqScans = async (): Promise<number> => {
        await dataSource.query('SELECT pg_stat_force_next_flush()');
        const [row] = await admin.query(
          'SELECT seq_scan::int AS n FROM pg_stat_user_tables WHERE relname = $1',
          [tableName],
        );
        return row.n;
      };
      const expectedAll = (await backend.listRecords({ limit: 10_000 })).sort(newestFirst);
      assert.equal(expectedAll.length, 6_000);

      const walk = async (filter: { queue?: string }, pages: number): Promise<QueuedTaskRecord[]> => {
        const seen: QueuedTaskRecord[] = [];
        let after: ListPosition | undefined;
        for (let page = 0; page < pages; page++) {
          const result: TaskListResult = await backend.listTasks({
            ...filter,
            limit: 100,
            ...(after ? { after } : {}),
          });
          seen.push(...result.records);
          if (!result.next) break;
          after = result.next;
        }
        return seen;
      };
      const before = await seqScans();
      const unfiltered = await walk({}, 30);
      const byQueue = await walk({ queue: 'q0' }, 10);
      assert.deepEqual(
        unfiltered.map((r) => r.id),
        expectedAll.slice(0, 3_000).map((r) => r.id),
        'pages merged by status come newest first, cursor after cursor, every status included',
      );
      assert.ok(new Set(unfiltered.map((r) => r.status)).size >= 4, 'the pages mix statuses');
      assert.deepEqual(
        byQueue.map((r) => r.id),
        expectedAll
          .filter((r) => r.queue === 'q0')
          .slice(0, 1_000)
          .map((r) => r.id),
      );
      assert.equal((await seqScans()) - before, 0, 'no page read the table whole');

      // The age cleanup finds what ended before the cut through `_list_status` (its DELETE by id is another matter:
      // on a table this small a sequential scan is the planner's right choice for 100 ids).
      const cut = new Date(Date.now() + 60_000);
      const listStatusScans = async (): Promise<number> => {
        await dataSource.query('SELECT pg_stat_force_next_flush()');
        const [row] = await admin.query(
          'SELECT idx_scan::int AS n FROM pg_stat_user_indexes WHERE indexrelname = $1',
          [`${tableName}_list_status`],
        );
        return row.n;
      };
      const indexScansBeforeCleanup = await listStatusScans();
      assert.equal(await backend.cleanupTerminal(cut, { limit: 100 }), 100);
      assert.ok((await listStatusScans()) > indexScansBeforeCleanup, 'the cleanup reads _list_status');
      assert.equal(await backend.cleanupTerminal(cut, { limit: 10_000 }), 300);
      const left = await backend.getStatistics();
      assert.deepEqual([left.completed, left.failed, left.cancelled], [2_600, 200, 100]);
    } finally {
      await backend.close();
      await dataSource.destroy();
    }
  });
});
