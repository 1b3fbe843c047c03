import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import {
  QueueBackend,
  QueueEvents,
  ScheduleRegistry,
  Schedule,
  Task,
  type QueueBackendConfig,
  type QueuedTaskRecord,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { skipUnless, testServices, uniqueSuffix } from '../support/services.js';

@Injectable()
class Reports {
  @Task('reports.nightly', { queue: 'reports', retries: 2 })
  @Schedule({ cron: '0 2 * * *', timezone: 'Europe/London' })
  @Schedule({ interval: 3_600_000, initialDelay: 60_000, key: 'hourly' })
  async nightly() {}
}

async function occurrences(backend: QueueBackend, taskName: string): Promise<QueuedTaskRecord[]> {
  const found: QueuedTaskRecord[] = [];
  for await (const record of backend.iterAll()) if (record.taskName === taskName) found.push(record);
  return found;
}

const targets: Array<{ name: string; config: () => QueueBackendConfig; skip: string | false }> = [
  {
    name: 'memory',
    config: (() => {
      const shared = new InMemoryQueueBackend();
      return () => shared;
    })(),
    skip: false,
  },
  {
    name: 'sqlite',
    config: (() => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'sched-')), 'q.sqlite');
      return () => ({ type: 'typeorm', options: { type: 'better-sqlite3', database: file } });
    })(),
    skip: false,
  },
  {
    name: 'postgres',
    config: (() => {
      const tableName = `sched_${uniqueSuffix()}`;
      return () => ({
        type: 'typeorm',
        options: { type: 'postgres', url: testServices.postgresUrl },
        tableName,
      });
    })(),
    skip: skipUnless('postgres'),
  },
  {
    name: 'mariadb',
    config: (() => {
      const tableName = `sched_${uniqueSuffix()}`;
      return () => ({ type: 'typeorm', options: { type: 'mysql', url: testServices.mysqlUrl }, tableName });
    })(),
    skip: skipUnless('mysql'),
  },
  {
    name: 'redis',
    config: (() => {
      const keyPrefix = `sched_${uniqueSuffix()}`;
      return () => ({ type: 'redis', url: testServices.redisUrl, keyPrefix });
    })(),
    skip: skipUnless('redis'),
  },
];

for (const target of targets) {
  describe(`schedules on ${target.name}`, { skip: target.skip }, () => {
    test('8 app instances booting at once create one occurrence per schedule', async () => {
      const apps = await Promise.all(
        Array.from({ length: 8 }, () =>
          createQueuesApp([Reports], { queueBackend: target.config(), worker: { enabled: false } }),
        ),
      );
      try {
        const found = (await occurrences(apps[0]!.get(QueueBackend), 'reports.nightly')).filter(
          (r) => r.status === 'scheduled' || r.status === 'pending',
        );
        assert.deepEqual(found.map((r) => r.key).sort(), [
          'scheduled:reports.nightly',
          'scheduled:reports.nightly:hourly',
        ]);
        for (const record of found) {
          assert.equal(record.queue, 'reports');
          assert.equal(record.maxRetries, 2);
          assert.ok(record.scheduledAt && record.scheduledAt.getTime() > Date.now());
        }
        const listed = await apps[3]!.get(ScheduleRegistry).list();
        assert.equal(listed.length, 2);
        assert.ok(listed.every((info) => info.nextRunAt !== null && info.occurrenceId !== null));
      } finally {
        for (const app of apps) await app.close();
      }
    });
  });
}

describe('schedule chaining', () => {
  const apps: TestingModule[] = [];
  after(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
  });

  test('maxInstances 1 skips overlapping slots, publishes an event, and the schedule goes on', async () => {
    let running = 0;
    let peak = 0;
    let runs = 0;
    @Injectable()
    class Slow {
      @Task('slow.tick')
      @Schedule({ interval: 100, maxInstances: 1 })
      async tick() {
        running++;
        runs++;
        peak = Math.max(peak, running);
        await sleep(350);
        running--;
      }
    }
    const app = await createQueuesApp([Slow], { worker: { concurrency: 5 } });
    apps.push(app);
    const skipped: string[] = [];
    app
      .get(QueueEvents)
      .ofType('task.schedule_skipped')
      .subscribe((event) => skipped.push(event.taskId!));
    await sleep(1_300);
    await app.close();
    assert.equal(peak, 1, 'two occurrences overlapped');
    assert.ok(runs >= 2, `the schedule stopped after ${runs} run(s)`);
    assert.ok(skipped.length >= 1, 'no slot was skipped');
  });

  test('a changed definition replaces the pending occurrence while an old one runs', async () => {
    const backend = new InMemoryQueueBackend();
    let started = 0;
    const makeTasks = (interval: number) => {
      @Injectable()
      class Changing {
        @Task('changing.job')
        @Schedule({ interval, initialDelay: interval, maxInstances: 1 })
        async job() {
          started++;
          await sleep(600);
          return interval;
        }
      }
      return Changing;
    };
    const first = await createQueuesApp([makeTasks(50)], { queueBackend: backend });
    apps.push(first);
    for (let i = 0; i < 100 && started === 0; i++) await sleep(10);
    const runningBefore = (await occurrences(backend, 'changing.job')).filter((r) => r.status === 'running');
    assert.equal(runningBefore.length, 1);
    const pendingBefore = (await occurrences(backend, 'changing.job')).find(
      (r) => r.status === 'scheduled' || r.status === 'pending',
    )!;

    const second = await createQueuesApp([makeTasks(10_000)], {
      queueBackend: backend,
      worker: { enabled: false },
    });
    apps.push(second);
    const after = await occurrences(backend, 'changing.job');
    const pending = after.filter((r) => r.status === 'scheduled' || r.status === 'pending');
    assert.equal(pending.length, 1);
    assert.notEqual(pending[0]!.id, pendingBefore.id, 'the old pending occurrence was kept');
    assert.equal(after.find((r) => r.id === pendingBefore.id)!.status, 'cancelled');
    assert.equal(
      after.find((r) => r.id === runningBefore[0]!.id)!.status,
      'running',
      'the running occurrence was touched',
    );
    assert.ok(
      pending[0]!.scheduledAt!.getTime() - Date.now() > 5_000,
      'the new occurrence does not use the new interval',
    );
  });
});
