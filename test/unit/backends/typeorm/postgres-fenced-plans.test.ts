import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless, testServices } from '../../../support/services.js';
import { postgresTableFixture } from '../../../support/sql-backends.js';

/**
 * Writes to records the caller names (fenced completions and failures, heartbeats, cancels, metadata patches)
 * must find their rows by primary key. Planner statistics of a queue table are always stale: taken while every
 * row was pending, they promise the `_running` partial index is empty, and a plain `status = 'running'` in such a
 * write once let the planner read that whole index for every write (O(running rows) each).
 *
 * The check reads the server's own count of scans of `_running`. The backend runs on a DataSource of one
 * connection, so `pg_stat_force_next_flush()` on it publishes that connection's counts before we read them.
 */
describe('PostgreSQL writes to named records', { skip: skipUnless('postgres') }, () => {
  const fixture = postgresTableFixture('fenceplan');
  const { tableName } = fixture;
  after(() => fixture.drop());

  test('find their rows by primary key while statistics say no row is running', async () => {
    const admin = await fixture.start();
    const { DataSource } = await import('typeorm');
    const dataSource = new DataSource({ type: 'postgres', url: testServices.postgresUrl, extra: { max: 1 } });
    await dataSource.initialize();
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName });
    await backend.open();
    const runningIndexScans = async (): Promise<number> => {
      await dataSource.query('SELECT pg_stat_force_next_flush()');
      const [row] = await admin.query(
        'SELECT idx_scan::int AS n FROM pg_stat_user_indexes WHERE indexrelname = $1',
        [`${tableName}_running`],
      );
      return row.n;
    };
    try {
      const records = Array.from({ length: 600 }, (_, i) =>
        newTaskRecord({ taskName: 'plan.task', args: [i] }),
      );
      await backend.enqueueMany(records);
      await admin.query(`ANALYZE "${tableName}"`); // statistics of a table of pending rows only
      const claimed = await backend.claimMany({ limit: 600, workerId: 'w1' });
      assert.equal(claimed.length, 600);
      const fence = { expectedRetryCount: 0 };
      const pairs = claimed.map((r) => ({ id: r.id, expectedRetryCount: 0 }));

      // The stale scan is the index's own work: it must still use it, or the counter proves nothing.
      const before = await runningIndexScans();
      await backend.requeueStaleRunning({ staleAfter: 60_000 });
      const afterStaleScan = await runningIndexScans();
      assert.ok(afterStaleScan > before, 'the stale scan reads the _running index');

      assert.deepEqual(
        await backend.touchHeartbeats(pairs.slice(0, 100)),
        claimed.slice(0, 100).map((r) => r.id),
      );
      assert.equal(await backend.touchHeartbeat(claimed[100]!.id, fence), true);
      assert.equal(await backend.patchMetadata(claimed[101]!.id, { step: 1 }, fence), true);
      assert.equal((await backend.completeTask(claimed[102]!.id, 'done', fence))?.status, 'completed');
      assert.equal(
        (await backend.failTask(claimed[103]!.id, 'boom', { ...fence, retry: false }))?.status,
        'failed',
      );
      assert.equal((await backend.cancelTask(claimed[104]!.id))?.status, 'cancelled');
      assert.deepEqual(
        await backend.releaseClaims(pairs.slice(105, 110)),
        claimed.slice(105, 110).map((r) => r.id),
      );
      // Batched completions: past the fifth execution, where a prepared statement may switch to a generic plan.
      for (let batch = 0; batch < 8; batch++) {
        const items = claimed
          .slice(200 + batch * 50, 250 + batch * 50)
          .map((r) => ({ id: r.id, expectedRetryCount: 0, result: batch }));
        const outcome = await backend.completeAndClaim(items, undefined);
        assert.deepEqual(
          outcome.completed,
          items.map(() => true),
        );
      }
      await backend.nullHeartbeats(pairs.slice(110, 120));
      assert.equal(
        await runningIndexScans(),
        afterStaleScan,
        'no write to a named record scanned the _running index',
      );

      const stats = await backend.getStatistics();
      assert.equal(stats.completed, 1 + 400);
      assert.equal(stats.failed, 1);
      assert.equal(stats.cancelled, 1);
      assert.equal(stats.pending, 5);
    } finally {
      await backend.close();
      await dataSource.destroy();
    }
  });
});
