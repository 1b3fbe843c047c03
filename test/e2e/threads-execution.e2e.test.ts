import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Test, type TestingModule } from '@nestjs/testing';
import { QueueBackend } from '../../src/backends/queue-backend.js';
import { TypeOrmQueueBackend } from '../../src/backends/typeorm/typeorm.backend.js';
import { QueueConfigurationError } from '../../src/errors/queue-configuration.error.js';
import type { QueueEventEnvelope } from '../../src/events/queue-event.js';
import { QueueEvents } from '../../src/events/queue-events.js';
import { ExecutionBackends } from '../../src/execution/execution-backends.js';
import { ThreadsExecutionBackend } from '../../src/execution/threads/threads.execution.js';
import type { QueuedTaskRecord } from '../../src/models/queued-task-record.js';
import { QueueService } from '../../src/service/queue.service.js';
import { postgresTableFixture } from '../support/sql-backends.js';
import { skipUnless } from '../support/services.js';
import type { ThreadsTestConfig } from './support/threads-app.module.js';

const dir = mkdtempSync(path.join(tmpdir(), 'threads-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Booted {
  app: TestingModule;
  queues: QueueService;
  backend: QueueBackend;
  threads: ThreadsExecutionBackend;
  events: QueueEventEnvelope[];
  /** Heartbeat calls of the worker: when, and which records. */
  beats: Array<{ at: number; ids: string[] }>;
}

/** Boot the threads test app (the same module each task thread boots) with `config`. */
async function boot(config: ThreadsTestConfig): Promise<Booted> {
  // Read by the module's factory now, and copied by each thread when it starts.
  process.env['THREADS_TEST_CONFIG'] = JSON.stringify(config);
  const { ThreadsAppModule } = await import('./support/threads-app.module.js');
  const app = await Test.createTestingModule({ imports: [ThreadsAppModule] }).compile();
  const backend = app.get(QueueBackend);
  const beats: Booted['beats'] = [];
  const touch = backend.touchHeartbeats.bind(backend);
  backend.touchHeartbeats = (batch) => {
    beats.push({ at: Date.now(), ids: batch.map((b) => b.id) });
    return touch(batch);
  };
  const events: QueueEventEnvelope[] = [];
  app.get(QueueEvents).events$.subscribe((event) => events.push(event));
  await app.init();
  const threads = app.get(ExecutionBackends).get('threads');
  assert.ok(threads instanceof ThreadsExecutionBackend);
  return { app, queues: app.get(QueueService), backend, threads, events, beats };
}

const memory = (size = 1, extra: Partial<ThreadsTestConfig> = {}): ThreadsTestConfig => ({
  queueBackend: 'memory',
  size,
  ...extra,
});

async function untilStatus(queues: QueueService, id: string, status: string, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const record = await queues.getTask(id);
    if (record?.status === status) return record;
    if (Date.now() > deadline)
      throw new Error(`${id} is ${record?.status}, not ${status}, after ${timeout} ms`);
    await sleep(10);
  }
}

/** Largest gap between consecutive heartbeats of `id` within [from, to], edges included. */
function largestBeatGap(beats: Booted['beats'], id: string, from: number, to: number): number {
  const times = beats.filter((b) => b.ids.includes(id) && b.at >= from && b.at <= to).map((b) => b.at);
  const points = [from, ...times, to];
  let gap = 0;
  for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i]! - points[i - 1]!);
  return gap;
}

const result = <T>(record: QueuedTaskRecord) => record.result as T;
type Spin = { threadId: number; mainThread: boolean; start: number; end: number };

describe('threads execution backend', () => {
  test('a 2.5 s synchronous loop in a thread: heartbeats keep their 100 ms interval and a local task completes meanwhile', async () => {
    const { app, queues, threads, beats } = await boot(memory(1));
    try {
      // Boot the thread first, so the loop below is measured, not the module's boot.
      await queues.waitFor((await queues.enqueue('cpu.echo', [1, 'warm'])).id, { timeout: 20_000 });
      const other = await queues.enqueue('local.sleep', [4_000]);
      await untilStatus(queues, other.id, 'running');
      const spin = await queues.enqueue('cpu.spin', [2_500]);
      await untilStatus(queues, spin.id, 'running');
      await sleep(300); // well inside the loop
      const quickEnqueued = Date.now();
      const quick = await queues.waitFor((await queues.enqueue('local.quick')).id, { timeout: 2_000 });
      const quickTook = quick.completedAt!.getTime() - quickEnqueued;

      const done = await queues.waitFor(spin.id, { timeout: 10_000 });
      assert.equal(done.status, 'completed');
      const { start, end, mainThread } = result<Spin>(done);
      assert.equal(mainThread, false, 'the loop ran off the main thread');
      assert.ok(end - start >= 2_500);
      assert.ok(quick.completedAt! < done.completedAt!, 'the local task completed while the loop ran');
      assert.ok(quickTook < 500, `the local task took ${quickTook} ms`);

      const otherGap = largestBeatGap(beats, other.id, start, end);
      const spinGap = largestBeatGap(beats, spin.id, start, end);
      const otherBeats = beats.filter((b) => b.ids.includes(other.id) && b.at >= start && b.at <= end).length;
      console.log(
        `threads: ${otherBeats} heartbeats of the other record during the 2.5 s loop, largest gap ${otherGap} ms (the loop's own record: ${spinGap} ms); local task done in ${quickTook} ms`,
      );
      assert.ok(otherGap <= 300, `heartbeat gap of the other record: ${otherGap} ms`);
      assert.ok(spinGap <= 300, `heartbeat gap of the threaded record itself: ${spinGap} ms`);
      assert.ok(otherBeats >= 15, `only ${otherBeats} heartbeats in 2.5 s`);
      assert.equal(done.retryCount, 0, 'never recovered as stale (staleAfter is 1 s)');
      assert.equal(threads.stats.threads, 1);
    } finally {
      await app.close();
    }
  });

  test('control: the same loop on local stalls every heartbeat for its whole length', async () => {
    const { app, queues, beats } = await boot(memory(1));
    try {
      const other = await queues.enqueue('local.sleep', [3_000]);
      await untilStatus(queues, other.id, 'running');
      await sleep(250);
      const done = await queues.waitFor((await queues.enqueue('cpu.spinLocal', [1_500])).id, {
        timeout: 10_000,
      });
      const { start, end, mainThread } = result<Spin>(done);
      assert.equal(mainThread, true);
      const gap = largestBeatGap(beats, other.id, start, end);
      console.log(`local: largest heartbeat gap during a 1.5 s loop ${gap} ms`);
      assert.ok(gap >= 1_400, `the measurement sees the blocked loop: gap ${gap} ms`);
    } finally {
      await app.close();
    }
  });

  test('arguments with @TaskCtx/@JobId, the result and errors round-trip through the retry policy', async () => {
    const { app, queues, threads } = await boot(memory(1));
    try {
      const echo = await queues.enqueue('cpu.echo', [21, 'label'], { kwargs: { k: 'v' } });
      const done = await queues.waitFor(echo.id, { timeout: 20_000 });
      assert.equal(done.status, 'completed');
      const value = result<Record<string, unknown>>(done);
      assert.deepEqual(
        { ...value, threadId: undefined },
        {
          doubled: 42,
          label: 'label',
          jobId: echo.id,
          taskId: echo.id,
          attempt: 1,
          kwargs: { k: 'v' },
          threadId: undefined,
          mainThread: false,
          taskThread: true,
          workerEnv: 'false',
          workerRunning: false,
        },
      );

      const failed = await queues.waitFor((await queues.enqueue('cpu.fail')).id, { timeout: 10_000 });
      assert.equal(failed.status, 'failed');
      assert.equal(failed.retryCount, 1, 'retried once, as its retries: 1 says');
      assert.equal(failed.error, 'TypeError: bad input seen in a thread');

      const fatal = await queues.waitFor((await queues.enqueue('cpu.fatal')).id, { timeout: 10_000 });
      assert.equal(fatal.status, 'failed');
      assert.equal(fatal.retryCount, 0, 'NonRetryableError skipped its 3 retries');
      assert.equal(fatal.error, 'NonRetryableError: no point in retrying');
      assert.equal(threads.stats.started, 1, 'a thread that threw is kept for the next record');
    } finally {
      await app.close();
    }
  });

  test('progress, log and custom events from the thread reach QueueEvents in the main thread', async () => {
    const { app, queues, events } = await boot(memory(1));
    try {
      const record = await queues.enqueue('cpu.report');
      const done = await queues.waitFor(record.id, { timeout: 20_000 });
      assert.equal(done.result, 'reported');
      const mine = events.filter((e) => e.taskId === record.id);
      const progress = mine.filter((e) => e.type === 'task.progress');
      assert.deepEqual(
        progress.map((e) => [e.progressCurrent, e.progressTotal, e.message]),
        [
          [1, 2, 'half way'],
          [2, 2, 'done'],
        ],
      );
      const log = mine.find((e) => e.type === 'task.log');
      assert.equal(log?.message, 'hello from a thread');
      assert.equal(log?.level, 'warning');
      assert.equal(typeof log?.payload['threadId'], 'number');
      assert.deepEqual(mine.find((e) => e.type === 'cpu.custom')?.payload, { fromThread: true });
      const types = mine.map((e) => e.type);
      assert.ok(
        types.indexOf('cpu.custom') < types.indexOf('task.completed'),
        'the events precede the outcome',
      );
      assert.deepEqual(
        { ...(done.metadata['progress'] as object), at: undefined },
        { current: 2, total: 2, message: 'done', at: undefined },
        'the last progress is kept in the record',
      );
    } finally {
      await app.close();
    }
  });

  test('timeout and cancel fire ctx.signal in the thread; a task that settles keeps its thread', async () => {
    const ledger = path.join(dir, 'abort-ledger.txt');
    const { app, queues, threads } = await boot(memory(1, { ledger }));
    try {
      // Booted first: a timeout that fires while the thread boots never starts the method.
      await queues.waitFor((await queues.enqueue('cpu.echo', [1, 'warm'])).id, { timeout: 20_000 });
      const timedOut = await queues.waitFor((await queues.enqueue('cpu.waitAbort')).id, { timeout: 20_000 });
      assert.equal(timedOut.status, 'failed');
      assert.match(timedOut.error!, /^TaskTimeoutError: Task "cpu.waitAbort" timed out after 300 ms/);

      const running = await queues.enqueue('cpu.waitCancel');
      await untilStatus(queues, running.id, 'running');
      await sleep(100);
      assert.equal(await queues.cancel(running.id), true);
      assert.equal((await queues.waitFor(running.id, { timeout: 5_000 })).status, 'cancelled');

      await sleep(100);
      const lines = readFileSync(ledger, 'utf8')
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('aborted'));
      assert.deepEqual(
        lines.map((line) => line.split(' ').slice(0, 3).join(' ')),
        [`aborted ${timedOut.id} TaskTimeoutError:`, `aborted ${running.id} TaskCancelledError:`],
      );
      assert.deepEqual(
        { started: threads.stats.started, lost: threads.stats.lost },
        { started: 1, lost: 0 },
        'both runs settled on their signal: no thread was terminated',
      );
    } finally {
      await app.close();
    }
  });

  test('a loop that never yields is terminated after abortGrace and the thread replaced', async () => {
    const { app, queues, threads } = await boot(memory(1, { abortGrace: 300 }));
    try {
      const first = result<{ threadId: number }>(
        await queues.waitFor((await queues.enqueue('cpu.echo', [1, 'before'])).id, { timeout: 20_000 }),
      );
      const hung = await queues.waitFor((await queues.enqueue('cpu.hang')).id, { timeout: 10_000 });
      assert.equal(hung.status, 'failed');
      assert.match(hung.error!, /^TaskTimeoutError: .*timed out after 300 ms/);
      const next = await queues.waitFor((await queues.enqueue('cpu.echo', [2, 'after'])).id, {
        timeout: 20_000,
      });
      assert.equal(next.status, 'completed');
      assert.notEqual(result<{ threadId: number }>(next).threadId, first.threadId, 'a new thread');
      assert.deepEqual(
        { started: threads.stats.started, lost: threads.stats.lost, threads: threads.stats.threads },
        { started: 2, lost: 1, threads: 1 },
      );
    } finally {
      await app.close();
    }
  });

  test('a thread that exits or throws uncaught fails the attempt through the retry policy; the next record runs', async () => {
    const { app, queues, threads, events } = await boot(memory(1));
    try {
      const exitOnce = await queues.enqueue('cpu.exitOnce');
      const retried = await queues.waitFor(exitOnce.id, { timeout: 30_000 });
      assert.equal(retried.status, 'completed', `ended ${retried.status}: ${retried.error}`);
      assert.match(String(retried.result), /^attempt 2 on thread \d+$/);
      const crash = events.find((e) => e.taskId === exitOnce.id && e.type === 'task.failed');
      assert.match(
        crash!.message!,
        /^TaskThreadCrashedError: Task thread \d+ running "cpu.exitOnce" \(.+\) exited with code 1$/,
      );
      assert.equal(crash!.payload['willRetry'], true);

      const uncaught = await queues.waitFor((await queues.enqueue('cpu.uncaught')).id, { timeout: 20_000 });
      assert.equal(uncaught.status, 'failed', 'no retries left: failed for good');
      assert.match(
        uncaught.error!,
        /TaskThreadCrashedError: .* died: uncaught RangeError: stray timer exploded/,
      );

      const next = await queues.waitFor((await queues.enqueue('cpu.echo', [3, 'next'])).id, {
        timeout: 20_000,
      });
      assert.equal(result<{ doubled: number }>(next).doubled, 6);
      assert.deepEqual({ started: threads.stats.started, lost: threads.stats.lost }, { started: 3, lost: 2 });
    } finally {
      await app.close();
    }
  });

  test('pool size 2: six records, never more than two at once, on two threads', async () => {
    const { app, queues, threads } = await boot(memory(2));
    try {
      const records = await Promise.all(
        Array.from({ length: 6 }, () => queues.enqueue('cpu.overlap', [300])),
      );
      const runs = [];
      for (const record of records) {
        const done = await queues.waitFor(record.id, { timeout: 30_000 });
        assert.equal(done.status, 'completed');
        runs.push(result<{ threadId: number; start: number; end: number }>(done));
      }
      let most = 0;
      for (const run of runs) {
        const overlapping = runs.filter((other) => other.start <= run.start && other.end > run.start).length;
        most = Math.max(most, overlapping);
      }
      assert.equal(most, 2, 'two at once, never three');
      assert.equal(new Set(runs.map((run) => run.threadId)).size, 2);
      assert.equal(threads.stats.started, 2);
    } finally {
      await app.close();
    }
    assert.equal(threads.stats.threads, 0, 'closing the app closed the threads');
  });

  test('shutdown mid-loop (SQLite): the run is aborted, the thread terminated, the record released for another worker', async () => {
    const database = path.join(dir, 'shutdown.sqlite');
    const queueBackend = { type: 'typeorm' as const, options: { type: 'better-sqlite3' as const, database } };
    const { app, queues, threads } = await boot({ queueBackend, size: 1 });
    let closeTook = 0;
    let id = '';
    try {
      id = (await queues.enqueue('cpu.spin', [60_000])).id;
      await untilStatus(queues, id, 'running', 20_000);
      await sleep(300); // booted and spinning
    } finally {
      const closing = Date.now();
      await app.close();
      closeTook = Date.now() - closing;
    }
    // shutdownTimeout 2 s, then the abort; the thread never yields, so abortGrace (0.3 s) ends it.
    assert.ok(closeTook < 5_000, `app.close() took ${closeTook} ms`);
    assert.equal(threads.stats.threads, 0, 'no thread left behind');
    const reader = new TypeOrmQueueBackend(queueBackend);
    await reader.open();
    try {
      const record = (await reader.getTask(id))!;
      assert.equal(record.status, 'running');
      assert.equal(record.heartbeatAt, null, 'heartbeat cleared: stale recovery hands it on at once');
    } finally {
      await reader.close();
    }
  });

  test('configuration: the module is required and must exist', () => {
    assert.throws(
      () => new ThreadsExecutionBackend({ type: 'threads' }),
      (error: unknown) =>
        error instanceof QueueConfigurationError && /executionBackend\(threads\)\.module/.test(error.message),
    );
    assert.throws(
      () => new ThreadsExecutionBackend({ type: 'threads', module: path.join(dir, 'nope.js'), size: 0 }),
      (error: unknown) =>
        error instanceof QueueConfigurationError &&
        /file not found/.test(error.message) &&
        /size: must be a positive integer/.test(error.message),
    );
  });
});

describe('threads execution backend on PostgreSQL', { skip: skipUnless('postgres') }, () => {
  const table = postgresTableFixture('threads');
  after(() => table.drop());

  test('the loop runs in a thread while the stored heartbeats advance; outcome and crash retry are fenced writes', async () => {
    await table.start();
    const ledger = path.join(dir, 'postgres-ledger.txt');
    const { app, queues, backend } = await boot({
      queueBackend: table.config,
      size: 1,
      heartbeatInterval: 200,
      ledger,
    });
    try {
      const warm = await queues.waitFor((await queues.enqueue('cpu.echo', [1, 'warm'])).id, {
        timeout: 30_000,
      });
      const echo = await queues.waitFor((await queues.enqueue('cpu.echo', [2, 'heard'])).id, {
        timeout: 30_000,
      });
      await sleep(300); // a NOTIFY to a thread would have arrived by now
      assert.deepEqual(
        readFileSync(ledger, 'utf8').trim().split('\n').sort(),
        [`heard ${echo.id} main=true`, `heard ${warm.id} main=true`].sort(),
        'listeners run in the main thread only: the threads did not join the cross-process transport',
      );
      const spin = await queues.enqueue('cpu.spin', [2_000]);
      await untilStatus(queues, spin.id, 'running');
      const stored: number[] = [];
      while ((await backend.getTask(spin.id))!.status === 'running') {
        const beat = (await backend.getTask(spin.id))!.heartbeatAt?.getTime();
        if (beat !== undefined && beat !== stored.at(-1)) stored.push(beat);
        await sleep(50);
      }
      const done = (await backend.getTask(spin.id))!;
      assert.equal(done.status, 'completed');
      assert.equal(result<Spin>(done).mainThread, false);
      let gap = 0;
      for (let i = 1; i < stored.length; i++) gap = Math.max(gap, stored[i]! - stored[i - 1]!);
      console.log(`postgres: ${stored.length} stored heartbeats during a 2 s loop, largest gap ${gap} ms`);
      assert.ok(stored.length >= 7, `${stored.length} stored heartbeats`);
      assert.ok(gap <= 500, `stored heartbeat gap ${gap} ms`);

      const retried = await queues.waitFor((await queues.enqueue('cpu.exitOnce')).id, { timeout: 30_000 });
      assert.equal(retried.status, 'completed');
      assert.equal(retried.retryCount, 1);
    } finally {
      await app.close();
    }
  });
});
