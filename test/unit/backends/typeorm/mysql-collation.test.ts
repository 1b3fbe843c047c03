import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { DataSource } from 'typeorm';
import { createQueueTablesMigration } from '../../../../src/backends/typeorm/create-queue-tables.migration.js';
import { exactCollation, MysqlQueueStore } from '../../../../src/backends/typeorm/mysql.store.js';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

/** The collations of the columns of every table whose name starts with `prefix`, by table. */
async function collationsOf(dataSource: DataSource, prefix: string): Promise<Map<string, Set<string>>> {
  const rows = (await dataSource.query(
    `SELECT table_name AS t, collation_name AS c FROM information_schema.columns
     WHERE table_schema = DATABASE() AND table_name LIKE ? AND collation_name IS NOT NULL`,
    [`${prefix}%`],
  )) as Array<{ t: string; c: string }>;
  const byTable = new Map<string, Set<string>>();
  for (const row of rows) byTable.set(row.t, (byTable.get(row.t) ?? new Set()).add(row.c));
  return byTable;
}

/** Keys 'k' and 'k ' must be two keys: a second enqueue with the padded one is a new record. */
async function assertKeysExact(backend: TypeOrmQueueBackend, prefix: string): Promise<void> {
  const key = `k_${prefix}`;
  const plain = await backend.enqueue(newTaskRecord({ taskName: 'collation.task', key }));
  const padded = await backend.enqueue(newTaskRecord({ taskName: 'collation.task', key: `${key} ` }));
  assert.notEqual(padded.id, plain.id);
  assert.equal((await backend.getTaskByKey(`${key} `))?.id, padded.id);
  assert.equal(await backend.getTask(`${plain.id} `), null);
}

// MariaDB's and MySQL's utf8mb4_bin is PAD SPACE: 'k' = 'k '. The tables are created NO PAD (exact), and a store
// whose records table an earlier version created keeps that table's collation for every table it adds, since a join
// across two collations fails ("Illegal mix of collations").
describe('MySQL/MariaDB table collation', { skip: skipUnless('mysql') }, () => {
  const dataSource = new DataSource({ type: 'mysql', url: testServices.mysqlUrl });
  const prefixes: string[] = [];
  const fresh = () => {
    const prefix = `coll_${uniqueSuffix()}`;
    prefixes.push(prefix);
    return prefix;
  };
  after(async () => {
    if (!dataSource.isInitialized) return;
    for (const prefix of prefixes)
      for (const table of (await collationsOf(dataSource, prefix)).keys())
        await dataSource.query(`DROP TABLE IF EXISTS \`${table}\``);
    await dataSource.destroy();
  });

  test('exactCollation names the NO PAD binary collation of each server', () => {
    assert.equal(exactCollation('10.11.19-MariaDB-0+deb12u1'), 'utf8mb4_nopad_bin');
    assert.equal(exactCollation('8.0.36'), 'utf8mb4_0900_bin');
  });

  test('a new store creates every table with the exact collation; keys and ids compare exactly', async () => {
    await dataSource.initialize();
    const [{ version }] = (await dataSource.query('SELECT VERSION() AS version')) as Array<{
      version: string;
    }>;
    const prefix = fresh();
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName: prefix });
    await backend.open();
    try {
      const tables = await collationsOf(dataSource, prefix);
      assert.ok(tables.size >= 5, `tables: ${[...tables.keys()].join(', ')}`);
      for (const [table, collations] of tables)
        assert.deepEqual([...collations], [exactCollation(version)], table);
      await assertKeysExact(backend, prefix);
    } finally {
      await backend.close();
    }
  });

  test('the exported migration creates the tables with the exact collation too', async () => {
    const [{ version }] = (await dataSource.query('SELECT VERSION() AS version')) as Array<{
      version: string;
    }>;
    const prefix = fresh();
    const Migration = createQueueTablesMigration(prefix);
    const runner = dataSource.createQueryRunner();
    try {
      await new Migration().up(runner);
    } finally {
      await runner.release();
    }
    for (const [table, collations] of await collationsOf(dataSource, prefix))
      assert.deepEqual([...collations], [exactCollation(version)], table);
    const backend = new TypeOrmQueueBackend({
      type: 'typeorm',
      dataSource,
      tableName: prefix,
      createSchema: false,
    });
    await backend.open();
    try {
      await assertKeysExact(backend, prefix);
    } finally {
      await backend.close();
    }
  });

  test('a records table an earlier version created (PAD SPACE) keeps one collation across every table', async () => {
    const prefix = fresh();
    // The records table as an earlier version wrote it, alone: the tables added later are created at open.
    const earlier = new MysqlQueueStore(prefix, {} as never); // no server asked: the PAD SPACE collation
    const [createRecords] = earlier.schemaStatements();
    await dataSource.query(createRecords!);
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName: prefix });
    await backend.open();
    try {
      const tables = await collationsOf(dataSource, prefix);
      assert.ok(tables.size >= 5);
      for (const [table, collations] of tables) assert.deepEqual([...collations], ['utf8mb4_bin'], table);
      // Reads that join the records table with the tables added at open still work.
      const record = await backend.enqueue(newTaskRecord({ taskName: 'collation.task' }));
      const [claimed] = await backend.claimMany({ limit: 1, workerId: 'w' });
      assert.equal(claimed?.id, record.id);
      assert.ok(await backend.completeTask(record.id, 'ok'));
      assert.equal((await backend.listTasks({ limit: 10 })).records.length, 1);
    } finally {
      await backend.close();
    }
  });
});
