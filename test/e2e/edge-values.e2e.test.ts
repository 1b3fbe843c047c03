import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  QueueConfigurationError,
  QueueService,
  Schedule,
  Task,
  type QueueBackendConfig,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { skipUnless, testServices } from '../support/services.js';

const THIRTY_DAYS = 30 * 24 * 3600 * 1000;

describe('edge values (issue 18)', () => {
  const apps: TestingModule[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  test('a 30-day timeout (task option or enqueue option) lets the task run to the end, not abort it after 1 ms', async () => {
    @Injectable()
    class Slow {
      @Task('edge.long_timeout', { timeout: THIRTY_DAYS })
      async run(ms: number) {
        await sleep(ms);
        return 'done';
      }
      @Task('edge.no_timeout')
      async other(ms: number) {
        await sleep(ms);
        return 'done';
      }
    }
    const app = await createQueuesApp([Slow]);
    apps.push(app);
    const queues = app.get(QueueService);
    const byTask = await queues.enqueue('edge.long_timeout', [40]);
    const byOption = await queues.enqueue('edge.no_timeout', [40], { timeout: THIRTY_DAYS });
    for (const record of [byTask, byOption]) {
      const done = await queues.waitFor(record.id, { timeout: 5_000 });
      assert.equal(done.status, 'completed', `${done.taskName}: ${done.error}`);
      assert.equal(done.result, 'done');
    }
  });

  test('waitFor with a 30-day timeout waits for the record instead of timing out after 1 ms', async () => {
    @Injectable()
    class Quick {
      @Task('edge.quick')
      async run() {
        await sleep(50);
        return 'done';
      }
    }
    const app = await createQueuesApp([Quick]);
    apps.push(app);
    const queues = app.get(QueueService);
    const record = await queues.enqueue('edge.quick', []);
    const done = await queues.waitFor(record.id, { timeout: THIRTY_DAYS, pollInterval: THIRTY_DAYS });
    assert.equal(done.status, 'completed');
  });

  test('@Schedule on a method without @Task fails bootstrap, naming class and method', async () => {
    @Injectable()
    class Forgotten {
      @Schedule({ interval: 60_000 })
      async tick() {}
    }
    await assert.rejects(
      createQueuesApp([Forgotten]),
      (error: unknown) =>
        error instanceof QueueConfigurationError &&
        /@Schedule on Forgotten\.tick: the method has no @Task/.test(error.message),
    );
  });

  test('a sub-millisecond schedule interval fails bootstrap with a typed error instead of chaining without end', async () => {
    @Injectable()
    class Runaway {
      @Task('edge.runaway')
      @Schedule({ interval: 0.001 })
      async tick() {}
    }
    await assert.rejects(
      createQueuesApp([Runaway]),
      (error: unknown) =>
        error instanceof QueueConfigurationError && /interval: must be an integer/.test(error.message),
    );
  });

  test('staleAfter alone below the default heartbeat fails bootstrap', async () => {
    await assert.rejects(
      createQueuesApp([], { worker: { staleAfter: 5_000, heartbeatInterval: undefined } }),
      (error: unknown) =>
        error instanceof QueueConfigurationError && /worker\.staleAfter/.test(error.message),
    );
  });
});

@Injectable()
class Echo {
  @Task('edge.echo')
  async echo(value: string) {
    return value;
  }
}

describe('SQL reserved words as tableName work on every dialect', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'reserved-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const dialects: Array<{
    name: 'sqlite' | 'postgres' | 'mysql';
    skip: string | false;
    options: () => Record<string, unknown>;
    quote: (name: string) => string;
  }> = [
    {
      name: 'sqlite',
      skip: false,
      options: () => ({ type: 'better-sqlite3', database: path.join(dir, 'q.sqlite') }),
      quote: (name) => `"${name}"`,
    },
    {
      name: 'postgres',
      skip: skipUnless('postgres'),
      options: () => ({ type: 'postgres', url: testServices.postgresUrl }),
      quote: (name) => `"${name}"`,
    },
    {
      name: 'mysql',
      skip: skipUnless('mysql'),
      options: () => ({ type: 'mysql', url: testServices.mysqlUrl }),
      quote: (name) => `\`${name}\``,
    },
  ];
  for (const dialect of dialects) {
    test(
      `${dialect.name}: tables "select" and "order" boot, enqueue and run`,
      { skip: dialect.skip },
      async () => {
        const { DataSource } = await import('typeorm');
        const admin = new DataSource(dialect.options() as never);
        await admin.initialize();
        const drop = async () => {
          for (const table of ['select', 'order'])
            for (const name of [`${table}_lease`, table])
              await admin.query(`DROP TABLE IF EXISTS ${dialect.quote(name)}`);
        };
        try {
          await drop();
          for (const tableName of ['select', 'order']) {
            const queueBackend = {
              type: 'typeorm',
              options: dialect.options(),
              tableName,
            } as QueueBackendConfig;
            const app = await createQueuesApp([Echo], { queueBackend });
            try {
              const queues = app.get(QueueService);
              const record = await queues.enqueue('edge.echo', [tableName], { key: `k_${tableName}` });
              const done = await queues.waitFor(record.id, { timeout: 10_000 });
              assert.equal(done.status, 'completed', done.error ?? '');
              assert.equal(done.result, tableName);
              const rows = (await admin.query(
                `SELECT COUNT(*) AS n FROM ${dialect.quote(tableName)}`,
              )) as Array<{
                n: number | string;
              }>;
              assert.equal(Number(rows[0]!.n), 1);
            } finally {
              await app.close();
            }
          }
        } finally {
          await drop();
          await admin.destroy();
        }
      },
    );
  }
});
