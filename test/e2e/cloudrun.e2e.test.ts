import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CloudRunExecutionBackend,
  ExecutionBackends,
  QueueBackend,
  QueueService,
  Task,
  TaskRunner,
  type QueuedTaskRecord,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';

let ran = 0;
@Injectable()
class RemoteTasks {
  @Task('remote.work', { executionBackend: 'cloudrun', retries: 1 })
  async work(n: number) {
    ran++;
    return n;
  }

  @Task('remote.heavy', { executionBackend: 'cloudrun', executionProfile: 'heavy' })
  async heavy() {}
}

const JOB = 'projects/demo/locations/europe-west1/jobs/queue-worker';

describe('cloudrun execution backend against a local Cloud Run gRPC server', () => {
  const server = new FakeCloudRunServer();
  let app: TestingModule;
  let queues: QueueService;
  let backend: QueueBackend;
  let cloudrun: CloudRunExecutionBackend;
  let runner: TaskRunner;

  before(async () => {
    await server.start();
    app = await createQueuesApp([RemoteTasks], {
      executionBackend: server.executionBackend({
        profiles: { heavy: 'queue-worker-heavy' },
        timeout: 600_000,
        extraEnv: { LOG_LEVEL: 'debug', NESTJS_QUEUES_TASK_ID: 'attempt-to-overwrite' },
      }),
      // Reconcile is driven by the tests; dispatch happens in the worker loop.
      worker: { reconcileInterval: 3_600_000 },
    });
    queues = app.get(QueueService);
    backend = app.get(QueueBackend);
    cloudrun = app.get(ExecutionBackends).get('cloudrun') as CloudRunExecutionBackend;
    runner = app.get(TaskRunner);
  });
  after(async () => {
    await app.close();
    await server.stop();
  });

  const dispatched = async (id: string): Promise<QueuedTaskRecord> => {
    for (let i = 0; i < 200; i++) {
      const record = (await backend.getTask(id))!;
      if (record.executionRef && !record.executionRef.startsWith('reserving:')) return record;
      await sleep(10);
    }
    throw new Error(`record ${id} was never dispatched`);
  };
  /** Play the job container: claim, run and finish the record as `nestjs-queues run-task` does. */
  const container = async (id: string) => {
    const claimed = (await backend.claimTask(id, { workerId: 'container' }))!;
    return runner.run(claimed, { workerId: 'container' });
  };

  test('dispatch runs the job with only the record id in the env, the timeout, and stores the execution name', async () => {
    const record = await queues.enqueue('remote.work', [1]);
    const stored = await dispatched(record.id);
    const execution = server.executions.get(stored.executionRef!)!;
    assert.equal(execution.job, JOB);
    assert.deepEqual(execution.env, { LOG_LEVEL: 'debug', NESTJS_QUEUES_TASK_ID: record.id });
    assert.equal(execution.timeoutSeconds, 600);
    assert.equal(stored.status, 'pending', 'dispatch does not claim locally');
    const heavy = await dispatched((await queues.enqueue('remote.heavy')).id);
    assert.equal(
      server.executions.get(heavy.executionRef!)!.job,
      'projects/demo/locations/europe-west1/jobs/queue-worker-heavy',
    );
    // success: the container finishes it, the execution succeeds, reconcile leaves the completed record alone
    const done = await container(record.id);
    assert.equal(done?.status, 'completed');
    execution.state = 'succeeded';
    assert.equal(await cloudrun.reconcile(runner, stored), null);
    assert.equal((await backend.getTask(record.id))!.result, 1);
  });

  test('a failed execution with a retry left is retried exactly once more, then fails', async () => {
    const before = server.runRequests.length;
    const record = await queues.enqueue('remote.work', [2]);
    const first = await dispatched(record.id);
    server.executions.get(first.executionRef!)!.state = 'failed';
    server.executions.get(first.executionRef!)!.message = 'container exited with code 137';
    const retried = (await cloudrun.reconcile(runner, first))!;
    assert.equal(retried.status, 'pending');
    assert.equal(retried.retryCount, 1);
    assert.match(retried.error ?? '', /container exited with code 137/);
    assert.equal(
      await cloudrun.reconcile(runner, first),
      null,
      'reconciling the same failure again consumes nothing',
    );
    assert.equal((await backend.getTask(record.id))!.retryCount, 1);
    const second = await dispatched(record.id);
    assert.notEqual(second.executionRef, first.executionRef);
    server.executions.get(second.executionRef!)!.state = 'failed';
    const failed = (await cloudrun.reconcile(runner, second))!;
    assert.equal(failed.status, 'failed');
    assert.equal(server.runRequests.length - before, 2);
  });

  test('cancelling a dispatched record cancels its execution', async () => {
    const record = await queues.enqueue('remote.work', [3]);
    const stored = await dispatched(record.id);
    assert.equal(await queues.cancel(record.id), true);
    assert.equal(server.executions.get(stored.executionRef!)!.state, 'cancelled');
    assert.equal((await backend.getTask(record.id))!.status, 'cancelled');
  });

  test('an execution cancelled remotely cancels the record', async () => {
    const record = await queues.enqueue('remote.work', [4]);
    const stored = await dispatched(record.id);
    server.executions.get(stored.executionRef!)!.state = 'cancelled';
    assert.equal((await cloudrun.reconcile(runner, stored))?.status, 'cancelled');
  });

  test('NotFound fails the attempt; transient API errors count as still running', async () => {
    const record = await queues.enqueue('remote.work', [5]);
    const stored = await dispatched(record.id);
    server.failNextGetExecution = 14; // UNAVAILABLE
    assert.equal(await cloudrun.reconcile(runner, stored), null);
    assert.equal(
      (await backend.getTask(record.id))!.executionRef,
      stored.executionRef,
      'a transient error changed the record',
    );
    server.executions.delete(stored.executionRef!);
    const retried = (await cloudrun.reconcile(runner, stored))!;
    assert.equal(retried.retryCount, 1);
    assert.match(retried.error ?? '', /not found/);
  });

  test('when RunJob fails before a remote run owns the record, it falls back to local and runs here', async () => {
    // Earlier tests leave records in line for another dispatch; cancel them so this RunJob failure is ours.
    for await (const left of backend.iterAll())
      if (left.status === 'pending' || left.status === 'scheduled') await backend.cancelTask(left.id);
    const runsBefore = ran;
    server.failRunJob = 7; // PERMISSION_DENIED
    const record = await queues.enqueue('remote.work', [6]);
    const done = await queues
      .waitFor(record.id, { timeout: 5_000, pollInterval: 20 })
      .finally(() => (server.failRunJob = undefined));
    assert.equal(done.status, 'completed');
    assert.equal(done.executionBackend, 'local');
    assert.equal(done.executionRef, null);
    assert.equal(ran, runsBefore + 1);
  });

  test('RACE: two dispatchers for one record start one execution', async () => {
    await app.get((await import('../../src/workers/queue.worker.js')).QueueWorker).stopClaiming();
    const record = await queues.enqueue('remote.work', [7]);
    const before = server.runRequests.length;
    const results = await Promise.all([
      cloudrun.dispatch(runner, record),
      cloudrun.dispatch(runner, record),
      cloudrun.dispatch(runner, record),
    ]);
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(server.runRequests.length - before, 1);
  });

  test('a profile without a job is a clear configuration error', () => {
    assert.throws(
      () => cloudrun.jobFor({ executionProfile: 'gpu', taskName: 'remote.gpu' }),
      /no job for profile "gpu" \(task remote.gpu\); profiles: heavy/,
    );
  });
});
