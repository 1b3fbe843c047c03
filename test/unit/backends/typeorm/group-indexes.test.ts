import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { SqlQueueStore } from '../../../../src/backends/typeorm/sql-queue.store.js';
import type { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless } from '../../../support/services.js';
import { sqlBackendFactory } from '../../../support/sql-backends.js';

/** The names of the records table's indexes, as the dialect lists them. */
async function indexNames(store: SqlQueueStore, dialect: string, table: string): Promise<string[]> {
  const sql =
    dialect === 'postgres'
      ? 'SELECT indexname AS name FROM pg_indexes WHERE tablename = ?'
      : dialect === 'mysql'
        ? 'SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?'
        : "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?";
  return (await store.query(sql, [table])).map((row) => String(row['name']));
}

/**
 * The group indexes (`_group_ready`, `_group_running`) are read by grouped claims only, and every waiting record paid
 * an entry in `_group_ready` (3 of the 13 µs of server CPU per row of a PostgreSQL bulk enqueue): a table gets them at
 * the first grouped claim of a store, not at open. A grouped claim, by id too, finds them there.
 */
for (const dialect of ['postgres', 'mysql', 'sqlite'] as const) {
  describe(
    `${dialect}: group indexes come with the first grouped claim`,
    {
      skip: dialect === 'sqlite' ? false : skipUnless(dialect),
    },
    () => {
      const { factory, teardown } = sqlBackendFactory(dialect);
      after(teardown);

      test('none at open; both after a grouped claim, which claims a group head in turn', async () => {
        const backend = (await factory()) as TypeOrmQueueBackend;
        const store = (backend as unknown as { requireStore(): SqlQueueStore }).requireStore();
        const table = (store as unknown as { tableName: string }).tableName;
        try {
          const group = (names: string[]) => names.filter((n) => /_group_(ready|running)$/.test(n)).sort();
          assert.deepEqual(group(await indexNames(store, dialect, table)), [], 'no group index at open');
          const now = new Date();
          await backend.enqueueMany([
            newTaskRecord({ taskName: 't', queue: 'g', group: 'a' }, now),
            newTaskRecord({ taskName: 't', queue: 'g', group: 'a' }, now),
            newTaskRecord({ taskName: 't', queue: 'g', group: 'b' }, now),
          ]);
          const policy = { groupConcurrency: 1 };
          const { claimed } = await backend.claimControlled({
            queue: 'g',
            policy,
            limit: 3,
            workerId: 'w',
            executionBackends: ['local'],
          });
          assert.deepEqual(claimed.map((r) => r.group).sort(), ['a', 'b'], 'one record per group at cap 1');
          assert.deepEqual(group(await indexNames(store, dialect, table)), [
            `${table}_group_ready`,
            `${table}_group_running`,
          ]);
          const waiting = (await backend.listTasks({ status: 'pending', limit: 1 })).records[0]!;
          const byId = await backend.claimTaskControlled(waiting.id, { workerId: 'w', policy });
          assert.deepEqual(
            [byId.claimed, byId.refused],
            [null, 'groupConcurrency'],
            'its group is at its cap',
          );
        } finally {
          await backend.close();
        }
      });
    },
  );
}
