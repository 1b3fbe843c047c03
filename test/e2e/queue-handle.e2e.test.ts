import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  OnQueueEvent,
  QueueConfigurationError,
  QueueError,
  QueueService,
  Task,
  type QueueEventEnvelope,
  type QueueHandle,
} from '../../src/index.js';
import { QueueBackend as QueueBackendToken, type QueueBackend } from '../../src/backends/queue-backend.js';
import { createQueuesApp } from '../support/app.js';
import { backendMatrix } from './support/backend-matrix.js';

/** The queue every test of one backend uses (fresh per test). */
let queue = 'ops';
/** Handler starts, ms on the monotonic clock (one process: every app shares it). */
const starts: number[] = [];
/** Resolves the running `ops.hold` tasks. */
let releaseHeld: () => void = () => undefined;
let held = new Promise<void>((resolve) => (releaseHeld = resolve));
const queueEvents: QueueEventEnvelope[] = [];

@Injectable()
class OpsTasks {
  @Task('ops.quick', { queue: 'ops' })
  async quick() {
    starts.push(performance.now());
    await sleep(5);
  }

  @Task('ops.hold', { queue: 'ops' })
  async hold() {
    starts.push(performance.now());
    await held;
    return 'done';
  }

  @Task('ops.fail', { queue: 'ops' })
  async fail() {
    throw new Error('boom');
  }

  @Task('ops.other', { queue: 'ops' })
  async other() {
    throw new Error('other boom');
  }

  @OnQueueEvent(['queue.paused', 'queue.resumed'])
  onQueueEvent(event: QueueEventEnvelope) {
    if (event.queue === queue) queueEvents.push(event);
  }
}

/** What a user writes: a provider that takes QueueService by constructor and works through its handle. */
@Injectable()
class QueueOps {
  constructor(private readonly queues: QueueService) {}

  get handle(): QueueHandle {
    return this.queues.queue(queue);
  }

  enqueue(task: string, n: number, delay?: number) {
    return this.queues.enqueueMany(
      Array.from({ length: n }, () => ({ task, options: { queue, ...(delay ? { delay } : {}) } })),
    );
  }

  waitAll(ids: string[]) {
    return Promise.all(ids.map((id) => this.queues.waitFor(id, { timeout: 20_000 })));
  }
}

async function until(check: () => Promise<boolean> | boolean, timeout: number, what: string) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function freshQueue(): void {
  queue = `ops_${randomUUID().slice(0, 8)}`;
  starts.length = 0;
  queueEvents.length = 0;
  held = new Promise<void>((resolve) => (releaseHeld = resolve));
}

for (const backend of backendMatrix()) {
  describe(`QueueService.queue(name) (${backend.name})`, { skip: backend.skip }, () => {
    after(() => backend.teardown());

    async function boot(store: QueueBackend, options: Parameters<typeof createQueuesApp>[1] = {}) {
      const app = await createQueuesApp([OpsTasks, QueueOps], { queueBackend: store, ...options });
      return { app, ops: app.get(QueueOps) };
    }

    test('pause holds waiting records, lets the running one finish, survives a restart; resume runs them', async () => {
      freshQueue();
      const store = await backend.factory();
      let { app, ops } = await boot(store);
      try {
        const [running] = await ops.enqueue('ops.hold', 1);
        await until(() => starts.length === 1, 10_000, 'the held task to start');
        assert.equal(await ops.handle.pause(), true);
        assert.equal(await ops.handle.pause(), false, 'pausing a paused queue changes nothing');
        assert.equal(await ops.handle.isPaused(), true);
        const waiting = await ops.enqueue('ops.quick', 5);
        releaseHeld();
        assert.equal(
          (await ops.waitAll([running!.id]))[0]!.status,
          'completed',
          'the running record finished',
        );
        await sleep(300);
        assert.equal(starts.length, 1, 'nothing started while paused');
        assert.equal((await ops.handle.getStatistics()).pending, 5);

        await app.close(); // a restart: the pause is the backend's, not the process's
        ({ app, ops } = await boot(await backend.peer(store)));
        assert.equal(await ops.handle.isPaused(), true, 'the pause survived the restart');
        await sleep(300);
        assert.equal(starts.length, 1, 'nothing started after the restart');

        assert.equal(await ops.handle.resume(), true);
        assert.equal(await ops.handle.resume(), false);
        assert.equal(await ops.handle.isPaused(), false);
        const done = await ops.waitAll(waiting.map((r) => r.id));
        assert.deepEqual(new Set(done.map((r) => r.status)), new Set(['completed']));
        await until(() => queueEvents.length >= 2, 5_000, 'the queue events');
        assert.deepEqual(
          queueEvents.map((e) => [e.type, e.scope, e.queue, e.taskId, e.payload['paused']]),
          [
            ['queue.paused', 'queue', queue, null, true],
            ['queue.resumed', 'queue', queue, null, false],
          ],
        );
      } finally {
        releaseHeld();
        await app.close();
      }
    });

    test('race: no record starts later than one poll interval after pause() resolved', async () => {
      freshQueue();
      const store = await backend.factory();
      const pollInterval = 100;
      // Two apps on one store (on memory, one app: its pause is local): prefetching workers with claims in flight.
      const shared = backend.name !== 'memory';
      // A prefetch buffer of 200 short tasks takes 250 ms to run through: the pause must hand it back, not run it.
      // staleAfter well above the time SQL takes to release 200 claims one by one on a loaded machine.
      const worker = {
        concurrency: 4,
        prefetch: 200,
        pollInterval,
        maxPollInterval: 200,
        heartbeatInterval: 1_000,
        staleAfter: 20_000,
      };
      const a = await boot(store, { worker });
      const b = shared ? await boot(await backend.peer(store), { worker }) : undefined;
      try {
        await a.ops.enqueue('ops.quick', 1500);
        await until(() => starts.length >= 40, 20_000, 'work to start');
        await a.ops.handle.pause();
        const pausedAt = performance.now();
        await sleep(pollInterval * 5);
        const late = starts.filter((at) => at > pausedAt + pollInterval + 150);
        assert.deepEqual(
          late.map((at) => Math.round(at - pausedAt)),
          [],
          'records started this many ms after the pause resolved',
        );
        const stats = await a.ops.handle.getStatistics();
        assert.ok(stats.pending > 0, 'work was left when the pause resolved');
        // What the workers had claimed ahead goes back to the line (one UPDATE per record on SQL: 200 of them took
        // over 10 s under a load of 24 on two cores, so give it time).
        await until(
          async () => (await a.ops.handle.getStatistics()).running === 0,
          30_000,
          'the prefetched records of the paused queue to be handed back',
        );
        await a.ops.handle.resume();
        await until(
          async () => (await a.ops.handle.getStatistics()).completed === 1500,
          60_000,
          'the rest to run after the resume',
        );
      } finally {
        await b?.app.close();
        await a.app.close();
      }
    });

    test('getStatistics, list, drain, clean and retryFailed act on this queue only', async () => {
      freshQueue();
      const store = await backend.factory();
      const { app, ops } = await boot(store);
      const queues = app.get(QueueService);
      try {
        const otherQueue = `${queue}_other`;
        const elsewhere = await queues.enqueue('ops.fail', [], { queue: otherQueue });
        const failed = await ops.enqueue('ops.fail', 3);
        const otherFailed = await ops.enqueue('ops.other', 2);
        await ops.waitAll([...failed, ...otherFailed].map((r) => r.id));
        await queues.waitFor(elsewhere.id, { timeout: 20_000 });
        await ops.handle.pause();
        const pending = await ops.enqueue('ops.quick', 4);
        await ops.enqueue('ops.quick', 2, 60_000);

        const {
          pending: p,
          scheduled,
          running,
          completed,
          failed: f,
          cancelled,
          total,
        } = await ops.handle.getStatistics();
        assert.deepEqual(
          { p, scheduled, running, completed, f, cancelled, total },
          { p: 4, scheduled: 2, running: 0, completed: 0, f: 5, cancelled: 0, total: 11 },
        );
        const page = await ops.handle.list({ status: 'pending', limit: 3 });
        assert.equal(page.records.length, 3);
        assert.ok(page.records.every((r) => r.queue === queue && r.status === 'pending'));
        const rest = await ops.handle.list({ status: 'pending', cursor: page.nextCursor });
        assert.equal(new Set([...page.records, ...rest.records].map((r) => r.id)).size, 4);

        assert.equal(await ops.handle.retryFailed({ taskName: 'ops.other' }), 2);
        assert.equal(await ops.handle.retryFailed({ limit: 2 }), 2);
        const afterRetry = await ops.handle.getStatistics();
        assert.equal(afterRetry.failed, 1);
        assert.equal(afterRetry.pending, 8);
        assert.equal((await queues.getTask(elsewhere.id))!.status, 'failed', 'other queues are not retried');

        assert.equal(await ops.handle.drain(), 10, 'pending and scheduled records of the queue');
        assert.equal(await queues.getTask(pending[0]!.id), null);
        const drained = await ops.handle.getStatistics();
        assert.deepEqual([drained.pending, drained.scheduled, drained.failed], [0, 0, 1]);

        assert.equal(await ops.handle.clean({ status: 'failed', age: 60_000 }), 0, 'too young to clean');
        assert.equal(await ops.handle.clean({ status: ['completed', 'cancelled'] }), 0);
        assert.equal(await ops.handle.clean({ status: 'failed' }), 1);
        assert.equal((await ops.handle.getStatistics()).total, 0);
        assert.equal((await queues.getStatistics({ queue: otherQueue })).failed, 1, 'other queues are kept');
      } finally {
        await app.close();
      }
    });

    test('drain and clean work through more than one batch', async () => {
      freshQueue();
      const store = await backend.factory();
      const { app, ops } = await boot(store);
      try {
        await ops.handle.pause();
        for (let i = 0; i < 2; i++) await ops.enqueue('ops.quick', 1_250);
        assert.equal(await ops.handle.drain(), 2_500);
        assert.equal((await ops.handle.getStatistics()).total, 0);
        // Setup through the backend: 1,100 cancelled records to clean.
        const records = await ops.enqueue('ops.quick', 1_100);
        const backendOf = app.get(QueueBackendToken);
        for (const record of records) await backendOf.cancelTask(record.id);
        assert.equal(await ops.handle.clean({ status: 'cancelled', limit: 1_050 }), 1_050);
        assert.equal(await ops.handle.clean(), 50);
        assert.equal((await ops.handle.getStatistics()).total, 0);
      } finally {
        await app.close();
      }
    });

    test('the module option queues[q].paused boots the queue paused once; a stored resume wins afterwards', async () => {
      freshQueue();
      const store = await backend.factory();
      const options = { queues: { [queue]: { paused: true } } };
      let { app, ops } = await boot(store, options);
      try {
        assert.equal(await ops.handle.isPaused(), true);
        const records = await ops.enqueue('ops.quick', 3);
        await sleep(300);
        assert.equal(starts.length, 0, 'a queue configured paused never starts a record');
        await ops.handle.resume();
        await ops.waitAll(records.map((r) => r.id));
        await app.close();
        ({ app, ops } = await boot(await backend.peer(store), options));
        assert.equal(await ops.handle.isPaused(), false, 'the stored resume outlives the restart');
      } finally {
        await app.close();
      }
    });
  });
}

describe('QueueService.queue(name) input', () => {
  test('bad names and filters are QueueConfigurationErrors naming the problem; nothing is touched', async () => {
    const app = await createQueuesApp([OpsTasks, QueueOps]);
    const queues = app.get(QueueService);
    try {
      for (const name of ['', 'has space', 'x'.repeat(101), 'nul\u0000', 'é', 42, null]) {
        assert.throws(
          () => queues.queue(name as string),
          (error: unknown) =>
            error instanceof QueueConfigurationError &&
            error instanceof QueueError &&
            /queue\(name\).*not a valid queue name/.test(error.message),
          `queue(${JSON.stringify(name)})`,
        );
      }
      const handle = queues.queue('ops');
      assert.equal(handle.name, 'ops');
      const bad: Array<[() => Promise<unknown>, RegExp]> = [
        [() => handle.clean({ status: 'running' as never }), /clean\.status/],
        [() => handle.clean({ status: [] }), /clean\.status/],
        [() => handle.clean({ age: -1 }), /clean\.age/],
        [() => handle.clean({ age: Number.NaN }), /clean\.age/],
        [() => handle.clean({ limit: 0 }), /clean\.limit/],
        [() => handle.clean({ limit: 1.5 }), /clean\.limit/],
        [() => handle.clean({ olderThan: 5 } as never), /clean\.olderThan.*not an option/],
        [() => handle.clean('completed' as never), /clean: must be an object/],
        [() => handle.retryFailed({ limit: -3 }), /retryFailed\.limit/],
        [() => handle.retryFailed({ taskName: '' }), /retryFailed\.taskName/],
        [() => handle.retryFailed({ taskName: 'a\u0000b' }), /retryFailed\.taskName/],
      ];
      for (const [call, message] of bad)
        await assert.rejects(
          call,
          (error: unknown) =>
            error instanceof QueueConfigurationError && message.test((error as Error).message),
        );
    } finally {
      await app.close();
    }
  });
});
