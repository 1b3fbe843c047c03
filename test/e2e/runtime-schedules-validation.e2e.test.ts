import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryQueueBackend } from '../../src/backends/memory/memory.backend.js';
import {
  QueueBackend,
  QueueConfigurationError,
  QueueError,
  QueueEvents,
  Schedule,
  ScheduleRegistry,
  Task,
  TaskSerializationError,
  UnknownTaskError,
  type QueuedTaskRecord,
  type RuntimeScheduleOptions,
} from '../../src/index.js';
import { QueueWorker } from '../../src/workers/queue.worker.js';
import { createQueuesApp } from '../support/app.js';

let bodies = 0;

@Injectable()
class Jobs {
  @Task('val.job', { queue: 'val' })
  async job() {
    bodies++;
  }

  @Task('val.nightly')
  @Schedule({ cron: '0 2 * * *' })
  async nightly() {}
}

/** The user's provider: the registry by constructor. */
@Injectable()
class Scheduler {
  constructor(readonly schedules: ScheduleRegistry) {}
}

async function records(backend: QueueBackend): Promise<QueuedTaskRecord[]> {
  const found: QueuedTaskRecord[] = [];
  for await (const record of backend.iterAll()) found.push(record);
  return found;
}

const cyclic: unknown[] = [];
cyclic.push(cyclic);

/** Bad `upsert` input → the error class it must raise and a fragment of its message that names what is wrong. */
const badUpserts: Array<[string, unknown, unknown, new (...args: never[]) => QueueError, RegExp]> = [
  ['unknown task', 'k', { task: 'val.nope', interval: 1_000 }, UnknownTaskError, /Unknown task "val\.nope"/],
  ['no task', 'k', { interval: 1_000 }, QueueConfigurationError, /\.task: must be the name of a @Task/],
  ['task not a string', 'k', { task: 7, interval: 1_000 }, QueueConfigurationError, /\.task:/],
  [
    'cron out of range',
    'k',
    { task: 'val.job', cron: '61 * * * *' },
    QueueConfigurationError,
    /\.cron: 61 out of range/,
  ],
  ['cron with seconds', 'k', { task: 'val.job', cron: '0 * * * * *' }, QueueConfigurationError, /seconds/],
  ['cron @reboot', 'k', { task: 'val.job', cron: '@reboot' }, QueueConfigurationError, /unsupported macro/],
  ['cron L', 'k', { task: 'val.job', cron: '0 0 L * *' }, QueueConfigurationError, /unsupported token "L"/],
  [
    'cron not a string',
    'k',
    { task: 'val.job', cron: 5 },
    QueueConfigurationError,
    /\.cron: must be a string/,
  ],
  [
    'cron symbol',
    'k',
    { task: 'val.job', cron: Symbol('x') },
    QueueConfigurationError,
    /\.cron: must be a string/,
  ],
  [
    'cron that never fires',
    'k',
    { task: 'val.job', cron: '0 0 30 2 *' },
    QueueConfigurationError,
    /never fires/,
  ],
  [
    'cron and interval',
    'k',
    { task: 'val.job', cron: '* * * * *', interval: 1_000 },
    QueueConfigurationError,
    /not both/,
  ],
  ['neither cron nor interval', 'k', { task: 'val.job' }, QueueConfigurationError, /give cron or interval/],
  [
    'unknown zone',
    'k',
    { task: 'val.job', cron: '0 2 * * *', timezone: 'Mars/Olympus' },
    QueueConfigurationError,
    /\.timezone: unknown time zone "Mars\/Olympus"/,
  ],
  [
    'zone not a string',
    'k',
    { task: 'val.job', cron: '0 2 * * *', timezone: 3 },
    QueueConfigurationError,
    /\.timezone/,
  ],
  [
    'interval too short',
    'k',
    { task: 'val.job', interval: 5 },
    QueueConfigurationError,
    /\.interval: must be an integer number of ms from 10/,
  ],
  ['fractional interval', 'k', { task: 'val.job', interval: 1_500.5 }, QueueConfigurationError, /\.interval/],
  [
    'interval over ten years',
    'k',
    { task: 'val.job', interval: 1e13 },
    QueueConfigurationError,
    /\.interval/,
  ],
  [
    'NaN interval',
    'k',
    { task: 'val.job', interval: Number.NaN },
    QueueConfigurationError,
    /\.interval: .*NaN/,
  ],
  ['string interval', 'k', { task: 'val.job', interval: '1000' }, QueueConfigurationError, /\.interval/],
  [
    'BigInt interval',
    'k',
    { task: 'val.job', interval: 1000n },
    QueueConfigurationError,
    /\.interval: .*1000n/,
  ],
  [
    'negative initialDelay',
    'k',
    { task: 'val.job', interval: 1_000, initialDelay: -1 },
    QueueConfigurationError,
    /\.initialDelay/,
  ],
  [
    'jitter over ten years',
    'k',
    { task: 'val.job', interval: 1_000, jitter: 1e13 },
    QueueConfigurationError,
    /\.jitter: must be at most/,
  ],
  [
    'maxInstances 0',
    'k',
    { task: 'val.job', interval: 1_000, maxInstances: 0 },
    QueueConfigurationError,
    /\.maxInstances/,
  ],
  [
    'maxInstances 1.5',
    'k',
    { task: 'val.job', interval: 1_000, maxInstances: 1.5 },
    QueueConfigurationError,
    /\.maxInstances/,
  ],
  [
    'args not an array',
    'k',
    { task: 'val.job', interval: 1_000, args: { a: 1 } },
    QueueConfigurationError,
    /\.args: must be an array/,
  ],
  [
    'BigInt in args',
    'k',
    { task: 'val.job', interval: 1_000, args: [{ n: 1n }] },
    TaskSerializationError,
    /args\[0\]\.n.*BigInt/,
  ],
  [
    'function in args',
    'k',
    { task: 'val.job', interval: 1_000, args: [() => 1] },
    TaskSerializationError,
    /functions are not JSON/,
  ],
  ['cycle in args', 'k', { task: 'val.job', interval: 1_000, args: cyclic }, TaskSerializationError, /cycle/],
  [
    'Date in args',
    'k',
    { task: 'val.job', interval: 1_000, args: [new Date()] },
    TaskSerializationError,
    /Date instance/,
  ],
  [
    'args over 1 MiB',
    'k',
    { task: 'val.job', interval: 1_000, args: ['x'.repeat(1_100_000)] },
    TaskSerializationError,
    /1 MiB/,
  ],
  [
    'unknown option',
    'k',
    { task: 'val.job', interval: 1_000, queue: 'other' },
    QueueConfigurationError,
    /\.queue: unknown option/,
  ],
  [
    'key option',
    'k',
    { task: 'val.job', interval: 1_000, key: 'x' },
    QueueConfigurationError,
    /\.key: unknown option/,
  ],
  ['options null', 'k', null, QueueConfigurationError, /options must be an object/],
  ['options an array', 'k', [], QueueConfigurationError, /options must be an object/],
  ['empty key', '', { task: 'val.job', interval: 1_000 }, QueueConfigurationError, /key: "" must be 1-100/],
  [
    'key with a space',
    'a b',
    { task: 'val.job', interval: 1_000 },
    QueueConfigurationError,
    /key: "a b" must be/,
  ],
  [
    'key of 101',
    'k'.repeat(101),
    { task: 'val.job', interval: 1_000 },
    QueueConfigurationError,
    /must be 1-100/,
  ],
  [
    'key with NUL',
    'a\u0000b',
    { task: 'val.job', interval: 1_000 },
    QueueConfigurationError,
    /must be 1-100/,
  ],
  [
    'key with a lone surrogate',
    'a\ud800',
    { task: 'val.job', interval: 1_000 },
    QueueConfigurationError,
    /must be 1-100/,
  ],
  ['key not a string', 42, { task: 'val.job', interval: 1_000 }, QueueConfigurationError, /key: 42 must be/],
  [
    'a @Schedule key',
    'scheduled:val.nightly',
    { task: 'val.job', interval: 1_000 },
    QueueConfigurationError,
    /@Schedule namespace/,
  ],
  [
    'a key in the @Schedule namespace',
    'scheduled:mine',
    { task: 'val.job', interval: 1_000 },
    QueueConfigurationError,
    /@Schedule namespace/,
  ],
];

describe('ScheduleRegistry validation, listing and replacement (memory)', () => {
  let app: TestingModule;
  let registry: ScheduleRegistry;
  let backend: QueueBackend;
  const shared = new InMemoryQueueBackend();

  before(async () => {
    app = await createQueuesApp([Jobs, Scheduler], { queueBackend: shared, worker: { enabled: false } });
    registry = app.get(Scheduler).schedules;
    backend = app.get(QueueBackend);
  });
  after(() => app.close());

  for (const [what, key, options, errorClass, message] of badUpserts) {
    test(`upsert with ${what} → ${errorClass.name}, nothing stored`, async () => {
      const before = (await records(backend)).length;
      await assert.rejects(
        () => registry.upsert(key as string, options as RuntimeScheduleOptions),
        (error: unknown) => {
          assert.ok(error instanceof errorClass, `got ${String(error)}`);
          assert.ok(error instanceof QueueError);
          assert.match((error as Error).message, message);
          return true;
        },
      );
      assert.deepEqual(await backend.listScheduleDefinitions(), []);
      assert.equal((await records(backend)).length, before, 'a record was written');
    });
  }

  test('remove refuses a @Schedule key and a malformed key, and reports an unknown one', async () => {
    await assert.rejects(() => registry.remove('scheduled:val.nightly'), QueueConfigurationError);
    await assert.rejects(() => registry.remove('' as string), QueueConfigurationError);
    await assert.rejects(() => registry.remove({} as never), QueueConfigurationError);
    assert.equal(await registry.remove('never-upserted'), false);
    const nightly = (await registry.list()).find((s) => s.key === 'scheduled:val.nightly');
    assert.ok(nightly?.occurrenceId, 'the @Schedule lost its occurrence');
  });

  test('list shows @Schedules and runtime schedules, marked; get finds either', async () => {
    const upserted = await registry.upsert('tenant.7', {
      task: 'val.job',
      cron: '30 6 * * MON-FRI',
      timezone: 'America/New_York',
      args: [{ tenant: 7 }],
      jitter: 1_000,
      maxInstances: 2,
    });
    const listed = await registry.list();
    assert.deepEqual(
      listed.map((s) => [s.key, s.source, s.taskName]),
      [
        ['scheduled:val.nightly', 'decorator', 'val.nightly'],
        ['tenant.7', 'runtime', 'val.job'],
      ],
    );
    const runtime = listed[1]!;
    assert.equal(runtime.cron, '30 6 * * MON-FRI');
    assert.equal(runtime.interval, null);
    assert.equal(runtime.timezone, 'America/New_York');
    assert.deepEqual(runtime.args, [{ tenant: 7 }]);
    assert.equal(runtime.maxInstances, 2);
    assert.equal(runtime.jitter, 1_000);
    assert.equal(runtime.occurrenceId, upserted.occurrenceId);
    assert.ok(runtime.revision !== null && runtime.createdAt && runtime.updatedAt);
    assert.equal(listed[0]!.revision, null);
    // 06:30 New York on a weekday, plus at most a second of jitter.
    const next = runtime.nextRunAt!;
    const local = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
      hourCycle: 'h23',
    }).format(next);
    assert.match(local, /^(Mon|Tue|Wed|Thu|Fri),? 06:30$/);
    const occurrence = await backend.getTask(upserted.occurrenceId!);
    assert.equal(occurrence?.key, 'schedule:tenant.7');
    assert.equal(occurrence?.queue, 'val');
    assert.deepEqual(occurrence?.args, [{ tenant: 7 }]);
    assert.deepEqual(await registry.get('tenant.7'), runtime);
    assert.equal((await registry.get('scheduled:val.nightly'))?.source, 'decorator');
    assert.equal(await registry.get('missing'), null);
    assert.equal(await registry.remove('tenant.7'), true);
  });

  test('an identical upsert keeps the occurrence; a changed one replaces it', async () => {
    const first = await registry.upsert('swap', { task: 'val.job', interval: 60_000, initialDelay: 30_000 });
    const same = await registry.upsert('swap', { task: 'val.job', interval: 60_000, initialDelay: 30_000 });
    assert.equal(same.occurrenceId, first.occurrenceId);
    assert.ok(same.revision! > first.revision!);
    const changed = await registry.upsert('swap', { task: 'val.job', cron: '0 3 * * *' });
    assert.notEqual(changed.occurrenceId, first.occurrenceId);
    assert.equal((await backend.getTask(first.occurrenceId!))?.status, 'cancelled');
    const waiting = (await records(backend)).filter(
      (r) => r.key === 'schedule:swap' && (r.status === 'pending' || r.status === 'scheduled'),
    );
    assert.deepEqual(
      waiting.map((r) => r.id),
      [changed.occurrenceId],
    );
    assert.equal(new Date(changed.nextRunAt!).getUTCHours(), 3);
    assert.equal(await registry.remove('swap'), true);
    assert.equal((await backend.getTask(changed.occurrenceId!))?.status, 'cancelled');
  });
});

describe('runtime schedules of one task', () => {
  test('moving a schedule to another task replaces its occurrence', async () => {
    const app = await createQueuesApp([Jobs, Scheduler], { worker: { enabled: false } });
    try {
      const registry = app.get(Scheduler).schedules;
      const first = await registry.upsert('moving', {
        task: 'val.job',
        interval: 60_000,
        initialDelay: 60_000,
      });
      const moved = await registry.upsert('moving', {
        task: 'val.nightly',
        interval: 60_000,
        initialDelay: 60_000,
      });
      assert.notEqual(moved.occurrenceId, first.occurrenceId);
      assert.equal((await app.get(QueueBackend).getTask(moved.occurrenceId!))?.taskName, 'val.nightly');
      assert.equal((await app.get(QueueBackend).getTask(first.occurrenceId!))?.status, 'cancelled');
    } finally {
      await app.close();
    }
  });

  test('maxInstances bounds each schedule, not the task: two tenants of one task overlap, neither with itself', async () => {
    const running = new Map<string, number>();
    const peaks = new Map<string, number>();
    let taskPeak = 0;
    let now = 0;
    @Injectable()
    class Slow {
      @Task('val.slow')
      async slow(tenant: string) {
        running.set(tenant, (running.get(tenant) ?? 0) + 1);
        now++;
        peaks.set(tenant, Math.max(peaks.get(tenant) ?? 0, running.get(tenant)!));
        taskPeak = Math.max(taskPeak, now);
        await sleep(400);
        running.set(tenant, running.get(tenant)! - 1);
        now--;
      }
    }
    const app = await createQueuesApp([Slow, Scheduler], { worker: { concurrency: 6 } });
    try {
      const registry = app.get(Scheduler).schedules;
      await registry.upsert('tenant-a', { task: 'val.slow', interval: 100, args: ['a'] });
      await registry.upsert('tenant-b', { task: 'val.slow', interval: 100, args: ['b'] });
      for (let i = 0; i < 150 && taskPeak < 2; i++) await sleep(20);
      await sleep(500);
      await registry.remove('tenant-a');
      await registry.remove('tenant-b');
    } finally {
      await app.close();
    }
    assert.equal(taskPeak, 2, 'the two schedules never ran at once: one skipped the other');
    assert.equal(peaks.get('a'), 1, 'schedule a overlapped itself');
    assert.equal(peaks.get('b'), 1, 'schedule b overlapped itself');
  });
});

describe('a runtime schedule removed while its occurrence is claimed', () => {
  test('the occurrence is skipped at its start (body not run, task.schedule_skipped) and nothing is chained', async () => {
    const shared = new InMemoryQueueBackend();
    const api = await createQueuesApp([Jobs, Scheduler], {
      queueBackend: shared,
      worker: { enabled: false },
    });
    const upserted = await api.get(Scheduler).schedules.upsert('gone', { task: 'val.job', interval: 60_000 });
    // The remove's withdrawal lost the race (another process had claimed the occurrence): only the definition goes.
    assert.equal(await shared.deleteScheduleDefinition('gone'), true);
    await api.close();

    bodies = 0;
    const worker = await createQueuesApp([Jobs], { queueBackend: shared, worker: { enabled: false } });
    const skipped: string[] = [];
    worker
      .get(QueueEvents)
      .ofType('task.schedule_skipped')
      .subscribe((event) => skipped.push(event.taskId!));
    worker.get(QueueWorker).start(); // after subscribing: the occurrence is due at once
    try {
      for (let i = 0; i < 100 && skipped.length === 0; i++) await sleep(20);
      assert.deepEqual(skipped, [upserted.occurrenceId]);
      assert.equal(bodies, 0, 'the removed schedule ran');
      assert.equal((await shared.getTask(upserted.occurrenceId!))?.status, 'cancelled');
      const chained = (await records(shared)).filter(
        (r) => r.key === 'schedule:gone' && r.id !== upserted.occurrenceId,
      );
      assert.deepEqual(chained, [], 'a next occurrence was chained');
    } finally {
      await worker.close();
    }
  });
});
