import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend, QueueService, Task } from '../../src/index.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { isTerminalStatus } from '../../src/models/task-status.js';
import type { QueuesModuleOptions } from '../../src/options/queues-module-options.js';
import { createQueuesApp } from '../support/app.js';
import { rawRecordWriter } from '../support/raw-record-writer.js';
import { deleteRedisKeys } from '../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

@Injectable()
class BadRecordTasks {
  readonly runs: number[] = [];

  @Task('bad.echo')
  async echo(n: number) {
    this.runs.push(n);
    return n;
  }

  @Task('bad.nulResult')
  async nulResult() {
    this.runs.push(-2);
    return { text: 'a\u0000b', lone: 'x\ud800' };
  }

  @Task('bad.nul')
  async nul() {
    this.runs.push(-1);
    throw new Error('bad\u0000byte');
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'queues-bad-records-'));
const suffix = uniqueSuffix();
const BACKENDS: Array<{
  name: string;
  skip: string | false;
  queueBackend: QueuesModuleOptions['queueBackend'];
}> = [
  { name: 'memory', skip: false, queueBackend: 'memory' },
  {
    name: 'sqlite',
    skip: false,
    queueBackend: {
      type: 'typeorm',
      options: { type: 'better-sqlite3', database: path.join(dir, 'q.sqlite') },
      tableName: `bad_${suffix}`,
    },
  },
  {
    name: 'postgres',
    skip: skipUnless('postgres'),
    queueBackend: {
      type: 'typeorm',
      options: { type: 'postgres', url: testServices.postgresUrl },
      tableName: `bad_${suffix}`,
    },
  },
  {
    name: 'mysql',
    skip: skipUnless('mysql'),
    queueBackend: {
      type: 'typeorm',
      options: { type: 'mysql', url: testServices.mysqlUrl },
      tableName: `bad_${suffix}`,
    },
  },
  {
    name: 'redis',
    skip: skipUnless('redis'),
    queueBackend: { type: 'redis', url: testServices.redisUrl, keyPrefix: `bad_${suffix}` },
  },
  {
    name: 'valkey',
    skip: skipUnless('redis'),
    queueBackend: { type: 'valkey', url: testServices.redisUrl, keyPrefix: `bad_${suffix}_valkey` },
  },
];

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (!skipUnless('redis')) await deleteRedisKeys(`bad_${suffix}`);
});

/** Drop a PostgreSQL or MySQL test table (SQLite's file goes with its folder). */
async function dropTables(config: QueuesModuleOptions['queueBackend']): Promise<void> {
  const typeorm = config as { type?: string; options?: { type: string }; tableName?: string };
  if (typeorm.type !== 'typeorm' || typeorm.options?.type === 'better-sqlite3') return;
  const { DataSource } = await import('typeorm');
  const admin = new DataSource(typeorm.options as never);
  await admin.initialize();
  await admin.query(`DROP TABLE IF EXISTS ${typeorm.tableName}_lease`);
  await admin.query(`DROP TABLE IF EXISTS ${typeorm.tableName}`);
  await admin.destroy();
}

/** Every record, once each is terminal (or fail after 10 s). */
async function settled(queues: QueueService, ids: string[]): Promise<QueuedTaskRecord[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const records = await Promise.all(ids.map(async (id) => (await queues.getTask(id))!));
    if (records.every((r) => isTerminalStatus(r.status))) return records;
    if (Date.now() > deadline)
      assert.fail(`not settled: ${records.map((r) => `${r.id} ${r.status}`).join(', ')}`);
    await sleep(20);
  }
}

/**
 * Issue 18 items 6 and 8 through a real worker: a record whose stored metadata is `null` (it used to crash the
 * runner before its try, or jam the claim batch) is failed naming it while the rest of its batch runs exactly once,
 * and a task throwing an error with NUL in its message ends failed with the message kept (PostgreSQL used to refuse
 * the write, so the record went stale and ran again).
 */
for (const backend of BACKENDS) {
  describe(`bad records through a worker: ${backend.name}`, { skip: backend.skip }, () => {
    test('one record with metadata null fails alone, the others of its batch run once each; NUL in output is kept', async () => {
      const app: TestingModule = await createQueuesApp([BadRecordTasks], {
        queueBackend: backend.queueBackend,
      });
      try {
        const queues = app.get(QueueService);
        const store = app.get(QueueBackend);
        const tasks = app.get(BadRecordTasks);
        // Due together a moment from now, so the store can be written to before any is claimed.
        const records = await queues.enqueueMany(
          [0, 1, 2, 3, 4].map((n) => ({ task: 'bad.echo', args: [n], options: { delay: 400 } })),
        );
        const broken = records[2]!;
        await rawRecordWriter(store).corrupt(broken.id, { metadata_json: 'null' });
        const nul = await queues.enqueue('bad.nul');
        const nulResult = await queues.enqueue('bad.nulResult');

        const done = await settled(queues, [...records.map((r) => r.id), nul.id, nulResult.id]);
        const byId = new Map(done.map((r) => [r.id, r]));
        for (const record of records.filter((r) => r.id !== broken.id))
          assert.equal(byId.get(record.id)!.status, 'completed');
        assert.equal(byId.get(broken.id)!.status, 'failed');
        assert.match(byId.get(broken.id)!.error!, /metadata_json is not a JSON object/);
        assert.equal(byId.get(nul.id)!.status, 'failed');
        assert.equal(byId.get(nul.id)!.error, 'bad\ufffdbyte');
        assert.equal(byId.get(nulResult.id)!.status, 'completed');
        assert.deepEqual(byId.get(nulResult.id)!.result, { text: 'a\u0000b', lone: 'x\ud800' });
        await sleep(200); // nothing runs again afterwards
        assert.deepEqual(
          [...tasks.runs].sort((a, b) => a - b),
          [-2, -1, 0, 1, 3, 4],
        );
      } finally {
        await app.close();
        await dropTables(backend.queueBackend);
      }
    });
  });
}
