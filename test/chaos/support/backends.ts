import { listQueueBackends } from '../../../src/backends/queue-backend.registry.js';
import { skipUnless, testServices, uniqueSuffix } from '../../support/services.js';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A shared (multi-process) backend a chaos scenario runs against. */
export interface ChaosBackend {
  name: string;
  /** Config for QueuesModule / getQueueBackend; unique storage per call. */
  config: () => Record<string, unknown>;
  skip: string | false;
}

const missing = (type: string) =>
  listQueueBackends().includes(type) ? false : `the ${type} backend is not built yet`;

/** The persistent backends, each with its own table / key prefix per scenario. */
export function chaosBackends(): ChaosBackend[] {
  return [
    {
      name: 'sqlite',
      config: () => ({
        type: 'typeorm',
        options: { type: 'better-sqlite3', database: path.join(tmpdir(), `chaos_${uniqueSuffix()}.sqlite`) },
      }),
      skip: missing('typeorm'),
    },
    {
      name: 'postgres',
      config: () => ({
        type: 'typeorm',
        options: { type: 'postgres', url: testServices.postgresUrl },
        tableName: `chaos_${uniqueSuffix()}`,
      }),
      skip: missing('typeorm') || skipUnless('postgres'),
    },
    {
      name: 'mariadb',
      config: () => ({
        type: 'typeorm',
        options: { type: 'mysql', url: testServices.mysqlUrl },
        tableName: `chaos_${uniqueSuffix()}`,
      }),
      skip: missing('typeorm') || skipUnless('mysql'),
    },
    {
      name: 'redis',
      config: () => ({ type: 'redis', url: testServices.redisUrl, keyPrefix: `chaos_${uniqueSuffix()}` }),
      skip: missing('redis') || skipUnless('redis'),
    },
  ];
}

/** Remove what a scenario stored (its own table, key prefix or SQLite file), and nothing else. */
export async function dropChaosStorage(config: Record<string, unknown>): Promise<void> {
  if (config['type'] === 'redis') {
    const { Redis } = await import('ioredis');
    const client = new Redis(config['url'] as string);
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(
        cursor,
        'MATCH',
        `${config['keyPrefix'] as string}:*`,
        'COUNT',
        5_000,
      );
      cursor = next;
      if (keys.length) await client.del(...keys);
    } while (cursor !== '0');
    await client.quit();
    return;
  }
  const options = config['options'] as { type: string; database?: string };
  if (options.type === 'better-sqlite3') {
    const { rmSync } = await import('node:fs');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${options.database}${suffix}`, { force: true });
    return;
  }
  const { DataSource } = await import('typeorm');
  const dataSource = new DataSource(options as never);
  await dataSource.initialize();
  await dataSource.query(`DROP TABLE IF EXISTS ${config['tableName'] as string}`);
  await dataSource.query(`DROP TABLE IF EXISTS ${config['tableName'] as string}_lease`);
  await dataSource.query(`DROP TABLE IF EXISTS ${config['tableName'] as string}_queue_state`);
  await dataSource.destroy();
}
