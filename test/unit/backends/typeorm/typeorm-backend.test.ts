import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DataSource } from 'typeorm';
import { createQueueTablesMigration } from '../../../../src/backends/typeorm/create-queue-tables.migration.js';
import { TypeOrmQueueBackend } from '../../../../src/backends/typeorm/typeorm.backend.js';
import { QueueConfigurationError } from '../../../../src/errors/queue-configuration.error.js';
import { newTaskRecord } from '../../../../src/models/new-record.js';
import type { QueuedTaskRecord } from '../../../../src/models/queued-task-record.js';
import { skipUnless, testServices, uniqueSuffix } from '../../../support/services.js';

const sqliteFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'typeorm-unit-')), 'q.sqlite');

describe('TypeOrmQueueBackend configuration', () => {
  test('hostile table names never reach SQL', () => {
    for (const tableName of ['x; DROP TABLE users', 'a b', '1abc', 'a.b.c', '"quoted"', 'x'.repeat(60), '']) {
      assert.throws(
        () =>
          new TypeOrmQueueBackend({
            type: 'typeorm',
            options: { type: 'better-sqlite3', database: ':memory:' },
            tableName,
          }),
        (error: unknown) =>
          error instanceof QueueConfigurationError &&
          error.problems[0]!.path === 'queueBackend.tableName' &&
          error.message.includes(`${JSON.stringify(tableName)} is not a valid table name`),
        tableName,
      );
    }
    assert.doesNotThrow(
      () =>
        new TypeOrmQueueBackend({
          type: 'typeorm',
          options: { type: 'better-sqlite3', database: ':memory:' },
          tableName: 'app.my_queue',
        }),
    );
  });

  test('an unsupported driver is a configuration error naming the supported ones', async () => {
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', options: { type: 'sqljs' } as never });
    await assert.rejects(
      backend.open(),
      /the TypeORM driver "sqljs" is not supported; supported: postgres, mysql, mariadb, better-sqlite3/,
    );
  });

  test('a bad notifyTransport or preparedStatements is a typed error naming the option', () => {
    const options = { type: 'better-sqlite3' as const, database: ':memory:' };
    for (const [field, value, message] of [
      [
        'notifyTransport',
        'carrier-pigeon',
        /queueBackend\.notifyTransport: must be 'listen_notify' or 'polling'/,
      ],
      ['preparedStatements', 'no', /queueBackend\.preparedStatements: must be true or false/],
      ['preparedStatements', 0, /queueBackend\.preparedStatements: must be true or false/],
    ] as const) {
      assert.throws(
        () => new TypeOrmQueueBackend({ type: 'typeorm', options, [field]: value } as never),
        (error: unknown) => error instanceof QueueConfigurationError && message.test(error.message),
        `${field}: ${String(value)}`,
      );
    }
    assert.doesNotThrow(
      () => new TypeOrmQueueBackend({ type: 'typeorm', options, preparedStatements: false }),
    );
  });

  test('exactly one DataSource source is required', () => {
    assert.throws(
      () => new TypeOrmQueueBackend({ type: 'typeorm' }),
      /exactly one of dataSource, dataSourceName or options/,
    );
  });

  test('a missing driver package fails open() with MissingDependencyError naming it', () => {
    let root = path.dirname(fileURLToPath(import.meta.url));
    while (!existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
    const buildRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
    const hook = pathToFileURL(path.join(root, 'test/support/block-optional-drivers.mjs')).href;
    const backendUrl = pathToFileURL(path.join(buildRoot, 'src/backends/typeorm/typeorm.backend.js')).href;
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        hook,
        '--input-type=module',
        '-e',
        `
        const { TypeOrmQueueBackend } = await import(${JSON.stringify(backendUrl)});
        try { await new TypeOrmQueueBackend({ type: 'typeorm', options: { type: 'better-sqlite3', database: ':memory:' } }).open(); }
        catch (e) { console.log(e.name + ': ' + e.message); }`,
      ],
      { encoding: 'utf8', cwd: root },
    );
    assert.match(
      result.stdout,
      /MissingDependencyError: The typeorm queue backend needs the package "typeorm": run `npm install typeorm`\./,
    );
  });

  test('a DataSource passed in is never destroyed by close()', async () => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: sqliteFile() });
    await dataSource.initialize();
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource });
    await backend.open();
    await backend.enqueue(newTaskRecord({ taskName: 'x' }));
    assert.equal(backend.metrics().enqueued, 1);
    assert.equal(backend.metrics().claimed, 0);
    await backend.close();
    assert.equal(dataSource.isInitialized, true);
    assert.equal(Number((await dataSource.query('SELECT COUNT(*) AS n FROM nestjs_queue_task'))[0].n), 1);
    await dataSource.destroy();
  });

  test('a heartbeatDataSource that fails to open falls back to the main one', async () => {
    const backend = new TypeOrmQueueBackend({
      type: 'typeorm',
      options: { type: 'better-sqlite3', database: sqliteFile() },
      heartbeatDataSource: {
        type: 'postgres',
        host: '127.0.0.1',
        port: 1,
        username: 'nobody',
        database: 'none',
        connectTimeoutMS: 500,
      } as never,
    });
    await backend.open();
    const record = await backend.enqueue(newTaskRecord({ taskName: 'x', queue: 'hb' }));
    await backend.claimMany({ limit: 1, queues: ['hb'], workerId: 'w' });
    assert.deepEqual(await backend.touchHeartbeats([{ id: record.id, expectedRetryCount: 0 }]), [record.id]);
    assert.equal(backend.capabilities.name, 'typeorm:sqlite');
    await backend.close();
  });

  test('the exported migration creates the schema for apps that own their migrations', async () => {
    const Migration = createQueueTablesMigration('app_queue');
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: sqliteFile(),
      migrations: [Migration],
    });
    await dataSource.initialize();
    await dataSource.runMigrations();
    const backend = new TypeOrmQueueBackend({
      type: 'typeorm',
      dataSource,
      tableName: 'app_queue',
      createSchema: false,
    });
    await backend.open();
    const stored = await backend.enqueue(newTaskRecord({ taskName: 'migrated' }));
    assert.equal((await backend.getTask(stored.id))?.taskName, 'migrated');
    await backend.close();
    await dataSource.undoLastMigration();
    await dataSource.destroy();
  });
});

describe('transactional enqueue on PostgreSQL', { skip: skipUnless('postgres') }, () => {
  test('a rolled-back transaction leaves nothing; a committed one keeps the record', async () => {
    const dataSource = new DataSource({ type: 'postgres', url: testServices.postgresUrl });
    await dataSource.initialize();
    const tableName = `tx_${uniqueSuffix()}`;
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName });
    await backend.open();
    try {
      const rolledBack = newTaskRecord({ taskName: 'tx.task' });
      await assert.rejects(
        dataSource.transaction(async (manager) => {
          await backend.enqueue(rolledBack, { manager });
          assert.ok(
            await manager
              .query(`SELECT id FROM ${tableName} WHERE id = $1`, [rolledBack.id])
              .then((rows: unknown[]) => rows.length === 1),
          );
          throw new Error('rollback');
        }),
        /rollback/,
      );
      assert.equal(await backend.getTask(rolledBack.id), null);
      const committed = newTaskRecord({ taskName: 'tx.task', key: 'tx-key' });
      await dataSource.transaction(async (manager) => {
        await backend.enqueue(committed, { manager });
        const dedup = await backend.enqueue(newTaskRecord({ taskName: 'tx.task', key: 'tx-key' }), {
          manager,
        });
        assert.equal(dedup.id, committed.id, 'dedup sees the uncommitted holder inside the transaction');
      });
      assert.equal((await backend.getTask(committed.id))?.status, 'pending');
    } finally {
      await backend.close();
      await dataSource.query(`DROP TABLE IF EXISTS ${tableName}`);
      await dataSource.query(`DROP TABLE IF EXISTS ${tableName}_lease`);
      await dataSource.destroy();
    }
  });
});

describe('prepared enqueue statements on PostgreSQL', { skip: skipUnless('postgres') }, () => {
  /** Backends on each table, sharing one DataSource whose pool has a single connection (so we can look in it). */
  async function withBackends(
    preparedStatements: boolean | undefined,
    tables: number,
    run: (backends: TypeOrmQueueBackend[], preparedCount: () => Promise<number>) => Promise<void>,
  ): Promise<void> {
    const dataSource = new DataSource({
      type: 'postgres',
      url: testServices.postgresUrl,
      extra: { max: 1 },
    });
    await dataSource.initialize();
    const names = Array.from({ length: tables }, () => `prep_${uniqueSuffix()}`);
    const backends = names.map(
      (tableName) => new TypeOrmQueueBackend({ type: 'typeorm', dataSource, tableName, preparedStatements }),
    );
    try {
      for (const backend of backends) await backend.open();
      await run(backends, async () => {
        const rows: Array<{ n: string }> = await dataSource.query(
          `SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'nestjs_queues_%'`,
        );
        return Number(rows[0]!.n);
      });
    } finally {
      for (const backend of backends) await backend.close();
      for (const name of names) {
        await dataSource.query(`DROP TABLE IF EXISTS ${name}`);
        await dataSource.query(`DROP TABLE IF EXISTS ${name}_lease`);
      }
      await dataSource.destroy();
    }
  }

  test('each enqueue statement is prepared once per connection and per table', async () => {
    await withBackends(undefined, 2, async (backends, preparedCount) => {
      for (let round = 0; round < 3; round++) {
        for (const backend of backends) {
          await backend.enqueue(newTaskRecord({ taskName: 'prep.task' }));
          await backend.enqueueMany([newTaskRecord({ taskName: 'prep.task' })]);
        }
      }
      assert.equal(await preparedCount(), 4, 'single and bulk insert of each of the two tables');
      assert.equal((await backends[0]!.getStatistics()).total, 6);
      // Claims and batched completions: one statement per filter shape, whatever the limit, lists and items.
      const [backend] = backends;
      const claimed: QueuedTaskRecord[] = [];
      for (const limit of [1, 2]) claimed.push(...(await backend!.claimMany({ limit, workerId: 'w' })));
      // A claim naming its queues reads each queue's head in a branch of its own: one statement per list length,
      // whatever the names (a worker's list is fixed, so it prepares one).
      for (const queues of [['default'], ['default', 'other'], ['other'], ['other', 'default']])
        claimed.push(...(await backend!.claimMany({ limit: 1, queues, workerId: 'w' })));
      assert.equal(await preparedCount(), 7, 'one claim without a queue list, one per length of a list');
      const done = (record: QueuedTaskRecord) => ({
        id: record.id,
        result: null,
        expectedRetryCount: 0,
      });
      await backend!.completeAndClaim([done(claimed[0]!)], undefined);
      await backend!.completeAndClaim([done(claimed[1]!), done(claimed[2]!)], undefined);
      await backend!.completeAndClaim([done(claimed[3]!)], { limit: 3, workerId: 'w' });
      assert.equal(await preparedCount(), 9, 'one completion without a claim, one with');
      assert.equal((await backend!.getStatistics()).completed, 4);
    });
  });

  test('preparedStatements: false sends every statement unnamed', async () => {
    await withBackends(false, 1, async ([backend], preparedCount) => {
      await backend!.enqueue(newTaskRecord({ taskName: 'prep.task' }));
      await backend!.enqueueMany([newTaskRecord({ taskName: 'prep.task' })]);
      const [record] = await backend!.claimMany({ limit: 1, workerId: 'w' });
      await backend!.completeAndClaim([{ id: record!.id, result: null, expectedRetryCount: 0 }], {
        limit: 1,
        workerId: 'w',
      });
      assert.equal(await preparedCount(), 0);
      assert.equal((await backend!.getStatistics()).total, 2);
    });
  });
});
