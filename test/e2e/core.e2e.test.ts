import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestingModule } from '@nestjs/testing';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import {
  JobId,
  NonRetryableError,
  QueueConfigurationError,
  QueueError,
  QueueEvents,
  QueueService,
  Task,
  TaskCtx,
  TaskSerializationError,
  UnknownTaskError,
  publishTaskLog,
  publishTaskProgress,
  type QueueEventEnvelope,
  type TaskExecutionContext,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';

@Injectable()
class Ledger {
  readonly calls: string[] = [];
}

@Injectable()
class DemoTasks {
  attempts = new Map<string, number>();
  // Injected by type alone, no @Inject: proves decorator metadata survives the build.
  constructor(readonly ledger: Ledger) {}

  @Task('math.add')
  async add(a: number, b: number) {
    this.ledger.calls.push(`add:${a}+${b}`);
    return a + b;
  }

  @Task('ctx.echo')
  async echo(value: string, @TaskCtx() ctx: TaskExecutionContext, @JobId() id: string) {
    await ctx.progress(1, 2, 'half');
    await publishTaskProgress(2, 2, 'done');
    await publishTaskLog('echoing', { value });
    return { value, id, same: id === ctx.taskId, attempt: ctx.attempt, kwargs: ctx.kwargs };
  }

  @Task('flaky', { retries: 2, retryBackoff: { initialDelay: 30, multiplier: 2 } })
  async flaky(key: string) {
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    if (n < 3) throw new Error(`attempt ${n} failed`);
    return n;
  }

  @Task('fatal', { retries: 5 })
  async fatal() {
    throw new NonRetryableError('do not retry this');
  }

  @Task('slow', { timeout: 80, retries: 0 })
  async slow() {
    await sleep(2_000);
  }

  @Task('wait.signal')
  async waitSignal(@TaskCtx() ctx: TaskExecutionContext) {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    return 'aborted';
  }
}

describe('QueuesModule on the memory backend (e2e)', () => {
  let app: TestingModule;
  let queues: QueueService;
  let events: QueueEvents;
  let tasks: DemoTasks;

  before(async () => {
    app = await createQueuesApp([Ledger, DemoTasks]);
    queues = app.get(QueueService);
    events = app.get(QueueEvents);
    tasks = app.get(DemoTasks);
  });
  after(async () => {
    await app.close();
  });

  test('injects a provider by type alone and runs a task to completion', async () => {
    assert.ok(tasks.ledger instanceof Ledger);
    const record = await queues.enqueue('math.add', [2, 3]);
    assert.equal(record.status, 'pending');
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'completed');
    assert.equal(done.result, 5);
    assert.ok(tasks.ledger.calls.includes('add:2+3'));
  });

  test('context, job id, progress and log reach QueueEvents subscribers in order', async () => {
    const seen: Promise<QueueEventEnvelope[]> = firstValueFrom(
      events.events$.pipe(
        filter((e) => e.taskName === 'ctx.echo'),
        take(6),
        toArray(),
      ),
    );
    const record = await queues.enqueue('ctx.echo', ['hi'], { kwargs: { mode: 'x' } });
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.deepEqual(done.result, {
      value: 'hi',
      id: record.id,
      same: true,
      attempt: 1,
      kwargs: { mode: 'x' },
    });
    const types = (await seen).map((e) => e.type);
    assert.deepEqual(types, [
      'task.enqueued',
      'task.started',
      'task.progress',
      'task.progress',
      'task.log',
      'task.completed',
    ]);
    const progress = (await seen).filter((e) => e.type === 'task.progress');
    assert.equal(progress[0]!.progressPercent, 50);
    assert.equal(progress[1]!.progressPercent, 100);
    const sequences = (await seen).map((e) => e.sequence);
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
    );
  });

  test('retries with backoff, then succeeds; failed events say willRetry', async () => {
    const failures = firstValueFrom(
      events.ofType('task.failed').pipe(
        filter((e) => e.taskName === 'flaky'),
        take(2),
        toArray(),
      ),
    );
    const record = await queues.enqueue('flaky', ['k1']);
    const done = await queues.waitFor(record.id, { timeout: 5_000 });
    assert.equal(done.status, 'completed');
    assert.equal(done.result, 3);
    assert.equal(done.retryCount, 2);
    assert.deepEqual(
      (await failures).map((e) => e.payload['willRetry']),
      [true, true],
    );
  });

  test('NonRetryableError fails at once despite retries left', async () => {
    const record = await queues.enqueue('fatal');
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'failed');
    assert.equal(done.retryCount, 0);
    assert.match(done.error ?? '', /do not retry this/);
  });

  test('a timeout fails the attempt with a message that says so', async () => {
    const record = await queues.enqueue('slow');
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'failed');
    assert.match(done.error ?? '', /timed out after 80 ms/);
  });

  test('delayed records wait, then run', async () => {
    const started = Date.now();
    const record = await queues.enqueue('math.add', [1, 1], { delay: 150 });
    assert.equal(record.status, 'scheduled');
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'completed');
    assert.ok(done.startedAt!.getTime() - started >= 140, 'ran before its delay');
  });

  test('keys deduplicate while active and pass on once terminal', async () => {
    const first = await queues.enqueue('math.add', [1, 2], { key: 'sum:1', delay: 60_000 });
    const second = await queues.enqueue('math.add', [9, 9], { key: 'sum:1' });
    assert.equal(second.id, first.id);
    assert.deepEqual(second.args, [1, 2]);
    assert.equal(await queues.cancel(first.id), true);
    assert.equal(await queues.cancel(first.id), false, 'only the call that cancelled returns true');
    const third = await queues.enqueue('math.add', [4, 4], { key: 'sum:1' });
    assert.notEqual(third.id, first.id);
    assert.equal((await queues.getTaskByKey('sum:1'))!.id, third.id);
    await queues.waitFor(third.id, { timeout: 3_000 });
  });

  test('cancel of a running task fires its AbortSignal', async () => {
    const record = await queues.enqueue('wait.signal');
    for (let i = 0; i < 100 && (await queues.getTask(record.id))!.status !== 'running'; i++) await sleep(10);
    assert.equal(await queues.cancel(record.id), true);
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'cancelled');
  });

  test('retry puts a failed record back in line under the same id', async () => {
    const record = await queues.enqueue('fatal');
    await queues.waitFor(record.id, { timeout: 3_000 });
    const retried = await queues.retry(record.id);
    assert.equal(retried.id, record.id);
    assert.equal(retried.retryCount, 0);
    const done = await queues.waitFor(record.id, { timeout: 3_000 });
    assert.equal(done.status, 'failed');
    await assert.rejects(queues.retry('00000000-0000-4000-8000-000000000000'), QueueError);
  });

  test('task handles bind options', async () => {
    const handle = queues.task('math.add').using({ priority: 5, metadata: { from: 'handle' } });
    const record = await handle.enqueue(20, 22);
    assert.equal(record.priority, 5);
    assert.equal(record.metadata['from'], 'handle');
    assert.equal((await queues.waitFor(record.id, { timeout: 3_000 })).result, 42);
  });

  test('enqueueMany keeps input order and dedup semantics', async () => {
    const records = await queues.enqueueMany([
      { task: 'math.add', args: [1, 0], options: { key: 'many:a', delay: 60_000 } },
      { task: 'math.add', args: [2, 0] },
      { task: 'math.add', args: [3, 0], options: { key: 'many:a' } },
    ]);
    assert.equal(records.length, 3);
    assert.deepEqual(records[0]!.args, [1, 0]);
    assert.deepEqual(records[1]!.args, [2, 0]);
    assert.equal(records[2]!.id, records[0]!.id);
    await queues.cancel(records[0]!.id);
  });

  test('bad input gets a typed error and persists nothing', async () => {
    const before = await queues.getStatistics();
    await assert.rejects(queues.enqueue('no.such.task', []), UnknownTaskError);
    await assert.rejects(queues.enqueue('math.add', [1n as unknown as number]), (e: unknown) => {
      assert.ok(e instanceof TaskSerializationError);
      assert.equal(e.path, 'args[0]');
      return true;
    });
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    await assert.rejects(queues.enqueue('math.add', [cyclic]), TaskSerializationError);
    await assert.rejects(queues.enqueue('math.add', [new Date()]), TaskSerializationError);
    await assert.rejects(queues.enqueue('math.add', [() => 1]), TaskSerializationError);
    await assert.rejects(queues.enqueue('math.add', [], { delay: -5 }), QueueConfigurationError);
    await assert.rejects(queues.enqueue('math.add', [], { priority: 1.5 }), /priority: must be an integer/);
    await assert.rejects(
      queues.enqueue('math.add', [], { executionBackend: 'nope' }),
      QueueConfigurationError,
    );
    await assert.rejects(
      queues.enqueue('math.add', [], { metadata: { when: new Date() } }),
      TaskSerializationError,
    );
    await assert.rejects(
      queues.enqueueMany([
        { task: 'math.add', args: [1, 1] },
        { task: 'math.add', args: [1n as unknown as number] },
      ]),
      TaskSerializationError,
    );
    await assert.rejects(
      queues.enqueue('math.add', ['x'.repeat(1024 * 1024)]),
      /bytes of JSON; the limit is 1048576/,
    );
    assert.deepEqual(await queues.getStatistics(), before);
  });
});
