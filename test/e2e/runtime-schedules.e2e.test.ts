import 'reflect-metadata';
import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import {
  QueueBackend,
  ScheduleRegistry,
  Task,
  type QueueBackendConfig,
  type QueuedTaskRecord,
  type ScheduleInfo,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { deleteRedisKeys } from '../support/redis-backends.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

/**
 * Runtime schedules (`ScheduleRegistry.upsert/remove/list`) as users call them: a user service that receives the
 * registry by constructor, several apps on one store. Occurrences are read back from the store, so what is counted
 * is what ran, whichever app ran it.
 */

@Injectable()
class Reports {
  @Task('rt.report', { queue: 'rt' })
  async report(tenant: string) {
    return tenant;
  }
}

/** The user's own provider: the registry comes in by constructor; boot-time upserts run in onApplicationBootstrap. */
@Injectable()
class TenantSchedules implements OnApplicationBootstrap {
  static bootUpsert: { key: string; interval: number } | undefined;
  constructor(private readonly schedules: ScheduleRegistry) {}

  async onApplicationBootstrap(): Promise<void> {
    const boot = TenantSchedules.bootUpsert;
    if (boot) await this.every(boot.key, boot.interval, 'boot');
  }

  every(key: string, interval: number, tenant: string): Promise<ScheduleInfo> {
    return this.schedules.upsert(key, { task: 'rt.report', interval, args: [tenant] });
  }

  stop(key: string): Promise<boolean> {
    return this.schedules.remove(key);
  }

  list(): Promise<ScheduleInfo[]> {
    return this.schedules.list();
  }
}

interface Target {
  name: string;
  skip: string | false;
  /** Whether the store outlives the apps (restart test). */
  durable: boolean;
  /** A config of one shared store (the same table / key prefix each call). */
  store: () => () => QueueBackendConfig;
}

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
});

/** Drop the records table and every table the backend derived from its name (`<table>_lease`, `_schedule`, ...). */
async function dropSqlTables(options: { type: 'postgres' | 'mysql'; url: string }, table: string) {
  const { DataSource } = await import('typeorm');
  const admin = new DataSource(options);
  await admin.initialize();
  const rows = (await admin.query(
    options.type === 'postgres'
      ? `SELECT tablename AS name FROM pg_tables WHERE tablename LIKE $1`
      : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?`,
    [`${table}%`],
  )) as Array<{ name: string }>;
  for (const { name } of rows) await admin.query(`DROP TABLE IF EXISTS ${name}`);
  await admin.destroy();
}

const targets: Target[] = [
  {
    name: 'memory',
    skip: false,
    durable: false,
    store: () => {
      const shared = new InMemoryQueueBackend();
      return () => shared;
    },
  },
  {
    name: 'sqlite file',
    skip: false,
    durable: true,
    store: () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'rt-sched-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const database = path.join(dir, 'q.sqlite');
      return () => ({ type: 'typeorm', options: { type: 'better-sqlite3', database } });
    },
  },
  {
    name: 'postgres',
    skip: skipUnless('postgres'),
    durable: true,
    store: () => {
      const tableName = `rts_${uniqueSuffix()}`;
      const options = { type: 'postgres' as const, url: testServices.postgresUrl };
      cleanups.push(() => dropSqlTables(options, tableName));
      return () => ({ type: 'typeorm', options, tableName });
    },
  },
  {
    name: 'mariadb',
    skip: skipUnless('mysql'),
    durable: true,
    store: () => {
      const tableName = `rts_${uniqueSuffix()}`;
      const options = { type: 'mysql' as const, url: testServices.mysqlUrl };
      cleanups.push(() => dropSqlTables(options, tableName));
      return () => ({ type: 'typeorm', options, tableName });
    },
  },
  {
    name: 'redis',
    skip: skipUnless('redis'),
    durable: true,
    store: () => {
      const keyPrefix = `rts_${uniqueSuffix()}`;
      cleanups.push(() => deleteRedisKeys(keyPrefix));
      return () => ({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    },
  },
];

function boot(config: () => QueueBackendConfig, worker: boolean): Promise<TestingModule> {
  return createQueuesApp([Reports, TenantSchedules], {
    queueBackend: config(),
    worker: { enabled: worker, concurrency: 4 },
  });
}

async function occurrences(backend: QueueBackend): Promise<QueuedTaskRecord[]> {
  const found: QueuedTaskRecord[] = [];
  for await (const record of backend.iterAll()) if (record.taskName === 'rt.report') found.push(record);
  return found;
}

const slotOf = (record: QueuedTaskRecord) => (record.metadata['schedule'] as { slot: string }).slot;
const ran = (records: QueuedTaskRecord[]) => records.filter((r) => r.status === 'completed');

async function until(check: () => Promise<boolean>, timeout: number, what: string): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(50);
  }
}

for (const target of targets) {
  describe(`runtime schedules on ${target.name}`, { skip: target.skip }, () => {
    test('an upsert in one app fires in another, every app lists it, and remove stops it', async () => {
      const config = target.store();
      const api = await boot(config, false);
      const worker = await boot(config, true);
      try {
        const info = await api.get(TenantSchedules).every('tenant-42', 300, 'acme');
        assert.equal(info.source, 'runtime');
        assert.equal(info.key, 'tenant-42');
        assert.ok(info.nextRunAt, 'upsert returned no next run');
        const backend = worker.get(QueueBackend);
        await until(async () => ran(await occurrences(backend)).length >= 3, 15_000, 'three runs');
        const done = ran(await occurrences(backend));
        assert.ok(done.every((r) => r.result === 'acme' && r.queue === 'rt'));

        const fromWorker = (await worker.get(TenantSchedules).list()).find((s) => s.key === 'tenant-42');
        assert.ok(fromWorker, 'the other app does not list the runtime schedule');
        assert.equal(fromWorker.source, 'runtime');
        assert.equal(fromWorker.interval, 300);
        assert.deepEqual(fromWorker.args, ['acme']);
        assert.ok(fromWorker.lastOccurrence, 'no last occurrence');

        assert.equal(await api.get(TenantSchedules).stop('tenant-42'), true);
        assert.equal(
          await api.get(TenantSchedules).stop('tenant-42'),
          false,
          'a second remove found it again',
        );
        await sleep(1_000); // an occurrence claimed just before the remove may still finish
        const settled = ran(await occurrences(backend)).length;
        await sleep(1_200);
        const records = await occurrences(backend);
        assert.equal(ran(records).length, settled, 'the removed schedule kept firing');
        assert.ok(
          records.every((r) => r.status !== 'pending' && r.status !== 'scheduled'),
          'an occurrence is still waiting',
        );
        assert.equal((await worker.get(TenantSchedules).list()).length, 0);
      } finally {
        await api.close();
        await worker.close();
      }
    });

    test(
      'a definition survives a restart of every app',
      { skip: target.durable ? false : 'not durable' },
      async () => {
        const config = target.store();
        const first = await boot(config, false);
        const stored = await first.get(TenantSchedules).every('nightly', 400, 'kept');
        await first.close();

        const restarted = await boot(config, true);
        try {
          const [listed] = await restarted.get(TenantSchedules).list();
          assert.equal(listed?.key, 'nightly');
          assert.equal(listed?.source, 'runtime');
          assert.equal(listed?.revision, stored.revision);
          assert.deepEqual(listed?.args, ['kept']);
          const backend = restarted.get(QueueBackend);
          await until(
            async () => ran(await occurrences(backend)).length >= 2,
            15_000,
            'two runs after restart',
          );
          // The occurrence stored before the restart is the one that ran first: the restart did not replace it.
          const original = await backend.getTask(stored.occurrenceId!);
          assert.equal(original?.status, 'completed');
        } finally {
          await restarted.close();
        }
      },
    );

    test('four apps booting at once, each upserting the same schedule, run one occurrence per slot', async () => {
      const config = target.store();
      const interval = 400;
      TenantSchedules.bootUpsert = { key: 'shared', interval };
      let apps: TestingModule[] = [];
      try {
        apps = await Promise.all(Array.from({ length: 4 }, () => boot(config, true)));
      } finally {
        TenantSchedules.bootUpsert = undefined;
      }
      const backend = apps[0]!.get(QueueBackend);
      try {
        const waiting = (await occurrences(backend)).filter(
          (r) => r.status === 'pending' || r.status === 'scheduled',
        );
        assert.ok(waiting.length <= 1, `${waiting.length} upcoming occurrences after boot`);
        await until(async () => ran(await occurrences(backend)).length >= 5, 20_000, 'five runs');
      } finally {
        for (const app of apps) await app.close();
      }
      const records = await occurrences(backend.capabilities.durable ? await reopen(config) : backend);
      const perSlot = new Map<string, number>();
      for (const record of ran(records)) perSlot.set(slotOf(record), (perSlot.get(slotOf(record)) ?? 0) + 1);
      const doubled = [...perSlot].filter(([, n]) => n > 1);
      assert.deepEqual(doubled, [], 'a slot ran more than once');
      // Slots sit on one lattice of the interval (the first save's), whichever app chained them.
      const slots = [...perSlot.keys()].map((slot) => Date.parse(slot)).sort((a, b) => a - b);
      for (const slot of slots)
        assert.equal(
          (slot - slots[0]!) % interval,
          0,
          `slot ${new Date(slot).toISOString()} is off the lattice`,
        );
    });

    test('four apps booting at once restore a lost occurrence once, in its slot', async () => {
      const config = target.store();
      const first = await boot(config, false);
      const saved = await first
        .get(ScheduleRegistry)
        .upsert('restore', { task: 'rt.report', interval: 60_000, initialDelay: 120_000, args: ['r'] });
      const lost = (await first.get(QueueBackend).getTask(saved.occurrenceId!))!;
      await first.get(QueueBackend).cancelTask(lost.id);
      await first.close();

      const apps = await Promise.all(Array.from({ length: 4 }, () => boot(config, false)));
      try {
        const waiting = (await occurrences(apps[0]!.get(QueueBackend))).filter(
          (r) => r.status === 'pending' || r.status === 'scheduled',
        );
        assert.equal(waiting.length, 1, `${waiting.length} occurrences restored`);
        assert.notEqual(waiting[0]!.id, lost.id);
        assert.equal(slotOf(waiting[0]!), slotOf(lost), 'the restored occurrence moved to another slot');
      } finally {
        for (const app of apps) await app.close();
      }
    });

    test('concurrent upserts of different definitions leave one occurrence, of the stored one', async () => {
      const config = target.store();
      const apps = await Promise.all(Array.from({ length: 4 }, () => boot(config, false)));
      try {
        await Promise.all(
          apps.map((app, i) =>
            app.get(ScheduleRegistry).upsert('contested', {
              task: 'rt.report',
              interval: 60_000 + i * 1_000,
              initialDelay: 600_000,
            }),
          ),
        );
        const stored = (await apps[0]!.get(ScheduleRegistry).get('contested'))!;
        const waiting = (await occurrences(apps[0]!.get(QueueBackend))).filter(
          (r) => r.status === 'pending' || r.status === 'scheduled',
        );
        assert.equal(waiting.length, 1, `${waiting.length} upcoming occurrences`);
        const meta = waiting[0]!.metadata['schedule'] as { revision: number; interval: number };
        assert.equal(meta.revision, stored.revision, 'the occurrence is of an older definition');
        assert.equal(meta.interval, stored.interval);
        assert.equal(stored.occurrenceId, waiting[0]!.id);
      } finally {
        for (const app of apps) await app.close();
      }
    });
  });
}

/** A backend on a closed app's store, to read what the apps left. */
async function reopen(config: () => QueueBackendConfig): Promise<QueueBackend> {
  const app = await createQueuesApp([Reports], {
    queueBackend: config(),
    worker: { enabled: false },
    initializeSchedules: false,
  });
  cleanups.push(() => app.close());
  return app.get(QueueBackend);
}
