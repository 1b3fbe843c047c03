import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { QueueBackend } from '../../src/backends/queue-backend.js';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import { testServices, uniqueSuffix } from './services.js';

/** A factory of opened TypeORM backends on one dialect, each on its own table, and a teardown that drops them. */
export function sqlBackendFactory(dialect: 'sqlite' | 'postgres' | 'mysql') {
  const tables: string[] = [];
  const dir = dialect === 'sqlite' ? mkdtempSync(path.join(tmpdir(), 'queues-sqlite-')) : '';
  const options = () => {
    if (dialect === 'sqlite')
      return { type: 'better-sqlite3' as const, database: path.join(dir, 'queue.sqlite') };
    if (dialect === 'postgres') return { type: 'postgres' as const, url: testServices.postgresUrl };
    return { type: 'mysql' as const, url: testServices.mysqlUrl };
  };
  const tableOf = new WeakMap<TypeOrmQueueBackend, string>();
  const open = async (tableName: string) => {
    const backend = new TypeOrmQueueBackend({ type: 'typeorm', options: options() as never, tableName });
    await backend.open();
    tableOf.set(backend, tableName);
    return backend;
  };
  const factory = async () => {
    const tableName = `q_${uniqueSuffix()}`;
    tables.push(tableName);
    return open(tableName);
  };
  /** A second backend on the same table, with connections of its own: another process, as far as the server knows. */
  const peer = (backend: QueueBackend) => open(tableOf.get(backend as TypeOrmQueueBackend)!);
  const teardown = async () => {
    if (dialect === 'sqlite') {
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const { DataSource } = await import('typeorm');
    const dataSource = new DataSource(options() as never);
    await dataSource.initialize();
    for (const table of tables) {
      await dataSource.query(`DROP TABLE IF EXISTS ${table}_log`);
      await dataSource.query(`DROP TABLE IF EXISTS ${table}`);
      await dataSource.query(`DROP TABLE IF EXISTS ${table}_lease`);
      await dataSource.query(`DROP TABLE IF EXISTS ${table}_flow`);
      await dataSource.query(`DROP TABLE IF EXISTS ${table}_queue_state`);
      await dataSource.query(`DROP TABLE IF EXISTS ${table}_worker`);
      await dataSource.query(`DROP TABLE IF EXISTS ${table}_schedule`);
    }
    await dataSource.destroy();
  };
  /** The table `backend` (of this factory) works on, as the server names it. */
  const tableName = (backend: QueueBackend) => tableOf.get(backend as TypeOrmQueueBackend)!;
  return { factory, peer, teardown, tableName };
}

/**
 * A PostgreSQL table name of its own for one test file, the backend config on it, and an admin DataSource for
 * looking at the server; `start()` connects the admin, `drop()` removes the tables and disconnects.
 */
export function postgresTableFixture(prefix: string) {
  const tableName = `${prefix}_${uniqueSuffix()}`;
  const options = { type: 'postgres' as const, url: testServices.postgresUrl };
  const config = { type: 'typeorm' as const, options, tableName };
  let admin: import('typeorm').DataSource | undefined;
  return {
    tableName,
    config,
    async start() {
      const { DataSource } = await import('typeorm');
      admin = new DataSource(options);
      await admin.initialize();
      return admin;
    },
    async drop() {
      if (!admin?.isInitialized) return;
      await admin.query(`DROP TABLE IF EXISTS "${tableName}_log"`);
      await admin.query(`DROP TABLE IF EXISTS "${tableName}"`);
      await admin.query(`DROP TABLE IF EXISTS "${tableName}_lease"`);
      await admin.query(`DROP TABLE IF EXISTS "${tableName}_queue_state"`);
      await admin.query(`DROP TABLE IF EXISTS "${tableName}_schedule"`);
      for (const suffix of ['control', 'rate', 'group'])
        await admin.query(`DROP TABLE IF EXISTS "${tableName}_${suffix}"`);
      await admin.destroy();
    },
  };
}
