import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueBackend, QueueService, Task, TaskRunner } from '../../src/index.js';
import { createQueuesApp } from '../support/app.js';
import { FakeCloudRunServer } from '../support/fake-cloud-run.server.js';

@Injectable()
class CappedRemoteTasks {
  @Task('remote.capped', { executionBackend: 'cloudrun', queue: 'remote-capped' })
  async capped() {
    return 'done';
  }
}

/**
 * A queue with a cluster-wide `concurrency` whose records run on Cloud Run: the dispatcher sends no more executions
 * than the cap has room for (running records and records dispatched but not yet claimed count), and the job
 * container's claim by id (`claimTaskControlled`, as `run-task` claims) refuses past the cap.
 */
describe('cloudrun dispatch of a queue with a concurrency cap', () => {
  const server = new FakeCloudRunServer();
  let app: TestingModule;
  let queues: QueueService;
  let backend: QueueBackend;
  let runner: TaskRunner;

  before(async () => {
    await server.start();
    app = await createQueuesApp([CappedRemoteTasks], {
      executionBackend: server.executionBackend(),
      queues: { 'remote-capped': { concurrency: 2 } },
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

  /** Ids of the records that carry an execution name (dispatched). */
  const dispatchedIds = async (ids: readonly string[]) =>
    (await Promise.all(ids.map((id) => backend.getTask(id))))
      .filter((r) => r!.executionRef !== null && !r!.executionRef.startsWith('reserving:'))
      .map((r) => r!.id);
  const until = async (check: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 400; i++) {
      if (await check()) return;
      await sleep(10);
    }
    assert.fail(`timed out waiting: ${what}`);
  };
  const policy = { concurrency: 2 };

  test('dispatches up to the cap, more as runs end; a run past the cap is refused', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await queues.enqueue('remote.capped')).id);
    await until(async () => (await dispatchedIds(ids)).length === 2, 'two dispatched');
    // Several more passes of the claim loop (poll interval of the test worker): still two.
    await sleep(300);
    const first = await dispatchedIds(ids);
    assert.equal(first.length, 2, 'no dispatch past the cap while two are in flight');
    assert.equal(server.runRequests.length, 2);

    // The containers claim; a third claim by id (a stray run) is refused at the cap and leaves its record.
    const [a, b] = await Promise.all(
      first.map((id) => backend.claimTaskControlled(id, { workerId: 'container', policy })),
    );
    const stray = ids.find((id) => !first.includes(id))!;
    assert.deepEqual(await backend.claimTaskControlled(stray, { workerId: 'container', policy }), {
      claimed: null,
      refused: 'concurrency',
    });
    await sleep(300);
    assert.equal(server.runRequests.length, 2, 'two running: still no room');

    await runner.run(a!.claimed!, { workerId: 'container' });
    await until(async () => server.runRequests.length === 3, 'a third dispatch once a run ended');
    await runner.run(b!.claimed!, { workerId: 'container' });
    await until(async () => server.runRequests.length === 4, 'a fourth dispatch');
    await sleep(300);
    assert.equal(server.runRequests.length, 4, 'two in flight again');
  });
});
