import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { SqlQueueStore } from '../../../../src/backends/typeorm/sql-queue.store.js';
import type { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless, testServices } from '../../../support/services.js';
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

/**
 * PostgreSQL builds them on a table in use: a plain `CREATE INDEX` (even `IF NOT EXISTS` on an index that exists)
 * waits for a SHARE lock behind every open write transaction, and every later enqueue and claim queues behind it.
 */
describe('postgres: the first grouped claim on a table in use', { skip: skipUnless('postgres') }, () => {
  const { factory, peer, teardown } = sqlBackendFactory('postgres');
  let admin: import('typeorm').DataSource | undefined;
  after(async () => {
    await admin?.destroy();
    await teardown();
  });
  const policy = { groupConcurrency: 1 };
  const claimGrouped = (backend: TypeOrmQueueBackend) =>
    backend.claimControlled({ queue: 'g', policy, limit: 5, workerId: 'w', executionBackends: ['local'] });
  const tableOf = (backend: TypeOrmQueueBackend) =>
    (backend as unknown as { requireStore(): { tableName: string } }).requireStore().tableName;
  const adminQuery = async (sql: string, params: unknown[] = []) => {
    if (!admin) {
      const { DataSource } = await import('typeorm');
      admin = new DataSource({ type: 'postgres', url: testServices.postgresUrl });
      await admin.initialize();
    }
    return (await admin.query(sql, params)) as Array<Record<string, unknown>>;
  };
  /** An open transaction of another connection that writes to the table: held until `commit`. */
  const openWriter = async (table: string) => {
    await adminQuery('SELECT 1');
    const runner = admin!.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query(`LOCK TABLE ${table} IN ROW EXCLUSIVE MODE`);
    return {
      commit: async () => {
        await runner.commitTransaction();
        await runner.release();
      },
    };
  };
  const within = <T>(promise: Promise<T>, ms: number, what: string) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms),
      ),
    ]);

  test('a missing index is built concurrently: enqueues go on while a write transaction is open', async () => {
    const backend = (await factory()) as TypeOrmQueueBackend;
    try {
      await backend.enqueue(newTaskRecord({ taskName: 't', queue: 'g', group: 'a' }));
      const writer = await openWriter(tableOf(backend));
      const claim = claimGrouped(backend);
      claim.catch(() => undefined);
      try {
        await new Promise((resolve) => setTimeout(resolve, 300)); // the build now waits for the open writer
        await within(
          backend.enqueue(newTaskRecord({ taskName: 't', queue: 'g', group: 'b' })),
          2_000,
          'an enqueue during the build',
        );
      } finally {
        await writer.commit();
      }
      const { claimed } = await within(claim, 10_000, 'the grouped claim');
      assert.deepEqual(claimed.map((r) => r.group).sort(), ['a', 'b']);
    } finally {
      await backend.close();
    }
  });

  test('existing indexes: a new store claims without waiting; an INVALID one is built again', async () => {
    const backend = (await factory()) as TypeOrmQueueBackend;
    const table = tableOf(backend);
    try {
      await claimGrouped(backend); // builds them
      const other = (await peer(backend)) as TypeOrmQueueBackend;
      try {
        await other.enqueue(newTaskRecord({ taskName: 't', queue: 'g', group: 'a' }));
        const writer = await openWriter(table);
        try {
          const { claimed } = await within(
            claimGrouped(other),
            2_000,
            'a grouped claim with the indexes in place',
          );
          assert.equal(claimed.length, 1);
        } finally {
          await writer.commit();
        }
      } finally {
        await other.close();
      }
      // A concurrent build that failed leaves its index INVALID (never used, never replaced by IF NOT EXISTS).
      await adminQuery(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)`, [
        `"${table}_group_ready"`,
      ]);
      const third = (await peer(backend)) as TypeOrmQueueBackend;
      try {
        await claimGrouped(third);
      } finally {
        await third.close();
      }
      const rows = await adminQuery(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [
        `"${table}_group_ready"`,
      ]);
      assert.deepEqual(rows, [{ indisvalid: true }]);
    } finally {
      await backend.close();
    }
  });
});
