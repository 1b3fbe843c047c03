import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  QueueBackend,
  QueueConfigurationError,
  QueueEvents,
  QueueService,
  QueuesModule,
  QueueWorker,
  Task,
  TaskRemovedError,
  type QueueEventEnvelope,
  type QueuesModuleOptions,
} from '../../src/index.js';
import { fastWorker } from '../support/app.js';
import { sqlBackendFactory } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';

const DAY = 24 * 3600 * 1000;

/** Task handlers of the user's app; `runs` records every body that ran, in this process. */
const runs: string[] = [];

@Injectable()
class ReportTasks {
  @Task('reports.render', { removeOnComplete: true })
  async render(name: string) {
    runs.push(name);
    return { file: `${name}.pdf` };
  }

  @Task('reports.audit', { removeOnComplete: { count: 2 }, removeOnFail: { age: 50 } })
  async audit(name: string, fail = false) {
    runs.push(name);
    if (fail) throw new Error(`audit ${name} failed`);
    return name;
  }

  @Task('reports.slow', { expiresIn: 60_000 })
  async slow(name: string) {
    runs.push(name);
    await sleep(40);
    return name;
  }
}

/** A user service that gets the queue API by constructor injection, as the README shows. */
@Injectable()
class ReportService {
  constructor(
    readonly queues: QueueService,
    readonly events: QueueEvents,
    readonly backend: QueueBackend,
    readonly worker: QueueWorker,
  ) {}

  async render(name: string) {
    const record = await this.queues.enqueue('reports.render', [name]);
    return this.queues.waitFor(record.id, { timeout: 10_000, pollInterval: 50 });
  }
}

async function bootApp(options: QueuesModuleOptions): Promise<TestingModule> {
  @Module({
    imports: [QueuesModule.forRoot({ ...options, worker: { ...fastWorker, ...options.worker } })],
    providers: [ReportTasks, ReportService],
  })
  class ReportsModule {}
  const app = await Test.createTestingModule({ imports: [ReportsModule] }).compile();
  await app.init();
  return app;
}

describe('retention and expiry through an injected QueueService', () => {
  test('removeOnComplete: waitFor returns the result, getTask finds nothing, the key is free again', async () => {
    runs.length = 0;
    const app = await bootApp({ queueBackend: 'memory' });
    try {
      const reports = app.get(ReportService);
      const done = await reports.render('q3');
      assert.equal(done.status, 'completed');
      assert.deepEqual(done.result, { file: 'q3.pdf' });
      assert.equal(await reports.queues.getTask(done.id), null);
      const first = await reports.queues.enqueue('reports.render', ['k1'], { key: 'monthly' });
      await reports.queues.waitFor(first.id, { timeout: 10_000, pollInterval: 50 });
      assert.equal(await reports.queues.getTaskByKey('monthly'), null, 'a removed record holds no key');
      const second = await reports.queues.enqueue('reports.render', ['k2'], { key: 'monthly' });
      assert.notEqual(second.id, first.id);
      assert.deepEqual(runs, ['q3', 'k1', 'k2'].slice(0, runs.length));
      await reports.queues.waitFor(second.id, { timeout: 10_000, pollInterval: 50 });
      assert.deepEqual((await reports.queues.getStatistics()).completed, 0);
    } finally {
      await app.close();
    }
  });

  test('default retention: the cleanup loop keeps recent records and applies a task count and age', async () => {
    runs.length = 0;
    const app = await bootApp({
      queueBackend: 'memory',
      worker: { cleanup: { interval: 50, completed: DAY, failed: DAY } },
    });
    try {
      const { queues } = app.get(ReportService);
      const ids: string[] = [];
      for (const name of ['a', 'b', 'c', 'd']) {
        const record = await queues.enqueue('reports.audit', [name]);
        await queues.waitFor(record.id, { timeout: 10_000, pollInterval: 50 });
        ids.push(record.id);
        await sleep(5);
      }
      const failed = await queues.enqueue('reports.audit', ['x', true]);
      assert.equal((await queues.waitFor(failed.id, { timeout: 10_000, pollInterval: 50 })).status, 'failed');
      const slow = await queues.enqueue('reports.slow', ['kept']);
      await queues.waitFor(slow.id, { timeout: 10_000, pollInterval: 50 });
      // The loop runs every 50 ms: the audit's count (2) and failure age (50 ms) apply, the defaults (a day) keep the rest.
      let statuses: Array<string | undefined> = [];
      for (let i = 0; i < 100; i++) {
        statuses = await Promise.all(
          [...ids, failed.id].map(async (id) => (await queues.getTask(id))?.status),
        );
        if (statuses.join() === ',,completed,completed,') break;
        await sleep(50);
      }
      assert.deepEqual(statuses, [undefined, undefined, 'completed', 'completed', undefined]);
      assert.equal((await queues.getTask(slow.id))?.status, 'completed', 'kept by the 1-day default');
    } finally {
      await app.close();
    }
  });

  test('cleanup: false keeps every record; bad retention and expiry values are refused, nothing stored', async () => {
    const app = await bootApp({ queueBackend: 'memory', worker: { cleanup: false } });
    try {
      const { queues, backend } = app.get(ReportService);
      assert.equal(app.get(QueueWorker).options.cleanup.enabled, false);
      const bad: Array<[string, object]> = [
        ['expiresIn', { expiresIn: 0 }],
        ['expiresIn', { expiresIn: 2 ** 53 }],
        ['expiresAt', { expiresAt: new Date(Date.now() - 1_000) }],
        ['expiresAt', { expiresAt: new Date(Number.NaN) }],
        ['expiresAt', { expiresAt: new Date(Date.UTC(9001, 0, 1)) }],
        ['options', { expiresIn: 10, expiresAt: new Date(Date.now() + 60_000) }],
        ['expiresAt', { delay: 60_000, expiresAt: new Date(Date.now() + 30_000) }],
        ['removeOnComplete.count', { removeOnComplete: { count: 0 } }],
        ['removeOnComplete.count', { removeOnComplete: { count: 2 ** 31 } }],
        ['removeOnComplete.count', { removeOnComplete: { count: 1.5 } }],
        ['removeOnFail.age', { removeOnFail: { age: -5 } }],
        ['removeOnFail.age', { removeOnFail: { age: 11 * 365 * 24 * 3600 * 1000 } }],
        ['removeOnFail.age', { removeOnFail: { age: Number.NaN } }],
        ['removeOnFail.ttl', { removeOnFail: { age: 5, ttl: 5 } }],
        ['removeOnComplete', { removeOnComplete: {} }],
        ['removeOnFail', { removeOnFail: 'yes' }],
      ];
      for (const [field, options] of bad) {
        await assert.rejects(
          queues.enqueue('reports.slow', ['x'], options),
          (error: unknown) => error instanceof QueueConfigurationError && error.message.includes(field),
          JSON.stringify(options),
        );
      }
      assert.equal((await backend.getStatistics()).total, 0, 'nothing was stored');
      await assert.rejects(
        bootApp({ queueBackend: 'memory', worker: { cleanup: { completed: -1, batchSize: 0 } } }),
        (error: unknown) =>
          error instanceof QueueConfigurationError &&
          error.message.includes('worker.cleanup.completed') &&
          error.message.includes('worker.cleanup.batchSize'),
      );
    } finally {
      await app.close();
    }
  });

  test('expiry: a record not started in time never runs, ends failed and publishes task.expired', async () => {
    runs.length = 0;
    const app = await bootApp({ queueBackend: 'memory', worker: { enabled: false } });
    try {
      const reports = app.get(ReportService);
      const seen: QueueEventEnvelope[] = [];
      const subscription = reports.events.events$.subscribe((event) => seen.push(event));
      const late = await reports.queues.enqueue('reports.slow', ['late'], { expiresIn: 30 });
      const onTime = await reports.queues.enqueue('reports.slow', ['on-time']);
      assert.equal(typeof onTime.metadata['expiresAt'], 'number', 'the task default (60 s) applies');
      await sleep(80);
      reports.worker.start(); // the worker comes up only now: the first record's time is up
      const expired = await reports.queues.waitFor(late.id, { timeout: 10_000, pollInterval: 50 });
      assert.equal(expired.status, 'failed');
      assert.match(expired.error ?? '', /^Task expired: not started by \d{4}-/);
      const done = await reports.queues.waitFor(onTime.id, { timeout: 10_000, pollInterval: 50 });
      assert.equal(done.status, 'completed', 'the expired head did not block the record behind it');
      assert.deepEqual(runs, ['on-time']);
      subscription.unsubscribe();
      const about = (id: string) => seen.filter((e) => e.taskId === id).map((e) => e.type);
      assert.ok(about(late.id).includes('task.expired'));
      assert.ok(!about(late.id).includes('task.started'));
      assert.equal(
        seen.find((e) => e.type === 'task.expired')?.payload['expiresAt'],
        new Date(late.metadata['expiresAt'] as number).toISOString(),
      );
    } finally {
      await app.close();
    }
  });

  test('waitFor on a record removed before its outcome reached this process rejects with TaskRemovedError', async () => {
    const app = await bootApp({ queueBackend: 'memory', worker: { enabled: false } });
    try {
      const { queues, backend } = app.get(ReportService);
      const record = await queues.enqueue('reports.render', ['elsewhere']);
      const waiting = queues.waitFor(record.id, { timeout: 5_000, pollInterval: 20 });
      // Another process ran it and deleted it: this one sees neither its event nor its outcome.
      const [claimed] = await backend.claimMany({ limit: 1, workerId: 'other-process' });
      await backend.completeTask(claimed!.id, 'x', { expectedRetryCount: 0, remove: true });
      await assert.rejects(waiting, TaskRemovedError);
    } finally {
      await app.close();
    }
  });
});

describe('RACE: expiry against the claims of two apps on one store', { skip: skipUnless('postgres') }, () => {
  const { factory, peer, teardown } = sqlBackendFactory('postgres');
  after(teardown);

  test('each record either runs (started by its expiry) or expires, never both', async () => {
    runs.length = 0;
    const first = await factory();
    const second = await peer(first); // own connections on the same table: another process, as the server sees it
    // Two apps, each a worker on its own backend instance, started together below.
    const apps = await Promise.all(
      [first, second].map((backend) =>
        bootApp({
          queueBackend: backend,
          // A generous staleAfter: a heartbeat late on a loaded machine must not fail a record here.
          worker: {
            enabled: false,
            concurrency: 4,
            cleanup: false,
            staleAfter: 30_000,
            heartbeatInterval: 1_000,
          },
          events: { crossProcess: false },
        }),
      ),
    );
    try {
      const queues = apps[0]!.get(QueueService);
      const startedAt = new Map<string, number>();
      for (const app of apps)
        app.get(QueueEvents).events$.subscribe((e) => {
          if (e.type === 'task.started' && e.taskId) startedAt.set(e.taskId, Date.parse(e.occurredAt));
        });
      // Expiries spread over the moments the workers start claiming, so claims and expiries meet.
      const base = Date.now() + 1_500;
      const records = await queues.enqueueMany(
        Array.from({ length: 60 }, (_, i) => ({
          task: 'reports.slow',
          args: [`r${i}`],
          options: { expiresAt: new Date(base + (i % 20) * 100) },
        })),
      );
      await sleep(Math.max(0, base - Date.now()));
      for (const app of apps) app.get(QueueWorker).start();
      // Generous: the two workers share this machine with other test runs. A record still not terminal is reported
      // with the state it was left in.
      const finals = await Promise.all(
        records.map((r) =>
          queues.waitFor(r.id, { timeout: 90_000, pollInterval: 250 }).catch(async (error: unknown) => {
            const left = await queues.getTask(r.id);
            throw new Error(`${r.id} not terminal: ${JSON.stringify(left)}`, { cause: error });
          }),
        ),
      );
      let ran = 0;
      let expired = 0;
      for (const [i, record] of finals.entries()) {
        const name = `r${i}`;
        const bodies = runs.filter((r) => r === name).length;
        const expiresAt = records[i]!.metadata['expiresAt'] as number;
        if (record.status === 'completed') {
          ran++;
          assert.equal(bodies, 1, `${name} ran once`);
          // task.started goes out just after the runner's expiry check passed: a few ms of slack.
          assert.ok(startedAt.get(record.id)! <= expiresAt + 50, `${name} started by its expiry`);
        } else {
          expired++;
          assert.equal(record.status, 'failed', name);
          assert.match(record.error ?? '', /^Task expired/, name);
          assert.equal(bodies, 0, `${name} expired and never ran`);
        }
      }
      assert.equal(ran + expired, records.length);
      assert.ok(expired > 0, 'some records expired before a worker reached them');
      assert.ok(ran > 0, 'some records ran before their expiry');
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      await first.close();
      await second.close();
    }
  });
});
