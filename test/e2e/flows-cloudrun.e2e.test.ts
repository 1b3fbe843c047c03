import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  QueueBackend,
  QueueService,
  Task,
  TaskCtx,
  TaskRunner,
  type QueuedTaskRecord,
  type TaskExecutionContext,
} from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';

@Injectable()
class MixedTasks {
  @Task('mixed.remote', { executionBackend: 'cloudrun' })
  async remote(n: number) {
    return `remote ${n}`;
  }

  @Task('mixed.local', { executionBackend: 'local' })
  async local(n: number) {
    return `local ${n}`;
  }

  @Task('mixed.merge-local', { executionBackend: 'local' })
  async mergeLocal(@TaskCtx() ctx: TaskExecutionContext) {
    return Object.values(ctx.childResults()).sort();
  }

  @Task('mixed.merge-remote', { executionBackend: 'cloudrun' })
  async mergeRemote(@TaskCtx() ctx: TaskExecutionContext) {
    return Object.values(ctx.childResults()).sort();
  }
}

/** Local and Cloud Run execution in one flow: the worker runs local nodes and dispatches remote ones. */
describe('flows mixing local and Cloud Run execution (fake Cloud Run gRPC server)', () => {
  const server = new FakeCloudRunServer();
  let app: TestingModule;
  let queues: QueueService;
  let backend: QueueBackend;
  let runner: TaskRunner;

  before(async () => {
    await server.start();
    app = await createQueuesApp([MixedTasks], {
      executionBackend: server.executionBackend({ timeout: 600_000 }),
      worker: { reconcileInterval: 3_600_000 },
    });
    queues = app.get(QueueService);
    backend = app.get(QueueBackend);
    runner = app.get(TaskRunner);
  });
  after(async () => {
    await app.close();
    await server.stop();
  });

  /** The record once the worker dispatched it to Cloud Run. */
  const dispatched = async (id: string): Promise<QueuedTaskRecord> => {
    for (let i = 0; i < 500; i++) {
      const record = (await backend.getTask(id))!;
      if (record.executionRef && !record.executionRef.startsWith('reserving:')) return record;
      await sleep(10);
    }
    throw new Error(`record ${id} was never dispatched`);
  };
  /** Play the job container (`nestjs-queues run-task`): claim the dispatched record and run it. */
  const container = async (id: string) => {
    const record = await dispatched(id);
    const env = [...server.executions.values()].find((e) => e.name === record.executionRef)!.env;
    assert.equal(env['NESTJS_QUEUES_TASK_ID'], id);
    const claimed = (await backend.claimTask(id, { workerId: 'container' }))!;
    return runner.run(claimed, { workerId: 'container' });
  };

  test('Cloud Run children and a local child, then a local parent with all their results', async () => {
    const tree = await queues.flow({
      task: 'mixed.merge-local',
      children: [
        { task: 'mixed.remote', args: [1] },
        { task: 'mixed.local', args: [2] },
        { task: 'mixed.remote', args: [3] },
      ],
    });
    assert.equal((await backend.getTask(tree.record.id))?.status, 'waiting');
    assert.equal((await container(tree.children[0]!.record.id))?.status, 'completed');
    assert.equal((await container(tree.children[2]!.record.id))?.status, 'completed');
    const done = await queues.waitFor(tree.record.id, { timeout: 20_000, pollInterval: 50 });
    assert.equal(done.status, 'completed');
    assert.equal(done.executionBackend, 'local');
    assert.deepEqual(done.result, ['local 2', 'remote 1', 'remote 3']);
  });

  test('local children, then a Cloud Run parent dispatched once released, reading their results in the container', async () => {
    const tree = await queues.flow({
      task: 'mixed.merge-remote',
      children: [
        { task: 'mixed.local', args: [4] },
        { task: 'mixed.local', args: [5] },
      ],
    });
    const parent = await container(tree.record.id);
    assert.equal(parent?.status, 'completed');
    assert.deepEqual((await backend.getTask(tree.record.id))?.result, ['local 4', 'local 5']);
    const children = await queues.getChildren(tree.record.id);
    assert.ok(
      children.every((child) => child.completedAt! <= (parent as QueuedTaskRecord).completedAt!),
      'the parent was dispatched only after its children ended',
    );
  });
});
